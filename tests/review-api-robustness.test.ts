/**
 * Malformed and borderline inputs found by an outside review of the FHIR API: each must be a 4xx
 * OperationOutcome that is itself valid R4, with nothing stored; or, where the request is fine, a
 * response that is valid R4.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { OperationOutcome, QuestionnaireResponse } from 'fhir/r4';
import { createAuthTestApp, createTestApp, type TestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { fhirApiToken, generateClient, trustedEntry, writeTrustedClientsFile } from './support/generated-client';
import type { GeneratedClient, TrustedClientsFile } from './support/generated-client';
import { expectValidR4 } from './support/r4-validator';
import { writtenCounts } from './support/store-counts';
import { QUESTIONNAIRE_URL } from '../src/core/canonical';
import { answerClientErrors } from '../src/http/fhir/http';

const FHIR = 'application/fhir+json';

const answers = { 'affected-side': 'left', 'onset-sudden': true, 'recent-injury': false };

function response(extra: Record<string, unknown> = {}): QuestionnaireResponse {
  return { ...buildResponse(answers, { subject: 'Patient/r1' }), ...extra };
}

async function stored(t: TestApp): Promise<number> {
  return Object.values(await writtenCounts(t.store)).reduce((sum, n) => sum + n, 0);
}

function expectOutcome(res: request.Response, status: number, message: RegExp): OperationOutcome {
  expect(res.status).toBe(status);
  const outcome = res.body as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expectValidR4(outcome);
  expect(outcome.issue.map((i) => i.diagnostics).join('\n')).toMatch(message);
  return outcome;
}

describe('review: malformed input to the FHIR API', () => {
  let t: TestApp;
  let before: number;
  beforeEach(async () => {
    t = await createTestApp();
    before = await stored(t);
  });
  afterEach(async () => {
    await t.store.close();
  });

  const post = (body: unknown, path = '/fhir/QuestionnaireResponse') =>
    request(t.app)
      .post(path)
      .set('Content-Type', FHIR)
      .send(typeof body === 'string' ? body : JSON.stringify(body));

  it.each([
    ['a null element', response({ text: null }), /"text" is null/],
    ['an empty array', { ...response(), item: [] }, /"item" is an empty array/],
    [
      'an empty answer list',
      { ...response(), item: [{ linkId: 'history', item: [{ linkId: 'onset-sudden', answer: [] }] }] },
      /"answer" is an empty array/,
    ],
    ['an empty extension list', response({ extension: [] }), /"extension" is an empty array/],
    [
      'an extension with a value and nested extensions (ext-1)',
      response({ extension: [{ url: 'http://example.org/x', valueString: 'a', extension: [{ url: 'y', valueString: 'b' }] }] }),
      /ext-1/,
    ],
    ['an extension with neither (ext-1)', response({ extension: [{ url: 'http://example.org/x' }] }), /ext-1/],
    ['a contained resource nothing references (dom-3)', response({ contained: [{ resourceType: 'Patient', id: 'p1' }] }), /dom-3/],
    ['authored on a day that does not exist', response({ authored: '2025-02-30T10:00:00Z' }), /2025-02-30.*not a day of the calendar/],
    ['a control character in a string', response({ subject: { reference: 'Patient/r1', display: 'A\u0001B' } }), /control character/],
    [
      'a lone surrogate in a string',
      `{"resourceType":"QuestionnaireResponse","status":"completed","questionnaire":"${QUESTIONNAIRE_URL}|1.0.0","subject":{"reference":"Patient/\\ud800"}}`,
      /unpaired surrogate/,
    ],
    [
      'a subject that is not a Patient reference',
      response({ subject: { reference: 'Practitioner/1' } }),
      /must reference the patient as Patient\/\{id\}/,
    ],
    ['a subject reference with path segments', response({ subject: { reference: 'Patient/../../x' } }), /must reference the patient/],
    ['a questionnaire canonical ending in "|"', response({ questionnaire: `${QUESTIONNAIRE_URL}|` }), /names no version/],
  ])('refuses %s with 422 and stores nothing', async (_name, body, message) => {
    expectOutcome(await post(body), 422, message);
    expect(await stored(t)).toBe(before);
  });

  // The official R4 schema types no complex type as an object: these passed ($evaluate 200, create a misleading "subject is required").
  const notAnObject: [string, unknown][] = [
    ['a string', 'Patient/1'],
    ['a number', 1],
    ['an array of references', [{ reference: 'Patient/1' }]],
    ['true', true],
  ];
  it.each(notAnObject)('refuses a subject that is %s with 422 naming it, on create and on $evaluate', async (_name, subject) => {
    const body = { ...response(), subject };
    for (const path of ['/fhir/QuestionnaireResponse', '/fhir/QuestionnaireResponse/$evaluate']) {
      const res = await post(body, path);
      expectOutcome(res, 422, /object/);
      expect(res.body.issue.map((i: { expression?: string[] }) => i.expression?.[0])).toContain('QuestionnaireResponse.subject');
    }
    expect(await stored(t)).toBe(before);
  });

  it.each([
    ['an array for a 0..1 complex element (encounter)', { encounter: [{ reference: 'Encounter/1' }] }, 'QuestionnaireResponse.encounter'],
    ['an array for a 0..1 primitive (authored)', { authored: ['2025-03-14T09:30:00Z'] }, 'QuestionnaireResponse.authored'],
    ['a string for an item', { item: ['history'] }, 'QuestionnaireResponse.item[0]'],
    ['a number for meta', { meta: 3 }, 'QuestionnaireResponse.meta'],
  ])('refuses %s with 422 and stores nothing', async (_name, extra, expression) => {
    const res = await post({ ...response(), ...extra });
    expectOutcome(res, 422, /./);
    expect(res.body.issue.map((i: { expression?: string[] }) => i.expression?.[0])).toContain(expression);
    expect(await stored(t)).toBe(before);
  });

  it('still accepts a contained resource that the response references', async () => {
    const ok = response({
      contained: [{ resourceType: 'Patient', id: 'p1', name: [{ given: ['Ann'] }] }],
      subject: { reference: 'Patient/r1' },
      source: { reference: '#p1' },
    });
    const res = await post(ok);
    expect(res.status).toBe(201);
    expectValidR4(res.body);
  });

  it('accepts 29 February in a leap year', async () => {
    expect((await post(response({ authored: '2024-02-29T10:00:00Z' }))).status).toBe(201);
  });

  it.each([
    [
      'parameter is an object, not an array',
      { resourceType: 'Parameters', parameter: { name: 'questionnaire-response' } },
      422,
      /must be a JSON array/,
    ],
    ['parameter holds null', { resourceType: 'Parameters', parameter: [null] }, 422, /is null/],
    [
      'the parameter carries a value besides the resource (inv-1)',
      { resourceType: 'Parameters', parameter: [{ name: 'questionnaire-response', resource: response(), valueString: 'x' }] },
      422,
      /inv-1/,
    ],
    [
      'two questionnaire-response parameters',
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'questionnaire-response', resource: response() },
          { name: 'questionnaire-response', resource: response() },
        ],
      },
      400,
      /exactly one/,
    ],
  ])('$evaluate refuses Parameters where %s (never a 500)', async (_name, body, status, message) => {
    expectOutcome(await post(body, '/fhir/QuestionnaireResponse/$evaluate'), status, message);
  });

  it('$evaluate still accepts a well-formed Parameters', async () => {
    const res = await post(
      { resourceType: 'Parameters', parameter: [{ name: 'questionnaire-response', resource: response() }] },
      '/fhir/QuestionnaireResponse/$evaluate',
    );
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('RiskAssessment');
    expectValidR4(res.body);
  });

  it('quotes what the client sent without making the OperationOutcome invalid (control characters)', async () => {
    const res = await request(t.app).get('/fhir/QuestionnaireResponse/%00');
    expectOutcome(res, 400, /not a valid FHIR id/);
    const linkId = await post({ ...response(), item: [{ linkId: 'x\u0000y' }] });
    expectOutcome(linkId, 422, /control character/);
  });

  it('refuses an If-Match with unbalanced quotes rather than reading a version from it', async () => {
    const created = await post(response());
    const body = { ...response(), id: created.body.id };
    const res = await request(t.app)
      .put(`/fhir/QuestionnaireResponse/${created.body.id}`)
      .set('Content-Type', FHIR)
      .set('If-Match', 'W/"1')
      .send(JSON.stringify(body));
    expectOutcome(res, 400, /If-Match must be an ETag/);
    const ok = await request(t.app)
      .put(`/fhir/QuestionnaireResponse/${created.body.id}`)
      .set('Content-Type', FHIR)
      .set('If-Match', 'W/"1"')
      .send(JSON.stringify(body));
    expect(ok.status).toBe(200);
  });

  it('refuses _count given twice instead of silently using one', async () => {
    expectOutcome(await request(t.app).get('/fhir/QuestionnaireResponse?_count=1&_count=2'), 400, /_count must be given once/);
  });

  it('answers _format=xml with 406 rather than JSON the client did not ask for', async () => {
    expectOutcome(await request(t.app).get('/fhir/QuestionnaireResponse?_format=xml'), 406, /FHIR JSON only/);
    expectOutcome(await request(t.app).get('/fhir/Questionnaire/calf-pain?_format=application/fhir%2Bxml'), 406, /FHIR JSON only/);
    expect((await request(t.app).get('/fhir/Questionnaire/calf-pain?_format=json')).status).toBe(200);
  });

  it('answers a request line too long for the HTTP parser with an OperationOutcome (431)', async () => {
    const server = http.createServer(t.app);
    answerClientErrors(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const subjects = Array.from({ length: 3000 }, (_, i) => `Patient/${i}`).join(',');
      const res = await fetch(`http://127.0.0.1:${port}/fhir/QuestionnaireResponse?subject=${subjects}`);
      expect(res.status).toBe(431);
      expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      const outcome = (await res.json()) as OperationOutcome;
      expect(outcome.resourceType).toBe('OperationOutcome');
      expectValidR4(outcome);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('review: $evaluate with a Parameters body when authentication is on', () => {
  const BASE = 'https://cds.calf-pain.example';
  const ISS = 'https://ehr.example.org';
  const NOW = new Date('2025-03-14T10:00:00Z');
  let client: GeneratedClient;
  let trusted: TrustedClientsFile;
  let t: TestApp;

  beforeAll(async () => {
    client = await generateClient(ISS);
    trusted = writeTrustedClientsFile('review-evaluate-', 'clients.json', [trustedEntry(client, ['patient/*.cruds', 'user/*.cruds'])]);
  });
  afterAll(() => trusted.remove());
  beforeEach(async () => {
    t = await createAuthTestApp({ now: NOW, baseUrl: BASE, trustedClientsFile: trusted.file, devClients: false });
  });
  afterEach(async () => {
    await t.store.close();
  });

  const token = (scope: string, patient?: string) => fhirApiToken(client, { baseUrl: BASE, now: NOW, scope, patient });
  const evaluate = async (bearer: string, body: unknown) =>
    request(t.app)
      .post('/fhir/QuestionnaireResponse/$evaluate')
      .set('Content-Type', FHIR)
      .set('Authorization', `Bearer ${bearer}`)
      .send(JSON.stringify(body));
  const wrapped = (subject: string) => ({
    resourceType: 'Parameters',
    parameter: [{ name: 'questionnaire-response', resource: buildResponse(answers, { subject }) }],
  });

  it('evaluates the wrapped response for a user token (not 403 because the wrapper is a Parameters)', async () => {
    const res = await evaluate(await token('user/QuestionnaireResponse.c'), wrapped('Patient/p1'));
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('RiskAssessment');
  });

  it('applies the patient compartment to the wrapped response', async () => {
    expect((await evaluate(await token('patient/QuestionnaireResponse.c', 'p1'), wrapped('Patient/p1'))).status).toBe(200);
    const other = await evaluate(await token('patient/QuestionnaireResponse.c', 'p1'), wrapped('Patient/p2'));
    expect(other.status).toBe(403);
    expect(other.body.resourceType).toBe('OperationOutcome');
  });
});
