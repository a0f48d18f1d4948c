import fs from 'node:fs';
import path from 'node:path';
import type {
  CodeableConcept,
  Extension,
  PlanDefinition,
  Provenance,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Reference,
  RiskAssessment,
  RiskAssessmentPrediction,
} from 'fhir/r4';
import { PROJECT_ROOT } from '../core/project-root';
import { compileRules, type CompiledRules, type Rule, type RuleEnv } from './rules';
import {
  CS_CALF_PAIN,
  EXT_DIFFERENTIAL_RANK,
  EXT_PROVENANCE_PATIENT,
  EXT_WELLS_SCORE,
  EXT_WELLS_SCORE_RANGE,
  EXT_WELLS_TWO_LEVEL,
  RISK_PROBABILITY,
  SNOMED_DVT,
  SNOMED_PE,
} from '../core/canonical';
import type { AssessmentSummary, EvaluateOptions, Evaluation, Evaluator, ThreeLevel, TwoLevel } from './types';

/** The service itself, as the performer of assessments and the agent of their Provenance. */
export const SERVICE_DEVICE: Reference = { reference: 'Device/calf-pain-cds', display: 'Calf-pain decision support service' };

const RULES_FILE = 'fhir-resources/PlanDefinition-calf-pain-assessment.json';
const QUESTIONNAIRE_FILE = 'questionnaires/calf-pain.json';

export interface EvaluatorOptions {
  /**
   * Reuse rule results between evaluations when a rule's inputs (its focus items, or the variables it
   * reads) are the same as before: answers repeat across patients, so most conditions are looked up
   * rather than run. Results are the same either way. Default true.
   */
  memoise?: boolean;
  /** Results kept for reuse per rule (oldest dropped first). Default 500 (a few MB in all). */
  memoSize?: number;
  /** The Questionnaire the rules read: every linkId a rule names must be one of its items. */
  questionnaire?: Questionnaire;
}

/** Loads the rules (and the Questionnaire they are checked against) from the project folders and compiles them once. */
export function loadEvaluator(options: { rootDir?: string } & Omit<EvaluatorOptions, 'questionnaire'> = {}): Evaluator {
  const rootDir = options.rootDir ?? PROJECT_ROOT;
  const read = <T>(file: string) => JSON.parse(fs.readFileSync(path.join(rootDir, file), 'utf8')) as T;
  return createEvaluator(read<PlanDefinition>(RULES_FILE), { ...options, questionnaire: read<Questionnaire>(QUESTIONNAIRE_FILE) });
}

function linkIdsOf(items: QuestionnaireItem[] | undefined, into = new Set<string>()): Set<string> {
  for (const item of items ?? []) {
    into.add(item.linkId);
    linkIdsOf(item.item, into);
  }
  return into;
}

export function createEvaluator(plan: PlanDefinition, options: EvaluatorOptions = {}): Evaluator {
  const rules = compileRules(plan, options.questionnaire ? { linkIds: linkIdsOf(options.questionnaire.item) } : {});
  const shared = options.memoise === false ? undefined : new Shared(options.memoSize ?? 500);
  const groups = itemGroups(rules);
  return {
    evaluate: (response, evaluateOptions) => evaluate(rules, groups, shared, response, evaluateOptions),
    provenance,
  };
}

type Truth = boolean | undefined;

/**
 * The pure rules that read one item each, grouped by that item: an item's answers decide all of them at
 * once, so they are computed (or found) together, one lookup per item rather than one per rule.
 */
interface ItemGroup {
  linkId: string;
  rules: Rule[];
}

