import request from 'supertest';
import { callHook } from './support/cds-call';
import { expectValidR4 } from './support/r4-validator';
import { condition, daysAgo, patientView, procedure, response, searchset, PATIENT_ID, useCdsHarness } from './fixtures/cds/harness';
import type { Card } from '../src/core/cds-hooks';
import type { Resource } from 'fhir/r4';

const ENDPOINT = '/cds-services/calf-pain-dvt';
const h = useCdsHarness();

const call = (body: Record<string, unknown>) =>
  callHook<{ cards: Card[]; systemActions?: { type: string; resource: Resource }[] }>(h.app, ENDPOINT, body);

const emptyChart = { conditions: searchset([]), procedures: searchset([]) };
const withResponse = (qr: unknown) => patientView({ prefetch: { calfPainResponse: qr, ...emptyChart } });

describe('patient-view: one card kind per patient story', () => {
  it('Wells likely (score 4): a warning with ultrasound and D-dimer ServiceRequest suggestions and override reasons', async () => {
    const { cards } = await call(withResponse(searchset([response('likely')])));
    expect(cards).toHaveLength(1);
    const [card] = cards;
    expect(card.indicator).toBe('warning');
    expect(card.summary).toMatch(/Wells DVT score 4: DVT likely/);
    expect(card.selectionBehavior).toBe('any');
    const [us, dd] = card.suggestions!;
    expect(us.isRecommended).toBe(true);
    expect(us.actions![0].resource).toMatchObject({
      resourceType: 'ServiceRequest',
      code: { coding: [{ system: 'http://loinc.org', code: '30881-7' }] },
      subject: { reference: `Patient/${PATIENT_ID}` },
      priority: 'urgent',
      occurrencePeriod: { end: '2026-11-26T16:00:00.000Z' },
    });
    expect(dd.isRecommended).toBe(false);
    expect(dd.actions![0].resource).toMatchObject({ code: { coding: [{ code: '48065-7' }] } });
    expect(card.overrideReasons!.length).toBeGreaterThan(0);
    // Score breakdown: each counted criterion with its source, and the differential.
    for (const criterion of ['Active cancer', 'Entire leg swollen', 'Calf swelling >= 3 cm', 'Pitting oedema']) {
      expect(card.detail).toContain(`| ${criterion} | +1 | questionnaire (EHR prefetch) |`);
    }
    expect(card.detail).toContain('QuestionnaireResponse/qr-likely');
    expect(card.detail).toMatch(/Differential of calf pain[\s\S]*1\. Blood clot \(deep vein thrombosis\)/);
    expect(card.source).toMatchObject({ url: 'https://www.nice.org.uk/guidance/ng158', topic: { code: '128053003' } });
  });

  it('Wells unlikely (score -2, sports injury): an info card suggesting a D-dimer, with the strain on top of the differential', async () => {
    const { cards } = await call(withResponse(response('unlikely')));
    expect(cards).toHaveLength(1);
    const [card] = cards;
    expect(card.indicator).toBe('info');
    expect(card.summary).toMatch(/Wells DVT score -2: DVT unlikely\. Offer a D-dimer/);
    expect(card.selectionBehavior).toBe('at-most-one');
    expect(card.suggestions).toHaveLength(1);
    expect(card.suggestions![0].actions![0].resource).toMatchObject({
      code: { coding: [{ system: 'http://loinc.org', code: '48065-7' }] },
    });
    expect(card.detail).toContain('| Alternative diagnosis at least as likely | -2 |');
    expect(card.detail).toMatch(/1\. (Medial gastrocnemius strain|Calf muscle strain|Plantaris muscle rupture)/);
  });

  it('examination missing: a preliminary info card naming the missing items with a link, never "unlikely" or "low risk"', async () => {
    const { cards } = await call(withResponse(response('preliminary')));
    expect(cards).toHaveLength(1);
    const [card] = cards;
    expect(card.indicator).toBe('info');
    expect(card.summary).toMatch(/6 Wells item\(s\) missing/);
    for (const item of [
      'Tenderness along the deep veins',
      'Entire leg swollen',
      'Calf swelling >= 3 cm',
      'Pitting oedema',
      'Collateral superficial veins',
      'Alternative diagnosis at least as likely',
    ]) {
      expect(card.detail).toContain(item);
    }
    expect(card.links).toEqual([
      {
        label: 'Complete the calf-pain questionnaire for this patient',
        url: `http://localhost:8080/portal?patient=${PATIENT_ID}`,
        type: 'absolute',
      },
    ]);
    expect(card.suggestions).toBeUndefined();
    expect(JSON.stringify(card)).not.toMatch(/unlikely|low risk/i);
  });

  it('PE red flags: a critical card first, naming the flags, then the DVT card', async () => {
    const { cards } = await call(withResponse(searchset([response('pe')])));
    expect(cards.map((c) => c.indicator)).toEqual(['critical', 'warning']);
    expect(cards[0].summary).toMatch(
      /^Possible pulmonary embolism \(sudden shortness of breath, chest pain.*\): arrange emergency assessment now$/,
    );
    expect(cards[0].source.topic).toMatchObject({ code: '59282003' });
    expect(cards[0].suggestions).toBeUndefined();
  });

  it('returns no card when the most recent response is older than the window', async () => {
    const { cards } = await call(withResponse(searchset([response('likely', { authored: daysAgo(15) })])));
    expect(cards).toEqual([]);
  });

  it('honours a configured window', async () => {
    await h.reopen({ responseWindowDays: 30 });
    const { cards } = await call(withResponse(searchset([response('likely', { authored: daysAgo(15) })])));
    expect(cards).toHaveLength(1);
  });

  it('ignores responses to other questionnaires, for other patients, or still in progress', async () => {
    const other = { ...response('likely', { id: 'other-q' }), questionnaire: 'http://example.org/Questionnaire/phq-9' };
    const otherPatient = response('likely', { id: 'other-p', patientId: 'someone-else' });
    const inProgress = { ...response('likely', { id: 'draft' }), status: 'in-progress' as const };
    const { cards } = await call(withResponse(searchset([other, otherPatient, inProgress])));
    expect(cards).toEqual([]);
  });

  it('records each issued card with its kind', async () => {
    const { cards } = await call(withResponse(response('pe')));
    expect(await h.store.cardKind(cards[0].uuid)).toBe('pe-red-flag');
    expect(await h.store.cardKind(cards[1].uuid)).toBe('dvt-likely');
  });
});

