/**
 * SIGTERM (on a process with /metrics on its own port): readiness turns 503 first, a request already in flight is answered in full, the pool
 * closes and the process exits 0.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { indexResource } from '../src/storage/search-parameters';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';
import { buildResponse } from './support/build-response';
import { freePort, httpRequest, startService, stopService, type ServiceProcess } from './support/service-process';

jest.setTimeout(90_000);

let dir: string;
let service: ServiceProcess | undefined;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calf-shutdown-'));
});
afterAll(async () => {
  await stopService(service);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('graceful shutdown', () => {
  it('turns readiness 503, finishes the request in flight, then exits 0', async () => {
    const metricsPort = await freePort();
    service = await startService(await freePort(), {
      DATABASE_URL: `sqlite://${dir}/shutdown.db`,
      AUTH_MODE: 'off',
      SHUTDOWN_DRAIN_MS: '1500',
      AUDIT_LOG_DIR: path.join(dir, 'audit'),
      METRICS_PORT: String(metricsPort),
    });
    const { port } = service;
    // METRICS_PORT: /metrics on its own listener, not on the API port.
    expect((await httpRequest(metricsPort, 'GET', '/metrics')).body).toContain('process_cpu_seconds_total');
    expect((await httpRequest(port, 'GET', '/metrics')).status).toBe(404);
    const body = JSON.stringify(
      buildResponse({ 'wells-active-cancer': true }, { subject: 'Patient/shutdown-1', authored: new Date().toISOString() }),
    );

    // A create whose body is only half sent when SIGTERM arrives: in flight.
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/fhir/QuestionnaireResponse',
          headers: { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 100));
      setTimeout(() => {
        service!.child.kill('SIGTERM');
        // While draining, the load balancer sees the replica as not ready.
        setTimeout(() => {
          void httpRequest(port, 'GET', '/readyz').then((ready) => {
            readyDuringDrain = ready;
            req.end(body.slice(100));
          }, reject);
        }, 300);
      }, 200);
    });
    let readyDuringDrain: { status: number; body: string } | undefined;

    const res = await answer;
    expect(readyDuringDrain?.status).toBe(503);
    expect(JSON.parse(readyDuringDrain!.body).checks.shutdown).toBe('shutting-down');
    expect(res.status).toBe(201);
    expect(await service.exited).toBe(0);
    expect(service.output()).toContain('shut down cleanly');

    // The acknowledged create is in the database file, and the audit trail was flushed on the way out.
    const id = JSON.parse(res.body).id as string;
    const store = createSqliteStore({ filename: `${dir}/shutdown.db`, indexer: indexResource });
    try {
      expect((await store.read('QuestionnaireResponse', id)).id).toBe(id);
    } finally {
      await store.close();
    }
    const audit = fs
      .readdirSync(path.join(dir, 'audit'))
      .map((f) => fs.readFileSync(path.join(dir, 'audit', f), 'utf8'))
      .join('');
    expect(audit).toContain(`"action":"create","resourceType":"QuestionnaireResponse"`);
    expect(audit).toContain('"patient":"shutdown-1"');
  });
});
