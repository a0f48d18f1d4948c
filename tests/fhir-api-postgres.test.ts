import request from 'supertest';
import type { QuestionnaireResponse } from 'fhir/r4';
import { createTestApp, type TestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { readAssessment } from './support/read-assessment';
import { postgresUrl, TestSchemas } from './support/postgres';
import { createPostgresStore } from '../src/storage/postgres/postgres-store';
import { indexResource } from '../src/storage/search-parameters';
import type { Store } from '../src/storage/store';

const FHIR = 'application/fhir+json';
const schemas = new TestSchemas();

const answers = {
  'affected-side': 'right',
  'wells-active-cancer': true,
  'wells-paralysis-or-cast': false,
  'wells-bedridden-or-surgery': false,
  'wells-previous-dvt': false,
  'wells-tenderness-deep-veins': true,
  'wells-entire-leg-swollen': false,
  'wells-calf-swelling-3cm': false,
  'wells-pitting-edema': false,
  'wells-collateral-veins': false,
  'wells-alternative-diagnosis': false,
};

async function pgStore(schema: string): Promise<Store> {
  return createPostgresStore({ connectionString: await postgresUrl(), indexer: indexResource, schema });
}

describe('FHIR API on PostgreSQL (production store)', () => {
  let t: TestApp;
  let schema: string;
  beforeEach(async () => {
    schema = schemas.newName('api');
    t = await createTestApp({ store: await pgStore(schema) });
  });
  afterEach(async () => {
    await t.store.close();
  });
  afterAll(async () => {
    await schemas.dropAll();
  });

  it('creates, evaluates, updates and finds a response the same way as on SQLite', async () => {
    const created = await request(t.app)
      .post('/fhir/QuestionnaireResponse')
      .set('Content-Type', FHIR)
      .send(JSON.stringify(buildResponse(answers, { subject: 'Patient/pg1' })))
      .expect(201);
    const qr = created.body as QuestionnaireResponse;
    const first = await request(t.app).get(`/fhir/RiskAssessment?basis=QuestionnaireResponse/${qr.id}`).expect(200);
    expect(readAssessment(first.body.entry[0].resource).score).toBe(2);

    const changed = buildResponse({ ...answers, 'wells-alternative-diagnosis': true }, { subject: 'Patient/pg1', id: qr.id });
    const putVersion1 = () =>
      request(t.app)
        .put(`/fhir/QuestionnaireResponse/${qr.id}`)
        .set('Content-Type', FHIR)
        .set('If-Match', 'W/"1"')
        .send(JSON.stringify(changed));
    await putVersion1().expect(200);
    await putVersion1().expect(412);

    const second = await request(t.app).get('/fhir/RiskAssessment?patient=Patient/pg1&_sort=-date').expect(200);
    expect(second.body.total).toBe(1);
    expect(readAssessment(second.body.entry[0].resource).score).toBe(0);
    expect((await request(t.app).get('/fhir/Provenance?patient=Patient/pg1')).body.total).toBe(2);
  });

  it('refuses an invalid response (422) and stores nothing', async () => {
    const qr = buildResponse(answers, { subject: 'Patient/pg2' });
    qr.item![0].item![0].answer = [{ valueBoolean: true }];
    await request(t.app).post('/fhir/QuestionnaireResponse').set('Content-Type', FHIR).send(JSON.stringify(qr)).expect(422);
    expect((await request(t.app).get('/fhir/QuestionnaireResponse?patient=Patient/pg2')).body.total).toBe(0);
  });

  it('conditional create finds the earlier submission by identifier (If-None-Exist) instead of storing it twice', async () => {
    const qr = {
      ...buildResponse(answers, { subject: 'Patient/pg3' }),
      identifier: { system: 'https://portal.example.org', value: 'pg-1' },
    };
    const header = 'identifier=https://portal.example.org|pg-1';
    const createIfNoneExist = () =>
      request(t.app).post('/fhir/QuestionnaireResponse').set('Content-Type', FHIR).set('If-None-Exist', header).send(JSON.stringify(qr));
    const first = await createIfNoneExist().expect(201);
    const again = await createIfNoneExist().expect(200);
    expect(again.body.id).toBe(first.body.id);
    expect((await request(t.app).get('/fhir/RiskAssessment?patient=Patient/pg3')).body.total).toBe(1);
  });

  it('answers instance, type and system history with _since and _at', async () => {
    const created = (
      await request(t.app)
        .post('/fhir/QuestionnaireResponse')
        .set('Content-Type', FHIR)
        .send(JSON.stringify(buildResponse(answers, { subject: 'Patient/pg4' })))
        .expect(201)
    ).body as QuestionnaireResponse;
    // This store keeps the system clock: boundaries are taken from the versions themselves.
    const updated = (
      await request(t.app)
        .put(`/fhir/QuestionnaireResponse/${created.id}`)
        .set('Content-Type', FHIR)
        .send(JSON.stringify(created))
        .expect(200)
    ).body as QuestionnaireResponse;
    const at = await request(t.app)
      .get(`/fhir/QuestionnaireResponse/${created.id}/_history?_at=${encodeURIComponent(created.meta!.lastUpdated!)}`)
      .expect(200);
    expect(at.body.entry.map((e: { resource: QuestionnaireResponse }) => e.resource.meta!.versionId)).toEqual(['1']);
    const since = `_since=${encodeURIComponent(updated.meta!.lastUpdated!)}`;
    const type = await request(t.app).get(`/fhir/RiskAssessment/_history?${since}`).expect(200);
    expect(type.body.entry.map((e: { resource: QuestionnaireResponse }) => e.resource.meta!.versionId)).toEqual(['2']);
    const system = await request(t.app).get(`/fhir/_history?${since}`).expect(200);
    expect(system.body.entry.map((e: { resource: QuestionnaireResponse }) => e.resource.resourceType).sort()).toEqual([
      'Provenance',
      'QuestionnaireResponse',
      'RiskAssessment',
    ]);
  });

  it('refuses a JWT id replayed through a second process’s store (jti kept in PostgreSQL)', async () => {
    const other = await pgStore(schema);
    try {
      const expires = new Date(Date.now() + 60_000);
      expect(await t.store.recordJti('https://ehr.example', 'jti-across-processes', expires)).toBe(true);
      expect(await other.recordJti('https://ehr.example', 'jti-across-processes', expires)).toBe(false);
    } finally {
      await other.close();
    }
  });
});