describe('patient-view: what the chart adds', () => {
  it('flags active cancer in the chart that the questionnaire answered no, without changing the score, and says what it would become', async () => {
    const chart = {
      conditions: searchset([condition('c1', 'Carcinoma of breast', { recordedDate: '2026-06-01' })]),
      procedures: searchset([]),
    };
    const { cards } = await call(patientView({ prefetch: { calfPainResponse: response('unlikelyOne'), ...chart } }));
    const [card] = cards;
    expect(card.summary).toMatch(/Wells DVT score 1: DVT unlikely/);
    expect(card.summary).toMatch(/Chart adds Wells points: review/);
    expect(card.indicator).toBe('warning');
    expect(card.detail).toContain('What the chart adds');
    expect(card.detail).toContain('"Carcinoma of breast" (Condition, 2026-06-01, EHR prefetch); answered no in the questionnaire');
    expect(card.detail).toContain('If the chart is right, the Wells score would be 2 (DVT likely)');
  });

  it('flags a resolved previous DVT and recent surgery, but not surgery older than 12 weeks', async () => {
    const chart = {
      conditions: searchset([condition('c2', 'Deep vein thrombosis of right leg', { clinicalStatus: { coding: [{ code: 'resolved' }] } })]),
      procedures: searchset([
        procedure('p1', 'Laparoscopic cholecystectomy', daysAgo(20)),
        procedure('p2', 'Total hip replacement', daysAgo(120)),
      ]),
    };
    const { cards } = await call(patientView({ prefetch: { calfPainResponse: response('likely'), ...chart } }));
    expect(cards[0].detail).toContain('Previous deep vein thrombosis recorded in the chart: "Deep vein thrombosis of right leg"');
    expect(cards[0].detail).toContain('Laparoscopic cholecystectomy');
    expect(cards[0].detail).not.toContain('Total hip replacement');
    expect(cards[0].detail).toContain('If the chart is right, the Wells score would be 6 (DVT likely)');
    expect(cards[0].indicator).toBe('warning');
  });

  it('says nothing about the chart when it agrees with the questionnaire', async () => {
    const chart = { conditions: searchset([condition('c1', 'Small cell carcinoma of lung')]), procedures: searchset([]) };
    const { cards } = await call(patientView({ prefetch: { calfPainResponse: response('likely'), ...chart } }));
    expect(cards[0].detail).not.toContain('What the chart adds');
  });

  it('says so when the chart could not be checked', async () => {
    const { cards } = await call(patientView({ prefetch: { calfPainResponse: response('likely') } }));
    expect(cards[0].detail).toContain('Chart not checked: Conditions and Procedures could not be obtained');
  });
});

