import request from 'supertest';
import type { Bundle, BundleEntry, QuestionnaireResponse, RiskAssessment } from 'fhir/r4';
import { createTestApp, type TestApp, useTestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { postgresUrl, TestSchemas } from './support/postgres';
import { readAssessment } from './support/read-assessment';
import { expectValidR4 } from './support/r4-validator';
import { writtenCounts } from './support/store-counts';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { createPostgresStore } from '../src/storage/postgres/postgres-store';
import { indexResource } from '../src/storage/search-parameters';
import { MAX_BUNDLE_ENTRIES } from '../src/http/fhir/batch';

const FHIR = 'application/fhir+json';
const likely = WELLS_LIKELY_ANSWERS;
const schemas = new TestSchemas();

function postBundle(t: TestApp, bundle: unknown, headers: Record<string, string> = {}) {
  let req = request(t.app).post('/fhir').set('Content-Type', FHIR);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return req.send(JSON.stringify(bundle));
}

/** A Bundle of this type with these entries. */
function bundleOf<Entry>(type: 'batch' | 'transaction', entry: Entry[]) {
  return { resourceType: 'Bundle', type, entry };
}

function response(subject: string, extra: Partial<QuestionnaireResponse> = {}): QuestionnaireResponse {
  return { ...buildResponse(likely, { subject }), ...extra };
}

const stores: [string, () => Promise<TestApp>][] = [
  ['SQLite', () => createTestApp()],
  [
    'PostgreSQL',
    async () =>
      createTestApp({
        store: await createPostgresStore({
          connectionString: await postgresUrl(),
          indexer: indexResource,
          schema: schemas.newName('bundle'),
        }),
      }),
  ],
];

afterAll(async () => {
  await schemas.dropAll();
});

describe.each(stores)('batch and transaction Bundles at POST /fhir (%s)', (_name, makeApp) => {
  const t = useTestApp(makeApp);

  describe('transaction', () => {
    it('creates every entry in one transaction, rewrites urn:uuid references and answers per entry', async () => {
      const bundle = bundleOf('transaction', [
        // The search comes first in the Bundle but runs after the create (R4 order), and its urn:uuid is rewritten too.
        { request: { method: 'GET', url: 'RiskAssessment?basis=urn:uuid:7f0bfa8e-53e6-4d38-8d1a-8a1e2d6f0c11' } },
        {
          fullUrl: 'urn:uuid:7f0bfa8e-53e6-4d38-8d1a-8a1e2d6f0c11',
          resource: response('Patient/tx1'),
          request: { method: 'POST', url: 'QuestionnaireResponse' },
        },
        {
          fullUrl: 'urn:uuid:0b8f3a52-2a55-4c59-9d0b-7c1f1b0e5a22',
          resource: response('Patient/tx1', { identifier: { system: 'https://portal.example.org', value: 'b' } }),
          request: { method: 'POST', url: 'QuestionnaireResponse' },
        },
        { request: { method: 'GET', url: 'Questionnaire/calf-pain' } },
      ]);
      const res = await postBundle(t, bundle).expect(200);
      const out = res.body as Bundle;
      expectValidR4(out);
      expect(out.type).toBe('transaction-response');
      expect(out.entry!.map((e) => e.response!.status)).toEqual(['200 OK', '201 Created', '201 Created', '200 OK']);
      const created = out.entry![1];
      expect(created.response!.location).toMatch(/^QuestionnaireResponse\/[0-9a-f-]{36}\/_history\/1$/);
      expect(created.response!.etag).toBe('W/"1"');
      const id = (created.resource as QuestionnaireResponse).id!;
      const search = out.entry![0].resource as Bundle;
      expect(search.total).toBe(1);
      expect((search.entry![0].resource as RiskAssessment).basis![0].reference).toBe(`QuestionnaireResponse/${id}`);
      expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 2, RiskAssessment: 2, Provenance: 2 });
    });

    it('rewrites a reference from one new resource to another (urn:uuid fullUrl)', async () => {
      const first = 'urn:uuid:11111111-2222-4333-8444-555555555555';
      const bundle = bundleOf('transaction', [
        {
          fullUrl: 'urn:uuid:99999999-2222-4333-8444-555555555555',
          resource: response('Patient/tx2', { partOf: [{ reference: first }] }),
          request: { method: 'POST', url: 'QuestionnaireResponse' },
        },
        { fullUrl: first, resource: response('Patient/tx2'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
      ]);
      // The first entry refers to the second, which is created after it: ids are assigned before anything is written.
      const res = await postBundle(t, bundle).expect(200);
      const [a, b] = (res.body as Bundle).entry!.map((e) => e.resource as QuestionnaireResponse);
      expect(a.partOf![0].reference).toBe(`QuestionnaireResponse/${b.id}`);
      const stored = await request(t.app).get(`/fhir/QuestionnaireResponse/${a.id}`).expect(200);
      expect(stored.body.partOf[0].reference).toBe(`QuestionnaireResponse/${b.id}`);
    });

    it('stores nothing when one entry fails, and answers with that entry’s OperationOutcome and status', async () => {
      const bad = response('Patient/tx3');
      bad.item![0].item![0].answer = [{ valueBoolean: true }];
      const bundle = bundleOf('transaction', [
        {
          fullUrl: 'urn:uuid:a1a1a1a1-2222-4333-8444-555555555555',
          resource: response('Patient/tx3'),
          request: { method: 'POST', url: 'QuestionnaireResponse' },
        },
        {
          fullUrl: 'urn:uuid:b2b2b2b2-2222-4333-8444-555555555555',
          resource: bad,
          request: { method: 'POST', url: 'QuestionnaireResponse' },
        },
      ]);
      const res = await postBundle(t, bundle).expect(422);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\]/);
      expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 0, RiskAssessment: 0, Provenance: 0 });
    });

    it('rolls back an update whose If-Match is stale together with the creates before it', async () => {
      const existing = (
        await request(t.app)
          .post('/fhir/QuestionnaireResponse')
          .set('Content-Type', FHIR)
          .send(JSON.stringify(response('Patient/tx4')))
          .expect(201)
      ).body as QuestionnaireResponse;
      const bundle = bundleOf('transaction', [
        { resource: response('Patient/tx4'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
        {
          resource: { ...existing, status: 'amended' },
          request: { method: 'PUT', url: `QuestionnaireResponse/${existing.id}`, ifMatch: 'W/"9"' },
        },
      ]);
      await postBundle(t, bundle).expect(412);
      expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 1, RiskAssessment: 1, Provenance: 1 });
      bundle.entry[1].request.ifMatch = 'W/"1"';
      const ok = await postBundle(t, bundle).expect(200);
      expect(ok.body.entry.map((e: BundleEntry) => e.response!.status)).toEqual(['201 Created', '200 OK']);
      expect(ok.body.entry[1].response.etag).toBe('W/"2"');
    });

    it('resolves a conditional create to the existing response (If-None-Exist) and points references at it', async () => {
      const identifier = { system: 'https://portal.example.org/submissions', value: 'sub-42' };
      await request(t.app)
        .post('/fhir/QuestionnaireResponse')
        .set('Content-Type', FHIR)
        .send(JSON.stringify(response('Patient/tx5', { identifier })))
        .expect(201);
      const fullUrl = 'urn:uuid:c3c3c3c3-2222-4333-8444-555555555555';
      const bundle = bundleOf('transaction', [
        {
          fullUrl,
          resource: response('Patient/tx5', { identifier }),
          request: { method: 'POST', url: 'QuestionnaireResponse', ifNoneExist: `identifier=${identifier.system}|${identifier.value}` },
        },
        { request: { method: 'GET', url: `RiskAssessment?basis=${fullUrl}` } },
      ]);
      const res = await postBundle(t, bundle).expect(200);
      expect(res.body.entry[0].response.status).toBe('200 OK');
      expect(res.body.entry[1].resource.total).toBe(1);
      expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 1, RiskAssessment: 1, Provenance: 1 });
    });

    it('refuses an unsupported entry (DELETE) with its 405 and stores nothing', async () => {
      const bundle = bundleOf('transaction', [
        { resource: response('Patient/tx6'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
        { request: { method: 'DELETE', url: 'QuestionnaireResponse/x' } },
      ]);
      const res = await postBundle(t, bundle).expect(405);
      expect(res.headers.allow).toBe('GET, HEAD, PUT');
      expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 0, RiskAssessment: 0, Provenance: 0 });
    });

    it('honours Prefer: return=minimal and return=OperationOutcome per entry', async () => {
      const bundle = bundleOf('transaction', [
        { resource: response('Patient/tx7'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
      ]);
      const minimal = await postBundle(t, bundle, { Prefer: 'return=minimal' }).expect(200);
      expect(minimal.body.entry[0].resource).toBeUndefined();
      expect(minimal.headers['preference-applied']).toBe('return=minimal');
      expect(minimal.body.entry[0].response.location).toMatch(/^QuestionnaireResponse\//);
      const outcome = await postBundle(t, bundle, { Prefer: 'return=OperationOutcome' }).expect(200);
      expect(outcome.body.entry[0].response.outcome.resourceType).toBe('OperationOutcome');
    });
  });

  describe('batch', () => {
    it('answers every entry on its own: successes stored, failures with their status and OperationOutcome', async () => {
      const bad = response('Patient/b1');
      delete bad.subject;
      const bundle = bundleOf('batch', [
        { resource: response('Patient/b1'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
        { resource: bad, request: { method: 'POST', url: 'QuestionnaireResponse' } },
        { request: { method: 'GET', url: 'QuestionnaireResponse?patient=Patient/b1' } },
        { request: { method: 'GET', url: 'QuestionnaireResponse/does-not-exist' } },
        { resource: response('Patient/b1'), request: { method: 'POST', url: 'QuestionnaireResponse/$evaluate' } },
        { request: { method: 'PATCH', url: 'QuestionnaireResponse/x' } },
        { request: { method: 'GET', url: 'Banana/1' } },
      ]);
      const res = await postBundle(t, bundle).expect(200);
      const out = res.body as Bundle;
      expectValidR4(out);
      expect(out.type).toBe('batch-response');
      expect(out.entry!.map((e) => e.response!.status)).toEqual([
        '201 Created',
        '422 Unprocessable Entity',
        '200 OK',
        '404 Not Found',
        '200 OK',
        '405 Method Not Allowed',
        '404 Not Found',
      ]);
      expect(out.entry![1].response!.outcome!.resourceType).toBe('OperationOutcome');
      expect((out.entry![2].resource as Bundle).total).toBe(1);
      expect(readAssessment(out.entry![4].resource as RiskAssessment).score).toBe(3);
      expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 1, RiskAssessment: 1, Provenance: 1 });
    });

    it('takes absolute request URLs on this server and refuses others', async () => {
      const bundle = bundleOf('batch', [
        { request: { method: 'GET', url: 'http://localhost:8080/fhir/Questionnaire/calf-pain' } },
        { request: { method: 'GET', url: 'https://elsewhere.example.org/fhir/Questionnaire/calf-pain' } },
      ]);
      const res = await postBundle(t, bundle).expect(200);
      expect(res.body.entry.map((e: BundleEntry) => e.response!.status)).toEqual(['200 OK', '400 Bad Request']);
    });
  });

  describe('refusals', () => {
    it.each([
      ['a resource that is not a Bundle', { resourceType: 'Parameters' }, 400],
      ['a collection Bundle', { resourceType: 'Bundle', type: 'collection' }, 400],
      [
        'an entry without request',
        { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'QuestionnaireResponse' } }] },
        400,
      ],
      [
        'an unknown method',
        { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'FETCH', url: 'Questionnaire' } }] },
        400,
      ],
      [
        'a nested Bundle',
        {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ resource: { resourceType: 'Bundle', type: 'batch' }, request: { method: 'POST', url: '' } }],
        },
        400,
      ],
      [
        'a repeated fullUrl',
        {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: 'urn:uuid:d4d4d4d4-2222-4333-8444-555555555555', request: { method: 'GET', url: 'Questionnaire' } },
            { fullUrl: 'urn:uuid:d4d4d4d4-2222-4333-8444-555555555555', request: { method: 'GET', url: 'Questionnaire' } },
          ],
        },
        400,
      ],
    ])('refuses %s (%#) with an OperationOutcome and stores nothing', async (_name, bundle, status) => {
      const res = await postBundle(t, bundle).expect(status);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 0, RiskAssessment: 0, Provenance: 0 });
    });

    it(`refuses more than ${MAX_BUNDLE_ENTRIES} entries with 413`, async () => {
      const entry = Array.from({ length: MAX_BUNDLE_ENTRIES + 1 }, () => ({ request: { method: 'GET', url: 'Questionnaire/calf-pain' } }));
      const res = await postBundle(t, { resourceType: 'Bundle', type: 'batch', entry }).expect(413);
      expect(res.body.issue[0].diagnostics).toMatch(/at most 100 entries/);
    });

    it('answers GET on the base URL with 405 and Allow: POST', async () => {
      const res = await request(t.app).get('/fhir').expect(405);
      expect(res.headers.allow).toBe('POST');
    });
  });
});
