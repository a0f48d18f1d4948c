/**
 * Operability in one process: liveness and readiness, /metrics access, database faults as 503, the
 * audit trail, SQLite online backup, and what a CDS client's developer sees (401 reasons, a doubled
 * slash after a discovery URL typed with a trailing slash, a 412's reason).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../src/app';
import { testConfig, type Config, type OpsConfig } from '../src/config/config';
import type { AppDeps } from '../src/http/deps';
import { loadEvaluator } from '../src/clinical/engine';
import { loadCatalog } from '../src/clinical/catalog';
import { seedStore } from '../src/clinical/seed';
import { indexResource } from '../src/storage/search-parameters';
import { createAuditTrail } from '../src/ops/audit';
import { queryAudit } from '../src/ops/audit-query';
import { backupSqlite } from '../src/ops/backup';
import { isDatabaseUnavailable } from '../src/storage/db-faults';
import { createHealth } from '../src/ops/health';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';
import type { Store } from '../src/storage/store';
import { buildResponse } from './support/build-response';
import { DEV_TRUSTED_CLIENTS_FILE, signDevClientJwt } from './support/dev-client';
import { NOW, patientView, PATIENT_ID } from './fixtures/cds/harness';

const evaluator = loadEvaluator();
const catalog = loadCatalog();
const OPS: OpsConfig = {
  rateLimitStore: 'memory',
  metricsHost: '127.0.0.1',
  metricsPublic: false,
  auditRetentionDays: 0,
  shutdownGraceMs: 1000,
  shutdownDrainMs: 0,
  readyTimeoutMs: 500,
};
const BASE = 'https://cds.calf-pain.example';
const stores: Store[] = [];
const dirs: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calf-ops-'));
  dirs.push(dir);
  return dir;
}

async function build(config: Partial<Config> = {}, options: Parameters<typeof createApp>[1] = {}, store?: Store) {
  const s = store ?? createSqliteStore({ filename: ':memory:', indexer: indexResource, now: () => NOW });
  stores.push(s);
  await seedStore(s, catalog);
  const deps: AppDeps = {
    config: testConfig({ ops: OPS, ...config }),
    store: s,
    evaluator,
    logger: pino({ level: 'silent' }),
    now: () => NOW,
  };
  return { app: createApp(deps, { catalog, ...options }), store: s, deps };
}

afterAll(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const qr = (patient: string) =>
  buildResponse({ 'wells-active-cancer': true }, { subject: `Patient/${patient}`, authored: NOW.toISOString() });

describe('liveness and readiness', () => {
  it('answers /healthz and /readyz without a token and without counting them against the rate limit', async () => {
    const { app } = await build({
      auth: { mode: 'on', trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: true },
      rateLimitPerMinute: 1,
    });
    for (let i = 0; i < 5; i++) {
      await request(app).get('/healthz').expect(200, { status: 'ok' });
      const ready = await request(app).get('/readyz').expect(200);
      expect(ready.body).toEqual({ status: 'ready', checks: { database: 'ok', rules: 'ok', validators: 'ok', shutdown: 'ok' } });
    }
  });

  it('turns /readyz 503 naming what is not ready: validators loading, database gone, shutting down', async () => {
    const store = createSqliteStore({ filename: ':memory:', indexer: indexResource, now: () => NOW });
    const health = createHealth({ store, timeoutMs: 500, loading: ['validators'] });
    const { app } = await build({}, { health }, store);
    expect((await request(app).get('/readyz').expect(503)).body.checks.validators).toBe('loading');
    health.loaded('validators');
    await request(app).get('/readyz').expect(200);
    health.startShutdown();
    expect((await request(app).get('/readyz').expect(503)).body).toEqual(
      expect.objectContaining({ status: 'not-ready', checks: expect.objectContaining({ shutdown: 'shutting-down', database: 'ok' }) }),
    );
    await store.close();
    expect((await request(app).get('/readyz').expect(503)).body.checks.database).toBe('failing');
    // Liveness is only "the process answers".
    await request(app).get('/healthz').expect(200);
  });
});

describe('behind a load balancer', () => {
  it('keys unauthenticated callers by X-Forwarded-For only from a trusted proxy (TRUST_PROXY)', async () => {
    const limited = async (trustProxy?: string[]) => {
      const { app } = await build({
        rateLimitPerMinute: 1,
        auth: { mode: 'on', trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: true },
        ops: { ...OPS, trustProxy },
      });
      const a = await request(app).get('/fhir/metadata').set('X-Forwarded-For', '203.0.113.1');
      const b = await request(app).get('/fhir/metadata').set('X-Forwarded-For', '203.0.113.2');
      return [a.status, b.status];
    };
    expect(await limited(['loopback'])).toEqual([200, 200]);
    // Without it, every client behind the proxy is one address (and a client cannot pick its own key).
    expect(await limited()).toEqual([200, 429]);
  });
});

describe('database faults', () => {
  it('recognises unreachable or restarting databases, and nothing else', () => {
    expect(isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(
      true,
    );
    expect(isDatabaseUnavailable(Object.assign(new Error('the database system is starting up'), { code: '57P03' }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('syntax error'), { code: '42601' }))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('x is undefined'))).toBe(false);
  });
});

describe('/metrics', () => {
  it('is not served on the API port in production without METRICS_TOKEN or METRICS_PORT', async () => {
    const { app } = await build({ production: true });
    await request(app).get('/metrics').expect(404);
  });

  it('needs the METRICS_TOKEN bearer token when one is set', async () => {
    const { app } = await build({ ops: { ...OPS, metricsToken: 'a-long-metrics-token-123' } });
    const refused = await request(app).get('/metrics').expect(401);
    expect(refused.text).not.toContain('a-long-metrics-token-123');
    await request(app).get('/metrics').set('Authorization', 'Bearer wrong-token-of-same-size!').expect(401);
    const ok = await request(app).get('/metrics').set('Authorization', 'Bearer a-long-metrics-token-123').expect(200);
    expect(ok.text).toContain('process_cpu_seconds_total');
  });

  it('moves to its own port with METRICS_PORT', async () => {
    const { app } = await build({ ops: { ...OPS, metricsPort: 9464 } });
    await request(app).get('/metrics').expect(404);
  });
});

describe('CDS clients: what their developers see', () => {
  const auth = { mode: 'on' as const, trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: true };

  it("says in the 401 body that aud does not match this service's URL, without echoing the token", async () => {
    const { app } = await build({ baseUrl: BASE, auth });
    const jwt = await signDevClientJwt('http://localhost:8080/cds-services', { now: NOW });
    const res = await request(app).get('/cds-services').set('Authorization', `Bearer ${jwt}`).expect(401);
    expect(res.body.error).toBe('invalid_token');
    expect(res.body.message).toBe(
      `The JWT's aud does not match this service's URL: aud must be exactly ${BASE}/cds-services (BASE_URL plus the path called)`,
    );
    expect(JSON.stringify(res.body)).not.toContain(jwt);
  });

  it('logs the refusal reason at warn, never the token', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const store = createSqliteStore({ filename: ':memory:', indexer: indexResource, now: () => NOW });
    stores.push(store);
    const deps: AppDeps = { config: testConfig({ ops: OPS, baseUrl: BASE, auth }), store, evaluator, logger, now: () => NOW };
    const app = createApp(deps, { catalog });
    const jwt = await signDevClientJwt('http://localhost:8080/cds-services', { now: NOW });
    await request(app).get('/cds-services').set('Authorization', `Bearer ${jwt}`).expect(401);
    const refusal = lines
      .map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string })
      .find((l) => l.msg === 'CDS client JWT rejected');
    expect(refusal).toEqual(expect.objectContaining({ level: 40, reason: expect.stringContaining('"aud"') }));
    expect(lines.join('')).not.toContain(jwt);
  });

  it('serves /cds-services//calf-pain-dvt (a discovery URL typed with a trailing slash), checking aud against the URL called', async () => {
    const { app } = await build({ baseUrl: BASE, auth });
    const doubled = '/cds-services//calf-pain-dvt';
    const jwt = await signDevClientJwt(`${BASE}${doubled}`, { now: NOW });
    const res = await request(app)
      .post(doubled)
      .set('Authorization', `Bearer ${jwt}`)
      .send(patientView({ prefetch: { calfPainResponse: { resourceType: 'Bundle', type: 'searchset', total: 0 } } }));
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body.cards)).toBe(true);
  });

  it('puts the reason of a 412 in the body', async () => {
    const { app } = await build();
    const res = await request(app).post('/cds-services/calf-pain-dvt').send(patientView()).expect(412);
    expect(res.body).toEqual(
      expect.objectContaining({ error: 'precondition_failed', message: expect.stringContaining('cannot be obtained') }),
    );
  });
});

describe('audit trail', () => {
  it('records who read, searched and wrote which patient, and each CDS hook call, without tokens or answers', async () => {
    const dir = tempDir();
    const audit = createAuditTrail({ dir, retentionDays: 30, logger: pino({ level: 'silent' }), now: () => NOW, flushMs: 10_000 });
    const { app } = await build(
      { baseUrl: BASE, auth: { mode: 'on', trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: true } },
      { audit },
    );
    const token = await signDevClientJwt(`${BASE}/fhir`, { now: NOW, claims: { sub: 'nurse-7', scope: 'user/*.cruds' } });
    const created = await request(app)
      .post('/fhir/QuestionnaireResponse')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/fhir+json')
      .send(qr('audit-1'))
      .expect(201);
    const id = created.body.id as string;
    await request(app).get(`/fhir/QuestionnaireResponse/${id}`).set('Authorization', `Bearer ${token}`).expect(200);
    await request(app).get('/fhir/RiskAssessment?subject=Patient/audit-1').set('Authorization', `Bearer ${token}`).expect(200);
    await request(app).get('/fhir/RiskAssessment?subject=Patient/audit-2').expect(401);
    const cdsJwt = await signDevClientJwt(`${BASE}/cds-services/calf-pain-dvt`, { now: NOW, claims: { sub: 'dr-3' } });
    await request(app)
      .post('/cds-services/calf-pain-dvt')
      .set('Authorization', `Bearer ${cdsJwt}`)
      .send(patientView({ prefetch: { calfPainResponse: { resourceType: 'Bundle', type: 'searchset', total: 0 } } }))
      .expect(200);
    await audit.close();

    const records = await queryAudit(dir, { patient: 'audit-1' });
    expect(records.map((r) => [r.action, r.resourceType, r.status, r.who?.subject])).toEqual([
      ['create', 'QuestionnaireResponse', 201, 'nurse-7'],
      ['read', 'QuestionnaireResponse', 200, 'nurse-7'],
      ['search', 'RiskAssessment', 200, 'nurse-7'],
    ]);
    expect(records[1]).toEqual(
      expect.objectContaining({ id, surface: 'fhir', outcome: 'success', time: NOW.toISOString(), requestId: expect.any(String) }),
    );
    const refused = await queryAudit(dir, { patient: 'audit-2' });
    expect(refused).toEqual([expect.objectContaining({ action: 'search', status: 401, outcome: 'failure' })]);
    expect(refused[0].who).toBeUndefined();
    const hooks = await queryAudit(dir, { patient: PATIENT_ID });
    expect(hooks).toEqual([
      expect.objectContaining({
        surface: 'cds-hooks',
        action: 'hook:calf-pain-dvt',
        status: 200,
        who: { issuer: 'https://dev-client.calf-pain.example', subject: 'dr-3' },
      }),
    ]);

    const text = fs
      .readdirSync(dir)
      .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
      .join('');
    expect(text).not.toContain(token);
    expect(text).not.toContain(cdsJwt);
    expect(text).not.toContain('wells-active-cancer');
    expect(fs.readdirSync(dir)).toEqual([expect.stringMatching(/^audit-2026-11-26\..+\.jsonl$/)]);
  });

  it('deletes audit files older than the retention period', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'audit-2020-01-01.old-1.jsonl'), '{}\n');
    fs.writeFileSync(path.join(dir, 'audit-2026-11-20.recent-1.jsonl'), '{}\n');
    const audit = createAuditTrail({ dir, retentionDays: 30, logger: pino({ level: 'silent' }), now: () => NOW });
    await new Promise((r) => setTimeout(r, 100));
    await audit.close();
    expect(fs.readdirSync(dir)).toEqual(['audit-2026-11-20.recent-1.jsonl']);
  });
});

describe('SQLite backup', () => {
  it('copies the database while it is open and being written, and the copy restores', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'live.db');
    const { app, store } = await build({}, {}, createSqliteStore({ filename: file, indexer: indexResource, now: () => NOW }));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (
          await request(app)
            .post('/fhir/QuestionnaireResponse')
            .set('Content-Type', 'application/fhir+json')
            .send(qr(`backup-${i}`))
            .expect(201)
        ).body.id as string,
      );
    // Writes go on while the backup runs.
    const writing = Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        request(app)
          .post('/fhir/QuestionnaireResponse')
          .set('Content-Type', 'application/fhir+json')
          .send(qr(`during-${i}`)),
      ),
    );
    const { totalPages } = await backupSqlite(file, path.join(dir, 'backups', 'copy.db'));
    await writing;
    expect(totalPages).toBeGreaterThan(0);
    await store.close();

    const restored = createSqliteStore({ filename: path.join(dir, 'backups', 'copy.db'), indexer: indexResource, now: () => NOW });
    stores.push(restored);
    for (const id of ids) expect((await restored.read('QuestionnaireResponse', id)).id).toBe(id);
    const assessments = await restored.search({ resourceType: 'RiskAssessment', criteria: [], sort: [], count: 0, offset: 0 });
    expect(assessments.total).toBeGreaterThanOrEqual(5);
  });
});
