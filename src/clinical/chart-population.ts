import type { Bundle, Extension, Questionnaire, QuestionnaireItem, Resource } from 'fhir/r4';
import { EXT_INITIAL_EXPRESSION, EXT_ITEM_POPULATION_CONTEXT, EXT_LAUNCH_CONTEXT, EXT_VARIABLE } from '../core/canonical';
import { BoundedMap } from '../core/bounded-map';
import { compileFhirPath, parseFhirPath, type CompiledFhirPath } from '../core/fhirpath';
import type { ValueSetIndex } from './value-set-index';

/**
 * Pre-filling from the chart, as the Questionnaire says (SDC): `itemPopulationContext` selects the chart
 * entries that support an item (named, e.g. %chartEvidence) and `initialExpression` turns them into the
 * answer. Both are compiled once per Questionnaire. The same evaluation serves $populate and the CDS
 * patient-view chart review, so the form and the cards cannot disagree.
 */

/** What the chart holds, by the names the Questionnaire uses (launchContext and x-fhir-query variables). */
export interface ChartContext {
  patient?: Resource;
  /** Named collections: `conditions`, `procedures`, ... (each a list of resources). */
  collections: Record<string, Resource[]>;
}

export interface PopulatedItem {
  linkId: string;
  item: QuestionnaireItem;
  /** The answer values the initialExpression produced (e.g. [true]); empty when the chart is silent. */
  values: unknown[];
  /** The chart entries the answer rests on (the itemPopulationContext). */
  evidence: Resource[];
}

export interface ChartQuery {
  /** Variable name (`conditions`). */
  name: string;
  /** x-fhir-query template, e.g. `Condition?patient={{%patient.id}}`. */
  query: string;
  /** The resource type it searches. */
  resourceType: string;
}

export interface PopulationPlan {
  questionnaire: Questionnaire;
  /** The launch contexts the Questionnaire declares (name -> resource type). */
  launchContexts: Record<string, string>;
  /** The x-fhir-query variables (the chart collections). */
  queries: ChartQuery[];
  /** Items with population expressions, in Questionnaire order. */
  linkIds: string[];
  evaluate(chart: ChartContext, now: Date): PopulatedItem[];
  /** Runs one item's evidence selection over the chart (the CDS chart rules use this). */
  evidenceFor(linkId: string, chart: ChartContext, now: Date): Resource[];
}

/** Charts whose evidence is kept (oldest dropped first). */
const EVIDENCE_CACHE_SIZE = 2_000;

export class PopulationError extends Error {
  override name = 'PopulationError';
}

function expressionOf(
  extensions: Extension[] | undefined,
  url: string,
): { name?: string; expression: string; language: string } | undefined {
  const e = extensions?.find((x) => x.url === url)?.valueExpression;
  if (!e?.expression || !e.language) return undefined;
  return { name: e.name, expression: e.expression, language: e.language };
}

/** fhirpath.js nodes ({data, ...}) back to plain JSON. */
function plain(value: unknown): unknown {
  return typeof value === 'object' && value !== null && 'data' in value && 'path' in value ? (value as { data: unknown }).data : value;
}

function bundleOf(resources: Resource[]): Bundle {
  return { resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) };
}

function flatten(items: QuestionnaireItem[] | undefined): QuestionnaireItem[] {
  return (items ?? []).flatMap((i) => [i, ...flatten(i.item)]);
}

/**
 * Clock functions fhirpath.js answers itself, from its own clock: a call to them is not seen, so a branch
 * that names one is evaluated at every call. `now()` is this plan's own (it counts its calls).
 */
const ENGINE_CLOCK_FUNCTION = /\b(today|timeOfDay)\s*\(/;

/**
 * The branches of an expression whose outermost operator is `|` (`A | B | C`), as text; the expression
 * itself when it is not a union. `A | B` is the union of what A and B select, so each branch can be
 * evaluated (and its result kept) on its own. The text is cut at the `|` outside parentheses, brackets,
 * braces, strings and quoted identifiers, and the cut is used only when the parse tree agrees: a union
 * at the root with as many branches (`A | B = C` is an equality, and is not cut).
 */
export function unionBranches(expression: string): string[] {
  const pieces: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" || c === '`') {
      i = closingQuote(expression, i);
      if (i < 0) return [expression];
    } else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === '|' && depth === 0) {
      pieces.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  pieces.push(expression.slice(start).trim());
  return pieces.length > 1 && unionLeaves(rootOf(parseFhirPath(expression))) === pieces.length ? pieces : [expression];
}

