import fs from 'node:fs';
import path from 'node:path';
import type {
  CodeableConcept,
  Extension,
  PlanDefinition,
  Provenance,
  QuestionnaireResponse,
  Reference,
  RiskAssessment,
  RiskAssessmentPrediction,
} from 'fhir/r4';
import { PROJECT_ROOT } from '../project-root';
import { compileRules, type CompiledExpression, type CompiledRules, type Rule, type RuleEnv } from './rules';
import {
  CS_CALF_PAIN,
  EXT_DIFFERENTIAL_RANK,
  EXT_PROVENANCE_PATIENT,
  EXT_WELLS_SCORE,
  EXT_WELLS_SCORE_RANGE,
  EXT_WELLS_TWO_LEVEL,
  RISK_PROBABILITY,
  SNOMED,
  type AssessmentSummary,
  type EvaluateOptions,
  type Evaluation,
  type Evaluator,
  type ThreeLevel,
  type TwoLevel,
} from './types';

/** The service itself, as the performer of assessments and the agent of their Provenance. */
export const SERVICE_DEVICE: Reference = { reference: 'Device/calf-pain-cds', display: 'Calf-pain decision support service' };

const RULES_FILE = 'fhir-resources/PlanDefinition-calf-pain-assessment.json';

/** Loads the rules from the project's fhir-resources/ and compiles them once. */
export function loadEvaluator(options: { rootDir?: string } = {}): Evaluator {
  const rootDir = options.rootDir ?? PROJECT_ROOT;
  const plan = JSON.parse(fs.readFileSync(path.join(rootDir, RULES_FILE), 'utf8')) as PlanDefinition;
  return createEvaluator(plan);
}

export function createEvaluator(plan: PlanDefinition): Evaluator {
  const rules = compileRules(plan);
  return {
    evaluate: (response, options) => evaluate(rules, response, options),
    provenance,
  };
}

/**
 * Results per environment and expression within one evaluation: the same condition (say "sudden
 * onset") serves several causes, and each FHIRPath run over the response costs a few hundred us.
 */
type Memo = WeakMap<RuleEnv, Map<string, boolean | undefined>>;

/** A rule's value for this response: true, false, or undefined when it yields nothing (unanswered). */
function truth(rule: Rule, response: QuestionnaireResponse, env: RuleEnv, memo: Memo): boolean | undefined {
  let results = memo.get(env);
  if (!results) memo.set(env, (results = new Map()));
  if (results.has(rule.expression)) return results.get(rule.expression);
  const [value] = rule.evaluate(response, env);
  const result = typeof value === 'boolean' ? value : undefined;
  results.set(rule.expression, result);
  return result;
}

