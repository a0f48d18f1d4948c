import { randomUUID } from 'node:crypto';
import type { ActivityDefinition, QuestionnaireResponse, QuestionnaireResponseItem, RiskAssessment, ServiceRequest } from 'fhir/r4';
import type { AssessmentSummary, Evaluation, Evaluator } from './types';
import { SNOMED_DVT as DVT_TOPIC } from '../core/canonical';
import { FHIR_ID, timeOrderedUuid } from '../core/ids';
import { fillTemplate, type CardConditionInput, type CardContent, type CardRules, type CardText, type SuggestionRule } from './card-rules';
import type { ChartFinding } from './chart';
import { ORIGIN_LABEL, type ChartData, type FoundResponse } from './patient-data';
import type { Action, Card, HookName, IssuedCardDraft, Link, Suggestion } from '../core/cds-hooks';

/**
 * Builds the cards. Which cards a hook's service issues, and what each holds (texts, detail parts,
 * suggestions), is the PlanDefinition's (src/clinical/card-rules.ts); this module only writes them.
 */

/** order-select: which draft orders were selected and what they are. */
export interface SelectedOrders {
  dDimer: ServiceRequest[];
  ultrasound: ServiceRequest[];
}

/** Everything a card needs to know about the call and the assessment it reports. */
export interface CardInput {
  rules: CardRules;
  evaluator: Evaluator;
  baseUrl: string;
  patientId: string;
  encounterId?: string;
  now: Date;
  /** The response window (days), named by the card when there is no recent assessment. */
  windowDays: number;
  /** The most recent evaluated response; absent when there is none. */
  found?: FoundResponse;
  evaluation?: Evaluation;
  /** order-select: the selected D-dimer and ultrasound orders. */
  orders?: SelectedOrders;
  /** patient-view: what the chart adds. */
  review?: ChartReview;
}

/** A CardInput with an assessment. */
export type AssessedInput = CardInput & { found: FoundResponse; evaluation: Evaluation };
const SOURCE_LABEL = 'Calf-pain DVT decision support';
const SUMMARY_LIMIT = 139;

/**
 * The link offered to complete the questionnaire: this service's form page for the patient (LHC-Forms),
 * where the examination items can be answered, not the Questionnaire's JSON.
 */
export function questionnaireLink(baseUrl: string, patientId: string): Link {
  return {
    label: 'Complete the calf-pain questionnaire for this patient',
    url: `${baseUrl}/portal?patient=${encodeURIComponent(patientId)}`,
    type: 'absolute',
  };
}

