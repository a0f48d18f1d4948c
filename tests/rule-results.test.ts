/**
 * How the engine runs the rules: item-focused conditions (rule-item) read the same items as the
 * whole-response FHIRPath they replace, results reused between evaluations are the results a fresh
 * evaluation gives, and rule loading refuses what it cannot run soundly.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PlanDefinition, PlanDefinitionAction, QuestionnaireResponse, QuestionnaireResponseItem } from 'fhir/r4';
import { createEvaluator } from '../src/clinical/engine';
import { EXT_RULE_ITEM, RuleError } from '../src/clinical/rules';
import { answerableLinkIds, buildResponse, loadQuestionnaire, type AnswerValue } from './support/build-response';

const PLAN_PATH = path.join(__dirname, '..', 'fhir-resources', 'PlanDefinition-calf-pain-assessment.json');
const plan = (): PlanDefinition => JSON.parse(fs.readFileSync(PLAN_PATH, 'utf8'));
const questionnaire = loadQuestionnaire();

function actions(items: PlanDefinitionAction[] | undefined): PlanDefinitionAction[] {
  return (items ?? []).flatMap((a) => [a, ...actions(a.action)]);
}

/**
 * The same rules written against the whole response, as FHIRPath engines without rule-item support read
 * them: the focus becomes `%resource.repeat(item).where(linkId = ...)`.
 */
