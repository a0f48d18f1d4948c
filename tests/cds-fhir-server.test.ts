import request from 'supertest';
import { expectConformantHookResponse } from './support/cds-conformance';
import { ACCESS_TOKEN, cdsHarness, condition, daysAgo, fhirAccess, patientView, procedure, response, searchset, PATIENT_ID, type CdsHarness } from './fixtures/cds/harness';
import { startFakeEhr, type EhrHandler, type EhrReply, type EhrRequest, type FakeEhr } from './fixtures/cds/fake-ehr';
import type { Card } from '../src/cds-hooks/types';

const ENDPOINT = '/cds-services/calf-pain-dvt';
const QUESTIONNAIRE = 'http://calfpain.example.org/fhir/Questionnaire/calf-pain';
let h: CdsHarness;
const servers: FakeEhr[] = [];

beforeEach(async () => {
  h = await cdsHarness({ fhirServerDeadlineMs: 300 });
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await h.store.close();
});

async function ehr(handler: EhrHandler): Promise<FakeEhr> {
  const server = await startFakeEhr(handler);
  servers.push(server);
  return server;
}

/** Answers the response query with `reply` and the chart queries with empty Bundles. */
function responseThen(reply: (r: EhrRequest) => EhrReply): EhrHandler {
  return (r) => (r.path.endsWith('/QuestionnaireResponse') ? reply(r) : { body: searchset([]) });
}

async function call(body: Record<string, unknown>, status = 200) {
  const res = await request(h.app).post(ENDPOINT).send(body).expect(status);
  if (status === 200) expectConformantHookResponse(res.body);
  return res.body as { cards: Card[]; error?: string };
}

const hits = (server: FakeEhr, path: string) => server.requests.filter((r) => r.path === `/fhir/${path}`);

