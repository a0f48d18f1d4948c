import fs from 'node:fs';
import path from 'node:path';
import type { PlanDefinition, Questionnaire, QuestionnaireItem } from 'fhir/r4';
import { PROJECT_ROOT } from '../core/project-root';
import { buildProvenance, buildRiskAssessment } from './risk-assessment';
import { ResponseRun, SharedResults, itemGroups } from './rule-results';
import { compileRules } from './rules';
import { summarise } from './summary';
import type { Evaluator } from './types';

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
  const shared = options.memoise === false ? undefined : new SharedResults(options.memoSize ?? 500);
  const groups = itemGroups(rules);
  return {
    evaluate(response, evaluateOptions = {}) {
      // Rules read the response and never change it (fhirpath.js marks only the objects it returns, and
      // rules return booleans): no copy is needed.
      const summary = summarise(rules, new ResponseRun(response, groups, shared));
      return { summary, riskAssessment: buildRiskAssessment(rules, response, summary, evaluateOptions.now ?? new Date()) };
    },
    provenance: buildProvenance,
  };
}

function linkIdsOf(items: QuestionnaireItem[] | undefined, into = new Set<string>()): Set<string> {
  for (const item of items ?? []) {
    into.add(item.linkId);
    linkIdsOf(item.item, into);
  }
  return into;
}
