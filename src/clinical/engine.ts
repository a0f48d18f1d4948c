import fs from 'node:fs';
import path from 'node:path';
import type { PlanDefinition, Questionnaire, QuestionnaireItem, QuestionnaireResponse, RiskAssessment } from 'fhir/r4';
import { BoundedMap } from '../core/bounded-map';
import { PROJECT_ROOT } from '../core/project-root';
import { buildProvenance, buildRiskAssessment } from './risk-assessment';
import { ResponseRun, SharedResults, itemGroups } from './rule-results';
import { compileRules, everyRule } from './rules';
import { summarise } from './summary';
import type { AssessmentSummary, Evaluator } from './types';

/**
 * The Evaluator: the rules (PlanDefinition) and the Questionnaire they are checked against, loaded and
 * compiled once; each evaluation runs them on one response (rule-results), scores the results
 * (summary) and renders the RiskAssessment (risk-assessment).
 */

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

export function createEvaluator(plan: PlanDefinition, options: EvaluatorOptions = {}): Evaluator {
  const rules = compileRules(plan, options.questionnaire ? { linkIds: linkIdsOf(options.questionnaire.item) } : {});
  const memoise = options.memoise !== false;
  const shared = memoise ? new SharedResults(options.memoSize ?? 500) : undefined;
  const groups = itemGroups(rules);
  // When every rule is pure (it reads its focus items or the score variables, never %resource, %context or
  // the clock), the summary is a function of the answers alone: a response whose items repeat answers
  // seen before (JSON-equal) gets the summary computed then. It is frozen, since it is shared.
  const summaries =
    memoise && everyRule(rules).every((rule) => rule.pure) ? new BoundedMap<string, AssessmentSummary>(options.memoSize ?? 500) : undefined;
  const summaryOf = (response: QuestionnaireResponse): AssessmentSummary => {
    // Rules read the response and never change it (fhirpath.js marks only the objects it returns, and
    // rules return booleans): no copy is needed.
    if (!summaries) return summarise(rules, new ResponseRun(response, groups, shared));
    const key = JSON.stringify(response.item ?? []);
    let summary = summaries.get(key);
    if (!summary) summaries.set(key, (summary = deepFreeze(summarise(rules, new ResponseRun(response, groups, shared)))));
    return summary;
  };
  return {
    evaluate(response, evaluateOptions = {}) {
      const summary = summaryOf(response);
      const now = evaluateOptions.now ?? new Date();
      // Rendered when first read: a CDS hook writes its cards from the summary and reads it only for a
      // system action. Read once, it is the same object at every later read.
      let riskAssessment: RiskAssessment | undefined;
      return {
        summary,
        get riskAssessment(): RiskAssessment {
          return (riskAssessment ??= buildRiskAssessment(rules, response, summary, now));
        },
      };
    },
    provenance: buildProvenance,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function linkIdsOf(items: QuestionnaireItem[] | undefined, into = new Set<string>()): Set<string> {
  for (const item of items ?? []) {
    into.add(item.linkId);
    linkIdsOf(item.item, into);
  }
  return into;
}
