/**
 * The database goes away under a running service (its own throw-away PostgreSQL cluster, stopped and
 * started by the test): every request that needs the database answers quickly with 503 transient and
 * Retry-After, /readyz turns 503, $evaluate keeps working, and when the database returns the service
 * recovers by itself with everything it had acknowledged.
 */
import { buildResponse } from './support/build-response';
import { freePort, httpRequest, startService, stopService, waitFor, type ServiceProcess } from './support/service-process';
import { createThrowawayPostgres, type ThrowawayPostgres } from './support/throwaway-postgres';

jest.setTimeout(120_000);

let pg: ThrowawayPostgres;
let service: ServiceProcess;

const qr = (n: number) =>
  JSON.stringify(
    buildResponse(
      { 'wells-active-cancer': n % 2 === 0, 'wells-previous-dvt': true },
      { subject: `Patient/outage-${n}`, authored: new Date().toISOString() },
    ),
  );

beforeAll(async () => {
  pg = createThrowawayPostgres(await freePort());
  service = await startService(await freePort(), { DATABASE_URL: pg.url, AUTH_MODE: 'off', RATE_LIMIT_PER_MINUTE: '1000000' });
});

afterAll(async () => {
  await stopService(service);
  pg?.destroy();
});

describe('PostgreSQL outage', () => {
  it('answers 503 with Retry-After while the database is down, keeps $evaluate working, and recovers without a restart', async () => {
    const acknowledged: string[] = [];
    for (let n = 0; n < 5; n++) {
      const res = await httpRequest(service.port, 'POST', '/fhir/QuestionnaireResponse', { body: qr(n) });
      expect(res.status).toBe(201);
      acknowledged.push(JSON.parse(res.body).id as string);
    }
    expect((await httpRequest(service.port, 'GET', '/readyz')).status).toBe(200);

    pg.stop();

    const ready = await httpRequest(service.port, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toEqual(
      expect.objectContaining({ status: 'not-ready', checks: expect.objectContaining({ database: 'failing' }) }),
    );
    expect((await httpRequest(service.port, 'GET', '/healthz')).status).toBe(200);

    // Reads, searches and writes in parallel: each a 503 OperationOutcome, none slow.
    const during = await Promise.all([
      httpRequest(service.port, 'GET', `/fhir/QuestionnaireResponse/${acknowledged[0]}`),
      httpRequest(service.port, 'GET', '/fhir/RiskAssessment?subject=Patient/outage-1'),
      ...Array.from({ length: 8 }, (_, i) => httpRequest(service.port, 'POST', '/fhir/QuestionnaireResponse', { body: qr(100 + i) })),
    ]);
    for (const res of during) {
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      const outcome = JSON.parse(res.body);
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0].code).toBe('transient');
      expect(res.ms).toBeLessThan(5000);
    }

    // $evaluate needs no database.
    const evaluated = await httpRequest(service.port, 'POST', '/fhir/QuestionnaireResponse/$evaluate', { body: qr(7) });
    expect(evaluated.status).toBe(200);
    expect(JSON.parse(evaluated.body).resourceType).toBe('RiskAssessment');

    pg.start();
    await waitFor('readiness after the database returns', async () => (await httpRequest(service.port, 'GET', '/readyz')).status === 200);

    for (const id of acknowledged) expect((await httpRequest(service.port, 'GET', `/fhir/QuestionnaireResponse/${id}`)).status).toBe(200);
    expect((await httpRequest(service.port, 'POST', '/fhir/QuestionnaireResponse', { body: qr(200) })).status).toBe(201);
    // The outage was logged as a warning, never as a crash.
    expect(service.child.exitCode).toBeNull();
    expect(service.output()).toContain('database unavailable');
  });
});
