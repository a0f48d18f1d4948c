import type { PlanDefinition, PlanDefinitionAction, Resource } from 'fhir/r4';
import { compileCardRules, loadCardRules, CardRulesError, fillTemplate } from '../src/clinical/card-rules';

const rules = loadCardRules();
const rule = (id: string) => {
  const found = rules.chartRules.find((r) => r.id === id);
  if (!found) throw new Error(`no chart rule ${id}`);
  return found;
};
const condition = (code: object, extra: object = {}) => ({ resourceType: 'Condition', code, ...extra }) as Resource;
const order = (code: object) => ({ resourceType: 'ServiceRequest', status: 'draft', intent: 'order', code }) as Resource;
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';

describe('chart rules (PlanDefinition cds-calf-pain-cards)', () => {
  const cancer = rule('chart-active-cancer');
  const dvt = rule('chart-previous-dvt');
  const surgery = rule('chart-recent-surgery');

  it.each([
    ['an ICD-10 C code', condition({ coding: [{ system: ICD10CM, code: 'C50.911' }] }), true],
    ['a SNOMED malignant neoplastic disease code', condition({ coding: [{ system: 'http://snomed.info/sct', code: '363346000' }] }), true],
    ['text naming a cancer', condition({ text: 'Carcinoma of prostate' }), true],
    ['a resolved cancer', condition({ text: 'Breast cancer' }, { clinicalStatus: { coding: [{ code: 'resolved' }] } }), false],
    ['a refuted cancer', condition({ text: 'Lymphoma' }, { verificationStatus: { coding: [{ code: 'refuted' }] } }), false],
    ['hypertension', condition({ coding: [{ system: ICD10CM, code: 'I10', display: 'Essential hypertension' }] }), false],
  ])('active cancer: %s', (_name, resource, expected) => {
    expect(cancer.matches(resource)).toBe(expected);
  });

  it.each([
    ['ICD-10 I82.4 (acute DVT of leg)', condition({ coding: [{ system: ICD10CM, code: 'I82.401' }] }), true],
    ['ICD-10 Z86.718 history of venous thrombosis', condition({ coding: [{ system: ICD10CM, code: 'Z86.718' }] }), true],
    [
      'a resolved DVT by SNOMED code',
      condition(
        { coding: [{ system: 'http://snomed.info/sct', code: '128053003' }] },
        { clinicalStatus: { coding: [{ code: 'resolved' }] } },
      ),
      true,
    ],
    ['text "history of DVT"', condition({ text: 'History of DVT' }), true],
    ['a code that only looks like I82.4', condition({ coding: [{ system: ICD10CM, code: 'I82X4' }] }), false],
    ['a word containing dvt', condition({ text: 'advtreatment' }), false],
  ])('previous DVT: %s', (_name, resource, expected) => {
    expect(dvt.matches(resource)).toBe(expected);
  });

  it('recognises completed surgery within the 12-week window the Questionnaire states', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    const procedure = (code: object, performedDateTime: string, status = 'completed') =>
      ({ resourceType: 'Procedure', status, code, performedDateTime }) as Resource;
    expect(surgery.matches(procedure({ text: 'Total knee replacement' }, '2026-05-20'), now)).toBe(true);
    expect(surgery.matches(procedure({ text: 'Total knee replacement' }, '2026-03-10'), now)).toBe(true);
    expect(surgery.matches(procedure({ text: 'Total knee replacement' }, '2026-03-07'), now)).toBe(false);
    expect(
      surgery.matches({ resourceType: 'Procedure', status: 'completed', code: { text: 'Total knee replacement' } } as Resource, now),
    ).toBe(false);
    expect(surgery.matches(procedure({ text: 'Appendicectomy' }, '2026-05-20', 'not-done'), now)).toBe(false);
    expect(surgery.matches(procedure({ text: 'Influenza vaccination' }, '2026-05-20'), now)).toBe(false);
  });

  it('reads paralysis, paresis and plaster casts from Conditions and Procedures', () => {
    const paralysis = rule('chart-paralysis-or-cast');
    const now = new Date('2026-06-01T12:00:00Z');
    expect(paralysis.matches(condition({ coding: [{ system: ICD10CM, code: 'G81.94' }] }), now)).toBe(true);
    expect(
      paralysis.matches(condition({ coding: [{ system: 'http://snomed.info/sct', code: '50582007', display: 'Hemiplegia' }] }), now),
    ).toBe(true);
    expect(
      paralysis.matches(
        {
          resourceType: 'Procedure',
          status: 'completed',
          code: { text: 'Application of below-knee plaster cast' },
          performedDateTime: '2026-05-25',
        } as Resource,
        now,
      ),
    ).toBe(true);
    expect(paralysis.matches(condition({ text: 'Broadcasting career' }), now)).toBe(false);
  });
});

