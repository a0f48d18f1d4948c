import { randomUUID } from 'node:crypto';
import type { ActivityDefinition, QuestionnaireResponse, QuestionnaireResponseItem, RiskAssessment, ServiceRequest } from 'fhir/r4';
import type { AssessmentSummary, Evaluation, Evaluator } from './types';
import { SNOMED_DVT as DVT_TOPIC, SNOMED_PE as PE_TOPIC } from '../core/canonical';
import { fillTemplate, type CardRules, type CardText } from './card-rules';
import type { ChartFinding } from './chart';
import { ORIGIN_LABEL, type ChartData, type FoundResponse } from '../http/cds-hooks/patient-data';
import { FHIR_ID } from '../core/ids';
import type { Action, Card, IssuedCardDraft, Link, Suggestion } from '../core/cds-hooks';

/** Everything a card needs to know about the call and the assessment it reports. */
export interface CardInput {
  rules: CardRules;
  evaluator: Evaluator;
  baseUrl: string;
  patientId: string;
  encounterId?: string;
  now: Date;
  found: FoundResponse;
  evaluation: Evaluation;
}

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

function card(text: CardText, summary: string, detail: string, extra: Partial<Card> = {}): Card {
  return {
    uuid: randomUUID(),
    summary,
    detail,
    indicator: text.indicator,
    source: {
      label: `${SOURCE_LABEL} (${text.citation.label})`,
      url: text.citation.url,
      topic: text.kind === 'pe-red-flag' ? PE_TOPIC : DVT_TOPIC,
    },
    ...extra,
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

function responseReference(found: FoundResponse, baseUrl: string): string | undefined {
  const id = found.response.id;
  // An EHR's response with an id that is not a FHIR id is named by its date only, never echoed.
  if (typeof id !== 'string' || !FHIR_ID.test(id)) return undefined;
  return found.origin === 'this-service' ? `${baseUrl}/fhir/QuestionnaireResponse/${id}` : `QuestionnaireResponse/${id}`;
}

function provenanceLine(input: CardInput): string {
  const ref = responseReference(input.found, input.baseUrl);
  const authored = typeof input.found.response.authored === 'string' ? input.found.response.authored : 'unknown date';
  return `Source: calf-pain questionnaire authored ${authored}, from ${ORIGIN_LABEL[input.found.origin]}${ref ? ` (${ref})` : ''}.`;
}

/** The score and which criteria counted, each with where the answer came from. */
export function scoreBreakdown(summary: AssessmentSummary, input: CardInput, options: { withCategory: boolean }): string {
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
      `**Wells DVT score not final**: possible range ${summary.scoreRange.min} to ${summary.scoreRange.max}; ${summary.unanswered.length} criteria not answered.${category}`,
    );
  }
  lines.push('', '| Wells criterion | Points | Source |', '|---|---|---|');
  for (const c of summary.counted)
    lines.push(`| ${cell(c.title)} | ${signed(c.points)} | questionnaire (${ORIGIN_LABEL[input.found.origin]}) |`);
  for (const u of summary.unanswered) lines.push(`| ${cell(u.title)} | not answered | missing |`);
  if (summary.counted.length === 0 && summary.unanswered.length === 0) lines.push('| (none answered yes) | 0 | questionnaire |');
  lines.push('', 'Criteria not listed were answered no.', '', provenanceLine(input));
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

function withAnswersYes(response: QuestionnaireResponse, linkIds: string[]): QuestionnaireResponse {
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
  for (const linkId of linkIds) {
    const existing = find(copy.item, linkId);
    if (existing) existing.answer = [{ valueBoolean: true }];
    else {
      const group = find(copy.item, 'risk-factors');
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
export function chartReview(findings: ChartFinding[], chart: ChartData, input: CardInput): ChartReview | undefined {
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
        `- ${f.rule.title}: "${f.label}" (${f.resourceType}${f.date ? `, ${f.date.slice(0, 10)}` : ''}, ${ORIGIN_LABEL[f.origin]}); ${answer}. ${f.rule.description}`,
      );
    }
  }
  const unchecked = [!chart.conditions && 'Conditions', !chart.procedures && 'Procedures'].filter(Boolean);
  if (unchecked.length)
    lines.push(...(lines.length ? [''] : []), `_Chart not checked: ${unchecked.join(' and ')} could not be obtained from the EHR._`);
  if (!lines.length) return undefined;

  let changesCategoryTo: ChartReview['changesCategoryTo'];
  if (missed.length) {
    const linkIds = [...new Set(missed.map((f) => f.rule.linkId))];
    try {
      const what = input.evaluator.evaluate(withAnswersYes(input.found.response, linkIds), { now: input.now }).summary;
      const score = what.wellsScore !== undefined ? `${what.wellsScore}` : `${what.scoreRange.min} to ${what.scoreRange.max}`;
      lines.push(
        '',
        `If the chart is right, the Wells score would be ${score}${what.twoLevel ? ` (DVT ${what.twoLevel})` : ''}. Confirm with the patient and update the questionnaire.`,
      );
      if (what.twoLevel === 'likely' && summary.twoLevel !== 'likely') changesCategoryTo = 'likely';
    } catch {
      // The hypothetical is a courtesy; the findings above are already stated.
    }
  }
  return { markdown: lines.join('\n'), ...(changesCategoryTo ? { changesCategoryTo } : {}) };
}

function serviceRequest(def: ActivityDefinition, input: CardInput, reason: string): ServiceRequest {
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

function suggestion(
  label: string,
  def: ActivityDefinition,
  input: CardInput,
  reason: string,
  isRecommended: boolean,
  extra: Action[] = [],
): Suggestion {
  return {
    label,
    uuid: randomUUID(),
    isRecommended,
    actions: [
      { type: 'create', description: `Add ${def.title ?? 'order'} to the orders`, resource: serviceRequest(def, input, reason) },
      ...extra,
    ],
  };
}

function scoreLabel(summary: AssessmentSummary): string {
  return summary.wellsScore !== undefined ? String(summary.wellsScore) : `${summary.scoreRange.min} to ${summary.scoreRange.max}`;
}

function join(...parts: (string | undefined)[]): string {
  return parts.filter((p): p is string => !!p).join('\n\n');
}

/** The PE card, when any red flag is answered yes. */
export function peCard(input: CardInput): IssuedCardDraft | undefined {
  const { summary } = input.evaluation;
  if (!summary.peRedFlags.length) return undefined;
  const text = input.rules.cards['pe-red-flag'];
  const flags = summary.peRedFlags.map((f) => f.title.toLowerCase()).join(', ');
  const detail = join(
    text.lead,
    `Red flags answered yes: ${summary.peRedFlags.map((f) => f.title).join('; ')}.`,
    scoreBreakdown(summary, input, { withCategory: true }),
  );
  return { kind: 'pe-red-flag', card: card(text, summaryText(text, { flags }), detail) };
}

/** The DVT card of patient-view: likely (warning), unlikely (info) or preliminary (info). */
export function dvtCard(input: CardInput, review: ChartReview | undefined): IssuedCardDraft {
  const { summary } = input.evaluation;
  const { rules } = input;
  const chartNote = review?.changesCategoryTo ? '. Chart adds Wells points: review' : '';

  if (summary.twoLevel === 'likely') {
    const text = rules.cards['dvt-likely'];
    const reason = `Suspected DVT: Wells DVT score ${scoreLabel(summary)} (DVT likely)`;
    const detail = join(text.lead, scoreBreakdown(summary, input, { withCategory: true }), review?.markdown, differential(summary));
    return {
      kind: 'dvt-likely',
      card: card(text, summaryText(text, { score: scoreLabel(summary) }), detail, {
        suggestions: [
          suggestion('Order proximal leg vein ultrasound, result within 4 hours', rules.ultrasound, input, reason, true),
          suggestion(
            'Order D-dimer (after a negative scan, or now with interim anticoagulation if the scan is delayed)',
            rules.dDimer,
            input,
            reason,
            false,
          ),
        ],
        selectionBehavior: 'any',
        overrideReasons: rules.overrideReasons,
      }),
    };
  }

  if (summary.twoLevel === 'unlikely' && summary.status === 'final') {
    const text = rules.cards['dvt-unlikely'];
    const reason = `Suspected DVT: Wells DVT score ${scoreLabel(summary)} (DVT unlikely)`;
    const detail = join(text.lead, scoreBreakdown(summary, input, { withCategory: true }), review?.markdown, differential(summary));
    const upgraded: Card['indicator'] | undefined = review?.changesCategoryTo ? 'warning' : undefined;
    const built = card(text, summaryText(text, { score: scoreLabel(summary) }, chartNote), detail, {
      suggestions: [suggestion('Order D-dimer', rules.dDimer, input, reason, true)],
      selectionBehavior: 'at-most-one',
      overrideReasons: rules.overrideReasons,
    });
    return { kind: 'dvt-unlikely', card: upgraded ? { ...built, indicator: upgraded } : built };
  }

  // Preliminary: never a category, never reassurance; name what is missing and link to finish it.
  const text = rules.cards.preliminary;
  const missing = summary.unanswered.map((u) => u.title);
  const detail = join(
    text.lead,
    `**Missing Wells items:** ${missing.join('; ')}.`,
    scoreBreakdown(summary, input, { withCategory: false }),
    review?.markdown,
    differential(summary),
  );
  const built = card(text, summaryText(text, { count: missing.length }, chartNote), detail, {
    links: [questionnaireLink(input.baseUrl, input.patientId)],
  });
  return { kind: 'preliminary', card: review?.changesCategoryTo ? { ...built, indicator: 'warning' } : built };
}

/** order-select: which draft orders were selected and what they are. */
export interface SelectedOrders {
  dDimer: ServiceRequest[];
  ultrasound: ServiceRequest[];
}

/** Cards for a D-dimer / ultrasound selection given the assessment (undefined: no recent assessment). */
export function orderCards(
  orders: SelectedOrders,
  input: Omit<CardInput, 'found' | 'evaluation'> & Partial<Pick<CardInput, 'found' | 'evaluation'>>,
  windowDays: number,
): IssuedCardDraft[] {
  const { rules } = input;
  if (!input.found || !input.evaluation) {
    const text = rules.cards['order-no-assessment'];
    const detail = join(
      fillTemplate(text.lead, { days: windowDays }),
      'Ask the patient to complete the calf-pain questionnaire (history and risk factors) and complete the examination items; the service then gives the two-level Wells category.',
    );
    return [
      {
        kind: 'order-no-assessment',
        card: card(text, summaryText(text, { days: windowDays }), detail, { links: [questionnaireLink(input.baseUrl, input.patientId)] }),
      },
    ];
  }
  const full = input as CardInput;
  const { summary } = full.evaluation;
  const drafts: IssuedCardDraft[] = [];
  const pe = peCard(full);
  if (pe) drafts.push(pe);

  if (summary.twoLevel === 'likely' && orders.dDimer.length && !orders.ultrasound.length) {
    const text = rules.cards['order-ultrasound-needed'];
    const reason = `Suspected DVT: Wells DVT score ${scoreLabel(summary)} (DVT likely)`;
    drafts.push({
      kind: 'order-ultrasound-needed',
      card: card(
        text,
        summaryText(text, { score: scoreLabel(summary) }),
        join(text.lead, scoreBreakdown(summary, full, { withCategory: true })),
        {
          suggestions: [suggestion('Add proximal leg vein ultrasound, result within 4 hours', rules.ultrasound, full, reason, true)],
          selectionBehavior: 'at-most-one',
          overrideReasons: rules.overrideReasons,
        },
      ),
    });
  } else if (summary.twoLevel === 'unlikely' && summary.status === 'final' && orders.ultrasound.length && !orders.dDimer.length) {
    const text = rules.cards['order-d-dimer-first'];
    const reason = `Suspected DVT: Wells DVT score ${scoreLabel(summary)} (DVT unlikely)`;
    const removeScans: Action[] = orders.ultrasound
      .filter((o) => typeof o.id === 'string' && FHIR_ID.test(o.id))
      .map((o) => ({
        type: 'delete',
        description: 'Remove the leg vein ultrasound from the draft orders',
        resourceId: `ServiceRequest/${o.id}`,
      }));
    const suggestions: Suggestion[] = [
      suggestion('Add D-dimer first; keep the ultrasound for a positive result', rules.dDimer, full, reason, true),
    ];
    if (removeScans.length)
      suggestions.push(suggestion('Order D-dimer instead of the ultrasound', rules.dDimer, full, reason, false, removeScans));
    drafts.push({
      kind: 'order-d-dimer-first',
      card: card(
        text,
        summaryText(text, { score: scoreLabel(summary) }),
        join(text.lead, scoreBreakdown(summary, full, { withCategory: true })),
        {
          suggestions,
          selectionBehavior: 'at-most-one',
          overrideReasons: rules.overrideReasons,
        },
      ),
    });
  } else if (!summary.twoLevel || (summary.twoLevel === 'unlikely' && summary.status !== 'final')) {
    const text = rules.cards['order-incomplete'];
    const missing = summary.unanswered.map((u) => u.title);
    drafts.push({
      kind: 'order-incomplete',
      card: card(
        text,
        summaryText(text, { count: missing.length }),
        join(text.lead, `**Missing Wells items:** ${missing.join('; ')}.`, scoreBreakdown(summary, full, { withCategory: false })),
        { links: [questionnaireLink(input.baseUrl, input.patientId)] },
      ),
    });
  }
  return drafts;
}

/** systemAction recording the RiskAssessment in the EHR (when configured). */
export function riskAssessmentAction(input: CardInput): Action {
  const ra = structuredClone(input.evaluation.riskAssessment) as RiskAssessment;
  delete ra.id;
  delete ra.meta;
  ra.subject = { reference: `Patient/${input.patientId}` };
  const ref = responseReference(input.found, input.baseUrl);
  if (ref) ra.basis = [{ reference: ref }];
  else delete ra.basis;
  return { type: 'create', description: 'Record the Wells DVT RiskAssessment from the calf-pain questionnaire', resource: ra };
}
