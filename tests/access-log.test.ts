/**
 * The access log: one line per request with method, url, status, time and request id; a CDS call adds
 * what it answered; credentials (Authorization headers, the EHR's fhirAuthorization token) never appear.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../src/app';
import { testConfig } from '../src/config/config';
import { loadEvaluator } from '../src/clinical/engine';
import { loadCatalog } from '../src/clinical/catalog';
import { seedStore } from '../src/clinical/seed';
import { indexResource } from '../src/storage/search-parameters';
import { logRedaction } from '../src/http/middleware/log-redaction';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';
import { buildResponse } from './support/build-response';

describe('access log', () => {
  it('writes one line per call, with the cards a hook answered and no credentials', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const now = new Date();
    const store = createSqliteStore({ filename: ':memory:', indexer: indexResource });
    const catalog = loadCatalog();
    await seedStore(store, catalog);
    const logger = pino({ level: 'info', ...logRedaction() }, sink);
    const app = createApp({ config: testConfig(), store, evaluator: loadEvaluator(), logger, now: () => now }, { catalog });

    const qr = buildResponse(
      { 'wells-active-cancer': true, 'pe-chest-pain': true },
      { id: 'qr-log', subject: 'Patient/p-log', authored: now.toISOString() },
    );
    await request(app)
      .post('/cds-services/calf-pain-dvt')
      .set('Authorization', 'Bearer SECRET-CLIENT-JWT')
      .send({
        hook: 'patient-view',
        hookInstance: '0f3c1a52-8d67-4c41-9d2e-2b2f1d0c5a11',
        fhirServer: 'https://ehr.example.org/fhir',
        fhirAuthorization: {
          access_token: 'SECRET-EHR-TOKEN',
          token_type: 'Bearer',
          expires_in: 300,
          scope: 'patient/*.read',
          subject: 'cds',
        },
        context: { userId: 'Practitioner/1', patientId: 'p-log' },
        prefetch: { calfPainResponse: qr, conditions: null, procedures: null },
      })
      .expect(200);
    await request(app).get('/fhir/metadata').set('Authorization', 'Bearer SECRET-API-TOKEN').expect(200);
    await store.close();

    const access = lines.filter((l) => l.req !== undefined);
    expect(
      access.map((l) => [
        (l.req as { method: string }).method,
        (l.req as { url: string }).url,
        (l.res as { statusCode: number }).statusCode,
      ]),
    ).toEqual([
      ['POST', '/cds-services/calf-pain-dvt', 200],
      ['GET', '/fhir/metadata', 200],
    ]);
    expect(access[0].cds).toEqual({
      service: 'calf-pain-dvt',
      hookInstance: '0f3c1a52-8d67-4c41-9d2e-2b2f1d0c5a11',
      cards: ['pe-red-flag', 'preliminary'],
    });
    expect(typeof access[0].responseTime).toBe('number');
    expect(JSON.stringify(lines)).not.toMatch(/SECRET/);
  });
});