interface ParseNode {
  type?: string;
  children?: ParseNode[];
}

/** The node under fhirpath.js's EntireExpression wrappers. */
function rootOf(tree: unknown): ParseNode {
  let node = tree as ParseNode;
  while (node.type === 'EntireExpression' && node.children?.length === 1) node = node.children[0];
  return node;
}

function unionLeaves(node: ParseNode): number {
  return node.type === 'UnionExpression' ? (node.children ?? []).reduce((n, child) => n + unionLeaves(child), 0) : 1;
}

/** Index of the quote closing the one at `start` (backslash escapes skipped), or -1. */
function closingQuote(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === text[start]) return i;
  }
  return -1;
}

/** Compiles the population expressions of a Questionnaire (throws PopulationError on a broken one). */
export function compilePopulationPlan(questionnaire: Questionnaire, valueSets: ValueSetIndex): PopulationPlan {
  // now() follows the caller's clock (tests and replays pass one): set just before each synchronous evaluation.
  let clock = new Date();
  // Compiled once: evaluating an `@instant` literal would parse FHIRPath on every now() call.
  const toDateTime = compileFhirPath('%now.toDateTime()', { withoutModel: true, resolveInternalTypes: false });
  // Counted, so an evaluation that never asked for the time is known not to depend on it.
  let clockReads = 0;
  const nowValue = () => {
    clockReads++;
    return toDateTime({}, { now: clock.toISOString() });
  };
  const functions = { ...valueSets.functions, now: { fn: () => nowValue() } };
  const where = `Questionnaire/${questionnaire.id}`;
  const compile = (expression: string, at: string): CompiledFhirPath => {
    try {
      return compileFhirPath(expression, { userInvocationTable: functions });
    } catch (err) {
      throw new PopulationError(`${at}: FHIRPath does not compile: ${(err as Error).message}`);
    }
  };

  const launchContexts: Record<string, string> = {};
  for (const ext of questionnaire.extension ?? []) {
    if (ext.url !== EXT_LAUNCH_CONTEXT) continue;
    const name = ext.extension?.find((e) => e.url === 'name')?.valueCoding?.code;
    const type = ext.extension?.find((e) => e.url === 'type')?.valueCode;
    if (!name || !type) throw new PopulationError(`${where}: launchContext needs a name and a type`);
    launchContexts[name] = type;
  }
  const queries: ChartQuery[] = [];
  for (const ext of questionnaire.extension ?? []) {
    const e = ext.url === EXT_VARIABLE ? ext.valueExpression : undefined;
    if (e?.language !== 'application/x-fhir-query' || !e.name || !e.expression) continue;
    const resourceType = /^([A-Z][A-Za-z]+)\?/.exec(e.expression)?.[1];
    if (!resourceType) throw new PopulationError(`${where}: variable ${e.name}: x-fhir-query must be Type?params`);
    queries.push({ name: e.name, query: e.expression, resourceType });
  }

  const plans = flatten(questionnaire.item).flatMap((item) => {
    const context = expressionOf(item.extension, EXT_ITEM_POPULATION_CONTEXT);
    const initial = expressionOf(item.extension, EXT_INITIAL_EXPRESSION);
    if (!initial) return [];
    const at = `${where} item ${item.linkId}`;
    for (const e of [context, initial])
      if (e && e.language !== 'text/fhirpath') throw new PopulationError(`${at}: only text/fhirpath population expressions are supported`);
    // A value set the server does not hold would make the item silently never match: refuse to start instead.
    for (const e of [context, initial]) {
      for (const m of e?.expression.matchAll(/inValueSet\(\s*'([^']+)'\s*\)/g) ?? []) {
        if (!valueSets.get(m[1])) throw new PopulationError(`${at}: unknown value set ${m[1]}`);
      }
    }
    if (context && !context.name) throw new PopulationError(`${at}: itemPopulationContext needs a name`);
    // Whole first: a broken expression is refused with its own message before it is cut into branches.
    if (context) compile(context.expression, at);
    return [
      {
        item,
        contextName: context?.name,
        // The selection, branch by branch: what a branch selected without reading the clock depends on the
        // chart alone, and is kept for the same chart (the next chart open of the same patient).
        context: context
          ? unionBranches(context.expression).map((branch) => ({ fn: compile(branch, at), clockSeen: !ENGINE_CLOCK_FUNCTION.test(branch) }))
          : undefined,
        initial: compile(initial.expression, at),
      },
    ];
  });
  const byLinkId = new Map(plans.map((p) => [p.item.linkId, p]));

  const envOf = (chart: ChartContext): Record<string, unknown> => {
    const env: Record<string, unknown> = {};
    for (const name of Object.keys(launchContexts)) if (name === 'patient') env[name] = chart.patient ?? {};
    for (const q of queries) env[q.name] = bundleOf(chart.collections[q.name] ?? []);
    return env;
  };
  // A chart entry from the EHR with a field of the wrong JSON type can make a FHIRPath function throw:
  // the item then stays unanswered rather than failing the whole call.
  const run = (fn: CompiledFhirPath, env: Record<string, unknown>): unknown[] => {
    try {
      return fn({}, env);
    } catch {
      return [];
    }
  };
  const selected = (fn: CompiledFhirPath, env: Record<string, unknown>): Resource[] =>
    run(fn, env)
      .map(plain)
      .filter((r) => typeof r === 'object' && r !== null) as Resource[];

  const evidenceCache = new BoundedMap<string, Resource[]>(EVIDENCE_CACHE_SIZE);
  /** The chart's variables and their JSON, made once per chart however many items read them. */
  const envs = new WeakMap<ChartContext, { env: Record<string, unknown>; json?: string }>();
  const envFor = (chart: ChartContext) => {
    let known = envs.get(chart);
    if (!known) envs.set(chart, (known = { env: envOf(chart) }));
    return known;
  };

  /** What the item's selection picks from the chart: the union of its branches (duplicates once, as `|` does). */
  const evidenceOf = (plan: (typeof plans)[number], chart: ChartContext, cache: boolean): Resource[] => {
    if (!plan.context) return [];
    const known = envFor(chart);
    const parts = plan.context.map((branch, i) => {
      if (!cache || !branch.clockSeen) return selected(branch.fn, known.env);
      // A patient's chart comes again on every chart open (patient-view): the same chart, the same evidence,
      // when the evaluation never called now() (a branch without it, or one with nothing to date on this
      // chart, e.g. no Procedure): its result is then the same at any time.
      const key = `${plan.item.linkId}\u0000${i}\u0000${(known.json ??= JSON.stringify(known.env))}`;
      let found = evidenceCache.get(key);
      if (found) return found;
      const reads = clockReads;
      found = selected(branch.fn, known.env);
      if (clockReads === reads) evidenceCache.set(key, found);
      return found;
    });
    return parts.length === 1 ? parts[0] : union(parts);
  };
  return {
    questionnaire,
    launchContexts,
    queries,
    linkIds: plans.map((p) => p.item.linkId),
    evaluate(chart, now) {
      clock = now;
      const env = envFor(chart).env;
      return plans.map((plan) => {
        const evidence = evidenceOf(plan, chart, false);
        const values = run(plan.initial, plan.contextName ? { ...env, [plan.contextName]: evidence } : env).map(plain);
        return { linkId: plan.item.linkId, item: plan.item, values, evidence };
      });
    },
    evidenceFor(linkId, chart, now) {
      const plan = byLinkId.get(linkId);
      if (!plan) throw new PopulationError(`${where}: item ${linkId} has no population expressions`);
      clock = now;
      return evidenceOf(plan, chart, true);
    },
  };
}

/** The union of selections: every resource once (FHIRPath `|` compares by value). */
function union(parts: Resource[][]): Resource[] {
  const seen = new Set<string>();
  const all: Resource[] = [];
  for (const part of parts) {
    for (const resource of part) {
      const json = JSON.stringify(resource);
      if (seen.has(json)) continue;
      seen.add(json);
      all.push(resource);
    }
  }
  return all;
}
