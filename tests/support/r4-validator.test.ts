import type { QuestionnaireResponse, Resource, RiskAssessment } from 'fhir/r4';
import { expectValidR4, validateR4 } from './r4-validator';

const minimal: RiskAssessment = {
  resourceType: 'RiskAssessment',
  status: 'final',
  subject: { reference: 'Patient/example' },
};

describe('the independent R4 validator used on every emitted resource', () => {
  test('accepts a minimal valid RiskAssessment', () => {
    expect(validateR4(minimal)).toEqual([]);
    expect(() => expectValidR4(minimal)).not.toThrow();
  });

  test('rejects a RiskAssessment without its required subject', () => {
    const { subject: _omitted, ...noSubject } = minimal;
    expect(validateR4(noSubject as RiskAssessment).join('\n')).toMatch(/RiskAssessment\.subject/);
  });

  test('rejects properties that R4 does not define', () => {
    const extra = { ...minimal, wellsScore: 3 } as unknown as Resource;
    expect(() => expectValidR4(extra)).toThrow(/wellsScore/);
  });

  test('rejects an extension carrying neither a value nor nested extensions (ext-1)', () => {
    const bad: RiskAssessment = { ...minimal, extension: [{ url: 'http://example.org/x' }] };
    expect(validateR4(bad).join('\n')).toMatch(/ext-1/);
  });

  test('rejects a prediction probability above 100 (ras-2)', () => {
    const bad: RiskAssessment = { ...minimal, prediction: [{ probabilityDecimal: 150 }] };
    expect(validateR4(bad).join('\n')).toMatch(/ras-2/);
  });

  test('rejects a malformed dateTime', () => {
    const bad: RiskAssessment = { ...minimal, occurrenceDateTime: '2024-13-45' };
    expect(validateR4(bad).join('\n')).toMatch(/dateTime/);
  });

  test('rejects a status outside its required ValueSet, which the structural check alone lets through', () => {
    const bad = { ...minimal, status: 'done' } as unknown as RiskAssessment;
    expect(validateR4(bad).join('\n')).toMatch(/'done' is not in the required ValueSet .*observation-status/);
  });

  test('checks required bindings inside nested backbone elements and data types', () => {
    const bad: QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      item: [{ linkId: 'a', item: [{ linkId: 'b', answer: [{ valueQuantity: { value: 3, comparator: '~' as '<' } }] }] }],
    };
    expect(validateR4(bad).join('\n')).toMatch(/item\[0\]\.item\[0\]\.answer\[0\]\.valueQuantity\.comparator: '~'/);
  });

  test('reports ras-2 on a prediction without probability, as plain @medplum/core does (so the service always sends one)', () => {
    const bare: RiskAssessment = { ...minimal, prediction: [{ outcome: { text: 'Leg cramps' } }] };
    expect(validateR4(bare).join('\n')).toMatch(/ras-2/);
    const withRange: RiskAssessment = {
      ...minimal,
      prediction: [
        {
          outcome: { text: 'Leg cramps' },
          probabilityRange: {
            low: { value: 0, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
            high: { value: 100, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
          },
        },
      ],
    };
    expect(validateR4(withRange)).toEqual([]);
  });

  test('enforces ras-1: probabilityRange bounds are percentages', () => {
    const bad: RiskAssessment = {
      ...minimal,
      prediction: [{ outcome: { text: 'x' }, probabilityRange: { low: { value: 0 }, high: { value: 1 } } }],
    };
    expect(validateR4(bad).join('\n')).toMatch(/ras-1/);
  });

  test('accepts a valueRange extension and a coded prediction', () => {
    const ok: RiskAssessment = {
      ...minimal,
      extension: [{ url: 'http://example.org/range', valueRange: { low: { value: -2 }, high: { value: 9 } } }],
      prediction: [
        {
          outcome: { coding: [{ system: 'http://snomed.info/sct', code: '128053003' }] },
          qualitativeRisk: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/risk-probability', code: 'high' }] },
          probabilityDecimal: 53,
        },
      ],
    };
    expect(validateR4(ok)).toEqual([]);
  });
});
