import fs from 'node:fs';
import path from 'node:path';
import { compileFhirPath, parseFhirPath } from '../core/fhirpath';
import type {
  ActivityDefinition,
  CodeSystem,
  Coding,
  Duration,
  PlanDefinition,
  PlanDefinitionAction,
  Questionnaire,
  QuestionnaireItem,
  Resource,
} from 'fhir/r4';
import { CANONICAL_BASE } from '../core/canonical';
import { isHookName, type HookName, type Indicator } from '../core/cds-hooks';
import { memoByJson } from '../core/bounded-map';
import { PROJECT_ROOT } from '../core/project-root';
import type { PopulationPlan } from './chart-population';
import { loadPopulationPlans } from './population-plans';

/**
 * The card texts, the chart checks and the order triggers are data:
 * fhir-resources/PlanDefinition-cds-calf-pain-cards.json. This module loads that PlanDefinition and
 * compiles its FHIRPath conditions once, at start-up.
 */

export const CARDS_FILE = 'fhir-resources/PlanDefinition-cds-calf-pain-cards.json';
export const EXT_CARD_INDICATOR = `${CANONICAL_BASE}/StructureDefinition/cds-card-indicator`;
export const EXT_WELLS_CRITERION = `${CANONICAL_BASE}/StructureDefinition/wells-criterion`;
export const EXT_CARD_CONTENT = `${CANONICAL_BASE}/StructureDefinition/cds-card-content`;
export const EXT_SUGGESTION_RECOMMENDED = `${CANONICAL_BASE}/StructureDefinition/cds-suggestion-recommended`;
export const EXT_SUGGESTION_REMOVES = `${CANONICAL_BASE}/StructureDefinition/cds-suggestion-removes-selected`;

/** A card kind: the id of a PlanDefinition `card-*` action without the prefix. */
export type CardKind = string;

/** What a card's detail is made of, after its fixed lead (the cds-card-content extension, in order). */
export const CARD_CONTENT = [
  'red-flags',
  'missing-items',
  'score',
  'score-without-category',
  'chart-review',
  'differential',
  'questionnaire-link',
] as const;
export type CardContent = (typeof CARD_CONTENT)[number];
/** Content that needs an evaluated questionnaire response. */
const NEEDS_ASSESSMENT: readonly CardContent[] = CARD_CONTENT.filter((c) => c !== 'questionnaire-link');

/** Placeholders a card summary or lead may use (filled by src/clinical/cards.ts). */
export const CARD_PLACEHOLDERS = ['score', 'count', 'flags', 'days'] as const;
/** Placeholders a suggestion label may use (from its ActivityDefinition). */
export const SUGGESTION_PLACEHOLDERS = ['hours'] as const;

/**
 * What card conditions see: the FHIRPath root is this object. `assessment` is absent when there is no
 * recent evaluated questionnaire response; `orders` is present for order-select only.
 */
export interface CardConditionInput {
  assessment?: {
    status: 'final' | 'preliminary';
    twoLevel?: 'likely' | 'unlikely';
    wellsScore?: number;
    /** Red flags answered yes. */
    peRedFlags: number;
    /** Wells criteria not answered. */
    unanswered: number;
  };
  orders?: { dDimer: number; ultrasound: number };
}
/** The names a card condition may navigate (anything else is refused at load: a typo would never match). */
const CONDITION_NAMES = new Set([
  'assessment',
  'status',
  'twoLevel',
  'wellsScore',
  'peRedFlags',
  'unanswered',
  'orders',
  'dDimer',
  'ultrasound',
]);
/** Selected-order groups a suggestion may remove (cds-suggestion-removes-selected): the order counts a condition reads. */
export type OrderGroup = keyof NonNullable<CardConditionInput['orders']>;
export const ORDER_GROUPS: readonly OrderGroup[] = ['dDimer', 'ultrasound'];

