import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import type { Coding, PlanDefinition, PlanDefinitionAction, RelatedArtifact } from 'fhir/r4';
import { CANONICAL_BASE } from './types';

/**
 * The clinical rules are data: fhir-resources/PlanDefinition-calf-pain-assessment.json. This module
 * turns that PlanDefinition into compiled FHIRPath functions, once, at start-up. The action groups
 * (by id) have fixed meanings; everything clinical (criteria, points, cut-offs, weights, wording,
 * citations) comes from the resource.
 */

export const EXT_RULE_POINTS = `${CANONICAL_BASE}/StructureDefinition/rule-points`;
export const EXT_RULE_WEIGHT = `${CANONICAL_BASE}/StructureDefinition/rule-weight`;
export const EXT_PROBABILITY = `${CANONICAL_BASE}/StructureDefinition/probability`;
export const EXT_RISK_THRESHOLD = `${CANONICAL_BASE}/StructureDefinition/risk-threshold`;
/** On a cause: FHIRPath giving its qualitativeRisk code from %weightRisk and %threeLevel (overrides the thresholds). */
export const EXT_RISK_EXPRESSION = `${CANONICAL_BASE}/StructureDefinition/risk-expression`;

/** Variables the engine provides to rule expressions besides %resource. */
export type RuleEnv = Record<string, unknown>;
export type CompiledExpression = (resource: unknown, env: RuleEnv) => unknown[];

export interface Rule {
  id: string;
  title: string;
  description?: string;
  expression: string;
  evaluate: CompiledExpression;
}

export interface WellsCriterion extends Rule {
  points: number;
}

export interface Category extends Rule {
  code: Coding;
  probability?: number;
  citations: RelatedArtifact[];
}

export interface Feature extends Rule {
  weight: number;
}

export interface Cause {
  id: string;
  title: string;
  description?: string;
  /** SNOMED CT concept(s) where they exist, and the project code. */
  codes: Coding[];
  features: Feature[];
  /** Optional rule for the cause's qualitativeRisk (see EXT_RISK_EXPRESSION). */
  risk?: CompiledExpression;
}

export interface NextStep extends Rule {
  text: string;
}

export interface CompiledRules {
  plan: PlanDefinition;
  wellsCriteria: WellsCriterion[];
  /** Keyed by action id: likely, unlikely, high, moderate, low. */
  categories: Map<string, Category>;
  peRedFlags: Rule[];
  causes: Cause[];
  riskThresholds: { high: number; moderate: number };
  nextSteps: NextStep[];
}

export class RuleError extends Error {}

function compile(expression: string, where: string): CompiledExpression {
  try {
    // Rules always run against a QuestionnaireResponse passed as %resource.
    return fhirpath.compile(expression, r4Model) as CompiledExpression;
  } catch (err) {
    throw new RuleError(`${where}: cannot compile FHIRPath "${expression}": ${(err as Error).message}`);
  }
}

function group(plan: PlanDefinition, id: string): PlanDefinitionAction {
  const found = plan.action?.find((a) => a.id === id);
  if (!found) throw new RuleError(`PlanDefinition/${plan.id}: action group "${id}" is missing`);
  return found;
}

function rule(action: PlanDefinitionAction, where: string): Rule {
  const expression = action.condition?.find((c) => c.kind === 'applicability')?.expression;
  if (!action.id) throw new RuleError(`${where}: action without id`);
  if (!expression?.expression || expression.language !== 'text/fhirpath') {
    throw new RuleError(`${where}/${action.id}: needs an applicability condition in text/fhirpath`);
  }
  return {
    id: action.id,
    title: action.title ?? action.id,
    description: action.description,
    expression: expression.expression,
    evaluate: compile(expression.expression, `${where}/${action.id}`),
  };
}

function numberExtension(action: PlanDefinitionAction, url: string): number | undefined {
  const ext = action.extension?.find((e) => e.url === url);
  return ext?.valueDecimal ?? ext?.valueInteger;
}

