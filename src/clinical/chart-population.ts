import type { Bundle, Extension, Questionnaire, QuestionnaireItem, Resource } from 'fhir/r4';
import { EXT_INITIAL_EXPRESSION, EXT_ITEM_POPULATION_CONTEXT, EXT_LAUNCH_CONTEXT, EXT_VARIABLE } from '../core/canonical';
import { BoundedMap } from '../core/bounded-map';
import { compileFhirPath, type CompiledFhirPath } from '../core/fhirpath';
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

/** Compiles the population expressions of a Questionnaire (throws PopulationError on a broken one). */
export function compilePopulationPlan(questionnaire: Questionnaire, valueSets: ValueSetIndex): PopulationPlan {
  // now() follows the caller's clock (tests and replays pass one): set just before each synchronous evaluation.
  let clock = new Date();
  // Compiled once: evaluating an `@instant` literal would parse FHIRPath on every now() call.
  const toDateTime = compileFhirPath('%now.toDateTime()', { withoutModel: true, resolveInternalTypes: false });
  const nowValue = () => toDateTime({}, { now: clock.toISOString() });
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
    return [
      {
        item,
        contextName: context?.name,
        context: context ? compile(context.expression, at) : undefined,
        // Without now()/today() the evidence depends on the chart alone and can be kept for the same chart.
        contextIsPure: context ? !/\b(now|today|timeOfDay)\s*\(/.test(context.expression) : false,
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
  const evidenceOf = (plan: (typeof plans)[number], env: Record<string, unknown>): Resource[] =>
    plan.context
      ? (run(plan.context, env)
          .map(plain)
          .filter((r) => typeof r === 'object' && r !== null) as Resource[])
      : [];

  const evidenceCache = new BoundedMap<string, Resource[]>(EVIDENCE_CACHE_SIZE);
  return {
    questionnaire,
    launchContexts,
    queries,
    linkIds: plans.map((p) => p.item.linkId),
    evaluate(chart, now) {
      clock = now;
      const env = envOf(chart);
      return plans.map((plan) => {
        const evidence = evidenceOf(plan, env);
        const values = run(plan.initial, plan.contextName ? { ...env, [plan.contextName]: evidence } : env).map(plain);
        return { linkId: plan.item.linkId, item: plan.item, values, evidence };
      });
    },
    evidenceFor(linkId, chart, now) {
      const plan = byLinkId.get(linkId);
      if (!plan) throw new PopulationError(`${where}: item ${linkId} has no population expressions`);
      clock = now;
      const env = envOf(chart);
      if (!plan.contextIsPure) return evidenceOf(plan, env);
      // A patient's chart comes again on every chart open (patient-view): the same chart, the same evidence.
      const key = `${linkId}\u0000${JSON.stringify(env)}`;
      const known = evidenceCache.get(key);
      if (known) return known;
      const evidence = evidenceOf(plan, env);
      evidenceCache.set(key, evidence);
      return evidence;
    },
  };
}