/** A suggestion of a card: one order from a contained ActivityDefinition (a nested action). */
export interface SuggestionRule {
  id: string;
  /** Label template ({{hours}}: the ActivityDefinition's timing). */
  label: string;
  activity: ActivityDefinition;
  isRecommended: boolean;
  /** The selected draft orders this suggestion also removes (offered only when there are some with an id). */
  removes?: { group: OrderGroup; description: string };
}

export interface CardText {
  kind: CardKind;
  indicator: Indicator;
  /** Summary template with {{placeholders}}. */
  summary: string;
  /** Fixed markdown opening the detail (may hold {{placeholders}}). */
  lead: string;
  /** Guideline the card follows (label and url). */
  citation: { label: string; url: string };
  /** The card's source topic (the action's code). */
  topic: Coding;
  /** The hooks whose services may issue this card (the action's named-event triggers). */
  hooks: HookName[];
  /** Whether the card applies (the action's applicability condition, compiled once). */
  applies: (input: CardConditionInput) => boolean;
  content: CardContent[];
  suggestions: SuggestionRule[];
  selectionBehavior?: 'any' | 'at-most-one';
}

/**
 * A chart check: its texts come from the PlanDefinition; which chart entries count (code lists as
 * ValueSets, statuses, time windows) is the Questionnaire item's SDC itemPopulationContext, the
 * expression $populate runs, so the cards and the pre-filled form cannot disagree.
 */
export interface ChartRule {
  id: string;
  title: string;
  description: string;
  /** The Wells criterion (questionnaire linkId) this chart finding bears on. */
  linkId: string;
  /** The linkId of the Questionnaire group holding the criterion (where an answer is added). */
  group?: string;
  /** The look-back of a dated input (the action input's dateFilter), in milliseconds. */
  lookbackMs?: number;
  /** Whether one chart entry (Condition or Procedure) supports the criterion at `now`. */
  matches: (resource: Resource, now?: Date) => boolean;
}

export interface CardRules {
  plan: PlanDefinition;
  /** The card actions, in PlanDefinition order. */
  cards: Record<CardKind, CardText>;
  /** The cards a hook's service issues for this input, in PlanDefinition order. */
  cardsFor: (hook: HookName, input: CardConditionInput) => CardText[];
  chartRules: ChartRule[];
  /** How far back Procedures are searched on the EHR: the longest Procedure dateFilter of the chart rules. */
  procedureLookbackMs?: number;
  /** The Questionnaire's population expressions the chart rules run. */
  population: PopulationPlan;
  isDDimer: (resource: Resource) => boolean;
  isLegVeinUltrasound: (resource: Resource) => boolean;
  ultrasound: ActivityDefinition;
  dDimer: ActivityDefinition;
  overrideReasons: Coding[];
}

export class CardRulesError extends Error {
  override name = 'CardRulesError';
}

/** An action's applicability condition, which must be FHIRPath. */
function applicability(action: PlanDefinitionAction, where: string): { expression: string } {
  const expression = action.condition?.find((c) => c.kind === 'applicability')?.expression;
  if (!expression?.expression || expression.language !== 'text/fhirpath') {
    throw new CardRulesError(`${where}: needs an applicability condition in text/fhirpath`);
  }
  return { expression: expression.expression };
}

function compileCondition(action: PlanDefinitionAction, where: string): (resource: Resource) => boolean {
  const expression = applicability(action, where);
  let compiled: (resource: unknown) => unknown[];
  try {
    compiled = compileFhirPath(expression.expression);
  } catch (err) {
    throw new CardRulesError(`${where}: FHIRPath does not compile: ${(err as Error).message}`);
  }
  // The resources come from the EHR: a field of the wrong JSON type makes some FHIRPath functions throw
  // (e.g. lower() on a number). Such a resource does not match; it must not fail the hook call.
  const run = (resource: Resource): boolean => {
    try {
      const result = compiled(resource);
      return result.length === 1 && result[0] === true;
    } catch {
      return false;
    }
  };
  // A patient's chart comes again on every chart open: the answer for the same resource is kept (the
  // code lists make these expressions costly, tens of microseconds per resource).
  return IMPURE.test(expression.expression) ? run : memoByJson(run, MATCH_CACHE_SIZE);
}

