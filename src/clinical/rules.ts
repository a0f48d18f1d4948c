import { compileFhirPath, parseFhirPath } from '../core/fhirpath';
import type { Coding, PlanDefinition, PlanDefinitionAction, RelatedArtifact } from 'fhir/r4';
import { CANONICAL_BASE } from '../core/canonical';

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

/**
 * On an action: a Questionnaire linkId (valueString, repeatable). The action's condition is evaluated with
 * the response items of those linkIds as its focus, and depends on them alone.
 */
export const EXT_RULE_ITEM = `${CANONICAL_BASE}/StructureDefinition/rule-item`;

/** Variables the engine provides to rule expressions without rule-item (%resource, %scoreMin, ...). */
export type RuleEnv = Record<string, unknown>;
export type CompiledExpression = (resource: unknown, env: RuleEnv) => unknown[];

export interface Rule {
  id: string;
  title: string;
  description?: string;
  expression: string;
  evaluate: CompiledExpression;
  /** The linkIds whose items are the focus (rule-item); undefined: evaluated with the engine's variables. */
  items?: string[];
  /** The %variables the expression reads (from its parse tree). */
  variables: string[];
  /**
   * True when the result depends only on the focus items (or the variables named) and not on the clock
   * or outside data: the engine may then reuse a result computed for the same inputs.
   */
  pure: boolean;
  /** Identifies the rule's computation (expression and focus) for sharing results between rules. */
  key: string;
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
  /** Optional rule for the cause's qualitativeRisk (see EXT_RISK_EXPRESSION), tabulated at start-up. */
  risk?: RiskTable;
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

/** Every rule of the plan: criteria, red flags, cause features, next steps and categories. */
export function everyRule(rules: CompiledRules): Rule[] {
  return [
    ...rules.wellsCriteria,
    ...rules.peRedFlags,
    ...rules.causes.flatMap((c) => c.features),
    ...rules.nextSteps,
    ...rules.categories.values(),
  ];
}

export class RuleError extends Error {}

/** FHIRPath functions whose result depends on more than their input: never reused between evaluations. */
const IMPURE_FUNCTIONS = new Set(['now', 'today', 'timeOfDay', 'resolve', 'memberOf', 'trace', 'defineVariable']);

interface ParseNode {
  type: string;
  text?: string;
  children?: ParseNode[];
}

const analysed = new Map<string, { variables: string[]; functions: string[] }>();

/** The %variables and function names an expression uses, read from its parse tree. */
function analyse(expression: string): { variables: string[]; functions: string[] } {
  const known = analysed.get(expression);
  if (known) return known;
  const variables = new Set<string>();
  const functions = new Set<string>();
  const visit = (node: ParseNode): void => {
    if (node.type === 'ExternalConstantTerm') {
      const name = node.children?.[0]?.children?.[0]?.text ?? node.text ?? '';
      variables.add(name.replace(/^[`"']|[`"']$/g, ''));
    } else if (node.type === 'FunctionInvocation') {
      const name = node.children?.[0]?.children?.[0]?.text;
      if (name) functions.add(name);
    }
    for (const child of node.children ?? []) visit(child);
  };
  visit(parseFhirPath(expression) as ParseNode);
  const result = { variables: [...variables], functions: [...functions] };
  analysed.set(expression, result);
  return result;
}

/** The linkIds a whole-response expression names (`linkId = 'x'`), to check against the Questionnaire. */
function namedLinkIds(expression: string): string[] {
  return [...expression.matchAll(/linkId\s*=\s*'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]);
}

/** Item-focused rules see QuestionnaireResponse items; the others the whole response as %resource. */
const ITEM_BASE = 'QuestionnaireResponse.item';

/** Compiled expressions by focus and text: the same condition (`answer.value = true`) serves many rules. */
const compiledOnce = new Map<string, CompiledExpression>();

function compile(expression: string, where: string, focus: 'item' | 'resource' = 'resource'): CompiledExpression {
  const key = `${focus}\u0000${expression}`;
  let fn = compiledOnce.get(key);
  if (fn) return fn;
  try {
    fn = compileFhirPath(focus === 'item' ? { base: ITEM_BASE, expression } : expression);
  } catch (err) {
    throw new RuleError(`${where}: cannot compile FHIRPath "${expression}": ${(err as Error).message}`);
  }
  compiledOnce.set(key, fn);
  return fn;
}

function group(plan: PlanDefinition, id: string): PlanDefinitionAction {
  const found = plan.action?.find((a) => a.id === id);
  if (!found) throw new RuleError(`PlanDefinition/${plan.id}: action group "${id}" is missing`);
  return found;
}

/** What rule loading checks the rules against. */
export interface RuleContext {
  /** The linkIds of the Questionnaire the rules read: a rule naming any other stops the start. */
  linkIds?: ReadonlySet<string>;
}

function rule(action: PlanDefinitionAction, where: string, context: RuleContext): Rule {
  const expression = action.condition?.find((c) => c.kind === 'applicability')?.expression;
  if (!action.id) throw new RuleError(`${where}: action without id`);
  if (!expression?.expression || expression.language !== 'text/fhirpath') {
    throw new RuleError(`${where}/${action.id}: needs an applicability condition in text/fhirpath`);
  }
  const at = `${where}/${action.id}`;
  const text = expression.expression;
  const itemExtensions = action.extension?.filter((e) => e.url === EXT_RULE_ITEM) ?? [];
  if (itemExtensions.some((e) => typeof e.valueString !== 'string' || !e.valueString))
    throw new RuleError(`${at}: rule-item needs a valueString linkId`);
  const items = itemExtensions.map((e) => e.valueString as string);
  const focused = items.length > 0;
  const evaluate = compile(text, at, focused ? 'item' : 'resource');
  const { variables, functions } = analyse(text);
  if (focused && variables.length) {
    throw new RuleError(`${at}: a condition with rule-item reads its items only, not %${variables.join(', %')}`);
  }
  for (const linkId of [...items, ...namedLinkIds(text)]) {
    if (context.linkIds && !context.linkIds.has(linkId)) throw new RuleError(`${at}: linkId "${linkId}" is not in the Questionnaire`);
  }
  return {
    id: action.id,
    title: action.title ?? action.id,
    description: action.description,
    expression: text,
    evaluate,
    ...(focused ? { items } : {}),
    variables,
    pure: !functions.some((f) => IMPURE_FUNCTIONS.has(f)) && !variables.includes('resource') && !variables.includes('context'),
    key: `${focused ? items.join(',') : '%'}\u0000${text}`,
  };
}

function numberExtension(action: PlanDefinitionAction, url: string): number | undefined {
  const ext = action.extension?.find((e) => e.url === url);
  return ext?.valueDecimal ?? ext?.valueInteger;
}

const LEVELS = ['low', 'moderate', 'high'] as const;
type Level = (typeof LEVELS)[number];

/** A cause's qualitativeRisk for each weighted risk and Wells category (absent: undetermined). */
export type RiskTable = (weightRisk: Level, threeLevel: Level | undefined) => Level;

/**
 * A risk-expression may only depend on %weightRisk and %threeLevel: it is evaluated for every
 * combination at start-up, so a rule that yields anything but low/moderate/high stops the start rather
 * than a request, and evaluations look the answer up.
 */
function riskTable(expression: string, where: string): RiskTable {
  const fn = compile(expression, where);
  const { variables, functions } = analyse(expression);
  const extra = variables.filter((v) => v !== 'weightRisk' && v !== 'threeLevel');
  if (extra.length || functions.some((f) => IMPURE_FUNCTIONS.has(f))) {
    throw new RuleError(`${where}: a risk-expression may read %weightRisk and %threeLevel only`);
  }
  const table = new Map<string, Level>();
  for (const weightRisk of LEVELS) {
    for (const threeLevel of [undefined, ...LEVELS]) {
      const [value] = fn({}, { weightRisk, threeLevel: threeLevel ?? [] });
      if (typeof value !== 'string' || !(LEVELS as readonly string[]).includes(value)) {
        throw new RuleError(
          `${where}: risk-expression gives ${JSON.stringify(value)} for weightRisk ${weightRisk}, threeLevel ` +
            `${JSON.stringify(threeLevel ?? [])}`,
        );
      }
      table.set(`${weightRisk}|${threeLevel ?? ''}`, value as Level);
    }
  }
  return (weightRisk, threeLevel) => table.get(`${weightRisk}|${threeLevel ?? ''}`)!;
}

export function compileRules(plan: PlanDefinition, context: RuleContext = {}): CompiledRules {
  const where = `PlanDefinition/${plan.id}`;

  const wellsCriteria = (group(plan, 'wells-criteria').action ?? []).map((a) => {
    const points = numberExtension(a, EXT_RULE_POINTS);
    if (points === undefined) throw new RuleError(`${where}/${a.id}: Wells criterion without points`);
    return { ...rule(a, where, context), points };
  });

  const categories = new Map<string, Category>();
  for (const a of group(plan, 'wells-categories').action ?? []) {
    const code = a.code?.[0]?.coding?.[0];
    if (!code) throw new RuleError(`${where}/${a.id}: category without code`);
    categories.set(a.id!, {
      ...rule(a, where, context),
      code,
      probability: numberExtension(a, EXT_PROBABILITY),
      citations: a.documentation ?? [],
    });
  }
  for (const id of ['likely', 'unlikely', 'high', 'moderate', 'low']) {
    if (!categories.has(id)) throw new RuleError(`${where}: category "${id}" is missing`);
  }

  const peRedFlags = (group(plan, 'pe-red-flags').action ?? []).map((a) => rule(a, where, context));

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
      ...(riskExpression ? { risk: riskTable(riskExpression, `${where}/${a.id}/risk-expression`) } : {}),
      features: (a.action ?? []).map((f) => {
        const weight = numberExtension(f, EXT_RULE_WEIGHT);
        if (weight === undefined) throw new RuleError(`${where}/${a.id}/${f.id}: feature without weight`);
        return { ...rule(f, `${where}/${a.id}`, context), weight };
      }),
    };
  });

  const nextSteps = (group(plan, 'next-steps').action ?? []).map((a) => {
    if (!a.textEquivalent) throw new RuleError(`${where}/${a.id}: next step without textEquivalent`);
    return { ...rule(a, where, context), text: a.textEquivalent };
  });

  return { plan, wellsCriteria, categories, peRedFlags, causes, riskThresholds, nextSteps };
}
