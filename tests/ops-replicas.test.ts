/**
 * Two replicas of the service on one PostgreSQL, sharing rate limits through Redis, behind a real
 * load balancer (HAProxy, started by the test): they behave as one service. Writes on one are read on
 * the other, a client over its limit is refused whichever replica it reaches, a CDS client JWT used on
 * one is refused as a replay on the other, and taking a replica down (SIGTERM, then kill -9) loses no
 * acknowledged write.
 */
import { randomUUID } from 'node:crypto';
import { buildResponse } from './support/build-response';
import { patientView, response, searchset } from './fixtures/cds/harness';
import { signDevClientJwt } from './support/dev-client';
import { startHaproxy, type LoadBalancer } from './support/load-balancer';
import { postgresUrl, TestSchemas } from './support/postgres';
import { freePort, httpRequest, startService, stopService, waitFor, type ServiceProcess } from './support/service-process';

jest.setTimeout(150_000);

const LIMIT = 40;
const schemas = new TestSchemas();
const run = randomUUID().slice(0, 8);
let lb: LoadBalancer;
let base: string;
let env: Record<string, string>;
const ports: number[] = [];
const replicas: (ServiceProcess | undefined)[] = [];

const apiToken = (subject: string) =>
  signDevClientJwt(`${base}/fhir`, { now: new Date(), claims: { sub: subject, scope: 'system/*.cruds' } });
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const qr = (n: number) =>
  JSON.stringify(
    buildResponse(
      { 'wells-active-cancer': n % 2 === 0, 'wells-previous-dvt': true },
      { subject: `Patient/replica-${run}-${n}`, authored: new Date().toISOString() },
    ),
  );

/** Waits until a replica is ready and the load balancer has seen it healthy twice (rise 2, every 300 ms). */
async function inRotation(port: number): Promise<void> {
  await waitFor(`replica on ${port} ready`, async () => (await httpRequest(port, 'GET', '/readyz')).status === 200);
  await new Promise((r) => setTimeout(r, 900));
}

beforeAll(async () => {
  const lbPort = await freePort();
  base = `http://127.0.0.1:${lbPort}`;
  env = {
    DATABASE_URL: `${await postgresUrl()}?schema=${schemas.newName('replicas')}`,
    BASE_URL: base,
    RATE_LIMIT_STORE: 'redis://127.0.0.1:6379',
    TRUST_PROXY: 'loopback',
    RATE_LIMIT_PER_MINUTE: String(LIMIT),
    SHUTDOWN_DRAIN_MS: '1000',
    LOG_LEVEL: 'warn',
  };
  ports.push(await freePort(), await freePort());
  // Started together: the schema's migrations are serialised by the store's advisory lock.
  [replicas[0], replicas[1]] = await Promise.all([startService(ports[0], env), startService(ports[1], env)]);
  lb = await startHaproxy(lbPort, ports);
  await inRotation(ports[0]);
  await inRotation(ports[1]);
});

afterAll(async () => {
  await Promise.all(replicas.map(stopService));
  await lb?.stop();
  await schemas.dropAll();
});