function summaryText(text: CardText, values: Record<string, string | number>, suffix = ''): string {
  const base = fillTemplate(text.summary, values);
  const full = suffix && base.length + suffix.length <= SUMMARY_LIMIT ? base + suffix : base;
  return full.length <= SUMMARY_LIMIT ? full : `${full.slice(0, SUMMARY_LIMIT - 1)}…`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

function responseReference(found: FoundResponse, baseUrl: string): string | undefined {
  const id = found.response.id;
  // An EHR's response with an id that is not a FHIR id is named by its date only, never echoed.
  if (typeof id !== 'string' || !FHIR_ID.test(id)) return undefined;
  return found.origin === 'this-service' ? `${baseUrl}/fhir/QuestionnaireResponse/${id}` : `QuestionnaireResponse/${id}`;
}

function provenanceLine(input: AssessedInput): string {
  const ref = responseReference(input.found, input.baseUrl);
  const authored = typeof input.found.response.authored === 'string' ? input.found.response.authored : 'unknown date';
  return `Source: calf-pain questionnaire authored ${authored}, from ${ORIGIN_LABEL[input.found.origin]}${ref ? ` (${ref})` : ''}.`;
}

/**
 * Texts that depend on the summary alone (and on the few values in their key), kept per summary. A
 * summary is shared by every response with the same answers (the evaluator keeps it, frozen), so a hook
 * called again for such a response writes its cards from these instead of anew.
 */
const summaryTexts = new WeakMap<AssessmentSummary, Map<string, string>>();

function textOf(summary: AssessmentSummary, key: string, write: () => string): string {
  let texts = summaryTexts.get(summary);
  if (!texts) summaryTexts.set(summary, (texts = new Map<string, string>()));
  let text = texts.get(key);
  if (text === undefined) texts.set(key, (text = write()));
  return text;
}

/** The score and which criteria counted, each with where the answer came from. */
export function scoreBreakdown(summary: AssessmentSummary, input: AssessedInput, options: { withCategory: boolean }): string {
  const origin = ORIGIN_LABEL[input.found.origin];
  const table = textOf(summary, `score|${options.withCategory}|${origin}`, () => scoreTable(summary, origin, options));
  return `${table}\n\n${provenanceLine(input)}`;
}

function scoreTable(summary: AssessmentSummary, origin: string, options: { withCategory: boolean }): string {
  const lines: string[] = [];
  if (summary.wellsScore !== undefined) {
    const category =
      options.withCategory && summary.twoLevel
        ? ` (two-level: DVT ${summary.twoLevel}${summary.threeLevel ? `; three-level: ${summary.threeLevel}` : ''})`
        : '';
    lines.push(`**Wells DVT score ${summary.wellsScore}**${category}`);
  } else {
    const category = options.withCategory && summary.twoLevel ? ` Two-level category already certain: DVT ${summary.twoLevel}.` : '';
    lines.push(
      `**Wells DVT score not final**: possible range ${summary.scoreRange.min} to ${summary.scoreRange.max}; ` +
        `${summary.unanswered.length} criteria not answered.${category}`,
    );
  }
  lines.push('', '| Wells criterion | Points | Source |', '|---|---|---|');
  for (const c of summary.counted) lines.push(`| ${cell(c.title)} | ${signed(c.points)} | questionnaire (${origin}) |`);
  for (const u of summary.unanswered) lines.push(`| ${cell(u.title)} | not answered | missing |`);
  if (summary.counted.length === 0 && summary.unanswered.length === 0) lines.push('| (none answered yes) | 0 | questionnaire |');
  lines.push('', 'Criteria not listed were answered no.');
  return lines.join('\n');
}

function differential(summary: AssessmentSummary): string {
  if (!summary.differential.length) return '';
  const top = summary.differential.slice(0, 3).map((d, i) => {
    const why = d.rationale.length ? `: ${d.rationale.join('; ')}` : '';
    return `${i + 1}. ${d.text} (${d.qualitativeRisk} likelihood)${why}`;
  });
  const rest = summary.differential.slice(3).map((d) => d.text);
  return [
    '**Differential of calf pain** (most likely first)',
    '',
    ...top,
    ...(rest.length ? ['', `Also considered: ${rest.join(', ')}.`] : []),
  ].join('\n');
}

/** A copy of the response with these items answered yes (added to their Questionnaire group when absent). */
function withAnswersYes(response: QuestionnaireResponse, answers: { linkId: string; group?: string }[]): QuestionnaireResponse {
  const copy = structuredClone(response);
  delete copy.id;
  const find = (items: QuestionnaireResponseItem[] | undefined, linkId: string): QuestionnaireResponseItem | undefined => {
    for (const item of items ?? []) {
      if (item.linkId === linkId) return item;
      const inner =
        find(item.item, linkId) ??
        find(
          item.answer?.flatMap((a) => a.item ?? []),
          linkId,
        );
      if (inner) return inner;
    }
    return undefined;
  };
  for (const { linkId, group: groupId } of answers) {
    const existing = find(copy.item, linkId);
    if (existing) existing.answer = [{ valueBoolean: true }];
    else {
      const group = groupId ? find(copy.item, groupId) : undefined;
      const target = group ? (group.item ??= []) : (copy.item ??= []);
      target.push({ linkId, answer: [{ valueBoolean: true }] });
    }
  }
  return copy;
}

export interface ChartReview {
  markdown: string;
  /** The two-level category if the chart findings the questionnaire missed are confirmed (when it would change). */
  changesCategoryTo?: 'likely';
}

/**
 * What the chart says that the questionnaire did not count. The score is never changed silently: the
 * card states the finding, and what the score would be if it is confirmed (computed by the same
 * evaluator on a copy of the response with those answers set to yes).
 */
export function chartReview(findings: ChartFinding[], chart: ChartData, input: AssessedInput): ChartReview | undefined {
  const { summary } = input.evaluation;
  const counted = new Set(summary.counted.map((c) => c.linkId));
  const unanswered = new Set(summary.unanswered.map((u) => u.linkId));
  const missed = findings.filter((f) => !counted.has(f.rule.linkId));
  const lines: string[] = [];
  if (missed.length) {
    lines.push('**What the chart adds** (not counted in the score above)', '');
    for (const f of missed) {
      const answer = unanswered.has(f.rule.linkId) ? 'not answered in the questionnaire' : 'answered no in the questionnaire';
      lines.push(
        `- ${f.rule.title}: "${f.label}" (${f.resourceType}${f.date ? `, ${f.date.slice(0, 10)}` : ''}, ` +
          `${ORIGIN_LABEL[f.origin]}); ${answer}. ${f.rule.description}`,
      );
    }
  }
  const unchecked = [!chart.conditions && 'Conditions', !chart.procedures && 'Procedures'].filter(Boolean);
  if (unchecked.length)
    lines.push(...(lines.length ? [''] : []), `_Chart not checked: ${unchecked.join(' and ')} could not be obtained from the EHR._`);
  if (!lines.length) return undefined;

  let changesCategoryTo: ChartReview['changesCategoryTo'];
  if (missed.length) {
    const answers = [...new Map(missed.map((f) => [f.rule.linkId, { linkId: f.rule.linkId, group: f.rule.group }])).values()];
    try {
      const what = input.evaluator.evaluate(withAnswersYes(input.found.response, answers), { now: input.now }).summary;
      const score = what.wellsScore !== undefined ? `${what.wellsScore}` : `${what.scoreRange.min} to ${what.scoreRange.max}`;
      lines.push(
        '',
        `If the chart is right, the Wells score would be ${score}${what.twoLevel ? ` (DVT ${what.twoLevel})` : ''}. ` +
          `Confirm with the patient and update the questionnaire.`,
      );
      if (what.twoLevel === 'likely' && summary.twoLevel !== 'likely') changesCategoryTo = 'likely';
    } catch {
      // The hypothetical is a courtesy; the findings above are already stated.
    }
  }
  return { markdown: lines.join('\n'), ...(changesCategoryTo ? { changesCategoryTo } : {}) };
}

function serviceRequest(def: ActivityDefinition, input: AssessedInput, reason: string): ServiceRequest {
  const hours = def.timingDuration?.code === 'h' ? def.timingDuration.value : undefined;
  const ref = responseReference(input.found, input.baseUrl);
  return {
    resourceType: 'ServiceRequest',
    status: 'draft',
    intent: 'order',
    ...(def.priority ? { priority: def.priority } : {}),
    code: def.code,
    subject: { reference: `Patient/${input.patientId}` },
    ...(input.encounterId ? { encounter: { reference: `Encounter/${input.encounterId}` } } : {}),
    ...(hours
      ? { occurrencePeriod: { start: input.now.toISOString(), end: new Date(input.now.getTime() + hours * 3600_000).toISOString() } }
      : {}),
    reasonCode: [{ coding: [DVT_TOPIC], text: reason }],
    ...(ref ? { supportingInfo: [{ reference: ref, display: 'Calf-pain questionnaire' }] } : {}),
    note: [{ text: def.description ?? def.title ?? 'Suggested by calf-pain decision support' }],
  };
}

function suggestion(rule: SuggestionRule, input: AssessedInput, reason: string): Suggestion | undefined {
  let removals: Action[] = [];
  if (rule.removes) {
    removals = (input.orders?.[rule.removes.group] ?? [])
      .filter((o) => typeof o.id === 'string' && FHIR_ID.test(o.id))
      .map((o) => ({ type: 'delete', description: rule.removes?.description ?? '', resourceId: `ServiceRequest/${o.id}` }));
    // Offered only when there is something it can remove.
    if (!removals.length) return undefined;
  }
  const def = rule.activity;
  return {
    label: rule.label,
    uuid: randomUUID(),
    isRecommended: rule.isRecommended,
    actions: [
      { type: 'create', description: `Add ${def.title ?? 'order'} to the orders`, resource: serviceRequest(def, input, reason) },
      ...removals,
    ],
  };
}

function scoreLabel(summary: AssessmentSummary): string {
  return summary.wellsScore !== undefined ? String(summary.wellsScore) : `${summary.scoreRange.min} to ${summary.scoreRange.max}`;
}

function join(...parts: (string | undefined)[]): string {
  return parts.filter((p): p is string => !!p).join('\n\n');
}

/** What the card conditions of the PlanDefinition see. */
export function conditionInput(input: CardInput): CardConditionInput {
  const summary = input.evaluation?.summary;
  return {
    ...(summary
      ? {
          assessment: {
            status: summary.status,
            ...(summary.twoLevel ? { twoLevel: summary.twoLevel } : {}),
            ...(summary.wellsScore !== undefined ? { wellsScore: summary.wellsScore } : {}),
            peRedFlags: summary.peRedFlags.length,
            unanswered: summary.unanswered.length,
          },
        }
      : {}),
    ...(input.orders ? { orders: { dDimer: input.orders.dDimer.length, ultrasound: input.orders.ultrasound.length } } : {}),
  };
}

function detailPart(content: CardContent, input: CardInput): string | undefined {
  if (content === 'questionnaire-link') return undefined;
  if (!input.found || !input.evaluation) throw new Error(`card content ${content} needs an assessment`);
  const assessed = input as AssessedInput;
  const { summary } = assessed.evaluation;
  switch (content) {
    case 'red-flags':
      return textOf(summary, content, () => `Red flags answered yes: ${summary.peRedFlags.map((f) => f.title).join('; ')}.`);
    case 'missing-items':
      return textOf(summary, content, () => `**Missing Wells items:** ${summary.unanswered.map((u) => u.title).join('; ')}.`);
    case 'score':
      return scoreBreakdown(summary, assessed, { withCategory: true });
    case 'score-without-category':
      return scoreBreakdown(summary, assessed, { withCategory: false });
    case 'chart-review':
      return input.review?.markdown;
    case 'differential':
      return textOf(summary, content, () => differential(summary));
  }
}

/** One card as its PlanDefinition action describes it. */
export function buildCard(text: CardText, input: CardInput): IssuedCardDraft {
  const summary = input.evaluation?.summary;
  const values: Record<string, string | number> = {
    days: input.windowDays,
    ...(summary
      ? {
          score: scoreLabel(summary),
          count: summary.unanswered.length,
          flags: summary.peRedFlags.map((f) => f.title.toLowerCase()).join(', '),
        }
      : {}),
  };
  // Chart findings that would make DVT likely: said in the summary, and the card is at least a warning.
  const chartChanges = text.content.includes('chart-review') && !!input.review?.changesCategoryTo;
  const suggestions: Suggestion[] = [];
  if (text.suggestions.length) {
    const assessed = input as AssessedInput;
    const reason = `Suspected DVT: Wells DVT score ${values.score} (DVT ${assessed.evaluation.summary.twoLevel})`;
    for (const rule of text.suggestions) {
      const s = suggestion(rule, assessed, reason);
      if (s) suggestions.push(s);
    }
  }
  const card: Card = {
    uuid: timeOrderedUuid(),
    summary: summaryText(text, values, chartChanges ? '. Chart adds Wells points: review' : ''),
    detail: join(fillTemplate(text.lead, values), ...text.content.map((c) => detailPart(c, input))),
    indicator: chartChanges && text.indicator === 'info' ? 'warning' : text.indicator,
    source: { label: `${SOURCE_LABEL} (${text.citation.label})`, url: text.citation.url, topic: text.topic },
    ...(suggestions.length
      ? {
          suggestions,
          ...(text.selectionBehavior ? { selectionBehavior: text.selectionBehavior } : {}),
          overrideReasons: input.rules.overrideReasons,
        }
      : {}),
    ...(text.content.includes('questionnaire-link') ? { links: [questionnaireLink(input.baseUrl, input.patientId)] } : {}),
  };
  return { kind: text.kind, card };
}

/** The cards of a hook's service: those whose PlanDefinition condition holds for this input, in order. */
export function issueCards(hook: HookName, input: CardInput): IssuedCardDraft[] {
  return input.rules.cardsFor(hook, conditionInput(input)).map((text) => buildCard(text, input));
}

/** systemAction recording the RiskAssessment in the EHR (when configured). */
export function riskAssessmentAction(input: AssessedInput): Action {
  const ra = structuredClone<RiskAssessment>(input.evaluation.riskAssessment);
  delete ra.id;
  delete ra.meta;
  ra.subject = { reference: `Patient/${input.patientId}` };
  const ref = responseReference(input.found, input.baseUrl);
  if (ref) ra.basis = [{ reference: ref }];
  else delete ra.basis;
  return { type: 'create', description: 'Record the Wells DVT RiskAssessment from the calf-pain questionnaire', resource: ra };
}