function wholeResponsePlan(): PlanDefinition {
  const p = plan();
  for (const action of actions(p.action)) {
    const items = (action.extension ?? []).filter((e) => e.url === EXT_RULE_ITEM).map((e) => e.valueString!);
    if (!items.length) continue;
    const expression = action.condition![0].expression!;
    expression.expression =
      items.length === 1
        ? `%resource.repeat(item).where(linkId='${items[0]}').${expression.expression}`
        : expression.expression!.replace(/(^|[ (])where\(linkId='/g, "$1%resource.repeat(item).where(linkId='");
    action.extension = action.extension!.filter((e) => e.url !== EXT_RULE_ITEM);
  }
  return p;
}

/** Deterministic responses over every answerable item: yes/no, each choice, unanswered; some items misplaced or doubled. */
function responses(n: number): QuestionnaireResponse[] {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const linkIds = answerableLinkIds(questionnaire);
  const types = new Map<string, { type: string; codes: string[] }>();
  const visit = (items: typeof questionnaire.item) => {
    for (const item of items ?? []) {
      types.set(item.linkId, { type: item.type, codes: (item.answerOption ?? []).map((o) => o.valueCoding?.code ?? '') });
      visit(item.item);
    }
  };
  visit(questionnaire.item);
  return Array.from({ length: n }, (_, i) => {
    const answers: Record<string, AnswerValue> = {};
    for (const linkId of linkIds) {
      const { type, codes } = types.get(linkId)!;
      const r = next();
      if (r < 0.3) continue;
      if (type === 'boolean') answers[linkId] = r < 0.65;
      else if (type === 'choice') answers[linkId] = codes[Math.floor(next() * codes.length)];
      else if (type === 'integer') answers[linkId] = Math.floor(next() * 10);
      else if (type === 'string' || type === 'text') answers[linkId] = 'free text';
    }
    const qr = buildResponse(answers, { id: `r${i}` });
    const groups = qr.item ?? [];
    // Odd but possible shapes from EHRs: an item doubled, an item outside its group.
    if (i % 5 === 0 && groups[0]?.item?.length) groups[0].item.push(structuredClone(groups[0].item[0]));
    if (i % 7 === 0 && groups[1]?.item?.length) groups.push(groups[1].item.pop() as QuestionnaireResponseItem);
    return qr;
  });
}

describe('rule engine', () => {
  const now = new Date('2026-11-21T00:00:00Z');
  const cases = responses(250);

  it('gives, with item-focused rules, exactly what the whole-response FHIRPath gives', () => {
    const focused = createEvaluator(plan(), { memoise: false, questionnaire });
    const whole = createEvaluator(wholeResponsePlan(), { memoise: false, questionnaire });
    let counted = 0;
    for (const qr of cases) {
      const a = focused.evaluate(qr, { now });
      expect(a).toEqual(whole.evaluate(qr, { now }));
      counted += a.summary.counted.length;
    }
    expect(counted).toBeGreaterThan(250);
  });

  it('gives the same result with results reused between evaluations as without', () => {
    const fresh = createEvaluator(plan(), { memoise: false, questionnaire });
    const memoised = createEvaluator(plan(), { memoise: true, memoSize: 50, questionnaire });
    for (let pass = 0; pass < 2; pass++) {
      for (const qr of cases) expect(memoised.evaluate(qr, { now })).toEqual(fresh.evaluate(qr, { now }));
    }
  });

  it('reuses the summary of earlier answers for another patient, frozen, and still renders that patient', () => {
    const fresh = createEvaluator(plan(), { memoise: false, questionnaire });
    const memoised = createEvaluator(plan(), { memoise: true, questionnaire });
    for (const qr of cases.slice(0, 40)) memoised.evaluate(qr, { now });
    for (const [i, qr] of cases.slice(0, 40).entries()) {
      const again: QuestionnaireResponse = { ...structuredClone(qr), id: `again-${i}`, subject: { reference: `Patient/other-${i}` } };
      const result = memoised.evaluate(again, { now });
      expect(result).toEqual(fresh.evaluate(again, { now }));
      expect(result.riskAssessment.subject).toEqual({ reference: `Patient/other-${i}` });
      expect(Object.isFrozen(result.summary)).toBe(true);
      expect(result.summary).toBe(memoised.evaluate(qr, { now }).summary);
    }
  });

  it('leaves the response it evaluates unchanged', () => {
    const evaluator = createEvaluator(plan(), { questionnaire });
    for (const qr of cases.slice(0, 20)) {
      const before = JSON.stringify(qr);
      evaluator.evaluate(qr);
      expect(JSON.stringify(qr)).toBe(before);
    }
  });

  const broken = (change: (p: PlanDefinition) => void): PlanDefinition => {
    const p = plan();
    change(p);
    return p;
  };
  const firstCriterion = (p: PlanDefinition) => p.action![0].action![0];

  it('refuses a rule-item that is not in the Questionnaire', () => {
    const p = broken((x) => (firstCriterion(x).extension!.find((e) => e.url === EXT_RULE_ITEM)!.valueString = 'wells-active-cancr'));
    expect(() => createEvaluator(p, { questionnaire })).toThrow(/linkId "wells-active-cancr" is not in the Questionnaire/);
  });

  it('refuses a whole-response rule naming a linkId that is not in the Questionnaire', () => {
    const p = broken((x) => {
      const criterion = firstCriterion(x);
      criterion.extension = criterion.extension!.filter((e) => e.url !== EXT_RULE_ITEM);
      criterion.condition![0].expression!.expression = "%resource.repeat(item).where(linkId='no-such-item').answer.value";
    });
    expect(() => createEvaluator(p, { questionnaire })).toThrow(/linkId "no-such-item" is not in the Questionnaire/);
  });

  it('refuses an item-focused rule that reads engine variables (its result would depend on more than its items)', () => {
    const p = broken((x) => (firstCriterion(x).condition![0].expression!.expression = 'answer.value = true and %scoreMin > 1'));
    expect(() => createEvaluator(p, { questionnaire })).toThrow(/reads its items only/);
  });

  it('refuses an item-focused rule whose FHIRPath does not compile', () => {
    const p = broken((x) => (firstCriterion(x).condition![0].expression!.expression = 'answer.value = '));
    expect(() => createEvaluator(p, { questionnaire })).toThrow(RuleError);
  });

  it('refuses a risk-expression that reads more than %weightRisk and %threeLevel', () => {
    const p = broken((x) => {
      const dvt = x.action!.find((a) => a.id === 'differential')!.action!.find((a) => a.id === 'dvt')!;
      dvt.extension!.find((e) => e.url.endsWith('/risk-expression'))!.valueExpression!.expression =
        "iif(%scoreMin > 2, 'high', %weightRisk)";
      return x;
    });
    expect(() => createEvaluator(p, { questionnaire })).toThrow(/risk-expression may read %weightRisk and %threeLevel only/);
  });
});
