/**
 * Reading the EHR's FHIR server (CDS Hooks 2.0 "FHIR Resource Access") when prefetch does not supply the
 * data, with the EHR mocked by nock on the real fetch: the Bearer header and the search queries sent,
 * the total deadline, error statuses, garbage bodies and paging. Real network access is disabled, and
 * every request the service sends that no interceptor expects is recorded and fails the test.
 */
import nock from 'nock';
import request from 'supertest';
import { expectConformantHookResponse } from './support/cds-conformance';
import {
  ACCESS_TOKEN,
  condition,
  daysAgo,
  draftOrder,
  fhirAccess,
  FHIR_SERVER,
  orderSelect,
  patientView,
  procedure,
  response,
  searchset,
  PATIENT_ID,
  useCdsHarness,
} from './fixtures/cds/harness';
import type { QuestionnaireResponse } from 'fhir/r4';
import type { Card } from '../src/core/cds-hooks';

const ENDPOINT = '/cds-services/calf-pain-dvt';
const QUESTIONNAIRE = 'http://calfpain.example.org/fhir/Questionnaire/calf-pain';
const BEARER = `Bearer ${ACCESS_TOKEN}`;
const DEADLINE_MS = 300;

/** The searches the service sends for PATIENT_ID at NOW (window 14 days, surgery 12 weeks). */
const RESPONSE_SEARCH = { patient: PATIENT_ID, questionnaire: QUESTIONNAIRE, _sort: '-authored', _count: '50', authored: 'ge2026-11-12' };
const CONDITION_SEARCH = { patient: PATIENT_ID };
const PROCEDURE_SEARCH = { patient: PATIENT_ID, _sort: '-date', _count: '50', date: 'ge2026-09-03' };

/** Requests to anywhere but the app under test that matched no interceptor. */
let unexpected: string[];

function recordUnmatched(req: { method?: string; path?: string; hostname?: string; options?: { hostname?: string } }): void {
  const host = req.options?.hostname ?? req.hostname ?? '?';
  if (host === '127.0.0.1') return; // supertest calling the app
  unexpected.push(`${req.method} ${host}${req.path}`);
}

// nock patches Node's http module for the whole process: undo it, or later test files in the same
// jest process (--runInBand) send their requests through its mock sockets.
afterAll(() => nock.restore());

beforeEach(() => {
  unexpected = [];
  nock.disableNetConnect();
  nock.enableNetConnect(/^127\.0\.0\.1(:\d+)?$/);
  nock.emitter.on('no match', recordUnmatched);
});
const h = useCdsHarness({ fhirServerDeadlineMs: DEADLINE_MS });

afterEach(async () => {
  nock.emitter.removeListener('no match', recordUnmatched);
  nock.abortPendingRequests();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(unexpected).toEqual([]);
});

/** The EHR, answering only requests that carry the client's access token. */
const ehr = () => nock(FHIR_SERVER).matchHeader('authorization', BEARER);

/** The chart searches, answered with empty Bundles. */
/** The chart searches (Conditions, then Procedures) added to `scope`, each answered with its status and body. */
function chart(scope: nock.Scope, conditions: [number, nock.Body], procedures: [number, nock.Body]): nock.Scope {
  return scope
    .get('/Condition')
    .query(CONDITION_SEARCH)
    .reply(...conditions)
    .get('/Procedure')
    .query(PROCEDURE_SEARCH)
    .reply(...procedures);
}

function emptyChart(scope: nock.Scope): nock.Scope {
  return chart(scope, [200, searchset([])], [200, searchset([])]);
}

/** The EHR answering the response search with these responses. */
function ehrResponses(...responses: QuestionnaireResponse[]): nock.Scope {
  return ehr().get('/QuestionnaireResponse').query(RESPONSE_SEARCH).reply(200, searchset(responses));
}

async function call(body: Record<string, unknown>, status = 200, endpoint = ENDPOINT) {
  const res = await request(h.app).post(endpoint).send(body).expect(status);
  if (status === 200) expectConformantHookResponse(res.body);
  return res.body as { cards: Card[]; error?: string; message?: string };
}