const LEVELS = ['low', 'moderate', 'high'];

/**
 * A risk-expression may only depend on %weightRisk and %threeLevel: try every combination at start-up,
 * so a rule that yields anything but low/moderate/high stops the start rather than a request.
 */
function checkedRiskExpression(fn: CompiledExpression, where: string): CompiledExpression {
  const probe = { resourceType: 'QuestionnaireResponse', status: 'completed' };
  for (const weightRisk of LEVELS) {
    for (const threeLevel of [[], ...LEVELS]) {
      const [value] = fn(probe, { resource: probe, weightRisk, threeLevel, scoreMin: 0, scoreMax: 0, score: [] });
      if (typeof value !== 'string' || !LEVELS.includes(value)) {
        throw new RuleError(`${where}: risk-expression gives ${JSON.stringify(value)} for weightRisk ${weightRisk}, threeLevel ${JSON.stringify(threeLevel)}`);
      }
    }
  }
  return fn;
}

export function compileRules(plan: PlanDefinition): CompiledRules {
  const where = `PlanDefinition/${plan.id}`;

  const wellsCriteria = (group(plan, 'wells-criteria').action ?? []).map((a) => {
    const points = numberExtension(a, EXT_RULE_POINTS);
    if (points === undefined) throw new RuleError(`${where}/${a.id}: Wells criterion without points`);
    return { ...rule(a, where), points };
  });

  const categories = new Map<string, Category>();
  for (const a of group(plan, 'wells-categories').action ?? []) {
    const code = a.code?.[0]?.coding?.[0];
    if (!code) throw new RuleError(`${where}/${a.id}: category without code`);
    categories.set(a.id!, { ...rule(a, where), code, probability: numberExtension(a, EXT_PROBABILITY), citations: a.documentation ?? [] });
  }
  for (const id of ['likely', 'unlikely', 'high', 'moderate', 'low']) {
    if (!categories.has(id)) throw new RuleError(`${where}: category "${id}" is missing`);
  }

  const peRedFlags = (group(plan, 'pe-red-flags').action ?? []).map((a) => rule(a, where));

  const differential = group(plan, 'differential');
  const threshold = differential.extension?.find((e) => e.url === EXT_RISK_THRESHOLD)?.extension ?? [];
  const riskThresholds = {
    high: threshold.find((e) => e.url === 'high')?.valueDecimal ?? NaN,
    moderate: threshold.find((e) => e.url === 'moderate')?.valueDecimal ?? NaN,
  };
  if (Number.isNaN(riskThresholds.high) || Number.isNaN(riskThresholds.moderate)) {
    throw new RuleError(`${where}/differential: risk-threshold high and moderate are required`);
  }
  const causes = (differential.action ?? []).map((a): Cause => {
    const codes = a.code?.[0]?.coding ?? [];
    if (!a.id || !codes.length) throw new RuleError(`${where}/differential: each cause needs an id and a code`);
    const riskExpression = a.extension?.find((e) => e.url === EXT_RISK_EXPRESSION)?.valueExpression?.expression;
    return {
      id: a.id,
      title: a.title ?? a.id,
      description: a.description,
      codes,
      ...(riskExpression ? { risk: checkedRiskExpression(compile(riskExpression, `${where}/${a.id}/risk-expression`), `${where}/${a.id}`) } : {}),
      features: (a.action ?? []).map((f) => {
        const weight = numberExtension(f, EXT_RULE_WEIGHT);
        if (weight === undefined) throw new RuleError(`${where}/${a.id}/${f.id}: feature without weight`);
        return { ...rule(f, `${where}/${a.id}`), weight };
      }),
    };
  });

  const nextSteps = (group(plan, 'next-steps').action ?? []).map((a) => {
    if (!a.textEquivalent) throw new RuleError(`${where}/${a.id}: next step without textEquivalent`);
    return { ...rule(a, where), text: a.textEquivalent };
  });

  return { plan, wellsCriteria, categories, peRedFlags, causes, riskThresholds, nextSteps };
}