describe('two replicas behind a load balancer', () => {
  it('reads on one replica what was written on the other', async () => {
    const token = await apiToken(`writer-${run}`);
    const created = await httpRequest(ports[0], 'POST', '/fhir/QuestionnaireResponse', { body: qr(1), headers: auth(token) });
    expect(created.status).toBe(201);
    const id = JSON.parse(created.body).id as string;
    expect((await httpRequest(ports[1], 'GET', `/fhir/QuestionnaireResponse/${id}`, { headers: auth(token) })).status).toBe(200);
    const assessments = await httpRequest(lb.port, 'GET', `/fhir/RiskAssessment?basis=QuestionnaireResponse/${id}`, {
      headers: auth(token),
    });
    expect(JSON.parse(assessments.body).total).toBe(1);
  });

  it('refuses a client over its limit whichever replica it reaches', async () => {
    const token = await apiToken(`busy-${run}`);
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) {
      statuses.push((await httpRequest(ports[i % 2], 'GET', '/fhir/RiskAssessment?_count=1', { headers: auth(token) })).status);
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (const port of [ports[0], ports[1], lb.port]) {
      const res = await httpRequest(port, 'GET', '/fhir/RiskAssessment?_count=1', { headers: auth(token) });
      expect(res.status).toBe(429);
    }
    // Another client is not affected.
    expect(
      (await httpRequest(lb.port, 'GET', '/fhir/RiskAssessment?_count=1', { headers: auth(await apiToken(`calm-${run}`)) })).status,
    ).toBe(200);
  });

  it('refuses on the other replica a CDS client JWT already used on one', async () => {
    const jwt = await signDevClientJwt(`${base}/cds-services`, { now: new Date() });
    expect((await httpRequest(ports[0], 'GET', '/cds-services', { headers: auth(jwt) })).status).toBe(200);
    const replay = await httpRequest(ports[1], 'GET', '/cds-services', { headers: auth(jwt) });
    expect(replay.status).toBe(401);
    expect(JSON.parse(replay.body).message).toMatch(/jti was already used/);
  });

  it('counts on one replica the feedback posted on the other for a card issued by the first', async () => {
    const call = async (port: number, path: string, body: unknown) => {
      const jwt = await signDevClientJwt(`${base}${path}`, { now: new Date() });
      return httpRequest(port, 'POST', path, { body: JSON.stringify(body), headers: { ...auth(jwt), 'content-type': 'application/json' } });
    };
    const hook = patientView({
      prefetch: {
        calfPainResponse: searchset([response('likely', { authored: new Date().toISOString() })]),
        conditions: searchset([]),
        procedures: searchset([]),
      },
    });
    const answered = await call(ports[0], '/cds-services/calf-pain-dvt', hook);
    expect(answered.status).toBe(200);
    const card = (JSON.parse(answered.body) as { cards: { uuid: string }[] }).cards[0];
    const feedback = { feedback: [{ card: card.uuid, outcome: 'overridden', outcomeTimestamp: new Date().toISOString() }] };
    expect((await call(ports[1], '/cds-services/calf-pain-dvt/feedback', feedback)).status).toBe(200);
    const jwt = await signDevClientJwt(`${base}/cds-services/feedback-summary`, { now: new Date() });
    const summary = JSON.parse((await httpRequest(ports[0], 'GET', '/cds-services/feedback-summary', { headers: auth(jwt) })).body) as {
      byKind?: { kind: string; overridden: number }[];
    };
    // The card kind was resolved from the card the other replica issued (not "unknown").
    expect(summary.byKind?.find((k) => k.overridden === 1)?.kind).toMatch(/^dvt-/);
  });

  it('loses no acknowledged write when a replica is stopped (SIGTERM) and another killed (kill -9)', async () => {
    const acknowledged: string[] = [];
    const failures: string[] = [];
    let n = 1000;
    /** Sends `total` creates through the load balancer, 6 at a time; calls onAnswered after `after` answers. */
    const stream = async (total: number, after: number, onAnswered: () => void) => {
      let sent = 0;
      let answered = 0;
      const worker = async (w: number) => {
        const token = await apiToken(`stream-${run}-${w}`);
        while (sent < total) {
          sent++;
          const body = qr(n++);
          try {
            const res = await httpRequest(lb.port, 'POST', '/fhir/QuestionnaireResponse', { body, headers: auth(token) });
            if (res.status === 201) acknowledged.push(JSON.parse(res.body).id as string);
            else failures.push(String(res.status));
          } catch (err) {
            failures.push((err as Error).message);
          }
          if (++answered === after) onAnswered();
        }
      };
      await Promise.all(Array.from({ length: 6 }, (_, w) => worker(w)));
    };

    // SIGTERM replica 1 while writes flow: it drains, finishes what it has, exits 0.
    await stream(60, 15, () => replicas[0]!.child.kill('SIGTERM'));
    expect(await replicas[0]!.exited).toBe(0);
    const afterSigterm = acknowledged.length;

    // Back in rotation, then kill -9 replica 2 while writes flow.
    replicas[0] = await startService(ports[0], env);
    await inRotation(ports[0]);
    await stream(60, 15, () => replicas[1]!.child.kill('SIGKILL'));
    replicas[1] = undefined;

    expect(afterSigterm).toBeGreaterThanOrEqual(40);
    expect(acknowledged.length).toBeGreaterThanOrEqual(afterSigterm + 15);
    const missing: string[] = [];
    let reader = '';
    for (const [i, id] of acknowledged.entries()) {
      // A fresh reader identity every 30 reads keeps the check under the rate limit.
      if (i % 30 === 0) reader = await apiToken(`reader-${run}-${i}`);
      const res = await httpRequest(ports[0], 'GET', `/fhir/QuestionnaireResponse/${id}`, { headers: auth(reader) });
      if (res.status !== 200) missing.push(`${id}: ${res.status}`);
    }
    expect(missing).toEqual([]);
    process.stdout.write(
      `replicas: ${acknowledged.length} creates acknowledged, ${failures.length} refused or cut (${failures.join(', ')})\n`,
    );
    // Refusals during the kill are answers, not losses (the client was told); they stay few.
    expect(failures.length).toBeLessThanOrEqual(12);
  });
});
