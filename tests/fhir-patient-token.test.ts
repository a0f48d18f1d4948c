import request from 'supertest';
import type { Bundle } from 'fhir/r4';
import { createDevAuthTestApp, signDevClientJwt } from './support/dev-client';
import type { TestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { writtenCounts } from './support/store-counts';

const BASE = 'https://cds.calf-pain.example';
const NOW = new Date();
const FHIR = 'application/fhir+json';

/** The new interactions keep a patient-level token inside its patient's compartment. */
describe('a patient/ token and batch, history, includes and conditional writes', () => {
  let t: TestApp;
  let own: string;
  let staff: string;

  beforeAll(async () => {
    t = await createDevAuthTestApp({ now: NOW, baseUrl: BASE });
    own = await signDevClientJwt(`${BASE}/fhir`, {
      now: NOW,
      claims: { scope: 'patient/QuestionnaireResponse.cruds patient/RiskAssessment.rs patient/Provenance.rs', patient: 'mine' },
    });
    staff = await signDevClientJwt(`${BASE}/fhir`, { now: NOW, claims: { scope: 'user/*.cruds' } });
    for (const subject of ['Patient/mine', 'Patient/other']) {
      const body = {
        ...buildResponse(WELLS_LIKELY_ANSWERS, { subject }),
        identifier: { system: 'https://portal.example.org', value: 'shared-1' },
      };
      await request(t.app)
        .post('/fhir/QuestionnaireResponse')
        .set('Authorization', `Bearer ${staff}`)
        .set('Content-Type', FHIR)
        .send(JSON.stringify(body))
        .expect(201);
    }
  });
  afterAll(async () => {
    await t.store.close();
  });

  const as = (token: string) => ({
    get: (url: string) => request(t.app).get(url).set('Authorization', `Bearer ${token}`),
    post: (url: string, body: unknown, headers: Record<string, string> = {}) => {
      let req = request(t.app).post(url).set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR);
      for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
      return req.send(JSON.stringify(body));
    },
  });

  it('refuses type history (403) and limits system history to the public types', async () => {
    await as(own).get('/fhir/QuestionnaireResponse/_history').expect(403);
    const system = await as(own).get('/fhir/_history?_count=200').expect(200);
    const types = new Set(((system.body as Bundle).entry ?? []).map((e) => e.resource!.resourceType));
    expect([...types].every((type) => ['Questionnaire', 'SearchParameter', 'OperationDefinition'].includes(type))).toBe(true);
    expect((await as(staff).get('/fhir/QuestionnaireResponse/_history').expect(200)).body.total).toBe(2);
  });

  it('includes only resources of its own patient', async () => {
    const res = await as(own).get('/fhir/QuestionnaireResponse?_revinclude=RiskAssessment:basis&_revinclude=Provenance:entity').expect(200);
    const subjects = (res.body as Bundle)
      .entry!.filter((e) => e.resource!.resourceType !== 'Provenance')
      .map((e) => (e.resource as { subject?: { reference?: string } }).subject?.reference);
    expect(subjects).toEqual(['Patient/mine', 'Patient/mine']);
  });

  it('conditional create sees only its compartment: the other patient’s identical identifier is not a match', async () => {
    const before = await writtenCounts(t.store);
    const body = {
      ...buildResponse(WELLS_LIKELY_ANSWERS, { subject: 'Patient/mine' }),
      identifier: { system: 'https://portal.example.org', value: 'shared-1' },
    };
    const res = await as(own)
      .post('/fhir/QuestionnaireResponse', body, { 'If-None-Exist': 'identifier=https://portal.example.org|shared-1' })
      .expect(200);
    expect(res.body.subject.reference).toBe('Patient/mine');
    expect(await writtenCounts(t.store)).toEqual(before);
  });

  it('checks every batch entry as if sent alone: another patient’s resources are 403 entries', async () => {
    const other = await as(staff).get('/fhir/QuestionnaireResponse?patient=Patient/other').expect(200);
    const otherId = other.body.entry[0].resource.id;
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `QuestionnaireResponse/${otherId}` } },
        {
          resource: buildResponse(WELLS_LIKELY_ANSWERS, { subject: 'Patient/other' }),
          request: { method: 'POST', url: 'QuestionnaireResponse' },
        },
        { request: { method: 'GET', url: 'QuestionnaireResponse' } },
      ],
    };
    const res = await as(own).post('/fhir', bundle).expect(200);
    expect(res.body.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual([
      '403 Forbidden',
      '403 Forbidden',
      '200 OK',
    ]);
    expect(res.body.entry[2].resource.total).toBe(1);
    const tx = await as(own)
      .post('/fhir', { ...bundle, type: 'transaction' })
      .expect(403);
    // Creates run first in a transaction: the POST is the entry that fails.
    expect(tx.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\] \(POST QuestionnaireResponse\)/);
  });
});
