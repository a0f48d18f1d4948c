/**
 * Prefetch and fhirServer data are the EHR's, not ours: a resource with a field of the wrong JSON type
 * must never turn a hook call into a 500. Such a resource is skipped (or its bad field ignored), the
 * rest of the call still works, and every response stays conformant (no "[object Object]" references).
 */
import request from 'supertest';
import type { Resource } from 'fhir/r4';
import { expectConformantHookResponse } from './support/cds-conformance';
import { condition, daysAgo, draftOrder, orderSelect, patientView, response, searchset, useCdsHarness } from './fixtures/cds/harness';
import type { Card } from '../src/core/cds-hooks';

const PATIENT_VIEW = '/cds-services/calf-pain-dvt';
const ORDER_SELECT = '/cds-services/dvt-workup-order-select';
const h = useCdsHarness();

async function call(endpoint: string, body: Record<string, unknown>): Promise<Card[]> {
  const res = await request(h.app).post(endpoint).send(body);
  expect(res.status).toBe(200);
  expectConformantHookResponse(res.body);
  return res.body.cards as Card[];
}

/** A JSON value of the wrong type where a FHIR field is expected (as an EHR bug might send it). */
const garbled = <T extends Resource>(resource: T, patch: Record<string, unknown>): T => ({ ...resource, ...patch });

describe('patient-view with malformed EHR resources', () => {
  it.each([
    ['questionnaire is a number', { questionnaire: 42 }],
    ['subject.reference is a number', { subject: { reference: 42 } }],
    ['authored is a number', { authored: 1_700_000_000_000 }],
  ])('a response whose %s is skipped; the well-formed one is still used', async (_name, patch) => {
    const bad = garbled(response('unlikely', { id: 'qr-bad', authored: daysAgo(0) }), patch);
    const cards = await call(
      PATIENT_VIEW,
      patientView({
        prefetch: { calfPainResponse: searchset([bad, response('likely')]), conditions: searchset([]), procedures: searchset([]) },
      }),
    );
    expect(cards.map((c) => c.summary)).toEqual([expect.stringMatching(/Wells DVT score 4: DVT likely/)]);
  });

  it.each([
    [
      'code.coding is an object, not an array',
      { code: { coding: { system: 'http://snomed.info/sct', code: '363346000', display: 'Malignant neoplastic disease' } } },
    ],
    ['code.text is a number', { code: { text: 5, coding: [{ display: 7 }] } }],
    ['onsetDateTime is a number', { onsetDateTime: 12345 }],
    ['subject.reference is a number', { subject: { reference: 5 } }],
    ['recordedDate is an object', { recordedDate: { at: 'yesterday' } }],
  ])('a Condition whose %s does not break the card', async (_name, patch) => {
    const bad = garbled(condition('c-bad', 'lung cancer'), patch);
    const cards = await call(
      PATIENT_VIEW,
      patientView({
        prefetch: { calfPainResponse: searchset([response('unlikelyOne')]), conditions: searchset([bad]), procedures: searchset([]) },
      }),
    );
    expect(cards).toHaveLength(1);
    expect(cards[0].summary).toMatch(/Wells DVT score 1: DVT unlikely/);
  });

  it('a response id that is not a FHIR id is not echoed into references', async () => {
    const bad = garbled(response('likely'), { id: { nested: true } });
    const cards = await call(
      PATIENT_VIEW,
      patientView({ prefetch: { calfPainResponse: searchset([bad]), conditions: searchset([]), procedures: searchset([]) } }),
    );
    expect(cards).toHaveLength(1);
    expect(JSON.stringify(cards)).not.toContain('[object Object]');
    for (const s of cards[0].suggestions ?? []) expect(s.actions![0].resource).not.toHaveProperty('supportingInfo');
  });

  it('a response authored in the future does not outrank the recent one', async () => {
    const future = response('unlikely', { id: 'qr-future', authored: '2999-01-01T00:00:00Z' });
    const cards = await call(
      PATIENT_VIEW,
      patientView({
        prefetch: { calfPainResponse: searchset([future, response('likely')]), conditions: searchset([]), procedures: searchset([]) },
      }),
    );
    expect(cards.map((c) => c.summary)).toEqual([expect.stringMatching(/Wells DVT score 4: DVT likely/)]);
  });
});

describe('order-select with malformed draft orders', () => {
  const prefetch = { calfPainResponse: searchset([response('unlikely')]) };

  it('a ServiceRequest whose code.text is a number is not a DVT test (no 500)', async () => {
    const bad = garbled(draftOrder('odd', 'chest-xray'), { code: { text: 5 } });
    expect(await call(ORDER_SELECT, orderSelect([bad], { prefetch }))).toEqual([]);
  });

  it('the other selected orders are still checked', async () => {
    const bad = garbled(draftOrder('odd', 'chest-xray'), { code: { text: 5 } });
    const cards = await call(ORDER_SELECT, orderSelect([bad, draftOrder('us-1', 'ultrasound')], { prefetch }));
    expect(cards.map((c) => c.summary)).toEqual([expect.stringMatching(/D-dimer first/)]);
  });

  it('an ultrasound whose id is not a FHIR id gets no delete action pointing at it', async () => {
    const bad = garbled(draftOrder('us-1', 'ultrasound'), { id: { nested: true } });
    const cards = await call(ORDER_SELECT, orderSelect([bad], { prefetch }, []));
    expect(cards).toHaveLength(1);
    expect(JSON.stringify(cards)).not.toContain('[object Object]');
    expect(cards[0].suggestions!.flatMap((s) => s.actions ?? []).filter((a) => a.type === 'delete')).toEqual([]);
  });
});