describe('reading the EHR FHIR server when prefetch is missing', () => {
  it('sends the access token as a Bearer token, searches for this patient, questionnaire and window, and uses what it finds', async () => {
    const found = searchset([response('likely', { id: 'ehr-1' })]);
    const headers = { 'Content-Type': 'application/fhir+json' };
    const scope = emptyChart(ehr().get('/QuestionnaireResponse').query(RESPONSE_SEARCH).reply(200, found, headers));
    const { cards } = await call(patientView(fhirAccess()));
    expect(scope.isDone()).toBe(true);
    expect(cards).toHaveLength(1);
    expect(cards[0].summary).toMatch(/DVT likely/);
    expect(cards[0].detail).toContain('QuestionnaireResponse/ehr-1');
    expect(cards[0].detail).toContain('EHR FHIR server');
  });

  it('does not get the data when the token is not the one the EHR expects', async () => {
    // Same searches, but the EHR only answers another token: nothing matches, so nothing is obtained.
    const scope = emptyChart(
      nock(FHIR_SERVER)
        .matchHeader('authorization', 'Bearer some-other-token')
        .get('/QuestionnaireResponse')
        .query(RESPONSE_SEARCH)
        .reply(200, searchset([response('likely')])),
    );
    const res = await call(patientView(fhirAccess()), 412);
    expect(res.error).toBe('precondition_failed');
    expect(scope.isDone()).toBe(false);
    expect(unexpected.map((u) => u.split('?')[0]).sort()).toEqual([
      'GET ehr.example.org/fhir/Condition',
      'GET ehr.example.org/fhir/Procedure',
      'GET ehr.example.org/fhir/QuestionnaireResponse',
    ]);
    unexpected = []; // seen and expected here
  });

  it('sends no Authorization header when the client gave a fhirServer without credentials', async () => {
    const scope = emptyChart(
      nock(FHIR_SERVER, { badheaders: ['authorization'] })
        .get('/QuestionnaireResponse')
        .query(RESPONSE_SEARCH)
        .reply(200, searchset([response('likely')])),
    );
    const { cards } = await call(patientView({ fhirServer: FHIR_SERVER }));
    expect(scope.isDone()).toBe(true);
    expect(cards[0].summary).toMatch(/DVT likely/);
  });

  it('reads the chart (Conditions, Procedures since 12 weeks ago) from the server too', async () => {
    const scope = chart(
      ehrResponses(response('unlikelyOne')),
      [200, searchset([condition('c1', 'Metastatic carcinoma of colon')])],
      [200, searchset([procedure('p1', 'Open reduction and internal fixation of ankle', daysAgo(30))])],
    );
    const { cards } = await call(patientView(fhirAccess()));
    expect(scope.isDone()).toBe(true);
    expect(cards[0].detail).toContain('"Metastatic carcinoma of colon" (Condition, EHR FHIR server)');
    expect(cards[0].detail).toContain('Open reduction and internal fixation of ankle');
  });

  it('order-select reads the response from the server but not the chart', async () => {
    const scope = ehrResponses(response('likely'));
    const { cards } = await call(orderSelect([draftOrder('dd-1', 'd-dimer')], fhirAccess()), 200, '/cds-services/dvt-workup-order-select');
    expect(scope.isDone()).toBe(true);
    expect(cards[0].summary).toMatch(/D-dimer alone cannot rule out DVT/);
  });
});

describe('prefetch first, the FHIR server for the rest', () => {
  it('fetches only the response when prefetch supplied the chart but an OperationOutcome for the response', async () => {
    const scope = ehrResponses(response('unlikely'));
    const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout' }] };
    const { cards } = await call(
      patientView({ ...fhirAccess(), prefetch: { calfPainResponse: oo, conditions: searchset([]), procedures: searchset([]) } }),
    );
    expect(scope.isDone()).toBe(true);
    expect(cards[0].summary).toMatch(/DVT unlikely/);
  });

  it('fetches only the missing chart keys when prefetch supplied the response', async () => {
    const scope = ehr()
      .get('/Condition')
      .query(CONDITION_SEARCH)
      .reply(200, searchset([condition('c1', 'Metastatic carcinoma of colon')]));
    const { cards } = await call(
      patientView({ ...fhirAccess(), prefetch: { calfPainResponse: searchset([response('unlikelyOne')]), procedures: null } }),
    );
    expect(scope.isDone()).toBe(true);
    expect(cards[0].detail).toContain('"Metastatic carcinoma of colon" (Condition, EHR FHIR server)');
  });

  it('does not call the server when prefetch answered everything', async () => {
    const scope = nock(FHIR_SERVER)
      .get(() => true)
      .reply(500, 'should not be called');
    const { cards } = await call(
      patientView({
        ...fhirAccess(),
        prefetch: { calfPainResponse: response('likely'), conditions: searchset([]), procedures: searchset([]) },
      }),
    );
    expect(scope.isDone()).toBe(false);
    expect(cards).toHaveLength(1);
  });

  it('412 when neither prefetch nor a fhirServer can supply the response', async () => {
    const res = await call(patientView({ prefetch: { conditions: searchset([]), procedures: searchset([]) } }), 412);
    expect(res.error).toBe('precondition_failed');
    expect(res.message).toMatch(/prefetch "calfPainResponse" missing; no fhirServer given/);
  });
});

