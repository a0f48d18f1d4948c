import request from 'supertest';
import type { Bundle, CapabilityStatement, QuestionnaireResponse, Resource } from 'fhir/r4';
import { createTestApp, type TestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { expectValidR4 } from './support/r4-validator';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { indexResource } from '../src/storage/search-parameters';

const FHIR = 'application/fhir+json';
const OWN_CANONICALS = 'http://calfpain.example.org/fhir/';

/**
 * Walks the CapabilityStatement and exercises every item it declares against the running app: every
 * interaction of every type, every search parameter (finding a real resource by its own value), every
 * operation and the system interactions; and checks that what it does not declare is refused.
 */
describe('the CapabilityStatement is honest', () => {
  const qr = {
    ...buildResponse(WELLS_LIKELY_ANSWERS, { subject: 'Patient/walk', encounter: 'Encounter/walk' }),
    identifier: { system: 'https://portal.example.org', value: 'walk-1' },
  };
  let t: TestApp;
  let cs: CapabilityStatement;
  let response: QuestionnaireResponse;

  beforeAll(async () => {
    t = await createTestApp();
    response = (await request(t.app).post('/fhir/QuestionnaireResponse').set('Content-Type', FHIR).send(JSON.stringify(qr)).expect(201))
      .body as QuestionnaireResponse;
    // Observations come from $extract.
    await request(t.app)
      .post(`/fhir/QuestionnaireResponse/${response.id}/$extract?persist=true`)
      .set('Content-Type', FHIR)
      .send('{}')
      .expect(200);
    cs = (await request(t.app).get('/fhir/metadata').expect(200)).body as CapabilityStatement;
    expectValidR4(cs);
  });
  afterAll(async () => {
    await t.store.close();
  });

  /** One stored resource of the type (the response created above for QuestionnaireResponse). */
  async function sample(type: string): Promise<Resource> {
    if (type === 'QuestionnaireResponse')
      return (await request(t.app).get(`/fhir/QuestionnaireResponse/${response.id}`).expect(200)).body as Resource;
    const bundle = (await request(t.app).get(`/fhir/${type}?_count=1`).expect(200)).body as Bundle;
    expect({ type, found: bundle.total! > 0 }).toEqual({ type, found: true });
    return bundle.entry![0].resource!;
  }

  it('declares only types and interactions that work', async () => {
    const resources = cs.rest![0].resource!;
    expect(resources.length).toBeGreaterThanOrEqual(10);
    for (const declared of resources) {
      const type = declared.type;
      const codes = declared.interaction!.map((i) => i.code);
      const resource = await sample(type);
      const version = resource.meta!.versionId!;
      const calls: Record<string, () => request.Test> = {
        read: () => request(t.app).get(`/fhir/${type}/${resource.id}`),
        vread: () => request(t.app).get(`/fhir/${type}/${resource.id}/_history/${version}`),
        'history-instance': () => request(t.app).get(`/fhir/${type}/${resource.id}/_history`),
        'history-type': () => request(t.app).get(`/fhir/${type}/_history?_count=1`),
        'search-type': () => request(t.app).get(`/fhir/${type}?_count=1`),
        update: () => request(t.app).put(`/fhir/${type}/${resource.id}`).set('Content-Type', FHIR).send(JSON.stringify(resource)),
        create: () =>
          request(t.app)
            .post(`/fhir/${type}`)
            .set('Content-Type', FHIR)
            .send(JSON.stringify({ ...resource, id: undefined })),
      };
      for (const code of codes) {
        expect(calls[code]).toBeDefined();
        const res = await calls[code]();
        expect({ type, code, status: res.status }).toEqual({ type, code, status: code === 'create' ? 201 : 200 });
      }
      // What is not declared is refused with 405 and Allow.
      const refused = [!codes.includes('create') && calls.create, !codes.includes('update') && calls.update].filter(
        Boolean,
      ) as (() => request.Test)[];
      for (const call of refused) {
        const res = await call();
        expect({ type, status: res.status, allow: typeof res.headers.allow }).toEqual({ type, status: 405, allow: 'string' });
      }
      expect(declared.updateCreate).toBe(false);
      expect(declared.conditionalCreate).toBe(type === 'QuestionnaireResponse');
      expect(declared.conditionalUpdate).toBe(type === 'QuestionnaireResponse');
      if (declared.conditionalUpdate) {
        const res = await request(t.app).put(`/fhir/${type}?_id=${resource.id}`).set('Content-Type', FHIR).send(JSON.stringify(resource));
        expect({ type, conditionalUpdate: res.status }).toEqual({ type, conditionalUpdate: 200 });
      }
      if (declared.conditionalCreate) {
        const res = await request(t.app)
          .post(`/fhir/${type}`)
          .set('Content-Type', FHIR)
          .set('If-None-Exist', `_id=${resource.id}`)
          .send(JSON.stringify({ ...resource, id: undefined }));
        expect({ type, conditionalCreate: res.status, id: res.body.id }).toEqual({ type, conditionalCreate: 200, id: resource.id });
      }
    }
  });

  it('every declared search parameter finds a resource by its own value', async () => {
    let tried = 0;
    for (const declared of cs.rest![0].resource!) {
      const type = declared.type;
      const resource = await sample(type);
      const entries = indexResource(resource);
      for (const param of declared.searchParam ?? []) {
        let value: string | undefined;
        if (param.name === '_id') value = resource.id;
        else if (param.name === '_lastUpdated') value = `ge${resource.meta!.lastUpdated}`;
        else {
          const entry = entries.find((e) => e.param === param.name);
          value = entry && (param.type === 'date' ? `ge${entry.lo}` : entry.value);
        }
        expect({ type, param: param.name, hasValue: value !== undefined }).toEqual({ type, param: param.name, hasValue: true });
        const res = await request(t.app).get(`/fhir/${type}?${param.name}=${encodeURIComponent(value!)}&_elements=id&_count=200`);
        const ids = ((res.body as Bundle).entry ?? []).map((e) => e.resource!.id);
        expect({ type, param: param.name, status: res.status, found: ids.includes(resource.id) }).toEqual({
          type,
          param: param.name,
          status: 200,
          found: true,
        });
        tried++;
      }
    }
    expect(tried).toBeGreaterThanOrEqual(50);
  });

  it('every declared _include and _revinclude brings the resources it names', async () => {
    let tried = 0;
    for (const declared of cs.rest![0].resource!) {
      const resource = await sample(declared.type);
      for (const [name, values] of [
        ['_include', declared.searchInclude ?? []],
        ['_revinclude', declared.searchRevInclude ?? []],
      ] as const) {
        for (const value of values) {
          const res = await request(t.app).get(`/fhir/${declared.type}?_id=${resource.id}&${name}=${value}`).expect(200);
          const included = ((res.body as Bundle).entry ?? [])
            .filter((e) => e.search?.mode === 'include')
            .map((e) => e.resource!.resourceType);
          const expected = name === '_revinclude' ? value.split(':')[0] : undefined;
          expect({ value, includes: included.length > 0, type: expected === undefined || included.every((t) => t === expected) }).toEqual({
            value,
            includes: true,
            type: true,
          });
          tried++;
        }
      }
    }
    expect(tried).toBe(6);
  });

  it('every declared operation works, at each level its OperationDefinition declares, and the definition is served', async () => {
    const populateInput = (canonical: boolean) => ({
      resourceType: 'Parameters',
      parameter: [
        ...(canonical ? [{ name: 'canonical', valueCanonical: 'http://calfpain.example.org/fhir/Questionnaire/calf-pain|1.0.0' }] : []),
        { name: 'subject', valueReference: { reference: 'Patient/walk' } },
      ],
    });
    const examples: Record<string, { type: () => unknown; instance: () => [string, unknown]; returns: string }> = {
      'QuestionnaireResponse/evaluate': {
        type: () => buildResponse(WELLS_LIKELY_ANSWERS),
        instance: () => ['', undefined],
        returns: 'RiskAssessment',
      },
      'QuestionnaireResponse/extract': {
        type: () => buildResponse(WELLS_LIKELY_ANSWERS),
        instance: () => [response.id!, {}],
        returns: 'Bundle',
      },
      'Questionnaire/populate': {
        type: () => populateInput(true),
        instance: () => ['calf-pain', populateInput(false)],
        returns: 'Parameters',
      },
    };
    let count = 0;
    for (const declared of cs.rest![0].resource!) {
      for (const op of declared.operation ?? []) {
        const example = examples[`${declared.type}/${op.name}`];
        expect({ op: `${declared.type}/${op.name}`, known: example !== undefined }).toEqual({
          op: `${declared.type}/${op.name}`,
          known: true,
        });
        const [type, id] = op.definition.slice(OWN_CANONICALS.length).split('/');
        const definition = (await request(t.app).get(`/fhir/${type}/${id}`).expect(200)).body;
        expect(definition.url).toBe(op.definition);
        expectValidR4(definition);
        if (definition.type) {
          const res = await request(t.app)
            .post(`/fhir/${declared.type}/$${op.name}`)
            .set('Content-Type', FHIR)
            .send(JSON.stringify(example.type()))
            .expect(200);
          expect(res.body.resourceType).toBe(example.returns);
          count++;
        }
        if (definition.instance) {
          const [instanceId, body] = example.instance();
          const res = await request(t.app)
            .post(`/fhir/${declared.type}/${instanceId}/$${op.name}`)
            .set('Content-Type', FHIR)
            .send(JSON.stringify(body))
            .expect(200);
          expect(res.body.resourceType).toBe(example.returns);
          count++;
        } else {
          await request(t.app).post(`/fhir/${declared.type}/${response.id}/$${op.name}`).set('Content-Type', FHIR).send('{}').expect(404);
        }
      }
    }
    expect(count).toBe(5);
  });

  it('the search parameters it defines itself are served at their canonical id', async () => {
    for (const declared of cs.rest![0].resource!) {
      for (const param of declared.searchParam ?? []) {
        if (!param.definition!.startsWith(OWN_CANONICALS)) continue;
        const [type, id] = param.definition!.slice(OWN_CANONICALS.length).split('/');
        const definition = (await request(t.app).get(`/fhir/${type}/${id}`).expect(200)).body;
        expect({ code: definition.code, type: definition.type, base: definition.base }).toEqual({
          code: param.name,
          type: param.type,
          base: [declared.type],
        });
      }
    }
  });

  it('every result parameter it declares works (and none it does not know of is declared)', async () => {
    const examples: Record<string, [string, (b: Bundle) => boolean]> = {
      _sort: ['RiskAssessment?_sort=-date,_id', (b) => b.total! > 0],
      _count: ['Questionnaire?_count=0', (b) => !b.entry && b.total === 1],
      _offset: ['Questionnaire?_offset=1', (b) => !b.entry && b.total === 1],
      _total: ['Questionnaire?_total=accurate', (b) => b.total === 1],
      _summary: ['RiskAssessment?_summary=count', (b) => !b.entry && b.total! > 0],
      _elements: ['RiskAssessment?_elements=status', (b) => b.entry!.every((e) => !('prediction' in e.resource!))],
      _include: ['RiskAssessment?_include=RiskAssessment:basis', (b) => b.entry!.some((e) => e.search?.mode === 'include')],
      _revinclude: ['QuestionnaireResponse?_revinclude=RiskAssessment:basis', (b) => b.entry!.some((e) => e.search?.mode === 'include')],
    };
    const declared = cs.rest![0].searchParam!.map((p) => p.name);
    expect(declared.sort()).toEqual(Object.keys(examples).sort());
    for (const name of declared) {
      const [url, check] = examples[name];
      const res = await request(t.app).get(`/fhir/${url}`).expect(200);
      expect({ name, works: check(res.body as Bundle) }).toEqual({ name, works: true });
    }
  });

  it('the system interactions it declares work: batch, transaction, history-system', async () => {
    const codes = cs.rest![0].interaction!.map((i) => i.code).sort();
    expect(codes).toEqual(['batch', 'history-system', 'transaction']);
    const entry = [{ request: { method: 'GET', url: 'Questionnaire/calf-pain' } }];
    const post = async (type: string) =>
      (
        await request(t.app)
          .post('/fhir')
          .set('Content-Type', FHIR)
          .send(JSON.stringify({ resourceType: 'Bundle', type, entry }))
          .expect(200)
      ).body.type;
    expect(await post('batch')).toBe('batch-response');
    expect(await post('transaction')).toBe('transaction-response');
    expect((await request(t.app).get('/fhir/_history?_count=1').expect(200)).body.type).toBe('history');
  });
});