function checkPlaceholders(text: string, known: readonly string[], where: string): void {
  for (const m of text.matchAll(/\{\{(\w+)\}\}/g)) {
    if (!known.includes(m[1])) throw new CardRulesError(`${where}: unknown placeholder {{${m[1]}}} (known: ${known.join(', ')})`);
  }
}

/** The MemberInvocation names of a FHIRPath expression (its parse tree). */
function memberNames(node: unknown, out: string[] = []): string[] {
  const n = node as { type?: string; text?: string; children?: unknown[] };
  if (n.type === 'MemberInvocation' && n.text) out.push(n.text);
  if (n.type === 'ExternalConstant') out.push(`%${n.text ?? ''}`);
  for (const c of n.children ?? []) memberNames(c, out);
  return out;
}

/**
 * A card action's applicability condition, FHIRPath over a CardConditionInput, compiled once. Refused at
 * load when it does not compile, names something a CardConditionInput does not have, or does not give
 * a boolean.
 */
function compileCardCondition(action: PlanDefinitionAction, where: string): (input: CardConditionInput) => boolean {
  const expression = applicability(action, where);
  const text = expression.expression;
  let compiled: (input: unknown) => unknown[];
  try {
    const unknown = memberNames(parseFhirPath(text)).filter((name) => !CONDITION_NAMES.has(name));
    if (unknown.length) throw new Error(`unknown name(s) ${unknown.join(', ')}; known: ${[...CONDITION_NAMES].join(', ')}`);
    compiled = compileFhirPath(text, { withoutModel: true });
  } catch (err) {
    throw new CardRulesError(`${where}: condition "${text}" is refused: ${(err as Error).message}`);
  }
  const decide = (input: CardConditionInput): boolean => {
    const result = compiled(input);
    if (result.length > 1 || (result.length === 1 && typeof result[0] !== 'boolean')) {
      throw new CardRulesError(`${where}: condition "${text}" gave ${JSON.stringify(result)}, not a boolean`);
    }
    return result[0] === true;
  };
  // A condition reads only its small input (a few counts and codes), so its answers are few: a pure one
  // is decided once per distinct input and then looked up.
  const applies = IMPURE.test(text) ? decide : memoByJson(decide, DECIDED_INPUTS);
  // Tried once on inputs of every shape, so a condition that fails or is not boolean is found at load.
  const probe = { status: 'final', peRedFlags: 1, unanswered: 0 } as const;
  for (const sample of [
    {},
    { assessment: { ...probe, twoLevel: 'likely', wellsScore: 2 } },
    { assessment: probe, orders: { dDimer: 1, ultrasound: 0 } },
  ]) {
    try {
      applies(sample as CardConditionInput);
    } catch (err) {
      throw new CardRulesError(`${where}: condition "${text}" fails: ${(err as Error).message}`);
    }
  }
  return applies;
}

