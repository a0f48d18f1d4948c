/**
 * Builds a QuestionnaireResponse to the calf-pain Questionnaire from a flat map of answers
 * (linkId -> value), placing every answer where the Questionnaire puts its item: inside its
 * group, in Questionnaire order, with the answer type the item declares. Tests and vignettes
 * can then be written as the clinical facts alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  Coding,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
} from 'fhir/r4';
import { QUESTIONNAIRE_URL } from '../../src/core/canonical';

export type AnswerValue = boolean | string | number;

export interface BuildResponseOptions {
  subject?: string;
  encounter?: string;
  status?: 'completed' | 'in-progress';
  authored?: string;
  id?: string;
  questionnaire?: string;
}

export const QUESTIONNAIRE_PATH = join(__dirname, '..', '..', 'questionnaires', 'calf-pain.json');
export const DEFAULT_AUTHORED = '2025-03-14T09:30:00Z';

let cached: Questionnaire | undefined;

/** The bundled calf-pain Questionnaire, read once. */
export function loadQuestionnaire(): Questionnaire {
  cached ??= JSON.parse(readFileSync(QUESTIONNAIRE_PATH, 'utf8')) as Questionnaire;
  return cached;
}

function allItems(items: QuestionnaireItem[] | undefined): QuestionnaireItem[] {
  return (items ?? []).flatMap((item) => [item, ...allItems(item.item)]);
}

/** Every linkId that can carry an answer (groups and display items excluded), in Questionnaire order. */
export function answerableLinkIds(questionnaire: Questionnaire = loadQuestionnaire()): string[] {
  return allItems(questionnaire.item)
    .filter((item) => item.type !== 'group' && item.type !== 'display')
    .map((item) => item.linkId);
}

function toAnswer(item: QuestionnaireItem, value: AnswerValue): QuestionnaireResponseItemAnswer {
  const mismatch = () => new Error(`Answer ${JSON.stringify(value)} does not fit item '${item.linkId}' of type ${item.type}`);
  switch (item.type) {
    case 'boolean':
      if (typeof value !== 'boolean') throw mismatch();
      return { valueBoolean: value };
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw mismatch();
      return { valueInteger: value };
    case 'decimal':
      if (typeof value !== 'number') throw mismatch();
      return { valueDecimal: value };
    case 'string':
    case 'text':
      if (typeof value !== 'string') throw mismatch();
      return { valueString: value };
    case 'date':
      if (typeof value !== 'string') throw mismatch();
      return { valueDate: value };
    case 'dateTime':
      if (typeof value !== 'string') throw mismatch();
      return { valueDateTime: value };
    case 'choice':
    case 'open-choice': {
      if (typeof value !== 'string') throw mismatch();
      const option = (item.answerOption ?? []).find((o) => o.valueCoding?.code === value);
      if (option?.valueCoding) {
        const { system, code, display } = option.valueCoding;
        const coding: Coding = { code };
        if (system) coding.system = system;
        if (display) coding.display = display;
        return { valueCoding: coding };
      }
      if (item.type === 'open-choice') return { valueString: value };
      const codes = (item.answerOption ?? []).map((o) => o.valueCoding?.code).join(', ');
      throw new Error(`'${value}' is not an answerOption code of '${item.linkId}' (${codes})`);
    }
    default:
      throw mismatch();
  }
}

/**
 * Returns the response items for `items`, or undefined when nothing below them is answered.
 * Groups nest their children in `item`; questions nest theirs inside the answer (R4 rule).
 */
function buildItems(items: QuestionnaireItem[] | undefined, answers: Record<string, AnswerValue>): QuestionnaireResponseItem[] | undefined {
  const out: QuestionnaireResponseItem[] = [];
  for (const item of items ?? []) {
    if (item.type === 'display') continue;
    const children = buildItems(item.item, answers);
    const base: QuestionnaireResponseItem = { linkId: item.linkId };
    if (item.text) base.text = item.text;
    if (item.type === 'group') {
      if (children) out.push({ ...base, item: children });
      continue;
    }
    if (!(item.linkId in answers)) {
      if (children) throw new Error(`Items below '${item.linkId}' are answered but '${item.linkId}' is not`);
      continue;
    }
    const answer = toAnswer(item, answers[item.linkId]);
    if (children) answer.item = children;
    out.push({ ...base, answer: [answer] });
  }
  return out.length > 0 ? out : undefined;
}

/** A QuestionnaireResponse answering the calf-pain Questionnaire; throws on an unknown linkId or a mistyped answer. */
export function buildResponse(answers: Record<string, AnswerValue>, options: BuildResponseOptions = {}): QuestionnaireResponse {
  const questionnaire = loadQuestionnaire();
  const known = new Set(answerableLinkIds(questionnaire));
  const unknown = Object.keys(answers).filter((linkId) => !known.has(linkId));
  if (unknown.length > 0) throw new Error(`Unknown linkId(s) for ${questionnaire.url}: ${unknown.join(', ')}`);

  const item = buildItems(questionnaire.item, answers);
  const response: QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    ...(options.id ? { id: options.id } : {}),
    questionnaire: options.questionnaire ?? `${QUESTIONNAIRE_URL}|${questionnaire.version ?? '1.0.0'}`,
    status: options.status ?? 'completed',
    subject: { reference: options.subject ?? 'Patient/example' },
    ...(options.encounter ? { encounter: { reference: options.encounter } } : {}),
    authored: options.authored ?? DEFAULT_AUTHORED,
  };
  if (item) response.item = item;
  return response;
}