describe('paging through Bundle.link next', () => {
  it('follows next links with the token and chooses the most recent response across pages', async () => {
    const scope = emptyChart(
      ehr()
        .get('/QuestionnaireResponse')
        .query(RESPONSE_SEARCH)
        .reply(
          200,
          searchset(
            [response('unlikely', { id: 'page1', authored: daysAgo(6) })],
            `${FHIR_SERVER}/QuestionnaireResponse?_getpages=abc&_page=2`,
          ),
        )
        .get('/QuestionnaireResponse')
        .query({ _getpages: 'abc', _page: '2' })
        .reply(
          200,
          searchset([response('unlikelyOne', { id: 'page2', authored: daysAgo(3) })], 'QuestionnaireResponse?_getpages=abc&_page=3'),
        )
        .get('/QuestionnaireResponse')
        .query({ _getpages: 'abc', _page: '3' })
        .reply(200, searchset([response('likely', { id: 'page3', authored: daysAgo(1) })])),
    );
    const { cards } = await call(patientView(fhirAccess()));
    expect(scope.isDone()).toBe(true);
    expect(cards[0].detail).toContain('QuestionnaireResponse/page3');
  });

  it.each([
    ['another host', 'https://elsewhere.example.net', '/fhir/QuestionnaireResponse'],
    ['another scheme', 'http://ehr.example.org', '/fhir/QuestionnaireResponse'],
    ['another port', 'https://ehr.example.org:8443', '/fhir/QuestionnaireResponse'],
    ['a path outside the FHIR base', 'https://ehr.example.org', '/admin/QuestionnaireResponse'],
  ])('never follows a next link to %s (the access token would leak)', async (_name, origin, path) => {
    const trap = nock(origin)
      .get(path)
      .query(true)
      .reply(200, searchset([response('likely', { id: 'trap' })]));
    const scope = emptyChart(
      ehr()
        .get('/QuestionnaireResponse')
        .query(RESPONSE_SEARCH)
        .reply(200, searchset([response('unlikely', { id: 'first' })], `${origin}${path}?page=2`)),
    );
    const { cards } = await call(patientView(fhirAccess()));
    expect(scope.isDone()).toBe(true);
    expect(trap.isDone()).toBe(false);
    expect(nock.pendingMocks()).toEqual([expect.stringContaining(path)]);
    expect(cards[0].summary).toMatch(/DVT unlikely/);
    expect(cards[0].detail).toContain('QuestionnaireResponse/first');
  });

  it.each([
    ['a 500', (s: nock.Interceptor) => s.reply(500, 'down')],
    ['an HTML page', (s: nock.Interceptor) => s.reply(200, '<html><body>Session expired</body></html>', { 'Content-Type': 'text/html' })],
    [
      'a reply slower than the deadline',
      (s: nock.Interceptor) => s.delay(5000).reply(200, searchset([response('likely', { id: 'late', authored: daysAgo(0.5) })])),
    ],
  ])('keeps the pages it has when a later page fails (%s)', async (_name, page2) => {
    const first = ehr()
      .get('/QuestionnaireResponse')
      .query(RESPONSE_SEARCH)
      .reply(200, searchset([response('unlikely', { id: 'first' })], `${FHIR_SERVER}/QuestionnaireResponse?_page=2`));
    page2(first.get('/QuestionnaireResponse').query({ _page: '2' }));
    emptyChart(first);
    const { cards } = await call(patientView(fhirAccess()));
    expect(first.isDone()).toBe(true);
    expect(cards[0].summary).toMatch(/DVT unlikely/);
    expect(cards[0].detail).toContain('QuestionnaireResponse/first');
  });

  it('the deadline bounds the whole fetch, not each request', async () => {
    await h.reopen({ fhirServerDeadlineMs: 600 });
    // Each page alone is well inside the deadline; the two together are not.
    const scope = emptyChart(
      ehr()
        .get('/QuestionnaireResponse')
        .query(RESPONSE_SEARCH)
        .delay(400)
        .reply(200, searchset([response('unlikely', { id: 'first' })], `${FHIR_SERVER}/QuestionnaireResponse?_page=2`))
        .get('/QuestionnaireResponse')
        .query({ _page: '2' })
        .delay(400)
        .reply(200, searchset([response('likely', { id: 'second', authored: daysAgo(0.5) })])),
    );
    const { cards } = await call(patientView(fhirAccess()));
    expect(scope.isDone()).toBe(true);
    expect(cards[0].detail).toContain('QuestionnaireResponse/first');
    expect(cards[0].detail).not.toContain('QuestionnaireResponse/second');
  });
});

