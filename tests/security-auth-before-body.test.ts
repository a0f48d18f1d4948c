/**
 * Authentication comes before the request body is read: a caller without a valid token learns nothing
 * from the body parser (no 400/413/415 detail) and cannot make the service parse a large body. Every
 * such request is a plain 401, on /cds-services and on /fhir alike; with a valid token the body errors
 * are reported as before.
 */
import request from 'supertest';
import type { TestApp } from './support/app';
import { createDevAuthTestApp, signDevClientJwt } from './support/dev-client';

const BASE = 'https://cds.calf-pain.example';
const NOW = new Date('2026-11-26T12:00:00Z');
const SERVICE = '/cds-services/calf-pain-dvt';

let t: TestApp;

beforeEach(async () => {
  t = await createDevAuthTestApp({ now: NOW, baseUrl: BASE, config: { maxBodyBytes: 10_000 } });
});
afterEach(async () => {
  await t.store.close();
});

function token(aud: string, claims: Record<string, unknown> = {}): Promise<string> {
  return signDevClientJwt(aud, { now: NOW, claims });
}

const BAD_BODIES: [string, string, string][] = [
  ['malformed JSON', 'application/json', '{"hook":'],
  ['a forbidden key', 'application/json', '{"__proto__": {"polluted": true}}'],
  ['too deep', 'application/json', '['.repeat(500) + ']'.repeat(500)],
  ['too large', 'application/json', JSON.stringify({ pad: 'x'.repeat(20_000) })],
  ['the wrong media type', 'text/plain', 'hello'],
];

describe.each([
  ['/cds-services', SERVICE],
  ['/fhir', '/fhir/QuestionnaireResponse'],
])('%s: no valid token, no body parsing', (_surface, url) => {
  it.each(BAD_BODIES)('%s without a token is a 401', async (_name, type, body) => {
    const res = await request(t.app).post(url).set('Content-Type', type).send(body);
    expect(res.status).toBe(401);
    expect(JSON.stringify(res.body)).not.toMatch(/JSON|nesting|too large|media type|__proto__/i);
  });

  it.each(BAD_BODIES)('%s with a forged token is a 401', async (_name, type, body) => {
    const res = await request(t.app).post(url).set('Authorization', 'Bearer a.b.c').set('Content-Type', type).send(body);
    expect(res.status).toBe(401);
  });
});

describe('with a valid token the body is still checked', () => {
  it('CDS: malformed JSON 400, too large 413, wrong media type 415', async () => {
    const send = async (type: string, body: string) =>
      (
        await request(t.app)
          .post(SERVICE)
          .set('Authorization', `Bearer ${await token(`${BASE}${SERVICE}`)}`)
          .set('Content-Type', type)
          .send(body)
      ).status;
    expect(await send('application/json', '{"hook":')).toBe(400);
    expect(await send('application/json', JSON.stringify({ pad: 'x'.repeat(20_000) }))).toBe(413);
    expect(await send('text/plain', 'hello')).toBe(415);
  });

  it('FHIR: malformed JSON is a 400 OperationOutcome', async () => {
    const jwt = await token(`${BASE}/fhir`, { scope: 'user/QuestionnaireResponse.cruds' });
    const res = await request(t.app)
      .post('/fhir/QuestionnaireResponse')
      .set('Authorization', `Bearer ${jwt}`)
      .set('Content-Type', 'application/fhir+json')
      .send('{"resourceType":');
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});
