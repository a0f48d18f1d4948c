/**
 * QuestionnaireResponse/$extract: Observations from every vignette, each valid R4 and round-tripping the
 * coded answers and the server's Wells score; persist stores them once, in one transaction, on SQLite
 * and PostgreSQL; the Observations are then readable and searchable.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import request from 'supertest';
import type { Bundle, Observation, OperationOutcome, Questionnaire, QuestionnaireItem } from 'fhir/r4';
import { createTestApp, type TestApp, useTestApp } from './support/app';
import { buildResponse, loadQuestionnaire, type AnswerValue } from './support/build-response';
import { expectValidR4 } from './support/r4-validator';
import { WELLS_LINK_IDS } from './support/wells';
import { postgresUrl, TestSchemas } from './support/postgres';
import { countStored as countResources } from './support/store-counts';
import { createPostgresStore } from '../src/storage/postgres/postgres-store';
import { indexResource } from '../src/storage/search-parameters';

interface Vignette {
  story: string;
  answers: Record<string, AnswerValue>;
  expect: { score: number | null };
}
const vignettes = parse(readFileSync(join(__dirname, 'vignettes.yaml'), 'utf8')) as Vignette[];
const questionnaire: Questionnaire = loadQuestionnaire();
const CS = 'http://calfpain.example.org/fhir/CodeSystem/calf-pain';
const NOW = new Date('2025-03-14T10:00:00Z');
const PE = ['pe-shortness-of-breath', 'pe-chest-pain', 'pe-coughing-blood'];

const flatten = (items: QuestionnaireItem[] | undefined): QuestionnaireItem[] => (items ?? []).flatMap((i) => [i, ...flatten(i.item)]);
const codeOf = new Map(
  flatten(questionnaire.item)
    .filter((i) => i.code?.length)
    .map((i) => [i.linkId, i.code![0]]),
);
const post = (t: TestApp, url: string, body: unknown) =>
  request(t.app)
    .post(url)
    .set('Content-Type', 'application/fhir+json')
    .send(body as object);

const t = useTestApp(() => createTestApp({ now: NOW }));

function observationsOf(bundle: Bundle): Observation[] {
  return (bundle.entry ?? []).map((e) => e.resource as Observation);
}

describe('$extract for the vignettes', () => {
  it.each(vignettes.map((v) => [v.story.slice(0, 70), v] as const))('%s', async (_story, v) => {
    const response = buildResponse(v.answers, { subject: 'Patient/v1', encounter: 'Encounter/e1' });
    response.author = { reference: 'Practitioner/dr-1' };
    const res = await post(t, '/fhir/QuestionnaireResponse/$extract', response).expect(200);
    const bundle = res.body as Bundle;
    expectValidR4(bundle);
    expect(bundle.type).toBe('transaction');
    const observations = observationsOf(bundle);
    for (const [i, o] of observations.entries()) {
      expect(bundle.entry![i].request).toEqual({ method: 'POST', url: 'Observation' });
      expect(o).toMatchObject({
        status: 'final',
        subject: { reference: 'Patient/v1' },
        encounter: { reference: 'Encounter/e1' },
        effectiveDateTime: response.authored,
        performer: [{ reference: 'Practitioner/dr-1' }],
      });
      expect(o.derivedFrom?.[0].type).toBe('QuestionnaireResponse');
    }
    // Round trip: each coded answer comes back as exactly one Observation with its value.
    const expected = [...WELLS_LINK_IDS, ...PE].filter((id) => typeof v.answers[id] === 'boolean');
    const byCode = new Map(observations.map((o) => [`${o.code.coding?.[0].system}|${o.code.coding?.[0].code}`, o]));
    for (const linkId of expected) {
      const code = codeOf.get(linkId)!;
      expect(byCode.get(`${code.system}|${code.code}`)?.valueBoolean).toBe(v.answers[linkId]);
    }
    const score = byCode.get(`${CS}|wells-dvt`);
    expect(score?.valueInteger ?? null).toBe(v.expect.score);
    expect(observations).toHaveLength(expected.length + (v.expect.score === null ? 0 : 1));
  });
});

describe('$extract of a stored response, persisted', () => {
  const likely = () =>
    buildResponse(
      Object.fromEntries([
        ...WELLS_LINK_IDS.map((id) => [id, false]),
        ['wells-active-cancer', true],
        ['wells-calf-swelling-3cm', true],
        ['pe-chest-pain', false],
      ]),
      { subject: 'Patient/p9' },
    );

  async function storedResponseId(app: TestApp): Promise<string> {
    return (await post(app, '/fhir/QuestionnaireResponse', likely()).expect(201)).body.id as string;
  }

  it('returns the Bundle without storing by default; persist=true stores every Observation once, derived from the response', async () => {
    const id = await storedResponseId(t);
    const preview = (
      await post(t, `/fhir/QuestionnaireResponse/${id}/$extract`, {
        resourceType: 'Parameters',
        parameter: [{ name: 'persist', valueBoolean: false }],
      }).expect(200)
    ).body as Bundle;
    expect(preview.type).toBe('transaction');
    expect(await countResources(t.store, 'Observation')).toBe(0);

    const stored = (await post(t, `/fhir/QuestionnaireResponse/${id}/$extract?persist=true`, {}).expect(200)).body as Bundle;
    expectValidR4(stored);
    expect(stored.type).toBe('transaction-response');
    expect(stored.entry).toHaveLength(12);
    expect(stored.entry!.every((e) => e.response?.status === '201 Created')).toBe(true);
    for (const o of observationsOf(stored)) expect(o.derivedFrom).toEqual([{ reference: `QuestionnaireResponse/${id}` }]);
    expect(await countResources(t.store, 'Observation')).toBe(12);

    // Again: nothing new (identifier per response version and item).
    const again = (await post(t, `/fhir/QuestionnaireResponse/${id}/$extract?persist=true`, {}).expect(200)).body as Bundle;
    expect(again.entry!.every((e) => e.response?.status === '200 OK')).toBe(true);
    expect(await countResources(t.store, 'Observation')).toBe(12);
  });

  it('the Observations are readable and searchable by patient, code and date', async () => {
    const id = await storedResponseId(t);
    const stored = (await post(t, `/fhir/QuestionnaireResponse/${id}/$extract?persist=true`, {}).expect(200)).body as Bundle;
    const first = stored.entry![0].resource as Observation;
    expectValidR4((await request(t.app).get(`/fhir/Observation/${first.id}`).expect(200)).body);
    const search = async (q: string) => ((await request(t.app).get(`/fhir/Observation?${q}`).expect(200)).body as Bundle).total;
    expect(await search('patient=Patient/p9')).toBe(12);
    expect(await search(`code=${encodeURIComponent(`${CS}|wells-dvt`)}`)).toBe(1);
    expect(await search(`patient=Patient/p9&code=wells-active-cancer`)).toBe(1);
    expect(await search('date=ge2025-03-01&date=le2025-03-31')).toBe(12);
    expect(await search('date=lt2025-01-01')).toBe(0);
    expect(await search(`derived-from=QuestionnaireResponse/${id}`)).toBe(12);
    expect(await search('patient=Patient/other')).toBe(0);
    const score = ((await request(t.app).get(`/fhir/Observation?code=wells-dvt`).expect(200)).body as Bundle).entry![0]
      .resource as Observation;
    expect(score.valueInteger).toBe(2);
  });

  it('stores on PostgreSQL in one transaction too', async () => {
    const schemas = new TestSchemas();
    const pg = await createPostgresStore({
      connectionString: await postgresUrl(),
      indexer: indexResource,
      schema: schemas.newName('extract'),
    });
    const app = await createTestApp({ now: NOW, store: pg });
    try {
      const id = await storedResponseId(app);
      const stored = (await post(app, `/fhir/QuestionnaireResponse/${id}/$extract?persist=true`, {}).expect(200)).body as Bundle;
      expect(stored.entry).toHaveLength(12);
      const found = (await request(app.app).get(`/fhir/Observation?derived-from=QuestionnaireResponse/${id}`).expect(200)).body as Bundle;
      expect(found.total).toBe(12);
    } finally {
      await pg.close();
      await schemas.dropAll();
    }
  });
});

describe('$extract refuses bad input with an OperationOutcome and stores nothing', () => {
  it.each([
    ['not a QuestionnaireResponse', '/fhir/QuestionnaireResponse/$extract', { resourceType: 'Patient' }, 400],
    [
      'a response without subject',
      '/fhir/QuestionnaireResponse/$extract',
      { ...buildResponse({ 'wells-active-cancer': true }), subject: undefined },
      422,
    ],
    [
      'a response to an unknown Questionnaire',
      '/fhir/QuestionnaireResponse/$extract',
      buildResponse({}, { questionnaire: 'http://example.org/Questionnaire/x' }),
      422,
    ],
    ['an unknown query parameter', '/fhir/QuestionnaireResponse/$extract?store=yes', buildResponse({ 'wells-active-cancer': true }), 400],
    [
      'persist that is not a boolean',
      '/fhir/QuestionnaireResponse/$extract?persist=maybe',
      buildResponse({ 'wells-active-cancer': true }),
      400,
    ],
    ['an unknown stored response', '/fhir/QuestionnaireResponse/nope/$extract?persist=true', {}, 404],
    ['a response body at instance level', '/fhir/QuestionnaireResponse/x1/$extract', buildResponse({}), 400],
  ])('%s', async (_name, url, body, status) => {
    const res = await post(t, url, body).expect(status);
    const outcome = res.body as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expectValidR4(outcome);
    expect(await countResources(t.store, 'Observation')).toBe(0);
  });
});
