import request from 'supertest';
import type { Bundle, CapabilityStatement, OperationOutcome, QuestionnaireResponse, RiskAssessment, Provenance } from 'fhir/r4';
import { corsPreflight, createTestApp, putFhir, type TestApp, useTestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { expectValidR4 } from './support/r4-validator';
import { readAssessment } from './support/read-assessment';
import { countStored } from './support/store-counts';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { QUESTIONNAIRE_URL } from '../src/core/canonical';
import { parseIfMatch } from '../src/http/fhir/interactions';
import { outcomeStatusOf } from './support/outcome-errors';

const FHIR = 'application/fhir+json';

const likely = WELLS_LIKELY_ANSWERS;

function post(t: TestApp, body: unknown, path = '/fhir/QuestionnaireResponse') {
  return request(t.app).post(path).set('Content-Type', FHIR).send(JSON.stringify(body));
}

describe('FHIR API', () => {
  const t = useTestApp();

  describe('metadata', () => {
    it('returns a valid CapabilityStatement that declares every supported search parameter, including basis', async () => {
      const res = await request(t.app).get('/fhir/metadata').expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      const cs = res.body as CapabilityStatement;
      expectValidR4(cs);
      const ra = cs.rest![0].resource!.find((r) => r.type === 'RiskAssessment')!;
      expect(ra.searchParam!.map((p) => p.name)).toEqual(expect.arrayContaining(['patient', 'subject', 'date', 'risk', 'basis']));
      const qr = cs.rest![0].resource!.find((r) => r.type === 'QuestionnaireResponse')!;
      expect(qr.interaction!.map((i) => i.code).sort()).toEqual([
        'create',
        'history-instance',
        'history-type',
        'read',
        'search-type',
        'update',
        'vread',
      ]);
    });

    it('answers 405 to a POST on /metadata', async () => {
      await request(t.app).post('/fhir/metadata').set('Content-Type', FHIR).send('{}').expect(405);
    });
  });

  describe('Questionnaire', () => {
    it('reads the bundled calf-pain questionnaire and finds it by url, version and status', async () => {
      const read = await request(t.app).get('/fhir/Questionnaire/calf-pain').expect(200);
      expect(read.body.url).toBe(QUESTIONNAIRE_URL);
      expect(read.headers.etag).toBe('W/"1"');
      for (const query of [`url=${QUESTIONNAIRE_URL}`, 'version=1.0.0', 'status=active', `url=${QUESTIONNAIRE_URL}&version=1.0.0`]) {
        const res = await request(t.app).get(`/fhir/Questionnaire?${query}`).expect(200);
        expect((res.body as Bundle).total).toBe(1);
      }
      const none = await request(t.app).get('/fhir/Questionnaire?status=retired').expect(200);
      expect(none.body.total).toBe(0);
    });

    it('does not allow creating questionnaires (405)', async () => {
      await post(t, { resourceType: 'Questionnaire', status: 'draft' }, '/fhir/Questionnaire').expect(405);
    });
  });

  describe('QuestionnaireResponse create', () => {
    it('stores the response, its RiskAssessment and a Provenance, with Location and ETag', async () => {
      const res = await post(t, buildResponse(likely, { subject: 'Patient/p1' })).expect(201);
      const stored = res.body as QuestionnaireResponse;
      expect(res.headers.location).toBe(`http://localhost:8080/fhir/QuestionnaireResponse/${stored.id}/_history/1`);
      expect(res.headers.etag).toBe('W/"1"');

      const ras = await request(t.app).get(`/fhir/RiskAssessment?basis=QuestionnaireResponse/${stored.id}`).expect(200);
      expect(ras.body.total).toBe(1);
      const ra = ras.body.entry[0].resource as RiskAssessment;
      expectValidR4(ra);
      expect(ra.subject.reference).toBe('Patient/p1');
      expect(ra.basis![0].reference).toBe(`QuestionnaireResponse/${stored.id}`);
      const reading = readAssessment(ra);
      expect(reading.score).toBe(3);
      expect(reading.twoLevel).toBe('likely');
      expect(reading.threeLevel).toBe('high');
      expect(res.headers.link).toContain(`/fhir/RiskAssessment/${ra.id}`);

      const prov = await request(t.app).get(`/fhir/Provenance?target=RiskAssessment/${ra.id}`).expect(200);
      expect(prov.body.total).toBe(1);
      const provenance = prov.body.entry[0].resource as Provenance;
      expectValidR4(provenance);
      expect(provenance.entity![0].what.reference).toBe(`QuestionnaireResponse/${stored.id}/_history/1`);
      expect(provenance.agent[0].who.reference).toBe('Device/calf-pain-cds');
      expect((await request(t.app).get('/fhir/Provenance?patient=Patient/p1')).body.total).toBe(1);
      expect((await request(t.app).get('/fhir/Provenance?patient=Patient/other')).body.total).toBe(0);
      await request(t.app).get('/fhir/Device/calf-pain-cds').expect(200);
    });

    it('ignores a stale wells-score answer and recomputes the score', async () => {
      const qr = buildResponse({ ...likely, 'wells-score': -2 }, { subject: 'Patient/p1' });
      const res = await post(t, qr, '/fhir/QuestionnaireResponse/$evaluate').expect(200);
      expect(readAssessment(res.body).score).toBe(3);
    });

    it('keeps the client meta (profiles, tags) but sets versionId and lastUpdated itself', async () => {
      const qr = {
        ...buildResponse(likely, { subject: 'Patient/p1' }),
        meta: {
          versionId: '99',
          lastUpdated: '2001-01-01T00:00:00Z',
          profile: ['http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaireresponse'],
          tag: [{ code: 'lformsVersion: 40.1.3' }],
        },
      };
      const res = await post(t, qr).expect(201);
      expect(res.body.meta.versionId).toBe('1');
      expect(res.body.meta.lastUpdated).not.toBe('2001-01-01T00:00:00Z');
      expect(res.body.meta.profile).toEqual(qr.meta.profile);
      expect(res.body.meta.tag).toEqual(qr.meta.tag);
    });

    it('assigns its own id, ignoring one in the body', async () => {
      const res = await post(t, { ...buildResponse(likely, { subject: 'Patient/p1' }), id: 'chosen-by-client' }).expect(201);
      expect(res.body.id).not.toBe('chosen-by-client');
    });

    it('refuses a response without a subject (422) and stores nothing', async () => {
      const qr = buildResponse(likely);
      delete qr.subject;
      const res = await post(t, qr).expect(422);
      expect((res.body as OperationOutcome).issue[0].expression).toEqual(['QuestionnaireResponse.subject']);
      expect(await countStored(t.store, 'QuestionnaireResponse')).toBe(0);
      expect(await countStored(t.store, 'RiskAssessment')).toBe(0);
    });

    it('lists every problem with its path (422) and stores nothing', async () => {
      const qr = buildResponse(likely, { subject: 'Patient/p1' });
      qr.item![0].item!.push({ linkId: 'no-such-item', answer: [{ valueBoolean: true }] });
      qr.item![1].item![0].answer = [{ valueString: 'yes' }];
      const res = await post(t, qr).expect(422);
      const outcome = res.body as OperationOutcome;
      expectValidR4(outcome);
      const paths = outcome.issue.map((i) => i.expression?.[0]);
      expect(outcome.issue.length).toBeGreaterThanOrEqual(2);
      expect(paths.some((p) => p?.startsWith('QuestionnaireResponse.item[1].item[0].answer[0]'))).toBe(true);
      expect(outcome.issue.some((i) => i.diagnostics?.includes('no-such-item'))).toBe(true);
      expect(await countStored(t.store, 'QuestionnaireResponse')).toBe(0);
    });

    it('refuses a response authored in the future (422), allowing an hour of clock drift', async () => {
      const later = new Date(Date.now() + 3 * 60 * 60 * 1000).toISOString();
      const res = await post(t, buildResponse(likely, { subject: 'Patient/p1', authored: later })).expect(422);
      expect(res.body.issue[0].expression).toEqual(['QuestionnaireResponse.authored']);
      const soon = new Date(Date.now() + 5 * 60 * 1000).toISOString();
      await post(t, buildResponse(likely, { subject: 'Patient/p1', authored: soon })).expect(201);
    });

    it('refuses an unknown questionnaire canonical (422)', async () => {
      const res = await post(
        t,
        buildResponse(likely, { subject: 'Patient/p1', questionnaire: 'http://example.org/Questionnaire/other' }),
      ).expect(422);
      expect(res.body.issue[0].expression).toEqual(['QuestionnaireResponse.questionnaire']);
    });

    it('refuses a resource that breaks the FHIR schema (422) naming the element', async () => {
      const qr = { ...buildResponse(likely, { subject: 'Patient/p1' }), status: 'finished', unknownElement: 1 };
      const res = await post(t, qr).expect(422);
      expect(res.body.issue.length).toBeGreaterThanOrEqual(1);
      expect(await countStored(t.store, 'QuestionnaireResponse')).toBe(0);
    });

    it.each([
      ['bad JSON', '{"resourceType":', FHIR, 400],
      ['a JSON array', '[]', FHIR, 400],
      ['another resource type', '{"resourceType":"Patient"}', FHIR, 400],
      ['text/plain', '{}', 'text/plain', 415],
      ['no content type', undefined, undefined, 415],
    ])('answers %s with an OperationOutcome (%#)', async (_name, body, type, status) => {
      let req = request(t.app).post('/fhir/QuestionnaireResponse');
      if (type) req = req.set('Content-Type', type);
      const res = await (body === undefined ? req : req.send(body)).expect(status);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(await countStored(t.store, 'QuestionnaireResponse')).toBe(0);
    });

    it('answers 413 for a body over the limit', async () => {
      const small = await createTestApp({ config: { maxBodyBytes: 2048 } });
      const qr = buildResponse(likely, { subject: 'Patient/p1' });
      (qr as unknown as Record<string, unknown>).text = {
        status: 'generated',
        div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(5000)}</div>`,
      };
      const res = await post(small, qr).expect(413);
      expect(res.body.resourceType).toBe('OperationOutcome');
      await small.store.close();
    });
  });

  describe('QuestionnaireResponse update', () => {
    it('re-evaluates on PUT with a matching If-Match and versions the response and the assessment', async () => {
      const created = (await post(t, buildResponse(likely, { subject: 'Patient/p1' })).expect(201)).body as QuestionnaireResponse;
      const changed = buildResponse({ ...likely, 'wells-alternative-diagnosis': true }, { subject: 'Patient/p1', id: created.id });
      const res = await putFhir(t, `/fhir/QuestionnaireResponse/${created.id}`, changed, { 'If-Match': 'W/"1"' }).expect(200);
      expect(res.body.meta.versionId).toBe('2');
      const ras = await request(t.app).get(`/fhir/RiskAssessment?basis=QuestionnaireResponse/${created.id}`).expect(200);
      expect(ras.body.total).toBe(1);
      const ra = ras.body.entry[0].resource as RiskAssessment;
      expect(ra.meta!.versionId).toBe('2');
      expect(readAssessment(ra).score).toBe(1);
      expect(readAssessment(ra).twoLevel).toBe('unlikely');
      const history = await request(t.app).get(`/fhir/QuestionnaireResponse/${created.id}/_history`).expect(200);
      expect(history.body.type).toBe('history');
      expect(history.body.total).toBe(2);
      expectValidR4(history.body);
      const v1 = await request(t.app).get(`/fhir/QuestionnaireResponse/${created.id}/_history/1`).expect(200);
      expect(v1.body.meta.versionId).toBe('1');
      expect(await countStored(t.store, 'Provenance')).toBe(2);
    });

    it('answers 412 when If-Match names an old version, and changes nothing', async () => {
      const created = (await post(t, buildResponse(likely, { subject: 'Patient/p1' })).expect(201)).body as QuestionnaireResponse;
      const res = await putFhir(t, `/fhir/QuestionnaireResponse/${created.id}`, { ...created }, { 'If-Match': 'W/"7"' }).expect(412);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(await countStored(t.store, 'Provenance')).toBe(1);
    });

    it('answers 400 when the body id differs from the URL, and 405 for an unknown id (updateCreate is false)', async () => {
      const created = (await post(t, buildResponse(likely, { subject: 'Patient/p1' })).expect(201)).body as QuestionnaireResponse;
      await putFhir(t, `/fhir/QuestionnaireResponse/${created.id}`, { ...created, id: 'other' }).expect(400);
      const res = await putFhir(t, '/fhir/QuestionnaireResponse/unknown', { ...created, id: 'unknown' }).expect(405);
      expect(res.headers.allow).toBe('GET, HEAD');
      expect(res.body.issue[0].diagnostics).toMatch(/updateCreate/);
      expect(await countStored(t.store, 'QuestionnaireResponse')).toBe(1);
    });
  });

  describe('$evaluate', () => {
    it('returns the RiskAssessment for a response and stores nothing', async () => {
      const res = await post(t, buildResponse(likely, { subject: 'Patient/p1' }), '/fhir/QuestionnaireResponse/$evaluate').expect(200);
      expectValidR4(res.body);
      expect(res.body.resourceType).toBe('RiskAssessment');
      expect(await countStored(t.store, 'QuestionnaireResponse')).toBe(0);
      expect(await countStored(t.store, 'RiskAssessment')).toBe(0);
    });

    it('accepts Parameters with a questionnaire-response, and evaluates without a subject', async () => {
      const qr = buildResponse(likely);
      delete qr.subject;
      const body = { resourceType: 'Parameters', parameter: [{ name: 'questionnaire-response', resource: qr }] };
      const res = await post(t, body, '/fhir/QuestionnaireResponse/$evaluate').expect(200);
      expect(readAssessment(res.body).score).toBe(3);
      expectValidR4(res.body);
    });

    it('refuses Parameters without the response (400) and invalid responses (422)', async () => {
      await post(
        t,
        { resourceType: 'Parameters', parameter: [{ name: 'other', valueString: 'x' }] },
        '/fhir/QuestionnaireResponse/$evaluate',
      ).expect(400);
      const qr = buildResponse(likely);
      qr.item![0].item![0].answer = [{ valueCoding: { code: 'middle' } }];
      await post(t, qr, '/fhir/QuestionnaireResponse/$evaluate').expect(422);
    });
  });

  describe('search', () => {
    beforeEach(async () => {
      for (const [patient, authored, alt] of [
        ['Patient/a', '2026-01-10T10:00:00Z', false],
        ['Patient/a', '2026-02-10T10:00:00Z', true],
        ['Patient/b', '2026-03-10T10:00:00Z', false],
      ] as const) {
        await post(t, buildResponse({ ...likely, 'wells-alternative-diagnosis': alt }, { subject: patient, authored })).expect(201);
      }
    });

    it('finds responses by patient and subject, with both reference forms', async () => {
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?patient=Patient/a')).body.total).toBe(2);
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?patient=a')).body.total).toBe(2);
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?subject=Patient/b')).body.total).toBe(1);
    });

    it('filters by questionnaire (with or without version), status and authored with prefixes', async () => {
      expect((await request(t.app).get(`/fhir/QuestionnaireResponse?questionnaire=${QUESTIONNAIRE_URL}`)).body.total).toBe(3);
      expect(
        (await request(t.app).get(`/fhir/QuestionnaireResponse?questionnaire=${encodeURIComponent(`${QUESTIONNAIRE_URL}|1.0.0`)}`)).body
          .total,
      ).toBe(3);
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?status=completed')).body.total).toBe(3);
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?authored=ge2026-02-01')).body.total).toBe(2);
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?authored=lt2026-02-10')).body.total).toBe(1);
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?authored=2026-02')).body.total).toBe(1);
      expect((await request(t.app).get('/fhir/QuestionnaireResponse?authored=ge2026-01-01&authored=lt2026-03-01')).body.total).toBe(2);
    });

    it('sorts by -authored and pages with _count and next links', async () => {
      const first = await request(t.app).get('/fhir/QuestionnaireResponse?_sort=-authored&_count=2').expect(200);
      const bundle = first.body as Bundle;
      expect(bundle.total).toBe(3);
      expect(bundle.entry!.map((e) => (e.resource as QuestionnaireResponse).authored)).toEqual([
        '2026-03-10T10:00:00Z',
        '2026-02-10T10:00:00Z',
      ]);
      const next = bundle.link!.find((l) => l.relation === 'next')!.url;
      const second = await request(t.app)
        .get(new URL(next).pathname + new URL(next).search)
        .expect(200);
      expect(second.body.entry.map((e: { resource: QuestionnaireResponse }) => e.resource.authored)).toEqual(['2026-01-10T10:00:00Z']);
      expect(second.body.link.find((l: { relation: string }) => l.relation === 'next')).toBeUndefined();
      expectValidR4(bundle);
    });

    it('finds RiskAssessments by patient, risk and date', async () => {
      expect((await request(t.app).get('/fhir/RiskAssessment?patient=Patient/a')).body.total).toBe(2);
      // risk matches any prediction's qualitativeRisk (R4 RiskAssessment.prediction.qualitativeRisk).
      const high = (await request(t.app).get('/fhir/RiskAssessment?risk=high')).body as Bundle;
      expect(high.entry!.filter((e) => readAssessment(e.resource as RiskAssessment).threeLevel === 'high')).toHaveLength(2);
      const moderate = (
        await request(t.app).get('/fhir/RiskAssessment?risk=http://terminology.hl7.org/CodeSystem/risk-probability|moderate')
      ).body as Bundle;
      expect(moderate.entry!.some((e) => readAssessment(e.resource as RiskAssessment).threeLevel === 'moderate')).toBe(true);
      expect((await request(t.app).get('/fhir/RiskAssessment?risk=certain')).body.total).toBe(0);
      expect((await request(t.app).get('/fhir/RiskAssessment?date=gt2000-01-01')).body.total).toBe(3);
    });

    it.each([
      ['an unknown parameter', '/fhir/QuestionnaireResponse?colour=blue'],
      ['an unsupported modifier', '/fhir/QuestionnaireResponse?status:not=completed'],
      ['a malformed date', '/fhir/QuestionnaireResponse?authored=ge2026-13-01'],
      ['a bad _count', '/fhir/QuestionnaireResponse?_count=-1'],
      ['a bad _sort', '/fhir/QuestionnaireResponse?_sort=colour'],
      ['an invalid id', '/fhir/QuestionnaireResponse?_id=a%20b'],
    ])('refuses %s with 400', async (_name, url) => {
      const res = await request(t.app).get(url).expect(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    });
  });

  describe('CORS for browser clients (patient portals)', () => {
    it('answers a preflight without a token and exposes Location and ETag', async () => {
      const pre = await corsPreflight(t.app, '/fhir/QuestionnaireResponse', 'https://portal.example.org');
      expect(pre.status).toBeLessThan(300);
      expect(pre.headers['access-control-allow-origin']).toBe('*');
      const res = await post(t, buildResponse(likely, { subject: 'Patient/p1' }))
        .set('Origin', 'https://portal.example.org')
        .expect(201);
      expect(res.headers['access-control-expose-headers']).toEqual(expect.stringContaining('Location'));
    });
  });

  describe('errors', () => {
    it('answers 404 for unknown resources, types and endpoints, always as OperationOutcome', async () => {
      for (const url of ['/fhir/QuestionnaireResponse/nope', '/fhir/Banana/1', '/fhir/Banana', '/nowhere']) {
        const res = await request(t.app).get(url).expect(404);
        expect(res.body.resourceType).toBe('OperationOutcome');
      }
    });

    it('answers 405 for interactions the server does not offer', async () => {
      await request(t.app).delete('/fhir/QuestionnaireResponse/x').expect(405);
      await request(t.app).put('/fhir/RiskAssessment/x').set('Content-Type', FHIR).send('{}').expect(405);
      await post(t, { resourceType: 'RiskAssessment' }, '/fhir/RiskAssessment').expect(405);
    });
  });
});

describe('parseIfMatch (the one If-Match parser: the store takes the plain versionId)', () => {
  it.each<[string | undefined, string | undefined]>([
    ['W/"3"', '3'],
    ['"3"', '3'],
    ['3', '3'],
    ['  W/"12"  ', '12'],
    [undefined, undefined],
  ])('%s -> %s', (header, version) => {
    expect(parseIfMatch(header)).toBe(version);
  });

  it.each(['W/"3', '3"', 'W/', '', '"a b"', '*'])('refuses %j with 400', (header) => {
    expect(outcomeStatusOf(() => parseIfMatch(header), 'parsed')).toBe(400);
  });
});