describe('an unusable answer from the server', () => {
  const outcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] };
  it.each([
    [
      '401 Unauthorized',
      (i: nock.Interceptor) => i.reply(401, outcome, { 'WWW-Authenticate': 'Bearer error="invalid_token"' }),
      /fhirServer: HTTP 401/,
    ],
    ['500 Internal Server Error', (i: nock.Interceptor) => i.reply(500, 'oops'), /fhirServer: HTTP 500/],
    [
      'an HTML page with 200',
      (i: nock.Interceptor) => i.reply(200, '<html>not FHIR</html>', { 'Content-Type': 'text/html' }),
      /fhirServer: request failed/,
    ],
    [
      'invalid JSON',
      (i: nock.Interceptor) => i.reply(200, '{"resourceType": "Bundle", "entry": [', { 'Content-Type': 'application/fhir+json' }),
      /fhirServer: request failed/,
    ],
    [
      'a resource that is not a Bundle',
      (i: nock.Interceptor) => i.reply(200, response('likely')),
      /fhirServer: response is not a FHIR Bundle/,
    ],
    ['JSON that is not FHIR', (i: nock.Interceptor) => i.reply(200, { hello: 'world' }), /fhirServer: response is not a FHIR Bundle/],
    [
      'a reply slower than the deadline',
      (i: nock.Interceptor) => i.delay(5000).reply(200, searchset([response('likely')])),
      /fhirServer: deadline exceeded/,
    ],
    [
      'a body slower than the deadline',
      (i: nock.Interceptor) => i.delayBody(5000).reply(200, searchset([response('likely')])),
      /fhirServer: deadline exceeded/,
    ],
  ])('treats %s as unobtainable: 412 when nothing else is available', async (_name, reply, reason) => {
    const scope = ehr();
    reply(scope.get('/QuestionnaireResponse').query(RESPONSE_SEARCH));
    emptyChart(scope);
    const res = await call(patientView(fhirAccess()), 412);
    expect(scope.isDone()).toBe(true);
    expect(res.error).toBe('precondition_failed');
    expect(res.message).toMatch(reason);
  });

  it('falls back to a response submitted to this service when the server fails', async () => {
    await h.store.create(response('likely', { id: 'local-1' }));
    const scope = emptyChart(ehr().get('/QuestionnaireResponse').query(RESPONSE_SEARCH).reply(500, 'down'));
    const { cards } = await call(patientView(fhirAccess()));
    expect(scope.isDone()).toBe(true);
    expect(cards[0].detail).toContain('QuestionnaireResponse/local-1');
    expect(cards[0].detail).toContain("this service's FHIR API");
  });

  it('still gives the card when the chart cannot be read, and says the chart was not checked', async () => {
    const scope = chart(
      ehrResponses(response('likely')),
      [403, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden' }] }],
      [200, 'garbage'],
    );
    const { cards } = await call(patientView(fhirAccess()));
    expect(scope.isDone()).toBe(true);
    expect(cards[0].summary).toMatch(/DVT likely/);
    expect(cards[0].detail).toContain('Chart not checked: Conditions and Procedures could not be obtained from the EHR');
  });
});