describe('order triggers', () => {
  it('recognises D-dimer by both LOINC codes and by text', () => {
    expect(rules.isDDimer(order({ coding: [{ system: 'http://loinc.org', code: '48065-7' }] }))).toBe(true);
    expect(rules.isDDimer(order({ coding: [{ system: 'http://loinc.org', code: '48066-5' }] }))).toBe(true);
    expect(rules.isDDimer(order({ text: 'D-Dimer, quantitative' }))).toBe(true);
    expect(rules.isDDimer(order({ coding: [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose' }] }))).toBe(false);
  });

  it('recognises leg-vein ultrasound by LOINC, CPT and text, not other imaging', () => {
    expect(rules.isLegVeinUltrasound(order({ coding: [{ system: 'http://loinc.org', code: '39432-0' }] }))).toBe(true);
    expect(rules.isLegVeinUltrasound(order({ coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '93971' }] }))).toBe(true);
    expect(rules.isLegVeinUltrasound(order({ text: 'Duplex ultrasound of left leg veins' }))).toBe(true);
    expect(rules.isLegVeinUltrasound(order({ text: 'Chest X-ray' }))).toBe(false);
    expect(rules.isLegVeinUltrasound(order({ text: 'Ultrasound abdomen' }))).toBe(false);
  });

  it('the suggested orders carry the verified codes', () => {
    expect(rules.ultrasound.code?.coding?.[0]).toMatchObject({ system: 'http://loinc.org', code: '30881-7' });
    expect(rules.dDimer.code?.coding?.[0]).toMatchObject({ system: 'http://loinc.org', code: '48065-7' });
  });
});

describe('card texts', () => {
  it('every summary template stays under 140 characters with realistic values', () => {
    for (const text of Object.values(rules.cards)) {
      const filled = fillTemplate(text.summary, {
        score: -2,
        flags: 'sudden breathlessness, chest pain, coughing blood',
        count: 6,
        days: 14,
      });
      expect(filled.length).toBeLessThan(140);
    }
  });

  it('refuses a PlanDefinition without card actions', () => {
    const plan = { ...rules.plan, action: rules.plan.action?.filter((a) => !a.id?.startsWith('card-')) };
    expect(() => compileCardRules(plan)).toThrow(/no card action/);
  });
});

describe('card choice and clinical data read from the PlanDefinition, checked at load', () => {
  const withCard = (id: string, change: (a: PlanDefinitionAction) => PlanDefinitionAction): PlanDefinition => ({
    ...rules.plan,
    action: rules.plan.action?.map((a) => (a.id === id ? change(structuredClone(a)) : a)),
  });
  const withCondition = (expression: string) =>
    withCard('card-dvt-likely', (a) => ({
      ...a,
      condition: [{ kind: 'applicability', expression: { language: 'text/fhirpath', expression } }],
    }));

  it('chooses cards by their conditions, in PlanDefinition order', () => {
    const assessment = { status: 'final', twoLevel: 'likely', wellsScore: 3, peRedFlags: 1, unanswered: 0 } as const;
    expect(rules.cardsFor('patient-view', { assessment }).map((c) => c.kind)).toEqual(['pe-red-flag', 'dvt-likely']);
    expect(
      rules.cardsFor('patient-view', { assessment: { ...assessment, twoLevel: 'unlikely', peRedFlags: 0 } }).map((c) => c.kind),
    ).toEqual(['dvt-unlikely']);
    expect(
      rules.cardsFor('patient-view', { assessment: { status: 'preliminary', peRedFlags: 0, unanswered: 2 } }).map((c) => c.kind),
    ).toEqual(['preliminary']);
    expect(rules.cardsFor('patient-view', {})).toEqual([]);
    expect(rules.cardsFor('order-select', { orders: { dDimer: 1, ultrasound: 0 } }).map((c) => c.kind)).toEqual(['order-no-assessment']);
    expect(rules.cardsFor('order-select', { assessment, orders: { dDimer: 1, ultrasound: 0 } }).map((c) => c.kind)).toEqual([
      'pe-red-flag',
      'order-ultrasound-needed',
    ]);
  });

  it('reads the recent-surgery window (12 weeks) and the ultrasound timing (4 hours) from the data', () => {
    expect(rule('chart-recent-surgery').lookbackMs).toBe(84 * 24 * 3600_000);
    expect(rules.procedureLookbackMs).toBe(84 * 24 * 3600_000);
    expect(rule('chart-recent-surgery').group).toBe('risk-factors');
    expect(rules.cards['dvt-likely'].suggestions[0].label).toBe('Order proximal leg vein ultrasound, result within 4 hours');
  });

  it.each([
    ['does not compile', "assessment.twoLevel = = 'likely'"],
    ['names something the assessment does not have', "assessment.twoLevle = 'likely'"],
    ['uses an unknown variable', "%assessment.twoLevel = 'likely'"],
    ['is not boolean', 'assessment.wellsScore'],
  ])('refuses a card condition that %s', (_, expression) => {
    expect(() => compileCardRules(withCondition(expression))).toThrow(CardRulesError);
  });

  it('refuses unknown references: a malformed hook, a citation label, an ActivityDefinition, a placeholder', () => {
    const broken: PlanDefinition[] = [
      withCard('card-dvt-likely', (a) => ({ ...a, trigger: [{ type: 'named-event', name: 'order sign' }] })),
      withCard('card-dvt-likely', (a) => ({ ...a, documentation: [{ type: 'citation', label: 'nice2012' }] })),
      withCard('card-dvt-likely', (a) => ({ ...a, action: [{ ...a.action?.[0], definitionCanonical: '#ct-venogram' }] })),
      withCard('card-dvt-likely', (a) => ({ ...a, title: 'Wells {{wells}}' })),
      withCard('card-dvt-unlikely', (a) => ({ ...a, action: [{ ...a.action?.[0], title: 'D-dimer within {{hours}} hours' }] })),
    ];
    for (const plan of broken) expect(() => compileCardRules(plan)).toThrow(CardRulesError);
  });

  it('refuses a card that can apply without an assessment but shows the score', () => {
    const plan = withCard('card-order-no-assessment', (a) => ({
      ...a,
      extension: [
        ...(a.extension ?? []),
        { url: 'http://calfpain.example.org/fhir/StructureDefinition/cds-card-content', valueCode: 'score' },
      ],
    }));
    expect(() => compileCardRules(plan)).toThrow(/applies without an assessment/);
  });

  it('refuses a surgery window that disagrees with the Questionnaire population expression', () => {
    const plan = withCard('chart-recent-surgery', (a) => ({
      ...a,
      input: [
        {
          type: 'Procedure',
          dateFilter: [{ path: 'performed', valueDuration: { value: 6, system: 'http://unitsofmeasure.org', code: 'wk' } }],
        },
      ],
    }));
    expect(() => compileCardRules(plan)).toThrow(/disagrees with the population window/);
  });
});