/** Checked at start-up (rules.ts) to give low, moderate or high for every input it may see. */
function causeRisk(rule: CompiledExpression, response: QuestionnaireResponse, env: RuleEnv): ThreeLevel {
  return rule(response, env)[0] as ThreeLevel;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function summarise(rules: CompiledRules, response: QuestionnaireResponse): AssessmentSummary {
  const memo: Memo = new WeakMap();
  const base: RuleEnv = { resource: response };

  const counted: AssessmentSummary['counted'] = [];
  const unanswered: AssessmentSummary['unanswered'] = [];
  let score = 0;
  let min = 0;
  let max = 0;
  for (const criterion of rules.wellsCriteria) {
    const answer = truth(criterion, response, base, memo);
    if (answer === true) {
      score += criterion.points;
      counted.push({ linkId: criterion.id, title: criterion.title, points: criterion.points });
    } else if (answer === undefined) {
      unanswered.push({ linkId: criterion.id, title: criterion.title });
      if (criterion.points < 0) min += criterion.points;
      else max += criterion.points;
    }
  }
  min += score;
  max += score;

  const scoreEnv: RuleEnv = { ...base, scoreMin: min, scoreMax: max, score: unanswered.length ? [] : score };
  const holds = (id: string) => truth(rules.categories.get(id)!, response, scoreEnv, memo) === true;
  const twoLevel: TwoLevel | undefined = holds('likely') ? 'likely' : holds('unlikely') ? 'unlikely' : undefined;
  const threeLevel: ThreeLevel | undefined = holds('high') ? 'high' : holds('moderate') ? 'moderate' : holds('low') ? 'low' : undefined;

  // Prevalence over every score the unanswered criteria still allow (a single category when determined).
  const possible = new Set<number>();
  for (let s = min; s <= max; s++) {
    const at: RuleEnv = { ...base, scoreMin: s, scoreMax: s, score: s };
    for (const id of ['high', 'moderate', 'low']) {
      const category = rules.categories.get(id)!;
      if (category.probability !== undefined && truth(category, response, at, memo) === true) possible.add(category.probability);
    }
  }
  const dvtProbability = possible.size ? { low: Math.min(...possible), high: Math.max(...possible) } : undefined;

  const peRedFlags = rules.peRedFlags
    .filter((flag) => truth(flag, response, base, memo) === true)
    .map((flag) => ({ linkId: flag.id, title: flag.title }));

  const differential = rules.causes
    .map((cause, order) => {
      let total = 0;
      const rationale: string[] = [];
      for (const feature of cause.features) {
        if (truth(feature, response, scoreEnv, memo) !== true) continue;
        total += feature.weight;
        rationale.push(`${feature.title} (${feature.weight > 0 ? '+' : ''}${feature.weight})`);
      }
      total = round(total);
      const weightRisk: ThreeLevel =
        total >= rules.riskThresholds.high ? 'high' : total >= rules.riskThresholds.moderate ? 'moderate' : 'low';
      const qualitativeRisk = cause.risk ? causeRisk(cause.risk, response, { ...scoreEnv, weightRisk, threeLevel: threeLevel ?? [] }) : weightRisk;
      return {
        order,
        entry: {
          id: cause.id,
          text: cause.title,
          codes: cause.codes,
          qualitativeRisk,
          score: total,
          rationale,
        },
      };
    })
    // Highest total first; ties keep the order of the rules (most common cause first).
    .sort((a, b) => b.entry.score - a.entry.score || a.order - b.order)
    .map((d) => d.entry);

  const stepEnv: RuleEnv = { ...scoreEnv, twoLevel: twoLevel ?? [], peFlag: peRedFlags.length > 0 };
  const nextSteps = rules.nextSteps.filter((step) => truth(step, response, stepEnv, memo) === true).map((step) => step.text);

  return {
    status: unanswered.length ? 'preliminary' : 'final',
    ...(unanswered.length ? {} : { wellsScore: score }),
    scoreRange: { min, max },
    ...(twoLevel ? { twoLevel } : {}),
    ...(threeLevel ? { threeLevel } : {}),
    ...(dvtProbability ? { dvtProbability } : {}),
    counted,
    unanswered,
    peRedFlags,
    differential,
    nextSteps,
  };
}

function riskConcept(level: ThreeLevel, text?: string): CodeableConcept {
  const display = { low: 'Low likelihood', moderate: 'Moderate likelihood', high: 'High likelihood' }[level];
  return { coding: [{ system: RISK_PROBABILITY, code: level, display }], ...(text ? { text } : {}) };
}

const UCUM = 'http://unitsofmeasure.org';
const percent = (value: number) => ({ value, unit: '%', system: UCUM, code: '%' });

/**
 * Probabilities are percentages, the R4 convention (invariants ras-1: Range bounds in %, ras-2:
 * decimal <= 100). Where no published figure exists the range is the whole 0-100 %: stated as
 * not quantified rather than left out, since some validators require probability[x] (ras-2).
 */
function probability(range: { low: number; high: number } | undefined): Pick<RiskAssessmentPrediction, 'probabilityDecimal' | 'probabilityRange'> {
  if (range && range.low === range.high) return { probabilityDecimal: range.low };
  const { low, high } = range ?? { low: 0, high: 100 };
  return { probabilityRange: { low: percent(low), high: percent(high) } };
}

function scoreExtensions(summary: AssessmentSummary): Extension[] {
  return [
    ...(summary.wellsScore !== undefined ? [{ url: EXT_WELLS_SCORE, valueInteger: summary.wellsScore }] : []),
    { url: EXT_WELLS_SCORE_RANGE, valueRange: { low: { value: summary.scoreRange.min }, high: { value: summary.scoreRange.max } } },
  ];
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : `${n}`;
}

function dvtPrediction(rules: CompiledRules, summary: AssessmentSummary): RiskAssessmentPrediction {
  const { min, max } = summary.scoreRange;
  const parts: string[] = [];
  parts.push(
    summary.wellsScore !== undefined
      ? `Wells DVT score ${summary.wellsScore}.`
      : `Wells DVT score not final: ${summary.unanswered.length} criteria not answered (${summary.unanswered.map((u) => u.title).join('; ')}); possible score ${min} to ${max}.`,
  );
  if (summary.twoLevel) {
    parts.push(rules.categories.get(summary.twoLevel)!.description!);
  } else {
    parts.push('Two-level Wells: not determined (the answers still missing could place the score on either side of the cut-off of 2); do not treat as DVT unlikely.');
  }
  if (summary.threeLevel) {
    parts.push(`${rules.categories.get(summary.threeLevel)!.description} probabilityDecimal is that prevalence in percent.`);
  } else if (summary.dvtProbability) {
    parts.push(`Three-level Wells: not determined; the prevalence of the categories still possible spans ${summary.dvtProbability.low}% to ${summary.dvtProbability.high}% (probabilityRange).`);
  } else {
    parts.push('Three-level Wells: not determined.');
  }
  if (summary.counted.length) parts.push(`Criteria counted: ${summary.counted.map((c) => `${c.title} (${signed(c.points)})`).join('; ')}.`);
  else parts.push('No Wells criterion answered yes.');

  const category = summary.threeLevel ? rules.categories.get(summary.threeLevel)! : undefined;
  const twoLevel = summary.twoLevel ? rules.categories.get(summary.twoLevel)! : undefined;
  return {
    extension: [
      ...(twoLevel ? [{ url: EXT_WELLS_TWO_LEVEL, valueCodeableConcept: { coding: [{ ...twoLevel.code, system: CS_CALF_PAIN }], text: twoLevel.title } }] : []),
      ...scoreExtensions(summary),
    ],
    outcome: { coding: [{ system: SNOMED, code: '128053003', display: 'Deep venous thrombosis' }], text: 'Deep vein thrombosis (Wells DVT score)' },
    ...probability(summary.dvtProbability),
    ...(summary.threeLevel ? { qualitativeRisk: riskConcept(summary.threeLevel, category!.title) } : {}),
    rationale: parts.join(' '),
  };
}

function buildRiskAssessment(rules: CompiledRules, response: QuestionnaireResponse, summary: AssessmentSummary, now: Date): RiskAssessment {
  const predictions: RiskAssessmentPrediction[] = [dvtPrediction(rules, summary)];
  if (summary.peRedFlags.length) {
    predictions.push({
      outcome: { coding: [{ system: SNOMED, code: '59282003', display: 'Pulmonary embolism' }], text: 'Pulmonary embolism' },
      ...probability(undefined),
      qualitativeRisk: riskConcept('high', 'Red flag for pulmonary embolism'),
      rationale: `Pulmonary embolism red flags answered yes: ${summary.peRedFlags.map((f) => f.title).join('; ')}. Emergency assessment now, whatever the DVT score. Probability not quantified (0-100%).`,
    });
  }
  summary.differential.forEach((cause, index) => {
    predictions.push({
      extension: [{ url: EXT_DIFFERENTIAL_RANK, valueInteger: index + 1 }],
      outcome: { coding: cause.codes, text: cause.text },
      ...probability(undefined),
      qualitativeRisk: riskConcept(cause.qualitativeRisk),
      rationale: `${
        cause.rationale.length
          ? `Rank ${index + 1} (weight ${cause.score}). Answers: ${cause.rationale.join('; ')}.`
          : `Rank ${index + 1} (weight 0). No answer points to this cause.`
      } Probability not quantified (0-100%); qualitativeRisk ranks the differential.`,
    });
  });

  const subject: Reference = response.subject ?? { display: 'Unidentified patient (the response names no subject)' };
  const basis: Reference = response.id
    ? { reference: `QuestionnaireResponse/${response.id}`, display: 'Calf pain questionnaire response' }
    : { display: 'Calf pain questionnaire response (not stored)', ...(response.identifier ? { identifier: response.identifier } : {}) };

  return {
    resourceType: 'RiskAssessment',
    extension: scoreExtensions(summary),
    status: summary.status,
    method: {
      coding: [{ system: CS_CALF_PAIN, code: 'wells-dvt', display: 'Wells DVT score' }],
      text: 'Wells DVT score (Wells 2003, two-level; Wells 1997, three-level) with PE red flags and calf-pain differential',
    },
    code: { text: 'Calf pain assessment' },
    subject,
    ...(response.encounter ? { encounter: response.encounter } : {}),
    occurrenceDateTime: now.toISOString(),
    performer: SERVICE_DEVICE,
    basis: [basis],
    prediction: predictions,
    mitigation: summary.nextSteps.join('\n\n'),
    note: [{ text: 'Decision support, not a diagnosis. Rules: PlanDefinition calf-pain-assessment ' + (rules.plan.version ?? '') + ' (sources cited there).' }],
  };
}

function evaluate(rules: CompiledRules, input: QuestionnaireResponse, options: EvaluateOptions = {}): Evaluation {
  // fhirpath.js annotates what it walks; keep the caller's object untouched.
  const response = structuredClone(input);
  const summary = summarise(rules, response);
  return { summary, riskAssessment: buildRiskAssessment(rules, response, summary, options.now ?? new Date()) };
}

function provenance(riskAssessment: RiskAssessment, response: QuestionnaireResponse, now = new Date()): Provenance {
  const version = response.meta?.versionId;
  const patient = response.subject?.reference?.startsWith('Patient/') ? response.subject : undefined;
  return {
    resourceType: 'Provenance',
    // Which patient the target is about: indexed as Provenance `patient` (search and compartment checks).
    ...(patient ? { extension: [{ url: EXT_PROVENANCE_PATIENT, valueReference: { reference: patient.reference } }] } : {}),
    target: [{ reference: `RiskAssessment/${riskAssessment.id}${riskAssessment.meta?.versionId ? `/_history/${riskAssessment.meta.versionId}` : ''}` }],
    recorded: now.toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE', display: 'create' }] },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler', display: 'Assembler' }] },
        who: SERVICE_DEVICE,
      },
    ],
    entity: [{ role: 'source', what: { reference: `QuestionnaireResponse/${response.id}${version ? `/_history/${version}` : ''}` } }],
  };
}