function suggestionRule(action: PlanDefinitionAction, where: string, activity: (id: string) => ActivityDefinition): SuggestionRule {
  if (!action.id || !action.title) throw new CardRulesError(`${where}: a suggestion needs an id and a title (its label)`);
  const ref = action.definitionCanonical;
  if (!ref?.startsWith('#')) throw new CardRulesError(`${where}: definitionCanonical must reference a contained ActivityDefinition (#id)`);
  const def = activity(ref.slice(1));
  checkPlaceholders(action.title, SUGGESTION_PLACEHOLDERS, where);
  if (action.title.includes('{{hours}}') && !(def.timingDuration?.code === 'h' && def.timingDuration.value)) {
    throw new CardRulesError(`${where}: {{hours}} needs a timingDuration in hours on ActivityDefinition ${def.id}`);
  }
  const removes = action.extension?.find((e) => e.url === EXT_SUGGESTION_REMOVES)?.valueCode;
  if (removes !== undefined && !ORDER_GROUPS.includes(removes as OrderGroup)) {
    throw new CardRulesError(`${where}: cds-suggestion-removes-selected must be one of ${ORDER_GROUPS.join(', ')}`);
  }
  if (removes !== undefined && !action.textEquivalent)
    throw new CardRulesError(`${where}: textEquivalent (the removal's description) is required`);
  return {
    id: action.id,
    label: action.title.replace(/\{\{hours\}\}/g, String(def.timingDuration?.value)),
    activity: def,
    isRecommended: action.extension?.find((e) => e.url === EXT_SUGGESTION_RECOMMENDED)?.valueBoolean === true,
    ...(removes ? { removes: { group: removes as OrderGroup, description: action.textEquivalent as string } } : {}),
  };
}

const UCUM = 'http://unitsofmeasure.org';
const DURATION_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, wk: 7 * 86_400_000 };
const FHIRPATH_UNIT_MS: Record<string, number> = { hours: DURATION_MS.h, days: DURATION_MS.d, weeks: DURATION_MS.wk };

function durationMs(d: Duration | undefined, where: string): number {
  const unit = d?.system === UCUM && d.code ? DURATION_MS[d.code] : undefined;
  if (unit === undefined || typeof d?.value !== 'number' || d.value <= 0) {
    throw new CardRulesError(`${where}: a duration needs a positive value and a UCUM code h, d or wk`);
  }
  return d.value * unit;
}

/** The look-back of a chart action's dated input (input.dateFilter.valueDuration: "within this long before now"). */
function inputLookbackMs(action: PlanDefinitionAction, where: string): number | undefined {
  const filters = (action.input ?? []).flatMap((i) => i.dateFilter ?? []);
  if (!filters.length) return undefined;
  return Math.max(...filters.map((f) => durationMs(f.valueDuration, `${where} dateFilter`)));
}

function findItem(items: QuestionnaireItem[] | undefined, linkId: string): QuestionnaireItem | undefined {
  for (const item of items ?? []) {
    if (item.linkId === linkId) return item;
    const inner = findItem(item.item, linkId);
    if (inner) return inner;
  }
  return undefined;
}

/** The linkId of the group directly holding `linkId` (undefined at the top level). */
function parentGroup(items: QuestionnaireItem[] | undefined, linkId: string, parent?: string): string | undefined {
  for (const item of items ?? []) {
    if (item.linkId === linkId) return parent;
    const inner = parentGroup(item.item, linkId, item.type === 'group' ? item.linkId : parent);
    if (inner) return inner;
  }
  return undefined;
}

/**
 * The chart action's window and the Questionnaire item's population expression (`now() - N weeks`) must
 * say the same, or the EHR search would miss entries the form counts.
 */
function checkPopulationWindow(questionnaire: Questionnaire, linkId: string, lookbackMs: number, where: string): void {
  const expressions = (findItem(questionnaire.item, linkId)?.extension ?? []).map((e) => e.valueExpression?.expression ?? '');
  const windows = expressions.flatMap((e) => [...e.matchAll(/now\(\)\s*-\s*(\d+)\s*'?(hours|days|weeks)'?/g)]);
  if (windows.some((m) => Number(m[1]) * FHIRPATH_UNIT_MS[m[2]] !== lookbackMs)) {
    throw new CardRulesError(`${where}: dateFilter disagrees with the population window of Questionnaire item ${linkId}`);
  }
}

