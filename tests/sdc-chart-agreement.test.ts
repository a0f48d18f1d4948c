/**
 * One implementation: the CDS patient-view chart review and $populate read the same chart through the
 * Questionnaire's population expressions, so they name the same criteria and the same chart entries.
 */
import request from 'supertest';
import type { Bundle, Parameters, QuestionnaireResponse, QuestionnaireResponseItem } from 'fhir/r4';
import { condition, daysAgo, patientView, procedure, response, searchset, PATIENT_ID, useCdsHarness } from './fixtures/cds/harness';
import { callHook } from './support/cds-call';
import { findChartEvidence } from '../src/clinical/chart';
import { loadCardRules } from '../src/clinical/card-rules';
import { EXT_POPULATE_SOURCE } from '../src/sdc/populate';

const h = useCdsHarness();

const charts: [string, { conditions: Bundle; procedures: Bundle }, string[]][] = [
  [
    'cancer, old DVT, recent surgery',
    {
      conditions: searchset([
        condition('c1', 'Carcinoma of breast'),
        condition('d1', 'Deep vein thrombosis of right leg', {
          clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' }] },
        }),
      ]),
      procedures: searchset([procedure('p1', 'Total hip replacement', daysAgo(20)), procedure('p-old', 'Appendicectomy', daysAgo(200))]),
    },
    ['wells-active-cancer', 'wells-bedridden-or-surgery', 'wells-previous-dvt'],
  ],
  [
    'paralysis and a cast',
    {
      conditions: searchset([condition('h1', 'Left hemiplegia after stroke')]),
      procedures: searchset([procedure('cast', 'Below-knee plaster cast applied', daysAgo(10))]),
    },
    ['wells-paralysis-or-cast'],
  ],
  ['nothing relevant', { conditions: searchset([condition('htn', 'Essential hypertension')]), procedures: searchset([]) }, []],
];

function sources(qr: QuestionnaireResponse): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const walk = (items: QuestionnaireResponseItem[] | undefined) => {
    for (const i of items ?? []) {
      for (const a of i.answer ?? [])
        out[i.linkId] = (a.extension ?? []).filter((e) => e.url === EXT_POPULATE_SOURCE).map((e) => e.valueReference!.reference!);
      walk(i.item);
    }
  };
  walk(qr.item);
  return out;
}

describe('patient-view and $populate agree on the chart', () => {
  it.each(charts)('%s', async (_name, chart, criteria) => {
    const rules = loadCardRules();
    const findings = findChartEvidence(
      rules,
      {
        conditions: { resources: chart.conditions.entry?.map((e) => e.resource) as never, origin: 'prefetch' },
        procedures: { resources: (chart.procedures.entry ?? []).map((e) => e.resource) as never, origin: 'prefetch' },
      },
      h.deps.now(),
    );
    const fromCards: Record<string, string[]> = {};
    for (const f of findings) (fromCards[f.rule.linkId] ??= []).push(`${f.resourceType}/${f.id}`);

    const body: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'subject', valueReference: { reference: `Patient/${PATIENT_ID}` } },
        {
          name: 'context',
          part: [
            { name: 'name', valueString: 'conditions' },
            { name: 'content', resource: chart.conditions },
          ],
        },
        {
          name: 'context',
          part: [
            { name: 'name', valueString: 'procedures' },
            { name: 'content', resource: chart.procedures },
          ],
        },
      ],
    };
    const populated = (
      await request(h.app)
        .post('/fhir/Questionnaire/calf-pain/$populate')
        .set('Content-Type', 'application/fhir+json')
        .send(body)
        .expect(200)
    ).body as Parameters;
    const qr = populated.parameter!.find((p) => p.name === 'response')!.resource as QuestionnaireResponse;
    expect(Object.keys(fromCards).sort()).toEqual(criteria);
    expect(sources(qr)).toEqual(fromCards);

    // And the card the EHR sees names the same entries.
    const { cards } = await callHook(
      h.app,
      '/cds-services/calf-pain-dvt',
      patientView({ prefetch: { calfPainResponse: response('unlikelyOne'), ...chart } }),
    );
    for (const f of findings) expect(cards[0].detail).toContain(f.label);
  });
});
