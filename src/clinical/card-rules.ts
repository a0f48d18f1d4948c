import fs from 'node:fs';
import path from 'node:path';
import { compileFhirPath } from '../core/fhirpath';
import type { ActivityDefinition, CodeSystem, Coding, PlanDefinition, PlanDefinitionAction, Resource } from 'fhir/r4';
import { CANONICAL_BASE } from '../core/canonical';
import type { Indicator } from '../core/cds-hooks';
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

export type CardKind =
  | 'pe-red-flag'
  | 'dvt-likely'
  | 'dvt-unlikely'
  | 'preliminary'
  | 'order-ultrasound-needed'
  | 'order-d-dimer-first'
  | 'order-incomplete'
  | 'order-no-assessment';

const CARD_KINDS: CardKind[] = [
  'pe-red-flag',
  'dvt-likely',
  'dvt-unlikely',
  'preliminary',
  'order-ultrasound-needed',
  'order-d-dimer-first',
  'order-incomplete',
  'order-no-assessment',
];

export interface CardText {
  kind: CardKind;
  indicator: Indicator;
  /** Summary template with {{placeholders}}. */
  summary: string;
  /** Fixed markdown opening the detail. */
  lead: string;
  /** Guideline the card follows (label and url). */
  citation: { label: string; url: string };
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
  /** Whether one chart entry (Condition or Procedure) supports the criterion at `now`. */
  matches: (resource: Resource, now?: Date) => boolean;
}

export interface CardRules {
  plan: PlanDefinition;
  cards: Record<CardKind, CardText>;
  chartRules: ChartRule[];
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

function compileCondition(action: PlanDefinitionAction, where: string): (resource: Resource) => boolean {
  const expression = action.condition?.find((c) => c.kind === 'applicability')?.expression;
  if (!expression?.expression || expression.language !== 'text/fhirpath') {
    throw new CardRulesError(`${where}: needs an applicability condition in text/fhirpath`);
  }
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
  if (IMPURE.test(expression.expression)) return run;
  // A patient's chart comes again on every chart open: the answer for the same resource is kept (the
  // code lists make these expressions costly, tens of microseconds per resource).
  const seen = new Map<string, boolean>();
  return (resource) => {
    const key = JSON.stringify(resource);
    const known = seen.get(key);
    if (known !== undefined) return known;
    const result = run(resource);
    if (seen.size >= MATCH_CACHE_SIZE) seen.delete(seen.keys().next().value as string);
    seen.set(key, result);
    return result;
  };
}

/** FHIRPath functions whose answer depends on more than the resource: such a rule is never cached. */
const IMPURE = /\b(now|today|timeOfDay|resolve|memberOf|trace)\s*\(/;
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

  const cards = {} as Record<CardKind, CardText>;
  for (const kind of CARD_KINDS) {
    const a = action(`card-${kind}`);
    const indicator = a.extension?.find((e) => e.url === EXT_CARD_INDICATOR)?.valueCode;
    if (indicator !== 'info' && indicator !== 'warning' && indicator !== 'critical') {
      throw new CardRulesError(`${where}/card-${kind}: indicator extension must be info, warning or critical`);
    }
    if (!a.title || !a.description) throw new CardRulesError(`${where}/card-${kind}: title and description are required`);
    const doc = a.documentation?.[0];
    const label = doc?.label ?? 'ng158';
    const url = doc?.url ?? cite[label]?.url;
    if (!url) throw new CardRulesError(`${where}/card-${kind}: documentation url is required`);
    cards[kind] = { kind, indicator, summary: a.title, lead: a.description, citation: { label: label.toUpperCase(), url } };
  }

  const chartRules: ChartRule[] = (plan.action ?? [])
    .filter((a) => a.id?.startsWith('chart-'))
    .map((a) => {
      const linkId = a.extension?.find((e) => e.url === EXT_WELLS_CRITERION)?.valueString;
      if (!linkId) throw new CardRulesError(`${where}/${a.id}: wells-criterion extension is required`);
      if (!population.linkIds.includes(linkId)) {
        throw new CardRulesError(`${where}/${a.id}: Questionnaire item ${linkId} has no population expressions (itemPopulationContext)`);
      }
      return {
        id: a.id as string,
        title: a.title ?? (a.id as string),
        description: a.description ?? '',
        linkId,
        matches: (resource: Resource, now = new Date()) => {
          const name = COLLECTION_OF[resource.resourceType];
          return name !== undefined && population.evidenceFor(linkId, { collections: { [name]: [resource] } }, now).length > 0;
        },
      };
    });

  const contained = plan.contained ?? [];
  const activity = (id: string): ActivityDefinition => {
    const found = contained.find((r) => r.resourceType === 'ActivityDefinition' && r.id === id) as ActivityDefinition | undefined;
    if (!found?.code?.coding?.length) throw new CardRulesError(`${where}: contained ActivityDefinition "${id}" with a code is required`);
    return found;
  };
  const reasons = contained.find((r) => r.resourceType === 'CodeSystem' && r.id === 'cds-override-reason') as CodeSystem | undefined;
  if (!reasons?.url || !reasons.concept?.length) throw new CardRulesError(`${where}: contained CodeSystem cds-override-reason is required`);

  return {
    plan,
    cards,
    chartRules,
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