function itemGroups(rules: CompiledRules): { byLinkId: Map<string, ItemGroup>; slot: Map<string, number> } {
  const all = [
    ...rules.wellsCriteria,
    ...rules.peRedFlags,
    ...rules.causes.flatMap((c) => c.features),
    ...rules.nextSteps,
    ...rules.categories.values(),
  ];
  const byLinkId = new Map<string, ItemGroup>();
  const slot = new Map<string, number>();
  for (const rule of all) {
    if (!rule.pure || rule.items?.length !== 1 || slot.has(rule.key)) continue;
    const linkId = rule.items[0];
    let group = byLinkId.get(linkId);
    if (!group) byLinkId.set(linkId, (group = { linkId, rules: [] }));
    slot.set(rule.key, group.rules.length);
    group.rules.push(rule);
  }
  return { byLinkId, slot };
}

type Groups = ReturnType<typeof itemGroups>;

/** What evaluations share: the results of item groups (per item, by the item's JSON) and of the other rules. */
class Shared {
  readonly items: ResultCache<Truth[]>;
  readonly rules: ResultCache<Truth>;

  constructor(size: number) {
    this.items = new ResultCache<Truth[]>(size);
    this.rules = new ResultCache<Truth>(size);
  }
}

/**
 * Results kept between evaluations: per rule computation (Rule.key) or item, per inputs (the focus
 * items' JSON, or the variables read); each keeps its most recent `perKey` results.
 */
class ResultCache<V> {
  private readonly keys = new Map<string, Map<string, V>>();

  constructor(private readonly perKey: number) {}

  /** null: not known; anything else (undefined included) is a known result. */
  get(key: string, inputs: string): V | null {
    const results = this.keys.get(key);
    if (!results) return null;
    const value = results.get(inputs);
    return value !== undefined || results.has(inputs) ? (value as V) : null;
  }

  set(key: string, inputs: string, value: V): void {
    let results = this.keys.get(key);
    if (!results) this.keys.set(key, (results = new Map()));
    if (results.size >= this.perKey) results.delete(results.keys().next().value as string);
    results.set(inputs, value);
  }
}

/**
 * One evaluation of one response: its items indexed by linkId once (what
 * `%resource.repeat(item).where(linkId = ...)` finds, without walking the response per rule), and each
 * rule result computed once (the same condition serves several causes).
 */
class Run {
  private readonly items = new Map<string, QuestionnaireResponseItem[]>();
  private readonly itemJson = new Map<string, string>();
  private readonly results = new ResultCache<Truth>(Infinity);
  private readonly groupResults = new Map<string, Truth[]>();
  readonly base: RuleEnv;

  constructor(
    readonly response: QuestionnaireResponse,
    private readonly groups: Groups,
    private readonly shared: Shared | undefined,
  ) {
    this.base = { resource: response };
    this.index(response.item);
  }

  /** Items reachable through `item` (not answer.item), as repeat(item) walks them; identical duplicates once. */
  private index(items: unknown): void {
    if (!Array.isArray(items)) return;
    for (const item of items as QuestionnaireResponseItem[]) {
      if (item === null || typeof item !== 'object') continue;
      if (typeof item.linkId === 'string') {
        const list = this.items.get(item.linkId);
        if (!list) this.items.set(item.linkId, [item]);
        else if (!list.some((other) => sameJson(other, item))) list.push(item);
      }
      this.index(item.item);
    }
  }

  private json(linkId: string): string {
    let text = this.itemJson.get(linkId);
    if (text === undefined) this.itemJson.set(linkId, (text = JSON.stringify(this.items.get(linkId) ?? [])));
    return text;
  }

  /** What a rule's result depends on, as a string: its focus items, or the variables it reads. */
  private inputs(rule: Rule, env: RuleEnv): string {
    if (rule.items) return rule.items.length === 1 ? this.json(rule.items[0]) : rule.items.map((id) => this.json(id)).join('\u0001');
    // %resource is this run's response: the same for every call in the run (and never shared).
    return rule.variables.map((name) => (name === 'resource' ? '' : JSON.stringify(env[name] ?? null))).join('\u0001');
  }

