/**
 * Card texts (src/clinical/cards.ts): the parts that depend on the summary alone are kept per shared
 * summary; what depends on the call (where the response came from, its date) is still written per call.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { QuestionnaireResponse } from 'fhir/r4';
import { scoreBreakdown, type AssessedInput } from '../src/clinical/cards';
import { loadCardRules } from '../src/clinical/card-rules';
import { loadEvaluator } from '../src/clinical/engine';
import type { Origin } from '../src/clinical/patient-data';

const example = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'examples', 'questionnaire-response.json'), 'utf8'),
) as QuestionnaireResponse;

describe('card texts kept per summary', () => {
  const evaluator = loadEvaluator();
  const rules = loadCardRules();
  const now = new Date('2026-12-02T12:00:00Z');

  function input(response: QuestionnaireResponse, origin: Origin): AssessedInput {
    return {
      rules,
      evaluator,
      baseUrl: 'http://cds.example.org',
      patientId: 'p1',
      now,
      windowDays: 14,
      found: { response, origin },
      evaluation: evaluator.evaluate(response, { now }),
    };
  }

  it('shares the summary-only part but writes the source and date of each response', () => {
    const first = { ...example, id: 'qr-1', authored: '2026-12-01T10:00:00Z' };
    const second = { ...example, id: 'qr-2', authored: '2026-12-02T09:00:00Z' };
    const a = input(first, 'prefetch');
    const b = input(second, 'this-service');
    // The same answers: one shared (frozen) summary.
    expect(b.evaluation.summary).toBe(a.evaluation.summary);

    const textA = scoreBreakdown(a.evaluation.summary, a, { withCategory: true });
    const textB = scoreBreakdown(b.evaluation.summary, b, { withCategory: true });
    expect(textA).toContain('questionnaire (EHR prefetch)');
    expect(textA).toContain('authored 2026-12-01T10:00:00Z, from EHR prefetch (QuestionnaireResponse/qr-1)');
    expect(textB).toContain("questionnaire (this service's FHIR API)");
    expect(textB).not.toContain('EHR prefetch');
    expect(textB).toContain('http://cds.example.org/fhir/QuestionnaireResponse/qr-2');
    // Asked again, the same text; without the category, a different one.
    expect(scoreBreakdown(a.evaluation.summary, a, { withCategory: true })).toBe(textA);
    const withoutCategory = scoreBreakdown(a.evaluation.summary, a, { withCategory: false });
    expect(textA.split('\n')[0]).toMatch(/two-level/i);
    expect(withoutCategory.split('\n')[0]).not.toMatch(/two-level/i);
    expect(textA.split('\n').slice(1)).toEqual(withoutCategory.split('\n').slice(1));
  });
});
