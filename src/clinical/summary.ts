import type { Cause, CompiledRules, RuleEnv } from './rules';
import type { RuleResults } from './rule-results';
import type { AssessmentSummary, ThreeLevel, TwoLevel } from './types';

/**
 * Scoring: the Wells score, its two- and three-level categories, the DVT prevalence they give, the PE
 * red flags, the ranked differential and the next steps, from the rule results of one response.
 */
export function summarise(rules: CompiledRules, run: RuleResults): AssessmentSummary {
  const wells = tallyWells(rules, run);
  const scoreEnv = scoreVariables(run.base, wells);
  const { twoLevel, threeLevel } = categorise(rules, run, scoreEnv);
  const dvtProbability = probabilityOverRange(rules, run, wells.min, wells.max);
  const peRedFlags = raisedRedFlags(rules, run);
  const differential = rankDifferential(rules, run, scoreEnv, threeLevel);
  const nextSteps = chooseNextSteps(rules, run, { ...scoreEnv, twoLevel: twoLevel ?? [], peFlag: peRedFlags.length > 0 });

  const final = wells.unanswered.length === 0;
  return {
    status: final ? 'final' : 'preliminary',
    ...(final ? { wellsScore: wells.score } : {}),
    scoreRange: { min: wells.min, max: wells.max },
    ...(twoLevel ? { twoLevel } : {}),
    ...(threeLevel ? { threeLevel } : {}),
    ...(dvtProbability ? { dvtProbability } : {}),
    counted: wells.counted,
    unanswered: wells.unanswered,
    peRedFlags,
    differential,
    nextSteps,
  };
}

interface WellsTally {
  /** Points of the criteria answered yes. */
  score: number;
  /** The lowest and highest score the unanswered criteria still allow. */
  min: number;
  max: number;
  counted: AssessmentSummary['counted'];
  unanswered: AssessmentSummary['unanswered'];
}

/** Adds up the Wells criteria answered yes; an unanswered criterion widens the possible range by its points. */
function tallyWells(rules: CompiledRules, run: RuleResults): WellsTally {
  const counted: AssessmentSummary['counted'] = [];
  const unanswered: AssessmentSummary['unanswered'] = [];
  let score = 0;
  let lowered = 0;
  let raised = 0;
  for (const criterion of rules.wellsCriteria) {
    const answer = run.truth(criterion);
    if (answer === true) {
      score += criterion.points;
      counted.push({ linkId: criterion.id, title: criterion.title, points: criterion.points });
    } else if (answer === undefined) {
      unanswered.push({ linkId: criterion.id, title: criterion.title });
      if (criterion.points < 0) lowered += criterion.points;
      else raised += criterion.points;
    }
  }
  return { score, min: score + lowered, max: score + raised, counted, unanswered };
}

/** The variables category rules read: %scoreMin, %scoreMax and %score (empty until every criterion is answered). */
function scoreVariables(base: RuleEnv, wells: WellsTally): RuleEnv {
  return { ...base, scoreMin: wells.min, scoreMax: wells.max, score: wells.unanswered.length ? [] : wells.score };
}

/** The two- and three-level Wells categories, each undefined while the possible range spans a cut-off. */
function categorise(rules: CompiledRules, run: RuleResults, scoreEnv: RuleEnv): { twoLevel?: TwoLevel; threeLevel?: ThreeLevel } {
  const holds = (id: string) => run.truth(rules.categories.get(id)!, scoreEnv) === true;
  const twoLevel: TwoLevel | undefined = holds('likely') ? 'likely' : holds('unlikely') ? 'unlikely' : undefined;
  const threeLevel: ThreeLevel | undefined = holds('high') ? 'high' : holds('moderate') ? 'moderate' : holds('low') ? 'low' : undefined;
  return { twoLevel, threeLevel };
}

const THREE_LEVELS: readonly ThreeLevel[] = ['high', 'moderate', 'low'];

/** DVT prevalence over every score the unanswered criteria still allow (a single category when determined). */
function probabilityOverRange(rules: CompiledRules, run: RuleResults, min: number, max: number): AssessmentSummary['dvtProbability'] {
  const possible = new Set<number>();
  for (let s = min; s <= max; s++) {
    const at: RuleEnv = { ...run.base, scoreMin: s, scoreMax: s, score: s };
    for (const id of THREE_LEVELS) {
      const category = rules.categories.get(id)!;
      if (category.probability !== undefined && run.truth(category, at) === true) possible.add(category.probability);
    }
  }
  return possible.size ? { low: Math.min(...possible), high: Math.max(...possible) } : undefined;
}

function raisedRedFlags(rules: CompiledRules, run: RuleResults): AssessmentSummary['peRedFlags'] {
  return rules.peRedFlags.filter((flag) => run.truth(flag) === true).map((flag) => ({ linkId: flag.id, title: flag.title }));
}

type DifferentialEntry = AssessmentSummary['differential'][number];

/** The causes by weight, highest first; ties keep the order of the rules (most common cause first). */
function rankDifferential(
  rules: CompiledRules,
  run: RuleResults,
  scoreEnv: RuleEnv,
  threeLevel: ThreeLevel | undefined,
): DifferentialEntry[] {
  return rules.causes
    .map((cause, order) => ({ order, entry: weighCause(rules, run, scoreEnv, threeLevel, cause) }))
    .sort((a, b) => b.entry.score - a.entry.score || a.order - b.order)
    .map((d) => d.entry);
}

/** One cause: the sum of the weights of its features present, why, and the qualitative risk that follows. */
function weighCause(
  rules: CompiledRules,
  run: RuleResults,
  scoreEnv: RuleEnv,
  threeLevel: ThreeLevel | undefined,
  cause: Cause,
): DifferentialEntry {
  let total = 0;
  const rationale: string[] = [];
  for (const feature of cause.features) {
    if (run.truth(feature, scoreEnv) !== true) continue;
    total += feature.weight;
    rationale.push(`${feature.title} (${feature.weight > 0 ? '+' : ''}${feature.weight})`);
  }
  total = round(total);
  const weightRisk: ThreeLevel = total >= rules.riskThresholds.high ? 'high' : total >= rules.riskThresholds.moderate ? 'moderate' : 'low';
  return {
    id: cause.id,
    text: cause.title,
    codes: cause.codes,
    qualitativeRisk: cause.risk ? cause.risk(weightRisk, threeLevel) : weightRisk,
    score: total,
    rationale,
  };
}

/** The next steps whose conditions hold, given the category (%twoLevel) and the PE flags (%peFlag). */
function chooseNextSteps(rules: CompiledRules, run: RuleResults, stepEnv: RuleEnv): string[] {
  return rules.nextSteps.filter((step) => run.truth(step, stepEnv) === true).map((step) => step.text);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