  /** A rule's value: true, false, or undefined when it yields nothing (unanswered) or a non-boolean. */
  truth(rule: Rule, env: RuleEnv = this.base): Truth {
    const slot = this.groups.slot.get(rule.key);
    if (slot !== undefined) return this.group(rule.items![0])[slot];
    const inputs = this.inputs(rule, env);
    const local = this.results.get(rule.key, inputs);
    if (local !== null) return local;
    const cache = rule.pure ? this.shared?.rules : undefined;
    const cached = cache ? cache.get(rule.key, inputs) : null;
    const result = cached !== null ? cached : this.run(rule, env);
    this.results.set(rule.key, inputs, result);
    if (cached === null) cache?.set(rule.key, inputs, result);
    return result;
  }

  /** The results of every rule on one item, in slot order: found for the item's JSON, or computed. */
  private group(linkId: string): Truth[] {
    let results = this.groupResults.get(linkId);
    if (results) return results;
    const json = this.json(linkId);
    const cached = this.shared ? this.shared.items.get(linkId, json) : null;
    results = cached ?? this.groups.byLinkId.get(linkId)!.rules.map((rule) => this.run(rule, this.base));
    if (!cached) this.shared?.items.set(linkId, json, results);
    this.groupResults.set(linkId, results);
    return results;
  }

