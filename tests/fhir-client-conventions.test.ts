import request from 'supertest';
import type { Bundle, QuestionnaireResponse, RiskAssessment } from 'fhir/r4';
import { createTestApp, putFhir, type TestApp, useTestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { expectValidR4 } from './support/r4-validator';
import { writtenCounts } from './support/store-counts';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { QUESTIONNAIRE_URL } from '../src/core/canonical';
import { MAX_COUNT } from '../src/http/fhir/search-query';

/** What generic FHIR clients (HAPI, fhir-kit-client, MedplumClient, SMART fhirclient) send, answered as R4 says. */
const FHIR = 'application/fhir+json';
const likely = WELLS_LIKELY_ANSWERS;
const T0 = new Date('2026-03-01T10:00:00.000Z');

function post(t: TestApp, body: unknown, headers: Record<string, string> = {}, path = '/fhir/QuestionnaireResponse') {
  let req = request(t.app).post(path).set('Content-Type', FHIR);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return req.send(JSON.stringify(body));
}

describe('FHIR API conventions clients rely on', () => {
  const t = useTestApp(() => createTestApp({ now: T0 }));

  describe('conditional create (If-None-Exist)', () => {
    const identifier = { system: 'https://portal.example.org/submissions', value: 'abc-1' };
    const header = `identifier=${identifier.system}|${identifier.value}`;

    it('creates on no match (201), returns the match on a retry (200) without a new RiskAssessment', async () => {
      const first = await post(t, { ...buildResponse(likely, { subject: 'Patient/c1' }), identifier }, { 'If-None-Exist': header }).expect(
        201,
      );
      const again = await post(t, { ...buildResponse(likely, { subject: 'Patient/c1' }), identifier }, { 'If-None-Exist': header }).expect(
        200,
      );
      expect(again.body.id).toBe(first.body.id);
      expect(again.headers.location).toBe(first.headers.location);
      expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 1, RiskAssessment: 1, Provenance: 1 });
      // The search parameter itself, and the `Type?` prefix some clients put in the header.
      expect(
        (
          await request(t.app).get(
            `/fhir/QuestionnaireResponse?identifier=${encodeURIComponent(`${identifier.system}|${identifier.value}`)}`,
          )
        ).body.total,
      ).toBe(1);
      await post(
        t,
        { ...buildResponse(likely, { subject: 'Patient/c1' }), identifier },
        { 'If-None-Exist': `QuestionnaireResponse?${header}` },
      ).expect(200);
    });

    it('answers 412 when the criteria match several responses, and stores nothing', async () => {
      await post(t, buildResponse(likely, { subject: 'Patient/c2' })).expect(201);
      await post(t, buildResponse(likely, { subject: 'Patient/c2' })).expect(201);
      const res = await post(t, buildResponse(likely, { subject: 'Patient/c2' }), { 'If-None-Exist': 'patient=Patient/c2' }).expect(412);
      expect(res.body.issue[0].diagnostics).toMatch(/matches 2/);
      expect((await writtenCounts(t.store)).QuestionnaireResponse).toBe(2);
    });

    it.each([['colour=blue'], ['_count=1'], ['']])('refuses If-None-Exist %p with 400', async (value) => {
      await post(t, buildResponse(likely, { subject: 'Patient/c3' }), { 'If-None-Exist': value }).expect(400);
      expect((await writtenCounts(t.store)).QuestionnaireResponse).toBe(0);
    });
  });

  describe('conditional update (PUT /QuestionnaireResponse?criteria)', () => {
    const identifier = { system: 'https://portal.example.org/submissions', value: 'upd-1' };
    const url = `/fhir/QuestionnaireResponse?identifier=${encodeURIComponent(`${identifier.system}|${identifier.value}`)}`;
    const put = (body: unknown, target = url) => request(t.app).put(target).set('Content-Type', FHIR).send(JSON.stringify(body));

    it('creates when nothing matches, then updates the match and re-evaluates it', async () => {
      const created = await put({ ...buildResponse(likely, { subject: 'Patient/u1' }), identifier }).expect(201);
      const updated = await put({
        ...buildResponse({ ...likely, 'wells-alternative-diagnosis': true }, { subject: 'Patient/u1' }),
        identifier,
      }).expect(200);
      expect(updated.body.id).toBe(created.body.id);
      expect(updated.body.meta.versionId).toBe('2');
      const ra = (await request(t.app).get(`/fhir/RiskAssessment?basis=QuestionnaireResponse/${created.body.id}`)).body.entry[0]
        .resource as RiskAssessment;
      expect(ra.meta!.versionId).toBe('2');
      expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 1, RiskAssessment: 1, Provenance: 2 });
    });

    it('answers 412 for several matches, 400 for a different body id or no criteria, 405 for a client id with no match', async () => {
      await post(t, buildResponse(likely, { subject: 'Patient/u2' })).expect(201);
      await post(t, buildResponse(likely, { subject: 'Patient/u2' })).expect(201);
      await put(buildResponse(likely, { subject: 'Patient/u2' }), '/fhir/QuestionnaireResponse?patient=Patient/u2').expect(412);
      await put({ ...buildResponse(likely, { subject: 'Patient/u3' }), identifier }).expect(201);
      await put({ ...buildResponse(likely, { subject: 'Patient/u3', id: 'other' }), identifier }).expect(400);
      await put(buildResponse(likely, { subject: 'Patient/u3' }), '/fhir/QuestionnaireResponse').expect(400);
      const res = await put(
        buildResponse(likely, { subject: 'Patient/u4', id: 'mine' }),
        '/fhir/QuestionnaireResponse?patient=Patient/u4',
      ).expect(405);
      expect(res.headers.allow).toBe('GET, HEAD, POST, PUT');
      expect((await writtenCounts(t.store)).QuestionnaireResponse).toBe(3);
    });
  });

  describe('Prefer: return', () => {
    it('return=minimal: no body, Location, ETag and Preference-Applied', async () => {
      const res = await post(t, buildResponse(likely, { subject: 'Patient/p1' }), { Prefer: 'return=minimal' }).expect(201);
      expect(res.text).toBe('');
      expect(res.headers.location).toMatch(/\/fhir\/QuestionnaireResponse\/.+\/_history\/1$/);
      expect(res.headers.etag).toBe('W/"1"');
      expect(res.headers['preference-applied']).toBe('return=minimal');
    });

    it('return=OperationOutcome: an informational OperationOutcome instead of the resource', async () => {
      const res = await post(t, buildResponse(likely, { subject: 'Patient/p1' }), { Prefer: 'return=OperationOutcome' }).expect(201);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].severity).toBe('information');
      expect(res.headers['preference-applied']).toBe('return=OperationOutcome');
      expectValidR4(res.body);
    });

    it('return=representation (the default) on update as well', async () => {
      const created = (await post(t, buildResponse(likely, { subject: 'Patient/p1' })).expect(201)).body as QuestionnaireResponse;
      const res = await putFhir(t, `/fhir/QuestionnaireResponse/${created.id}`, created, { Prefer: 'return=representation' }).expect(200);
      expect(res.body.meta.versionId).toBe('2');
      expect(res.headers['preference-applied']).toBe('return=representation');
      const minimal = await putFhir(t, `/fhir/QuestionnaireResponse/${created.id}`, created, { Prefer: 'return=minimal' }).expect(200);
      expect(minimal.text).toBe('');
      expect(minimal.headers.etag).toBe('W/"3"');
    });
  });

  describe('search refinements', () => {
    beforeEach(async () => {
      await post(t, buildResponse(likely, { subject: 'Patient/a' })).expect(201);
      await post(t, buildResponse(likely, { subject: 'Patient/b' })).expect(201);
    });

    it(`caps _count at ${MAX_COUNT} and says so in the self link`, async () => {
      const res = await request(t.app).get('/fhir/QuestionnaireResponse?_count=5000&status=completed').expect(200);
      const self = new URL((res.body as Bundle).link!.find((l) => l.relation === 'self')!.url);
      expect(self.searchParams.get('_count')).toBe(String(MAX_COUNT));
      expect(self.searchParams.get('status')).toBe('completed');
      expect(res.body.total).toBe(2);
    });

    it('_summary=count gives the total without entries; _summary=true and _elements subset each entry, tagged SUBSETTED', async () => {
      const count = await request(t.app).get('/fhir/RiskAssessment?_summary=count').expect(200);
      expect(count.body.total).toBe(2);
      expect(count.body.entry).toBeUndefined();
      const summary = await request(t.app).get('/fhir/QuestionnaireResponse?_summary=true').expect(200);
      const qr = summary.body.entry[0].resource;
      expect(qr.item).toBeUndefined();
      expect(qr.subject).toBeDefined();
      expect(qr.meta.tag).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'SUBSETTED' })]));
      const elements = await request(t.app).get('/fhir/RiskAssessment?_elements=subject,prediction').expect(200);
      const ra = elements.body.entry[0].resource;
      expect(Object.keys(ra).sort()).toEqual(['id', 'meta', 'prediction', 'resourceType', 'status', 'subject']);
      expectValidR4(elements.body);
    });

    it('_summary and _elements on read and vread', async () => {
      const read = await request(t.app).get('/fhir/Questionnaire/calf-pain?_elements=url,version').expect(200);
      expect(Object.keys(read.body).sort()).toEqual(['id', 'meta', 'resourceType', 'status', 'url', 'version']);
      const text = await request(t.app).get('/fhir/Questionnaire/calf-pain/_history/1?_summary=data').expect(200);
      expect(text.body.item).toBeDefined();
      expect(text.body.text).toBeUndefined();
      await request(t.app).get('/fhir/Questionnaire/calf-pain?_summary=count').expect(400);
      await request(t.app).get('/fhir/Questionnaire/calf-pain?_summary=maybe').expect(400);
    });

    it('token |code matches only codings without a system', async () => {
      expect((await request(t.app).get('/fhir/RiskAssessment?risk=high')).body.total).toBe(2);
      expect((await request(t.app).get('/fhir/RiskAssessment?risk=|high')).body.total).toBe(0);
      expect(
        (await request(t.app).get('/fhir/RiskAssessment?risk=http://terminology.hl7.org/CodeSystem/risk-probability|high')).body.total,
      ).toBe(2);
    });

    it('questionnaire takes Questionnaire/{id}, a bare id and the canonical (with or without |version)', async () => {
      for (const value of ['Questionnaire/calf-pain', 'calf-pain', QUESTIONNAIRE_URL, `${QUESTIONNAIRE_URL}|1.0.0`]) {
        expect({
          value,
          total: (await request(t.app).get(`/fhir/QuestionnaireResponse?questionnaire=${encodeURIComponent(value)}`)).body.total,
        }).toEqual({ value, total: 2 });
      }
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?questionnaire=Questionnaire/other')).body.total).toBe(0);
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?questionnaire:Questionnaire=calf-pain')).body.total).toBe(2);
    });

    it('_include and _revinclude bring the response, its assessment and their Provenance, with search.mode include', async () => {
      const qrs = await request(t.app)
        .get('/fhir/QuestionnaireResponse?patient=Patient/a&_revinclude=RiskAssessment:basis&_revinclude=Provenance:entity')
        .expect(200);
      const modes = (qrs.body as Bundle).entry!.map((e) => `${e.search!.mode} ${e.resource!.resourceType}`).sort();
      expect(modes).toEqual(['include Provenance', 'include RiskAssessment', 'match QuestionnaireResponse']);
      expect(qrs.body.total).toBe(1);
      const ras = await request(t.app)
        .get('/fhir/RiskAssessment?patient=Patient/b&_include=RiskAssessment:basis&_revinclude=Provenance:target')
        .expect(200);
      expect((ras.body as Bundle).entry!.map((e) => `${e.search!.mode} ${e.resource!.resourceType}`).sort()).toEqual([
        'include Provenance',
        'include QuestionnaireResponse',
        'match RiskAssessment',
      ]);
      expectValidR4(ras.body);
      for (const url of [
        '/fhir/RiskAssessment?_include=*',
        '/fhir/RiskAssessment?_include=RiskAssessment:subject',
        '/fhir/QuestionnaireResponse?_revinclude=Observation:subject',
        '/fhir/RiskAssessment?_include:iterate=RiskAssessment:basis',
      ]) {
        expect({ url, status: (await request(t.app).get(url)).status }).toEqual({ url, status: 400 });
      }
    });

    it('POST /{type}/_search with a form body, merged with the URL query', async () => {
      const res = await request(t.app)
        .post('/fhir/QuestionnaireResponse/_search?_count=1')
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send(`patient=Patient/a&questionnaire=${encodeURIComponent(QUESTIONNAIRE_URL)}`)
        .expect(200);
      expect(res.body.total).toBe(1);
      expect(res.body.entry).toHaveLength(1);
      const refused = await request(t.app)
        .post('/fhir/QuestionnaireResponse/_search')
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send('colour=blue')
        .expect(400);
      expect(refused.body.resourceType).toBe('OperationOutcome');
      await request(t.app).post('/fhir/RiskAssessment/_search').expect(200);
      // A JSON body would be ignored: refused instead.
      await request(t.app).post('/fhir/RiskAssessment/_search').set('Content-Type', FHIR).send('{"risk":"high"}').expect(415);
    });

    it('refuses a bad _count, _total or _elements with 400', async () => {
      const queries = ['_count=-1', '_count=1e3', '_total=some', '_elements=a.b'];
      for (const url of queries.map((query) => `/fhir/QuestionnaireResponse?${query}`)) {
        expect({ url, status: (await request(t.app).get(url)).status }).toEqual({ url, status: 400 });
      }
    });
  });

  describe('history', () => {
    let id: string;
    beforeEach(async () => {
      const created = (await post(t, buildResponse(likely, { subject: 'Patient/h1' })).expect(201)).body as QuestionnaireResponse;
      id = created.id!;
      t.setNow(new Date('2026-03-02T10:00:00.000Z'));
      await request(t.app).put(`/fhir/QuestionnaireResponse/${id}`).set('Content-Type', FHIR).send(JSON.stringify(created)).expect(200);
      t.setNow(new Date('2026-03-03T10:00:00.000Z'));
    });

    it('instance history with _since and _at', async () => {
      expect((await request(t.app).get(`/fhir/QuestionnaireResponse/${id}/_history`)).body.total).toBe(2);
      const since = await request(t.app).get(`/fhir/QuestionnaireResponse/${id}/_history?_since=2026-03-02T00:00:00Z`).expect(200);
      expect(since.body.entry.map((e: { resource: QuestionnaireResponse }) => e.resource.meta!.versionId)).toEqual(['2']);
      const at = await request(t.app).get(`/fhir/QuestionnaireResponse/${id}/_history?_at=2026-03-01T12:00:00Z`).expect(200);
      expect(at.body.entry.map((e: { resource: QuestionnaireResponse }) => e.resource.meta!.versionId)).toEqual(['1']);
      const day = await request(t.app).get(`/fhir/QuestionnaireResponse/${id}/_history?_at=2026-03`).expect(200);
      expect(day.body.total).toBe(2);
      expectValidR4(since.body);
    });

    it('type and system history, newest first, with _since and _count', async () => {
      const type = await request(t.app).get('/fhir/RiskAssessment/_history').expect(200);
      expect(type.body.type).toBe('history');
      expect(type.body.total).toBe(2);
      expect(type.body.entry.map((e: { resource: RiskAssessment }) => e.resource.meta!.versionId)).toEqual(['2', '1']);
      // The update wrote the response's version 2, the assessment's version 2 and a new Provenance.
      const system = await request(t.app).get('/fhir/_history?_since=2026-03-02T00:00:00Z&_count=2').expect(200);
      expect(system.body.total).toBe(3);
      // Written at the same instant: ordered by type, then id.
      expect(system.body.entry.map((e: { resource: RiskAssessment }) => e.resource.resourceType)).toEqual([
        'Provenance',
        'QuestionnaireResponse',
      ]);
      expect(system.body.link.find((l: { relation: string }) => l.relation === 'next')).toBeDefined();
      expectValidR4(system.body);
    });

    it.each(['_since=yesterday', '_since=2026-03-01', '_at=never', 'colour=blue'])('refuses history ?%s with 400', async (query) => {
      await request(t.app).get(`/fhir/QuestionnaireResponse/_history?${query}`).expect(400);
    });
  });

  describe('HTTP', () => {
    it.each([
      ['PATCH', '/fhir/QuestionnaireResponse/x', 'GET, HEAD, PUT'],
      ['DELETE', '/fhir/QuestionnaireResponse/x', 'GET, HEAD, PUT'],
      ['POST', '/fhir/RiskAssessment', 'GET, HEAD'],
      ['PUT', '/fhir/RiskAssessment/x', 'GET, HEAD'],
      ['POST', '/fhir/metadata', 'GET, HEAD'],
      ['PUT', '/fhir/RiskAssessment', 'GET, HEAD'],
      ['DELETE', '/fhir/QuestionnaireResponse', 'GET, HEAD, POST, PUT'],
      ['GET', '/fhir/QuestionnaireResponse/$evaluate', 'POST'],
      ['DELETE', '/fhir/_history', 'GET, HEAD'],
    ])('%s %s is 405 with Allow: %s', async (method, url, allow) => {
      const req = request(t.app)[method.toLowerCase() as 'get'](url);
      const res = await (method === 'PATCH'
        ? req.set('Content-Type', 'application/json-patch+json').send('[{"op":"remove","path":"/status"}]')
        : req);
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe(allow);
      expect(res.body.resourceType).toBe('OperationOutcome');
    });

    it('answers 406 to Accept: application/fhir+xml, and to a FHIR version other than R4', async () => {
      await request(t.app).get('/fhir/metadata').set('Accept', 'application/fhir+xml').expect(406);
      await request(t.app).get('/fhir/metadata').set('Accept', 'application/fhir+json; fhirVersion=3.0').expect(406);
      await request(t.app).get('/fhir/metadata').set('Accept', 'application/fhir+json; fhirVersion=4.0').expect(200);
      await request(t.app).get('/fhir/metadata').set('Accept', 'application/fhir+xml;q=1.0, application/fhir+json;q=0.9').expect(200);
      await request(t.app).get('/fhir/metadata').set('Accept', 'text/html,application/xhtml+xml,*/*;q=0.8').expect(200);
    });

    it('accepts _format=application/fhir json (an unescaped + decoded as a space)', async () => {
      await request(t.app).get('/fhir/metadata?_format=application/fhir+json').expect(200);
      await request(t.app).get('/fhir/metadata?_format=application/fhir%20json').expect(200);
      await request(t.app).get('/fhir/metadata?_format=application/fhir+xml').expect(406);
    });

    it('answers If-None-Match with the current version by 304', async () => {
      const read = await request(t.app).get('/fhir/Questionnaire/calf-pain').expect(200);
      const again = await request(t.app).get('/fhir/Questionnaire/calf-pain').set('If-None-Match', read.headers.etag).expect(304);
      expect(again.text).toBe('');
      await request(t.app).get('/fhir/Questionnaire/calf-pain').set('If-None-Match', 'W/"99"').expect(200);
    });

    it('compresses large responses for clients that accept gzip or br', async () => {
      for (let i = 0; i < 3; i++) await post(t, buildResponse(likely, { subject: 'Patient/z' })).expect(201);
      const res = await request(t.app).get('/fhir/RiskAssessment').set('Accept-Encoding', 'gzip').expect(200);
      expect(res.headers['content-encoding']).toBe('gzip');
      expect(res.body.total).toBe(3);
      const br = await request(t.app).get('/fhir/RiskAssessment').set('Accept-Encoding', 'br').expect(200);
      expect(br.headers['content-encoding']).toBe('br');
      expect(br.body.total).toBe(3);
      const plain = await request(t.app).get('/fhir/RiskAssessment').set('Accept-Encoding', 'identity').expect(200);
      expect(plain.headers['content-encoding']).toBeUndefined();
    });

    it('serves the SearchParameter and OperationDefinition resources the CapabilityStatement cites', async () => {
      const cs = (await request(t.app).get('/fhir/metadata')).body;
      const canonicals: string[] = [];
      for (const r of cs.rest[0].resource) {
        for (const p of r.searchParam ?? []) if (p.definition.startsWith('http://calfpain.example.org/')) canonicals.push(p.definition);
        for (const o of r.operation ?? []) canonicals.push(o.definition);
      }
      expect(canonicals.length).toBeGreaterThanOrEqual(3);
      for (const canonical of canonicals) {
        const [type, id] = canonical.split('/').slice(-2);
        const res = await request(t.app).get(`/fhir/${type}/${id}`).expect(200);
        expect(res.body.url).toBe(canonical);
        expectValidR4(res.body);
        expect((await request(t.app).get(`/fhir/${type}?url=${encodeURIComponent(canonical)}`)).body.total).toBe(1);
      }
    });
  });
});
