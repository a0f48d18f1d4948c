import request from 'supertest';
import { createTestApp, type TestApp, useTestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { ConfigError, loadConfig } from '../src/config/config';

const FHIR = 'application/fhir+json';
const PORTAL = 'https://portal.example.org';

/** What MedplumClient in Chromium sends before a conditional create with Prefer. */
const MEDPLUM_HEADERS = 'authorization,content-type,prefer,if-none-exist,if-none-match,x-medplum';

function preflight(t: TestApp, origin: string, headers = MEDPLUM_HEADERS) {
  return request(t.app)
    .options('/fhir/QuestionnaireResponse')
    .set('Origin', origin)
    .set('Access-Control-Request-Method', 'POST')
    .set('Access-Control-Request-Headers', headers);
}

describe('CORS on /fhir for browser FHIR clients', () => {
  describe('without CORS_ORIGINS: any origin, no credentials', () => {
    const t = useTestApp();

    it('allows the headers FHIR clients send (Prefer, If-None-Exist, If-None-Match, If-Modified-Since, X-Medplum)', async () => {
      const res = await preflight(t, PORTAL, `${MEDPLUM_HEADERS},if-modified-since,if-match,accept`);
      expect(res.status).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      const allowed = res.headers['access-control-allow-headers'].toLowerCase().split(',');
      for (const h of [
        'prefer',
        'if-none-exist',
        'if-none-match',
        'if-modified-since',
        'if-match',
        'authorization',
        'content-type',
        'accept',
        'x-medplum',
      ]) {
        expect(allowed).toContain(h);
      }
      expect(res.headers['access-control-allow-methods']).toMatch(/PUT/);
    });

    it('exposes Location, ETag, Last-Modified, Content-Location and Preference-Applied', async () => {
      const res = await request(t.app)
        .post('/fhir/QuestionnaireResponse')
        .set('Origin', PORTAL)
        .set('Content-Type', FHIR)
        .set('Prefer', 'return=minimal')
        .send(JSON.stringify(buildResponse(WELLS_LIKELY_ANSWERS, { subject: 'Patient/cors' })))
        .expect(201);
      const exposed = res.headers['access-control-expose-headers'].split(',');
      expect(exposed).toEqual(expect.arrayContaining(['Location', 'ETag', 'Last-Modified', 'Content-Location', 'Preference-Applied']));
      expect(res.headers['preference-applied']).toBe('return=minimal');
    });

    it('keeps CORS headers on errors so a browser can read the OperationOutcome', async () => {
      const res = await request(t.app).patch('/fhir/QuestionnaireResponse/x').set('Origin', PORTAL).expect(405);
      expect(res.headers['access-control-allow-origin']).toBe('*');
    });
  });

  describe('with CORS_ORIGINS: only the listed origins, with credentials', () => {
    const t = useTestApp(() => createTestApp({ config: { corsOrigins: [PORTAL, 'http://localhost:3000'] } }));

    it('echoes a listed origin with Access-Control-Allow-Credentials, never *', async () => {
      const res = await preflight(t, PORTAL).expect(204);
      expect(res.headers['access-control-allow-origin']).toBe(PORTAL);
      expect(res.headers['access-control-allow-credentials']).toBe('true');
      expect(res.headers.vary).toMatch(/Origin/);
      const read = await request(t.app).get('/fhir/metadata').set('Origin', 'http://localhost:3000').expect(200);
      expect(read.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    });

    it('gives an unlisted origin no CORS headers', async () => {
      const res = await preflight(t, 'https://evil.example.com');
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    });
  });

  it('reads CORS_ORIGINS from the environment and refuses entries that are not origins', () => {
    expect(loadConfig({ CORS_ORIGINS: `${PORTAL}, http://localhost:3000` }).corsOrigins).toEqual([PORTAL, 'http://localhost:3000']);
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://portal.example.org/app' })).toThrow(ConfigError);
    expect(() => loadConfig({ CORS_ORIGINS: '*' })).toThrow(ConfigError);
  });
});