describe('patient-view: every prefetch shape', () => {
  it('a Bundle of several responses: the most recent counts', async () => {
    const older = response('unlikely', { id: 'older', authored: daysAgo(5) });
    const newer = response('likely', { id: 'newer', authored: daysAgo(1) });
    const { cards } = await call(withResponse(searchset([older, newer])));
    expect(cards[0].summary).toMatch(/DVT likely/);
    expect(cards[0].detail).toContain('QuestionnaireResponse/newer');
  });

  it('a bare QuestionnaireResponse', async () => {
    const { cards } = await call(withResponse(response('unlikely')));
    expect(cards[0].summary).toMatch(/DVT unlikely/);
  });

  it('null (the EHR has none) and nothing local: no card', async () => {
    const { cards } = await call(withResponse(null));
    expect(cards).toEqual([]);
  });

  it('an empty Bundle and nothing local: no card', async () => {
    const { cards } = await call(withResponse(searchset([])));
    expect(cards).toEqual([]);
  });

  it('key missing, no fhirServer, nothing local: 412', async () => {
    const res = await request(h.app)
      .post(ENDPOINT)
      .send(patientView({ prefetch: emptyChart }))
      .expect(412);
    expect(res.body).toMatchObject({ error: 'precondition_failed' });
    expect(res.body.message).toMatch(/cannot be obtained/);
  });

  it('no prefetch at all and no fhirServer: 412', async () => {
    await request(h.app).post(ENDPOINT).send(patientView()).expect(412);
  });

  it('an OperationOutcome and no fhirServer: 412', async () => {
    const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden' }] };
    await request(h.app).post(ENDPOINT).send(withResponse(oo)).expect(412);
  });

  it('key missing but a response submitted to this service for the same patient: used, and its source named', async () => {
    await h.store.create(response('likely', { id: 'local-1', authored: daysAgo(2) }));
    const { cards } = await call(patientView({ prefetch: emptyChart }));
    expect(cards[0].summary).toMatch(/DVT likely/);
    expect(cards[0].detail).toContain("this service's FHIR API");
    expect(cards[0].detail).toContain('http://localhost:8080/fhir/QuestionnaireResponse/local-1');
  });

  it('local and EHR responses together: the most recent wins', async () => {
    await h.store.create(response('unlikely', { id: 'local-newest', authored: daysAgo(0.5) }));
    const { cards } = await call(withResponse(response('likely', { authored: daysAgo(3) })));
    expect(cards[0].summary).toMatch(/DVT unlikely/);
  });

  it('a local response for another patient or outside the window is not used', async () => {
    await h.store.create(response('likely', { id: 'local-other', patientId: 'someone-else' }));
    await h.store.create(response('likely', { id: 'local-old', authored: daysAgo(20) }));
    const { cards } = await call(withResponse(null));
    expect(cards).toEqual([]);
  });
});

describe('patient-view: systemActions', () => {
  it('are absent by default', async () => {
    const body = await call(withResponse(response('likely')));
    expect(body.systemActions).toBeUndefined();
  });

  it('create the RiskAssessment in the EHR when configured', async () => {
    await h.reopen({ systemActions: true });
    const body = await call(withResponse(response('likely')));
    expect(body.systemActions).toHaveLength(1);
    const action = body.systemActions![0];
    expect(action.type).toBe('create');
    expect(action.resource).toMatchObject({
      resourceType: 'RiskAssessment',
      subject: { reference: `Patient/${PATIENT_ID}` },
      basis: [{ reference: 'QuestionnaireResponse/qr-likely' }],
    });
    expect((action.resource as { id?: string }).id).toBeUndefined();
    expectValidR4(action.resource);
  });
});
