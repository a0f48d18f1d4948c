/**
 * Questionnaire/$populate: pre-filling the calf-pain Questionnaire from chart fixtures, each answer with
 * its source; the EHR FHIR server (mocked by nock) as the alternative source of the chart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import request from 'supertest';
import type {
  Bundle,
  Condition,
  OperationOutcome,
  Parameters,
  Procedure,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Resource,
} from 'fhir/r4';
import { createTestApp, type TestApp } from './support/app';
import { expectValidR4 } from './support/r4-validator';
import { EXT_POPULATE_SOURCE } from '../src/sdc/populate';
import { loadCatalog } from '../src/clinical/catalog';
import { validateResponse } from '../src/clinical/validate-response';

const NOW = new Date('2026-06-01T12:00:00Z');
const SCT = 'http://snomed.info/sct';
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';
const FHIR_SERVER = 'https://ehr.example.org/fhir';
const catalog = loadCatalog();
const questionnaire = catalog.questionnaires[0];

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp({ now: NOW });
});
// nock patches Node's http module for the whole process: undo it, or later test files in the same
// jest process (--runInBand) send their requests through its mock sockets.
afterAll(() => nock.restore());

afterEach(async () => {
  await t.store.close();
});

const condition = (id: string, code: object, extra: Partial<Condition> = {}): Condition => ({
  resourceType: 'Condition',
  id,
  subject: { reference: 'Patient/p1' },
  code,
  ...extra,
});
const procedure = (id: string, code: object, performedDateTime: string, extra: Partial<Procedure> = {}): Procedure => ({
  resourceType: 'Procedure',
  id,
  status: 'completed',
  subject: { reference: 'Patient/p1' },
  code,
  performedDateTime,
  ...extra,
});
const searchset = (resources: Resource[]): Bundle => ({
  resourceType: 'Bundle',
  type: 'searchset',
  ...(resources.length ? { entry: resources.map((resource) => ({ resource })) } : {}),
});
const resolved = { clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' }] } };

function populateBody(
  chart: { conditions?: Resource[] | Bundle; procedures?: Resource[] | Bundle; patient?: Resource } = {},
  extra: Parameters['parameter'] = [],
): Parameters {
  const context = (name: string, content: Resource) => ({
    name: 'context',
    part: [
      { name: 'name', valueString: name },
      { name: 'content', resource: content },
    ],
  });
  const asBundle = (v: Resource[] | Bundle) => (Array.isArray(v) ? searchset(v) : v);
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'subject', valueReference: { reference: 'Patient/p1' } },
      ...(chart.patient ? [context('patient', chart.patient)] : []),
      ...(chart.conditions ? [context('conditions', asBundle(chart.conditions))] : []),
      ...(chart.procedures ? [context('procedures', asBundle(chart.procedures))] : []),
      ...(extra ?? []),
    ],
  };
}

async function populate(body: unknown, url = '/fhir/Questionnaire/calf-pain/$populate', status = 200) {
  const res = await request(t.app)
    .post(url)
    .set('Content-Type', 'application/fhir+json')
    .send(body as object)
    .expect(status);
  return res.body as Parameters;
}

function output(parameters: Parameters): { response: QuestionnaireResponse; issues?: OperationOutcome } {
  expectValidR4(parameters);
  const response = parameters.parameter?.find((p) => p.name === 'response')?.resource as QuestionnaireResponse;
  const issues = parameters.parameter?.find((p) => p.name === 'issues')?.resource as OperationOutcome | undefined;
  expectValidR4(response);
  // And valid against its own Questionnaire, by the same checks a submitted response gets.
  expect(
    validateResponse(response, questionnaire, { valueSets: catalog.valueSets }).filter((p) => (p.severity ?? 'error') === 'error'),
  ).toEqual([]);
  return { response, ...(issues ? { issues } : {}) };
}

function answers(response: QuestionnaireResponse): Record<string, { value: unknown; sources: string[] }> {
  const out: Record<string, { value: unknown; sources: string[] }> = {};
  const walk = (items: QuestionnaireResponseItem[] | undefined) => {
    for (const i of items ?? []) {
      for (const a of i.answer ?? []) {
        out[i.linkId] = {
          value: a.valueBoolean,
          sources: (a.extension ?? [])
            .filter((e) => e.url === EXT_POPULATE_SOURCE)
            .map((e) => e.valueReference?.reference ?? `(${e.valueReference?.display})`),
        };
      }
      walk(i.item);
    }
  };
  walk(response.item);
  return out;
}

describe('$populate from chart context', () => {
  it('pre-fills each Wells chart criterion the chart supports, naming the supporting resource', async () => {
    const body = populateBody({
      patient: { resourceType: 'Patient', id: 'p1' },
      conditions: [
        condition('ca', { coding: [{ system: ICD10CM, code: 'C50.911', display: 'Malignant neoplasm of breast' }] }),
        condition('dvt-2019', { coding: [{ system: SCT, code: '128053003', display: 'Deep venous thrombosis' }] }, resolved),
        condition('hemi', { coding: [{ system: SCT, code: '50582007', display: 'Hemiplegia' }] }),
      ],
      procedures: [procedure('tkr', { text: 'Total knee replacement' }, '2026-05-10')],
    });
    const { response, issues } = output(await populate(body));
    expect(issues).toBeUndefined();
    expect(response).toMatchObject({
      status: 'in-progress',
      questionnaire: `${questionnaire.url}|${questionnaire.version}`,
      subject: { reference: 'Patient/p1' },
      authored: NOW.toISOString(),
    });
    expect(answers(response)).toEqual({
      'wells-active-cancer': { value: true, sources: ['Condition/ca'] },
      'wells-previous-dvt': { value: true, sources: ['Condition/dvt-2019'] },
      'wells-bedridden-or-surgery': { value: true, sources: ['Procedure/tkr'] },
      'wells-paralysis-or-cast': { value: true, sources: ['Condition/hemi'] },
    });
    const cancerSource = response.item?.flatMap((i) => i.item ?? []).find((i) => i.linkId === 'wells-active-cancer')?.answer?.[0]
      .extension?.[0].valueReference;
    expect(cancerSource).toEqual({ reference: 'Condition/ca', type: 'Condition', display: 'Malignant neoplasm of breast' });
  });

  it('answers nothing, never "no", when the chart holds nothing relevant', async () => {
    const body = populateBody({
      conditions: [
        condition('htn', { coding: [{ system: ICD10CM, code: 'I10', display: 'Essential hypertension' }] }),
        condition('old-ca', { text: 'Breast cancer' }, resolved),
      ],
      procedures: [
        procedure('old-op', { text: 'Appendicectomy' }, '2025-01-10'),
        procedure('flu', { text: 'Influenza vaccination' }, '2026-05-20'),
      ],
    });
    const { response, issues } = output(await populate(body));
    expect(issues).toBeUndefined();
    expect(response.item).toBeUndefined();
    expect(answers(response)).toEqual({});
  });

  it('answers nothing for an empty chart, and nothing at all without context', async () => {
    expect(answers(output(await populate(populateBody({ conditions: [], procedures: [] }))).response)).toEqual({});
    expect(answers(output(await populate(populateBody())).response)).toEqual({});
  });

  it('with a conflicting chart, counts only entries that still hold and cites every one that does', async () => {
    const body = populateBody({
      conditions: [
        condition(
          'ca-refuted',
          { text: 'Lymphoma' },
          { verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'refuted' }] } },
        ),
        condition('ca-resolved', { text: 'Carcinoma of colon' }, resolved),
        condition('dvt-a', { coding: [{ system: ICD10CM, code: 'I82.401' }] }),
        condition('dvt-b', { text: 'History of DVT' }, resolved),
        condition(
          'dvt-error',
          { text: 'DVT' },
          {
            verificationStatus: {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'entered-in-error' }],
            },
          },
        ),
      ],
    });
    const { response } = output(await populate(body));
    expect(answers(response)).toEqual({ 'wells-previous-dvt': { value: true, sources: ['Condition/dvt-a', 'Condition/dvt-b'] } });
  });

  it('reports entries about another patient or of the wrong type in issues and does not use them', async () => {
    const body = populateBody(
      {
        conditions: [
          condition('other', { text: 'Metastatic melanoma' }, { subject: { reference: 'Patient/someone-else' } }),
          { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'Heart rate' } } as Resource,
        ],
      },
      [
        {
          name: 'context',
          part: [
            { name: 'name', valueString: 'medications' },
            { name: 'content', resource: searchset([]) },
          ],
        },
        {
          name: 'context',
          part: [
            { name: 'name', valueString: 'toString' },
            { name: 'content', resource: searchset([]) },
          ],
        },
      ],
    );
    const { response, issues } = output(await populate(body));
    expect(answers(response)).toEqual({});
    expect(issues?.issue.map((i) => i.diagnostics)).toEqual([
      expect.stringContaining('Condition/other is not about Patient/p1'),
      expect.stringContaining('Observation/o1 is not a Condition'),
      expect.stringContaining('context "medications" is not used'),
      expect.stringContaining('context "toString" is not used'),
    ]);
  });

  it('works at type level with the canonical, and a bare resource as context content', async () => {
    const body = populateBody({ conditions: condition('dvt', { coding: [{ system: SCT, code: '404223003' }] }) as unknown as Bundle }, [
      { name: 'canonical', valueCanonical: `${questionnaire.url}|${questionnaire.version}` },
    ]);
    const { response } = output(await populate(body, '/fhir/Questionnaire/$populate'));
    expect(answers(response)).toEqual({ 'wells-previous-dvt': { value: true, sources: ['Condition/dvt'] } });
  });

  it('follows the clock for the 12-week surgery window', async () => {
    const body = populateBody({
      procedures: [procedure('op', { coding: [{ system: SCT, code: '387713003', display: 'Surgical procedure' }] }, '2026-03-01')],
    });
    expect(answers(output(await populate(body)).response)).toEqual({});
    t.setNow(new Date('2026-04-01T00:00:00Z'));
    expect(answers(output(await populate(body)).response)).toEqual({
      'wells-bedridden-or-surgery': { value: true, sources: ['Procedure/op'] },
    });
  });
});

describe('$populate refuses bad input with an OperationOutcome and no crash', () => {
  it.each([
    ['a body that is not Parameters', { resourceType: 'Patient' }, 400, /must be a Parameters/],
    ['no subject', { resourceType: 'Parameters', parameter: [{ name: 'local', valueBoolean: true }] }, 400, /subject/],
    [
      'a subject that is not a Patient',
      { resourceType: 'Parameters', parameter: [{ name: 'subject', valueReference: { reference: 'Group/1' } }] },
      400,
      /Patient\/\{id\}/,
    ],
    [
      'a context without content',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'subject', valueReference: { reference: 'Patient/p1' } },
          { name: 'context', part: [{ name: 'name', valueString: 'conditions' }] },
        ],
      },
      400,
      /"content" part/,
    ],
    [
      'a patient context for another patient',
      populateBody({ patient: { resourceType: 'Patient', id: 'p2' } }),
      422,
      /subject is Patient\/p1/,
    ],
    [
      'an invalid Parameters resource',
      { resourceType: 'Parameters', parameter: [{ name: 'subject', valueReference: 'Patient/p1' }] },
      422,
      /./,
    ],
    [
      'fhirServer that is not http(s)',
      populateBody({}, [{ name: 'fhirServer', valueUrl: 'ftp://ehr.example.org/fhir' }]),
      400,
      /fhirServer/,
    ],
    ['a token without fhirServer', populateBody({}, [{ name: 'fhirAccessToken', valueString: 'abc' }]), 400, /fhirServer/],
  ])('%s', async (_name, body, status, message) => {
    const outcome = (await populate(body, undefined, status)) as unknown as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].diagnostics).toMatch(message);
    expectValidR4(outcome);
  });

  it('404 for an unknown Questionnaire, 422 for an unknown canonical, 400 for none at type level, 405 on GET', async () => {
    await populate(populateBody(), '/fhir/Questionnaire/nope/$populate', 404);
    await populate(
      populateBody({}, [{ name: 'canonical', valueCanonical: 'http://example.org/Questionnaire/x' }]),
      '/fhir/Questionnaire/$populate',
      422,
    );
    await populate(populateBody(), '/fhir/Questionnaire/$populate', 400);
    await request(t.app).get('/fhir/Questionnaire/calf-pain/$populate').expect(405);
  });
});

describe('$populate from the EHR FHIR server', () => {
  const BEARER = 'Bearer ehr-token';
  const ehr = () => nock(FHIR_SERVER).matchHeader('authorization', BEARER);
  const serverParams = [
    { name: 'fhirServer', valueUrl: FHIR_SERVER },
    { name: 'fhirAccessToken', valueString: 'ehr-token' },
  ];
  beforeEach(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/^127\.0\.0\.1(:\d+)?$/);
  });
  afterEach(() => {
    nock.abortPendingRequests();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('reads the x-fhir-query searches with the token and cites the server’s absolute URLs', async () => {
    const scope = ehr()
      .get('/Condition')
      .query({ patient: 'p1' })
      .reply(200, searchset([condition('ca', { text: 'Pancreatic cancer' })]))
      .get('/Procedure')
      .query({ patient: 'p1' })
      .reply(200, searchset([procedure('op', { text: 'Hip hemiarthroplasty' }, '2026-05-01')]));
    const { response, issues } = output(await populate(populateBody({}, serverParams)));
    expect(scope.isDone()).toBe(true);
    expect(issues).toBeUndefined();
    expect(answers(response)).toEqual({
      'wells-active-cancer': { value: true, sources: [`${FHIR_SERVER}/Condition/ca`] },
      'wells-bedridden-or-surgery': { value: true, sources: [`${FHIR_SERVER}/Procedure/op`] },
    });
  });

  it('fetches only what the context did not carry', async () => {
    const scope = ehr().get('/Procedure').query({ patient: 'p1' }).reply(200, searchset([]));
    const { response } = output(await populate(populateBody({ conditions: [condition('dvt', { text: 'DVT left leg' })] }, serverParams)));
    expect(scope.isDone()).toBe(true);
    expect(answers(response)).toEqual({ 'wells-previous-dvt': { value: true, sources: ['Condition/dvt'] } });
  });

  it('reports a refused token or a server error as issues and pre-fills nothing from it', async () => {
    ehr().get('/Condition').query(true).reply(401, {}).get('/Procedure').query(true).reply(500, 'boom');
    const { response, issues } = output(await populate(populateBody({}, serverParams)));
    expect(answers(response)).toEqual({});
    expect(issues?.issue.map((i) => i.diagnostics).join('\n')).toMatch(/HTTP 401[\s\S]*HTTP 500/);
  });

  it('never follows a next link to another server (the token stays with the EHR)', async () => {
    const page = {
      ...searchset([condition('ca', { text: 'Lymphoma' })]),
      link: [{ relation: 'next', url: 'https://evil.example.com/fhir/Condition?page=2' }],
    };
    ehr().get('/Condition').query(true).reply(200, page).get('/Procedure').query(true).reply(200, searchset([]));
    const evil = nock('https://evil.example.com').get(/.*/).reply(200, searchset([]));
    const { response, issues } = output(await populate(populateBody({}, serverParams)));
    expect(evil.isDone()).toBe(false);
    expect(answers(response)['wells-active-cancer'].sources).toEqual([`${FHIR_SERVER}/Condition/ca`]);
    expect(issues?.issue.map((i) => i.diagnostics).join('\n')).toMatch(/only part/);
  });

  it('gives up at the deadline and says so', async () => {
    ehr()
      .get('/Condition')
      .query(true)
      .delay(3_000)
      .reply(200, searchset([]))
      .get('/Procedure')
      .query(true)
      .delay(3_000)
      .reply(200, searchset([]));
    const started = Date.now();
    const { response, issues } = output(await populate(populateBody({}, serverParams)));
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(answers(response)).toEqual({});
    expect(issues?.issue.map((i) => i.diagnostics).join('\n')).toMatch(/deadline exceeded/);
  });
});

describe('the README example', () => {
  it('examples/populate-parameters.json pre-fills active cancer and previous DVT with their sources', async () => {
    const body = JSON.parse(readFileSync(join(__dirname, '..', 'examples', 'populate-parameters.json'), 'utf8')) as Parameters;
    const { response, issues } = output(await populate(body));
    expect(issues).toBeUndefined();
    expect(answers(response)).toEqual({
      'wells-active-cancer': { value: true, sources: ['Condition/c-cancer'] },
      'wells-previous-dvt': { value: true, sources: ['Condition/c-dvt'] },
    });
  });
});