describe('reading the EHR FHIR server when prefetch is missing', () => {
  it('sends the access token as a Bearer token, searches for this patient and questionnaire, and uses what it finds', async () => {
    const server = await ehr(responseThen(() => ({ body: searchset([response('likely', { id: 'ehr-1' })]) })));
    const { cards } = await call(patientView(fhirAccess(server.baseUrl)));
    const [search] = hits(server, 'QuestionnaireResponse');
    expect(search.headers.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);
    expect(search.query.get('patient')).toBe(PATIENT_ID);
    expect(search.query.get('questionnaire')).toBe(QUESTIONNAIRE);
    expect(search.query.get('authored')).toBe('ge2026-11-12');
    expect(server.requests.every((r) => r.headers.authorization === `Bearer ${ACCESS_TOKEN}`)).toBe(true);
    expect(cards[0].summary).toMatch(/DVT likely/);
    expect(cards[0].detail).toContain('EHR FHIR server');
  });

  it('sends no Authorization header when the client gave a fhirServer without credentials', async () => {
    const server = await ehr(responseThen(() => ({ body: searchset([response('likely')]) })));
    await call(patientView({ fhirServer: server.baseUrl }));
    expect(server.requests.length).toBeGreaterThan(0);
    expect(server.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('fetches only what prefetch did not supply (an OperationOutcome counts as not supplied)', async () => {
    const server = await ehr(responseThen(() => ({ body: searchset([response('unlikely')]) })));
    const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout' }] };
    const { cards } = await call(patientView({ ...fhirAccess(server.baseUrl), prefetch: { calfPainResponse: oo, conditions: searchset([]), procedures: searchset([]) } }));
    expect(server.requests.map((r) => r.path)).toEqual(['/fhir/QuestionnaireResponse']);
    expect(cards[0].summary).toMatch(/DVT unlikely/);
  });

  it('does not call the server when prefetch answered everything', async () => {
    const server = await ehr(() => ({ status: 500, body: 'should not be called' }));
    const { cards } = await call(patientView({ ...fhirAccess(server.baseUrl), prefetch: { calfPainResponse: response('likely'), conditions: searchset([]), procedures: searchset([]) } }));
    expect(server.requests).toEqual([]);
    expect(cards).toHaveLength(1);
  });

  it('reads the chart (Conditions, Procedures since 12 weeks ago) from the server too', async () => {
    const server = await ehr((r) => {
      if (r.path.endsWith('/QuestionnaireResponse')) return { body: searchset([response('unlikelyOne')]) };
      if (r.path.endsWith('/Condition')) return { body: searchset([condition('c1', 'Metastatic carcinoma of colon')]) };
      return { body: searchset([procedure('p1', 'Open reduction and internal fixation of ankle', daysAgo(30))]) };
    });
    const { cards } = await call(patientView(fhirAccess(server.baseUrl)));
    expect(hits(server, 'Condition')[0].query.get('patient')).toBe(PATIENT_ID);
    expect(hits(server, 'Procedure')[0].query.get('date')).toBe('ge2026-09-03');
    expect(cards[0].detail).toContain('"Metastatic carcinoma of colon" (Condition, EHR FHIR server)');
    expect(cards[0].detail).toContain('Open reduction and internal fixation of ankle');
  });

  it('follows Bundle next links and chooses the most recent response across pages', async () => {
    const server = await ehr(
      responseThen((r) =>
        r.query.get('_page') === '2'
          ? { body: searchset([response('likely', { id: 'page2', authored: daysAgo(1) })]) }
          : { body: searchset([response('unlikely', { id: 'page1', authored: daysAgo(6) })], `${server.baseUrl}/QuestionnaireResponse?_getpages=abc&_page=2`) },
      ),
    );
    const { cards } = await call(patientView(fhirAccess(server.baseUrl)));
    expect(hits(server, 'QuestionnaireResponse')).toHaveLength(2);
    expect(hits(server, 'QuestionnaireResponse')[1].headers.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);
    expect(cards[0].detail).toContain('QuestionnaireResponse/page2');
  });

  it('never follows a next link to another server (the access token would leak)', async () => {
    const elsewhere = await ehr(() => ({ body: searchset([]) }));
    const server = await ehr(responseThen(() => ({ body: searchset([response('unlikely')], `${elsewhere.baseUrl}/QuestionnaireResponse?page=2`) })));
    const { cards } = await call(patientView(fhirAccess(server.baseUrl)));
    expect(elsewhere.requests).toEqual([]);
    expect(cards[0].summary).toMatch(/DVT unlikely/);
  });

  it('stops paging when the deadline passes and uses the pages it has', async () => {
    const server = await ehr(
      responseThen((r) =>
        r.query.get('_page') === '2'
          ? { body: searchset([response('likely', { id: 'late' })]), delayMs: 5000 }
          : { body: searchset([response('unlikely', { id: 'first' })], `${server.baseUrl}/QuestionnaireResponse?_page=2`) },
      ),
    );
    const { cards } = await call(patientView(fhirAccess(server.baseUrl)));
    expect(cards[0].detail).toContain('QuestionnaireResponse/first');
  });

  it.each([
    ['401 Unauthorized', { status: 401, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] } }],
    ['500 Internal Server Error', { status: 500, body: 'oops' }],
    ['a garbage body', { status: 200, body: '<html>not FHIR</html>' }],
    ['JSON that is not a Bundle', { status: 200, body: { hello: 'world' } }],
    ['a reply slower than the deadline', { status: 200, body: searchset([response('likely')]), delayMs: 5000 }],
  ])('treats %s as unobtainable: 412 when nothing else is available', async (_name, reply) => {
    const server = await ehr(responseThen(() => reply as EhrReply));
    const res = await call(patientView(fhirAccess(server.baseUrl)), 412);
    expect(hits(server, 'QuestionnaireResponse')).toHaveLength(1);
    expect(res.error).toBe('precondition_failed');
  });

  it('falls back to a response submitted to this service when the server fails', async () => {
    await h.store.create(response('likely', { id: 'local-1' }));
    const server = await ehr(responseThen(() => ({ status: 500, body: 'down' })));
    const { cards } = await call(patientView(fhirAccess(server.baseUrl)));
    expect(cards[0].detail).toContain("this service's FHIR API");
  });

  it('still gives the card when the chart cannot be read, and says the chart was not checked', async () => {
    const server = await ehr((r) => {
      if (r.path.endsWith('/QuestionnaireResponse')) return { body: searchset([response('likely')]) };
      if (r.path.endsWith('/Condition')) return { status: 403, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden' }] } };
      return { body: searchset([]) };
    });
    const { cards } = await call(patientView(fhirAccess(server.baseUrl)));
    expect(cards[0].detail).toContain('Chart not checked: Conditions could not be obtained');
  });
});
