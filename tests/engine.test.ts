import fs from 'node:fs';
import path from 'node:path';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import type { PlanDefinition, Questionnaire, QuestionnaireItem, QuestionnaireResponse } from 'fhir/r4';
import { createEvaluator, loadEvaluator } from '../src/clinical/engine';
import { RuleError } from '../src/clinical/rules';
import { buildResponse, loadQuestionnaire } from './support/build-response';
import { expectValidR4 } from './support/r4-validator';
import { readAssessment } from './support/read-assessment';
import { WELLS_LINK_IDS } from './support/wells';

const PLAN_PATH = path.join(__dirname, '..', 'fhir-resources', 'PlanDefinition-calf-pain-assessment.json');
const plan = (): PlanDefinition => JSON.parse(fs.readFileSync(PLAN_PATH, 'utf8'));

const WELLS = WELLS_LINK_IDS;

/** Deterministic pseudo-random answer patterns: each Wells item yes, no or unanswered. */
function patterns(n: number): Record<string, boolean>[] {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: n }, () => {
    const answers: Record<string, boolean> = {};
    for (const id of WELLS) {
      const r = next();
      if (r < 0.4) answers[id] = true;
      else if (r < 0.8) answers[id] = false;
    }
    return answers;
  });
}

/** The Questionnaire's own SDC calculation (what LHC-Forms shows), evaluated as a renderer would. */
function questionnaireScore(questionnaire: Questionnaire, response: QuestionnaireResponse): number {
  const env: Record<string, unknown> = { resource: response };
  for (const ext of questionnaire.extension ?? []) {
    if (ext.url !== 'http://hl7.org/fhir/StructureDefinition/variable' || ext.valueExpression?.language !== 'text/fhirpath') continue;
    env[ext.valueExpression.name!] = fhirpath.evaluate(response, ext.valueExpression.expression!, env, r4Model);
  }
  const find = (items: QuestionnaireItem[] = []): QuestionnaireItem | undefined =>
    items.map((i) => (i.linkId === 'wells-score' ? i : find(i.item))).find(Boolean);
  const calc = find(questionnaire.item)!.extension!.find((e) => e.url.endsWith('sdc-questionnaire-calculatedExpression'))!;
  return (fhirpath.evaluate(response, calc.valueExpression!.expression!, env, r4Model) as unknown[])[0] as number;
}

describe('evaluation engine', () => {
  const evaluator = loadEvaluator();

  it('ships its rules as a valid R4 PlanDefinition in which every rule group cites its source', () => {
    const p = plan();
    expectValidR4(p);
    for (const group of p.action!) {
      const cited = group.documentation?.length || group.action?.every((a) => a.documentation?.length);
      expect({ group: group.id, cited: Boolean(cited) }).toEqual({ group: group.id, cited: true });
    }
  });

  it('refuses to start with a rule whose FHIRPath does not compile', () => {
    const broken = plan();
    broken.action![0].action![0].condition![0].expression!.expression = "%resource.item.where(linkId = 'x'";
    expect(() => createEvaluator(broken)).toThrow(RuleError);
  });

  it('refuses to start when a Wells criterion has no points', () => {
    const broken = plan();
    delete broken.action![0].action![0].extension;
    expect(() => createEvaluator(broken)).toThrow(/without points/);
  });

  it('agrees with the Questionnaire calculatedExpression on every fully answered pattern', () => {
    const questionnaire = loadQuestionnaire();
    let compared = 0;
    for (const answers of patterns(60)) {
      const full = Object.fromEntries(WELLS.map((id) => [id, answers[id] ?? false]));
      const qr = buildResponse(full);
      const { summary } = evaluator.evaluate(qr);
      expect(summary.wellsScore).toBe(questionnaireScore(questionnaire, qr));
      compared++;
    }
    expect(compared).toBe(60);
  });

  it('never reports a category that unanswered criteria could still change', () => {
    for (const answers of patterns(300)) {
      const reading = readAssessment(evaluator.evaluate(buildResponse(answers)).riskAssessment);
      const [min, max] = reading.range;
      if (reading.twoLevel === 'unlikely') expect(max).toBeLessThanOrEqual(1);
      if (reading.twoLevel === 'likely') expect(min).toBeGreaterThanOrEqual(2);
      if (reading.threeLevel === 'low') expect(max).toBeLessThanOrEqual(0);
      if (reading.threeLevel === 'moderate') expect([min >= 1, max <= 2]).toEqual([true, true]);
      if (reading.threeLevel === 'high') expect(min).toBeGreaterThanOrEqual(3);
      if (min >= 2) expect(reading.twoLevel).toBe('likely');
      if (max <= 1) expect(reading.twoLevel).toBe('unlikely');
      expect(reading.status).toBe(WELLS.every((id) => id in answers) ? 'final' : 'preliminary');
    }
  });

  it('states the probability in percent: the category prevalence, or the span of the categories still possible', () => {
    const high = evaluator.evaluate(
      buildResponse(Object.fromEntries(WELLS.map((id) => [id, id !== 'wells-alternative-diagnosis']))),
    ).riskAssessment;
    expect(high.prediction![0].probabilityDecimal).toBe(53);
    const open = evaluator.evaluate(buildResponse({ 'wells-active-cancer': true })).riskAssessment;
    expect(open.prediction![0].probabilityRange).toEqual({
      low: { value: 5, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
      high: { value: 53, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
    });
    expectValidR4(open);
  });

  it('does not change the response it evaluates', () => {
    const qr = buildResponse({ 'wells-active-cancer': true, 'pain-site': 'inner-calf' });
    const before = JSON.stringify(qr);
    evaluator.evaluate(qr);
    expect(JSON.stringify(qr)).toBe(before);
  });

  it('marks the assessment with the response as basis, subject and encounter', () => {
    const qr = buildResponse({ 'wells-active-cancer': true }, { id: 'qr-1', subject: 'Patient/p9', encounter: 'Encounter/e1' });
    const ra = evaluator.evaluate(qr, { now: new Date('2026-05-01T12:00:00Z') }).riskAssessment;
    expect(ra.basis).toEqual([expect.objectContaining({ reference: 'QuestionnaireResponse/qr-1' })]);
    expect(ra.subject.reference).toBe('Patient/p9');
    expect(ra.encounter?.reference).toBe('Encounter/e1');
    expect(ra.occurrenceDateTime).toBe('2026-05-01T12:00:00.000Z');
    expect(ra.method?.coding?.[0].code).toBe('wells-dvt');
  });

  it('adds emergency care to the mitigation whenever a PE red flag is present', () => {
    const ra = evaluator.evaluate(buildResponse({ 'pe-coughing-blood': true })).riskAssessment;
    expect(ra.mitigation).toMatch(/emergency/i);
    expect(ra.prediction!.some((p) => p.outcome?.coding?.some((c) => c.code === '59282003'))).toBe(true);
  });
});
