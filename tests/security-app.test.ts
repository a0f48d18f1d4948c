/**
 * The security layer inside the real app (AUTH_MODE=on, real SQLite store): tokens, scopes and the
 * patient compartment on FHIR interactions, CDS client JWTs, hardened input, nothing stored on refusal.
 */
import request from 'supertest';
import type { Bundle, RiskAssessment } from 'fhir/r4';
import { createApp } from '../src/app';
import { testConfig } from '../src/config/config';
import { createAuthTestApp, createTestApp, useTestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { clientToken, fhirApiToken, generateClient, trustedEntry, writeTrustedClientsFile } from './support/generated-client';
import type { GeneratedClient, TrustedClientsFile } from './support/generated-client';
import { countStored } from './support/store-counts';
import { WELLS_LIKELY_ANSWERS } from './support/wells';

const BASE = 'https://cds.calf-pain.example';
const FHIR = 'application/fhir+json';
const ISS = 'https://ehr.example.org';
const NOW = new Date('2025-03-14T10:00:00Z');

const answers = WELLS_LIKELY_ANSWERS;

let client: GeneratedClient;
let trusted: TrustedClientsFile;

beforeAll(async () => {
  client = await generateClient(ISS);
  trusted = writeTrustedClientsFile('security-app-', 'trusted-clients.json', [
    trustedEntry(client, ['patient/*.cruds', 'user/*.cruds', 'system/*.rs']),
  ]);
});

afterAll(() => trusted.remove());

const apiToken = (scope: string, patient?: string) => fhirApiToken(client, { baseUrl: BASE, now: NOW, scope, patient });

describe('security in the app (AUTH_MODE=on)', () => {
  const t = useTestApp(() => createAuthTestApp({ now: NOW, baseUrl: BASE, trustedClientsFile: trusted.file, devClients: false }));

  const post = (token: string | undefined, body: unknown) => {
    const r = request(t.app).post('/fhir/QuestionnaireResponse').set('Content-Type', FHIR);
    return (token ? r.set('Authorization', `Bearer ${token}`) : r).send(JSON.stringify(body));
  };

  it('refuses to build the app with AUTH_MODE=on and no trusted-clients file', () => {
    const deps = { ...t.deps, config: testConfig({ auth: { mode: 'on', devClients: false } }) };
    expect(() => createApp(deps)).toThrow(/TRUSTED_CLIENTS_FILE/);
  });

  it('serves metadata and the Questionnaire without a token', async () => {
    await request(t.app).get('/fhir/metadata').expect(200);
    const bundle = (await request(t.app).get('/fhir/Questionnaire').expect(200)).body as Bundle;
    expect(bundle.total).toBeGreaterThan(0);
  });

  it('answers 401 OperationOutcome without a token, and stores nothing', async () => {
    const before = await countStored(t.store, 'QuestionnaireResponse');
    const res = await post(undefined, buildResponse(answers, { subject: 'Patient/p1' })).expect(401);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    await request(t.app).get('/fhir/RiskAssessment').expect(401);
    expect(await countStored(t.store, 'QuestionnaireResponse')).toBe(before);
  });

  it('lets a patient token create a response for its own patient and read only its own assessments', async () => {
    const p1 = await apiToken('patient/QuestionnaireResponse.cr patient/RiskAssessment.rs', 'p1');
    const p2 = await apiToken('patient/QuestionnaireResponse.cr patient/RiskAssessment.rs', 'p2');
    const created = await post(p1, buildResponse(answers, { subject: 'Patient/p1' })).expect(201);
    await post(p2, buildResponse(answers, { subject: 'Patient/p2' })).expect(201);

    const riskId = /RiskAssessment\/([^>]+)>/.exec(created.headers.link)![1];
    await request(t.app).get(`/fhir/RiskAssessment/${riskId}`).set('Authorization', `Bearer ${p1}`).expect(200);
    const other = await request(t.app).get(`/fhir/RiskAssessment/${riskId}`).set('Authorization', `Bearer ${p2}`).expect(403);
    expect(other.body.issue[0].code).toBe('forbidden');

    const search = (await request(t.app).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${p2}`).expect(200))
      .body as Bundle<RiskAssessment>;
    expect(search.total).toBe(1);
    expect(search.entry!.map((e) => e.resource!.subject.reference)).toEqual(['Patient/p2']);
  });

  it("refuses (403) a patient token writing another patient's response, and stores nothing", async () => {
    const before = await countStored(t.store, 'QuestionnaireResponse');
    const p1 = await apiToken('patient/QuestionnaireResponse.cr', 'p1');
    await post(p1, buildResponse(answers, { subject: 'Patient/p2' })).expect(403);
    expect(await countStored(t.store, 'QuestionnaireResponse')).toBe(before);
  });

  it('refuses (403) a valid token without the needed scope', async () => {
    const readOnly = await apiToken('user/RiskAssessment.rs');
    await post(readOnly, buildResponse(answers, { subject: 'Patient/p1' })).expect(403);
    await request(t.app).get('/fhir/QuestionnaireResponse').set('Authorization', `Bearer ${readOnly}`).expect(403);
    await request(t.app).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${readOnly}`).expect(200);
  });

  it('lets a user-level token see every patient', async () => {
    const writer = await apiToken('user/QuestionnaireResponse.c');
    await post(writer, buildResponse(answers, { subject: 'Patient/p1' })).expect(201);
    await post(writer, buildResponse(answers, { subject: 'Patient/p2' })).expect(201);
    const reader = await apiToken('system/*.rs');
    const bundle = (await request(t.app).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${reader}`).expect(200)).body as Bundle;
    expect(bundle.total).toBe(2);
  });

  it('refuses a CDS call without a client JWT with a 401 that says a bearer JWT is needed', async () => {
    const res = await request(t.app).get('/cds-services').expect(401);
    expect(res.body).toEqual({ error: 'unauthorized', message: expect.stringContaining('Authorization: Bearer <JWT>') });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="cds-services"/);
  });

  it('lets a CDS call with a valid client JWT past authentication', async () => {
    const token = await clientToken(client, `${BASE}/cds-services`, { now: NOW });
    const res = await request(t.app).get('/cds-services').set('Authorization', `Bearer ${token}`);
    expect(res.status).not.toBe(401);
    // single use
    await request(t.app).get('/cds-services').set('Authorization', `Bearer ${token}`).expect(401);
  });

  it('refuses polluting, deep and oversized JSON before it reaches a handler', async () => {
    const writer = await apiToken('user/QuestionnaireResponse.c');
    const before = await countStored(t.store, 'QuestionnaireResponse');
    const body = JSON.stringify(buildResponse(answers, { subject: 'Patient/p1' }));
    const polluted = body.replace('{', '{"__proto__":{"admin":true},');
    const send = (text: string) =>
      request(t.app).post('/fhir/QuestionnaireResponse').set('Content-Type', FHIR).set('Authorization', `Bearer ${writer}`).send(text);
    expect((await send(polluted)).status).toBe(400);
    expect((await send('{"a":'.repeat(100) + '1' + '}'.repeat(100))).status).toBe(400);
    expect(
      (await send(JSON.stringify({ resourceType: 'QuestionnaireResponse', item: new Array(20_000).fill({ linkId: 'x' }) }))).status,
    ).toBe(413);
    expect(await countStored(t.store, 'QuestionnaireResponse')).toBe(before);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('sends security headers and a request id on every answer', async () => {
    const res = await request(t.app).get('/fhir/metadata').set('X-Request-Id', 'req-42');
    expect(res.headers['x-request-id']).toBe('req-42');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('AUTH_MODE=off', () => {
  it('keeps the API open (development only)', async () => {
    const t = await createTestApp({ config: { auth: { mode: 'off', devClients: false } } });
    try {
      await request(t.app).get('/fhir/RiskAssessment').expect(200);
    } finally {
      await t.store.close();
    }
  });
});