/** FHIRPath functions whose answer depends on more than the resource: such a rule is never cached. */
const IMPURE = /\b(now|today|timeOfDay|resolve|memberOf|trace)\s*\(/;
/** Distinct inputs whose card-condition answers are kept (oldest dropped first). */
const DECIDED_INPUTS = 1000;
/** Resources whose rule results are kept, per rule (oldest dropped first). */
const MATCH_CACHE_SIZE = 2_000;

const COLLECTION_OF: Record<string, string> = { Condition: 'conditions', Procedure: 'procedures' };

/**
 * Builds the compiled rules from the PlanDefinition resource (throws CardRulesError when incomplete).
 * `population` is the calf-pain Questionnaire's (loaded from the project when not given).
 */
export function compileCardRules(plan: PlanDefinition, population: PopulationPlan = loadPopulationPlans().calfPain): CardRules {
  const where = `PlanDefinition/${plan.id}`;
  const actions = new Map((plan.action ?? []).map((a) => [a.id ?? '', a]));
  const action = (id: string): PlanDefinitionAction => {
    const found = actions.get(id);
    if (!found) throw new CardRulesError(`${where}: action "${id}" is missing`);
    return found;
  };
  const cite = Object.fromEntries((plan.relatedArtifact ?? []).map((r) => [r.label ?? '', r]));

  const contained = plan.contained ?? [];
  const activity = (id: string): ActivityDefinition => {
    const found = contained.find((r) => r.resourceType === 'ActivityDefinition' && r.id === id) as ActivityDefinition | undefined;
    if (!found?.code?.coding?.length) throw new CardRulesError(`${where}: contained ActivityDefinition "${id}" with a code is required`);
    return found;
  };

  const cards: Record<CardKind, CardText> = {};
  for (const a of (plan.action ?? []).filter((x) => x.id?.startsWith('card-'))) {
    const kind = (a.id as string).slice('card-'.length);
    const at = `${where}/${a.id}`;
    const indicator = a.extension?.find((e) => e.url === EXT_CARD_INDICATOR)?.valueCode;
    if (indicator !== 'info' && indicator !== 'warning' && indicator !== 'critical') {
      throw new CardRulesError(`${at}: indicator extension must be info, warning or critical`);
    }
    if (!a.title || !a.description) throw new CardRulesError(`${at}: title and description are required`);
    checkPlaceholders(`${a.title} ${a.description}`, CARD_PLACEHOLDERS, at);
    const doc = a.documentation?.[0];
    const label = doc?.label ?? 'ng158';
    if (!cite[label]) throw new CardRulesError(`${at}: documentation label "${label}" is not a relatedArtifact of the PlanDefinition`);
    const url = doc?.url ?? cite[label]?.url;
    if (!url) throw new CardRulesError(`${at}: documentation url is required`);
    const topic = a.code?.[0]?.coding?.[0];
    if (!topic?.system || !topic.code) throw new CardRulesError(`${at}: code (the card's topic) is required`);
    const hooks = (a.trigger ?? []).map((t) => t.name);
    if (!hooks.length || !hooks.every(isHookName)) {
      throw new CardRulesError(`${at}: trigger must name the hooks (named-event, e.g. patient-view or order-select)`);
    }
    const content = (a.extension ?? []).filter((e) => e.url === EXT_CARD_CONTENT).map((e) => e.valueCode as CardContent);
    for (const c of content) if (!CARD_CONTENT.includes(c)) throw new CardRulesError(`${at}: unknown cds-card-content "${c}"`);
    if (a.selectionBehavior !== undefined && a.selectionBehavior !== 'any' && a.selectionBehavior !== 'at-most-one') {
      throw new CardRulesError(`${at}: selectionBehavior must be any or at-most-one`);
    }
    const suggestions = (a.action ?? []).map((sub) => suggestionRule(sub, `${at}/${sub.id ?? '?'}`, activity));
    const applies = compileCardCondition(a, at);
    // A card that can apply without an assessment must not need one.
    if (applies({})) {
      const needs = content.filter((c) => NEEDS_ASSESSMENT.includes(c));
      if (needs.length || suggestions.length || /\{\{(score|count|flags)\}\}/.test(`${a.title} ${a.description}`)) {
        throw new CardRulesError(`${at}: applies without an assessment but needs one (content, suggestions or placeholders)`);
      }
    }
    cards[kind] = {
      kind,
      indicator,
      summary: a.title,
      lead: a.description,
      citation: { label: label.toUpperCase(), url },
      topic: { system: topic.system, code: topic.code, ...(topic.display ? { display: topic.display } : {}) },
      hooks,
      applies,
      content,
      suggestions,
      ...(a.selectionBehavior ? { selectionBehavior: a.selectionBehavior } : {}),
    };
  }
  const cardList = Object.values(cards);
  if (!cardList.length) throw new CardRulesError(`${where}: no card action (card-*)`);

  const chartRules: ChartRule[] = (plan.action ?? [])
    .filter((a) => a.id?.startsWith('chart-'))
    .map((a) => {
      const linkId = a.extension?.find((e) => e.url === EXT_WELLS_CRITERION)?.valueString;
      if (!linkId) throw new CardRulesError(`${where}/${a.id}: wells-criterion extension is required`);
      if (!population.linkIds.includes(linkId)) {
        throw new CardRulesError(`${where}/${a.id}: Questionnaire item ${linkId} has no population expressions (itemPopulationContext)`);
      }
      const lookbackMs = inputLookbackMs(a, `${where}/${a.id}`);
      if (lookbackMs !== undefined) checkPopulationWindow(population.questionnaire, linkId, lookbackMs, `${where}/${a.id}`);
      const group = parentGroup(population.questionnaire.item, linkId);
      return {
        id: a.id as string,
        title: a.title ?? (a.id as string),
        description: a.description ?? '',
        linkId,
        ...(group ? { group } : {}),
        ...(lookbackMs !== undefined ? { lookbackMs } : {}),
        matches: (resource: Resource, now = new Date()) => {
          const name = COLLECTION_OF[resource.resourceType];
          return name !== undefined && population.evidenceFor(linkId, { collections: { [name]: [resource] } }, now).length > 0;
        },
      };
    });

  const reasons = contained.find((r) => r.resourceType === 'CodeSystem' && r.id === 'cds-override-reason') as CodeSystem | undefined;
  if (!reasons?.url || !reasons.concept?.length) throw new CardRulesError(`${where}: contained CodeSystem cds-override-reason is required`);

  const procedureWindows = chartRules
    .filter((r) => r.lookbackMs !== undefined && actions.get(r.id)?.input?.some((i) => i.type === 'Procedure'))
    .map((r) => r.lookbackMs as number);

  return {
    plan,
    cards,
    cardsFor: (hook, input) => cardList.filter((c) => c.hooks.includes(hook) && c.applies(input)),
    chartRules,
    ...(procedureWindows.length ? { procedureLookbackMs: Math.max(...procedureWindows) } : {}),
    population,
    isDDimer: compileCondition(action('order-d-dimer'), `${where}/order-d-dimer`),
    isLegVeinUltrasound: compileCondition(action('order-leg-vein-ultrasound'), `${where}/order-leg-vein-ultrasound`),
    ultrasound: activity('leg-vein-ultrasound'),
    dDimer: activity('d-dimer'),
    overrideReasons: reasons.concept.map((c) => ({ system: reasons.url as string, code: c.code, display: c.display ?? c.code })),
  };
}

/** Loads and compiles the card rules from `rootDir` (default: the project root). */
export function loadCardRules(options: { rootDir?: string } = {}): CardRules {
  const rootDir = options.rootDir ?? PROJECT_ROOT;
  const plan = JSON.parse(fs.readFileSync(path.join(rootDir, CARDS_FILE), 'utf8')) as PlanDefinition;
  return compileCardRules(plan, loadPopulationPlans(rootDir).calfPain);
}

/** Fills {{name}} placeholders. */
export function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => (name in values ? String(values[name]) : `{{${name}}}`));
}