  private run(rule: Rule, env: RuleEnv): Truth {
    const focus = rule.items ? rule.items.flatMap((id) => this.items.get(id) ?? []) : this.response;
    const [value] = rule.evaluate(focus, rule.items ? {} : env);
    return typeof value === 'boolean' ? value : undefined;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function summarise(rules: CompiledRules, run: Run): AssessmentSummary {
  const base = run.base;

  const counted: AssessmentSummary['counted'] = [];
  const unanswered: AssessmentSummary['unanswered'] = [];
  let score = 0;
  let min = 0;
  let max = 0;
  for (const criterion of rules.wellsCriteria) {
    const answer = run.truth(criterion);
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
  const holds = (id: string) => run.truth(rules.categories.get(id)!, scoreEnv) === true;
  const twoLevel: TwoLevel | undefined = holds('likely') ? 'likely' : holds('unlikely') ? 'unlikely' : undefined;
  const threeLevel: ThreeLevel | undefined = holds('high') ? 'high' : holds('moderate') ? 'moderate' : holds('low') ? 'low' : undefined;

  // Prevalence over every score the unanswered criteria still allow (a single category when determined).
  const possible = new Set<number>();
  for (let s = min; s <= max; s++) {
    const at: RuleEnv = { ...base, scoreMin: s, scoreMax: s, score: s };
    for (const id of ['high', 'moderate', 'low']) {
      const category = rules.categories.get(id)!;
      if (category.probability !== undefined && run.truth(category, at) === true) possible.add(category.probability);
    }
  }
  const dvtProbability = possible.size ? { low: Math.min(...possible), high: Math.max(...possible) } : undefined;

  const peRedFlags = rules.peRedFlags.filter((flag) => run.truth(flag) === true).map((flag) => ({ linkId: flag.id, title: flag.title }));

  const differential = rules.causes
    .map((cause, order) => {
      let total = 0;
      const rationale: string[] = [];
      for (const feature of cause.features) {
        if (run.truth(feature, scoreEnv) !== true) continue;
        total += feature.weight;
        rationale.push(`${feature.title} (${feature.weight > 0 ? '+' : ''}${feature.weight})`);
      }
      total = round(total);
      const weightRisk: ThreeLevel =
        total >= rules.riskThresholds.high ? 'high' : total >= rules.riskThresholds.moderate ? 'moderate' : 'low';
      const qualitativeRisk = cause.risk ? cause.risk(weightRisk, threeLevel) : weightRisk;
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
  const nextSteps = rules.nextSteps.filter((step) => run.truth(step, stepEnv) === true).map((step) => step.text);

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
function probability(
  range: { low: number; high: number } | undefined,
): Pick<RiskAssessmentPrediction, 'probabilityDecimal' | 'probabilityRange'> {
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
    parts.push(
      'Two-level Wells: not determined (the answers still missing could place the score on either side of the cut-off of 2); do not treat as DVT unlikely.',
    );
  }
  if (summary.threeLevel) {
    parts.push(`${rules.categories.get(summary.threeLevel)!.description} probabilityDecimal is that prevalence in percent.`);
  } else if (summary.dvtProbability) {
    parts.push(
      `Three-level Wells: not determined; the prevalence of the categories still possible spans ${summary.dvtProbability.low}% to ${summary.dvtProbability.high}% (probabilityRange).`,
    );
  } else {
    parts.push('Three-level Wells: not determined.');
  }
  if (summary.counted.length) parts.push(`Criteria counted: ${summary.counted.map((c) => `${c.title} (${signed(c.points)})`).join('; ')}.`);
  else parts.push('No Wells criterion answered yes.');

  const category = summary.threeLevel ? rules.categories.get(summary.threeLevel)! : undefined;
  const twoLevel = summary.twoLevel ? rules.categories.get(summary.twoLevel)! : undefined;
  return {
    extension: [
      ...(twoLevel
        ? [
            {
              url: EXT_WELLS_TWO_LEVEL,
              valueCodeableConcept: { coding: [{ ...twoLevel.code, system: CS_CALF_PAIN }], text: twoLevel.title },
            },
          ]
        : []),
      ...scoreExtensions(summary),
    ],
    outcome: {
      coding: [{ ...SNOMED_DVT }],
      text: 'Deep vein thrombosis (Wells DVT score)',
    },
    ...probability(summary.dvtProbability),
    ...(summary.threeLevel ? { qualitativeRisk: riskConcept(summary.threeLevel, category!.title) } : {}),
    rationale: parts.join(' '),
  };
}

function buildRiskAssessment(rules: CompiledRules, response: QuestionnaireResponse, summary: AssessmentSummary, now: Date): RiskAssessment {
  const predictions: RiskAssessmentPrediction[] = [dvtPrediction(rules, summary)];
  if (summary.peRedFlags.length) {
    predictions.push({
      outcome: { coding: [{ ...SNOMED_PE }], text: 'Pulmonary embolism' },
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
    note: [
      {
        text:
          'Decision support, not a diagnosis. Rules: PlanDefinition calf-pain-assessment ' +
          (rules.plan.version ?? '') +
          ' (sources cited there).',
      },
    ],
  };
}

function evaluate(
  rules: CompiledRules,
  groups: Groups,
  shared: Shared | undefined,
  response: QuestionnaireResponse,
  options: EvaluateOptions = {},
): Evaluation {
  // Rules read the response and never change it (fhirpath.js marks only the objects it returns, and
  // rules return booleans): no copy is needed.
  const summary = summarise(rules, new Run(response, groups, shared));
  return { summary, riskAssessment: buildRiskAssessment(rules, response, summary, options.now ?? new Date()) };
}

function provenance(riskAssessment: RiskAssessment, response: QuestionnaireResponse, now = new Date()): Provenance {
  const version = response.meta?.versionId;
  const patient = response.subject?.reference?.startsWith('Patient/') ? response.subject : undefined;
  return {
    resourceType: 'Provenance',
    // Which patient the target is about: indexed as Provenance `patient` (search and compartment checks).
    ...(patient ? { extension: [{ url: EXT_PROVENANCE_PATIENT, valueReference: { reference: patient.reference } }] } : {}),
    target: [
      {
        reference: `RiskAssessment/${riskAssessment.id}${riskAssessment.meta?.versionId ? `/_history/${riskAssessment.meta.versionId}` : ''}`,
      },
    ],
    recorded: now.toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE', display: 'create' }] },
    agent: [
      {
        type: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler', display: 'Assembler' },
          ],
        },
        who: SERVICE_DEVICE,
      },
    ],
    entity: [{ role: 'source', what: { reference: `QuestionnaireResponse/${response.id}${version ? `/_history/${version}` : ''}` } }],
  };
}
