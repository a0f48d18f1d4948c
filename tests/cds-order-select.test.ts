import request from 'supertest';
import { callHook } from './support/cds-call';
import { draftOrder, orderSelect, response, searchset, PATIENT_ID, useCdsHarness } from './fixtures/cds/harness';

const ENDPOINT = '/cds-services/dvt-workup-order-select';
const h = useCdsHarness();

const call = (body: Record<string, unknown>) => callHook(h.app, ENDPOINT, body);
const prefetch = (qr: unknown) => ({ prefetch: { calfPainResponse: qr } });

describe('order-select: D-dimer or leg vein ultrasound checked against the Wells category', () => {
  it('Wells likely and only a D-dimer selected: warning that a D-dimer alone cannot rule DVT out, suggesting the ultrasound', async () => {
    const { cards } = await call(orderSelect([draftOrder('dd-1', 'd-dimer')], prefetch(response('likely'))));
    expect(cards).toHaveLength(1);
    const [card] = cards;
    expect(card.indicator).toBe('warning');
    expect(card.summary).toMatch(/DVT likely.*D-dimer alone cannot rule out DVT/);
    expect(card.suggestions![0]).toMatchObject({
      isRecommended: true,
      actions: [{ type: 'create', resource: { resourceType: 'ServiceRequest', code: { coding: [{ code: '30881-7' }] } } }],
    });
    expect(card.overrideReasons!.length).toBeGreaterThan(0);
    expect(await h.store.cardKind(card.uuid)).toBe('order-ultrasound-needed');
  });

  it.each([
    ['Wells likely and the ultrasound selected', draftOrder('us-1', 'ultrasound'), 'likely'],
    ['Wells unlikely and a D-dimer selected', draftOrder('dd-1', 'd-dimer'), 'unlikely'],
  ] as const)('%s: no card', async (_name, order, vignette) => {
    const { cards } = await call(orderSelect([order], prefetch(response(vignette))));
    expect(cards).toEqual([]);
  });

  it('Wells unlikely and the ultrasound selected first: info suggesting a D-dimer first, or instead of the scan', async () => {
    const { cards } = await call(orderSelect([draftOrder('us-1', 'ultrasound')], prefetch(response('unlikely'))));
    expect(cards).toHaveLength(1);
    const [card] = cards;
    expect(card.indicator).toBe('info');
    expect(card.summary).toMatch(/DVT unlikely.*D-dimer first/);
    expect(card.selectionBehavior).toBe('at-most-one');
    const [addFirst, instead] = card.suggestions!;
    expect(addFirst.actions).toHaveLength(1);
    expect(addFirst.actions![0].resource).toMatchObject({ code: { coding: [{ system: 'http://loinc.org', code: '48065-7' }] } });
    expect(instead.actions!.map((a) => a.type)).toEqual(['create', 'delete']);
    expect(instead.actions![1].resourceId).toBe('ServiceRequest/us-1');
  });

  it('assessment incomplete: info naming the missing items with a link, no category', async () => {
    const { cards } = await call(orderSelect([draftOrder('dd-1', 'd-dimer')], prefetch(response('preliminary'))));
    expect(cards).toHaveLength(1);
    expect(cards[0].indicator).toBe('info');
    expect(cards[0].detail).toContain('Pitting oedema');
    expect(cards[0].links![0]).toMatchObject({ type: 'absolute', url: `http://localhost:8080/portal?patient=${PATIENT_ID}` });
    expect(JSON.stringify(cards[0])).not.toMatch(/unlikely|low risk/i);
  });

  it('no recent assessment: an info card offering the questionnaire', async () => {
    const { cards } = await call(orderSelect([draftOrder('dd-1', 'd-dimer')], prefetch(searchset([]))));
    expect(cards).toHaveLength(1);
    expect(cards[0].indicator).toBe('info');
    expect(cards[0].summary).toMatch(/without a recent Wells assessment/);
    expect(cards[0].detail).toContain('last 14 days');
    expect(cards[0].links![0].type).toBe('absolute');
    expect(await h.store.cardKind(cards[0].uuid)).toBe('order-no-assessment');
  });

  it('PE red flags on file: the critical PE card comes first', async () => {
    const { cards } = await call(orderSelect([draftOrder('dd-1', 'd-dimer')], prefetch(response('pe'))));
    expect(cards[0].indicator).toBe('critical');
  });

  it('unrelated orders: no cards, and no data needed (no 412 without prefetch)', async () => {
    const { cards } = await call(orderSelect([draftOrder('cxr-1', 'chest-xray')]));
    expect(cards).toEqual([]);
  });

  it('only the selected orders count', async () => {
    const body = orderSelect([draftOrder('dd-1', 'd-dimer'), draftOrder('cxr-1', 'chest-xray')], prefetch(response('likely')), [
      'ServiceRequest/cxr-1',
    ]);
    const { cards } = await call(body);
    expect(cards).toEqual([]);
  });

  it('a relevant order without prefetch, fhirServer or a local response: 412', async () => {
    await request(h.app)
      .post(ENDPOINT)
      .send(orderSelect([draftOrder('dd-1', 'd-dimer')]))
      .expect(412);
  });

  it('uses a response submitted to this service when prefetch is missing', async () => {
    await h.store.create(response('likely', { id: 'local-1' }));
    const { cards } = await call(orderSelect([draftOrder('dd-1', 'd-dimer')]));
    expect(cards[0].summary).toMatch(/DVT likely/);
  });
});
