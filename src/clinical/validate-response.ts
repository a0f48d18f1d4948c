import type {
  Coding,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireItemEnableWhen,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
  Quantity,
  ValueSet,
  ValueSetExpansionContains,
} from 'fhir/r4';
import { EXT_ENABLE_WHEN_EXPRESSION, EXT_VARIABLE } from '../core/canonical';
import { compileFhirPath, type CompiledFhirPath } from '../core/fhirpath';
import type { Problem } from '../core/outcome';

/**
 * Checks a QuestionnaireResponse against its Questionnaire the way the HL7 validator does, and
 * reports every problem found (never stops at the first):
 * - every item's linkId exists, sits under the same parent as in the Questionnaire (a question's
 *   children under answer.item, a group's under item) and comes in Questionnaire order;
 *   only repeating groups may appear more than once; item text is not compared;
 * - groups and display items carry no answers (a display item should not appear at all: warning);
 * - each answer has exactly one value[x], of the type the item type asks for, in answerOption or
 *   answerValueSet (resolved from `options.valueSets` or the Questionnaire's contained ValueSets),
 *   within maxLength; one answer unless the item repeats;
 * - required items are answered when status is completed or amended (nothing when in-progress);
 * - disabled items (enableWhen with every operator, enableBehavior all/any, the SDC
 *   enableWhenExpression; a disabled group disables its descendants) carry no answers.
 * readOnly items (the calculated wells-score) are accepted with any value of the right type and are
 * never required: the server recomputes them and must never trust what a client sent.
 */

export interface ValidateResponseOptions {
  /** ValueSets that answerValueSet canonicals resolve against (by url, or url|version). */
  valueSets?: ValueSet[];
}

interface Variable {
  name: string;
  fn: CompiledFhirPath;
}

interface ItemInfo {
  item: QuestionnaireItem;
  parent?: ItemInfo;
  enableWhenExpression?: CompiledFhirPath;
  variables: Variable[];
}

/** What validateResponse needs from a Questionnaire, built (and FHIRPath compiled) once per Questionnaire. */
export interface CompiledQuestionnaire {
  questionnaire: Questionnaire;
  byLinkId: Map<string, ItemInfo>;
  rootVariables: Variable[];
  /** Faults of the Questionnaire itself (e.g. an expression that does not parse). */
  problems: Problem[];
}

const compiledCache = new WeakMap<Questionnaire, CompiledQuestionnaire>();

/** Compiles (and caches by object identity) what validating against `questionnaire` needs. */
export function compileQuestionnaire(questionnaire: Questionnaire): CompiledQuestionnaire {
  const cached = compiledCache.get(questionnaire);
  if (cached) return cached;
  const problems: Problem[] = [];
  const byLinkId = new Map<string, ItemInfo>();

  const compileExpression = (expression: string, where: string): CompiledFhirPath | undefined => {
    try {
      return compileFhirPath(expression);
    } catch (e) {
      problems.push({
        message: `Questionnaire ${where} does not compile: ${(e as Error).message.split('\n')[0]}`,
        code: 'exception',
      });
      return undefined;
    }
  };
  const variablesOf = (extensions: QuestionnaireItem['extension'], where: string): Variable[] =>
    (extensions ?? [])
      .filter((x) => x.url === EXT_VARIABLE && x.valueExpression?.name && x.valueExpression.expression)
      .filter((x) => (x.valueExpression?.language ?? 'text/fhirpath') === 'text/fhirpath')
      .flatMap((x) => {
        const fn = compileExpression(x.valueExpression!.expression!, `variable "${x.valueExpression!.name}" of ${where}`);
        return fn ? [{ name: x.valueExpression!.name!, fn }] : [];
      });

  const visit = (items: QuestionnaireItem[] | undefined, parent: ItemInfo | undefined): void => {
    for (const item of items ?? []) {
      const ewe = item.extension?.find((x) => x.url === EXT_ENABLE_WHEN_EXPRESSION)?.valueExpression?.expression;
      const info: ItemInfo = {
        item,
        parent,
        variables: variablesOf(item.extension, `item "${item.linkId}"`),
        enableWhenExpression: ewe ? compileExpression(ewe, `enableWhenExpression of item "${item.linkId}"`) : undefined,
      };
      byLinkId.set(item.linkId, info);
      visit(item.item, info);
    }
  };
  visit(questionnaire.item, undefined);

  const compiled: CompiledQuestionnaire = {
    questionnaire,
    byLinkId,
    rootVariables: variablesOf(questionnaire.extension, 'Questionnaire'),
    problems,
  };
  compiledCache.set(questionnaire, compiled);
  return compiled;
}

/** One level of the response tree, innermost first: enableWhen looks for its question here, then outwards. */
interface Scope {
  items: QuestionnaireResponseItem[];
  /** %context for enableWhenExpression: the QR item (or answer, or the response) holding `items`. */
  node: unknown;
  outer?: Scope;
}

interface Walk {
  response: QuestionnaireResponse;
  compiled: CompiledQuestionnaire;
  valueSets: ValueSet[];
  problems: Problem[];
  requireAnswers: boolean;
  rootEnv?: Record<string, unknown>;
}

export function validateResponse(
  response: QuestionnaireResponse,
  questionnaire: Questionnaire,
  options: ValidateResponseOptions = {},
): Problem[] {
  const compiled = compileQuestionnaire(questionnaire);
  const w: Walk = {
    response,
    compiled,
    valueSets: options.valueSets ?? [],
    problems: [...compiled.problems],
    requireAnswers: response.status === 'completed' || response.status === 'amended',
  };
  const items = Array.isArray(response.item) ? response.item : [];
  walkItems(items, questionnaire.item ?? [], 'QuestionnaireResponse', { items, node: response }, undefined, w);
  return w.problems;
}

function error(w: Walk, expression: string, message: string, code: Problem['code'] = 'structure'): void {
  w.problems.push({ expression, message, code, severity: 'error' });
}

function warning(w: Walk, expression: string, message: string, code: Problem['code'] = 'informational'): void {
  w.problems.push({ expression, message, code, severity: 'warning' });
}

/**
 * Checks the response items `rItems` found at `base` against the Questionnaire items `qItems`
 * expected there. `disabledBy` names the disabled ancestor, if any.
 */
function walkItems(
  rItems: QuestionnaireResponseItem[],
  qItems: QuestionnaireItem[],
  base: string,
  scope: Scope,
  disabledBy: string | undefined,
  w: Walk,
): void {
  let lastIndex = -1;
  rItems.forEach((rItem, i) => {
    const path = `${base}.item[${i}]`;
    if (!rItem || typeof rItem.linkId !== 'string' || rItem.linkId === '') {
      error(w, path, 'Item has no linkId', 'required');
      return;
    }
    const linkId = rItem.linkId;
    const qIndex = qItems.findIndex((q) => q.linkId === linkId);
    if (qIndex < 0) {
      misplaced(linkId, path, base, w);
      return;
    }
    const qItem = qItems[qIndex];
    if (qIndex < lastIndex) {
      error(w, path, `Item "${linkId}" is out of order: the Questionnaire puts it before "${qItems[lastIndex].linkId}"`);
    } else if (qIndex === lastIndex && !(qItem.type === 'group' && qItem.repeats)) {
      error(
        w,
        path,
        qItem.type === 'group'
          ? `Group "${linkId}" appears more than once but does not repeat`
          : `Item "${linkId}" appears more than once: give repeated answers in one item's answer list`,
      );
    }
    lastIndex = Math.max(lastIndex, qIndex);
    checkItem(rItem, qItem, path, scope, disabledBy, w);
  });

  if (!w.requireAnswers || disabledBy) return;
  for (const qItem of qItems) {
    if (!qItem.required || qItem.readOnly || qItem.type === 'display') continue;
    const present = rItems.filter((r) => r?.linkId === qItem.linkId);
    if (present.some(hasAnswer)) continue;
    if (!isEnabled(qItem, scope, present[0] ?? scope.node, w)) continue;
    error(w, base, `Required item "${qItem.linkId}"${qItem.text ? ` (${qItem.text})` : ''} is not answered`, 'required');
  }
}

function misplaced(linkId: string, path: string, base: string, w: Walk): void {
  const info = w.compiled.byLinkId.get(linkId);
  const q = w.compiled.questionnaire;
  if (!info) {
    error(w, path, `Item "${linkId}" is not in Questionnaire ${q.url ?? q.id ?? ''}`.trimEnd());
    return;
  }
  const parent = info.parent?.item;
  const where = !parent
    ? 'at the top level'
    : parent.type === 'group'
      ? `in the item list of group "${parent.linkId}"`
      : `in answer.item of question "${parent.linkId}"`;
  error(w, path, `Item "${linkId}" is misplaced: the Questionnaire has it ${where}, not at ${base}`);
}

function checkItem(
  rItem: QuestionnaireResponseItem,
  qItem: QuestionnaireItem,
  path: string,
  scope: Scope,
  parentDisabledBy: string | undefined,
  w: Walk,
): void {
  const linkId = qItem.linkId;
  const answers = Array.isArray(rItem.answer) ? rItem.answer : [];
  const children = Array.isArray(rItem.item) ? rItem.item : [];
  const disabledBy = parentDisabledBy ?? (qItem.readOnly || isEnabled(qItem, scope, rItem, w) ? undefined : linkId);

  if (qItem.type === 'display') {
    if (answers.length) error(w, `${path}.answer[0]`, `Display item "${linkId}" cannot have answers`);
    else warning(w, path, `Display item "${linkId}" should not appear in a QuestionnaireResponse`);
    return;
  }

  if (qItem.type === 'group') {
    if (answers.length) error(w, `${path}.answer[0]`, `Group "${linkId}" cannot have answers: answer the items it contains`);
    walkItems(children, qItem.item ?? [], path, { items: children, node: rItem, outer: scope }, disabledBy, w);
    return;
  }

  if (children.length) {
    error(w, `${path}.item[0]`, `Question "${linkId}" cannot contain items directly: nested items belong in answer.item`);
  }
  if (answers.length > 1 && !qItem.repeats) {
    error(w, `${path}.answer[1]`, `Item "${linkId}" does not repeat but has ${answers.length} answers`);
  }
  if (answers.length && disabledBy && !qItem.readOnly) {
    const why =
      disabledBy === linkId
        ? `it is disabled (${qItem.enableWhen?.length ? 'enableWhen' : 'enableWhenExpression'} not met)`
        : `it is inside "${disabledBy}", which is disabled`;
    error(w, `${path}.answer[0]`, `Item "${linkId}" must not be answered: ${why}`, 'business-rule');
  }
  answers.forEach((answer, j) => {
    const answerPath = `${path}.answer[${j}]`;
    checkAnswer(answer, qItem, answerPath, w);
    const nested = Array.isArray(answer?.item) ? answer.item : [];
    if (nested.length || qItem.item?.length) {
      walkItems(nested, qItem.item ?? [], answerPath, { items: nested, node: answer, outer: scope }, disabledBy, w);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Answers

const VALUE_BY_TYPE: Record<string, string> = {
  boolean: 'valueBoolean',
  decimal: 'valueDecimal',
  integer: 'valueInteger',
  date: 'valueDate',
  dateTime: 'valueDateTime',
  time: 'valueTime',
  string: 'valueString',
  text: 'valueString',
  url: 'valueUri',
  attachment: 'valueAttachment',
  reference: 'valueReference',
  quantity: 'valueQuantity',
};

function allowedValueKeys(q: QuestionnaireItem): string[] {
  const fixed = VALUE_BY_TYPE[q.type];
  if (fixed) return [fixed];
  const fromOptions = new Set<string>();
  for (const option of q.answerOption ?? []) {
    for (const key of Object.keys(option)) if (/^value[A-Z]/.test(key)) fromOptions.add(key);
  }
  if (fromOptions.size === 0 || q.answerValueSet) fromOptions.add('valueCoding');
  if (q.type === 'open-choice') fromOptions.add('valueCoding').add('valueString');
  return [...fromOptions];
}

function valueKeysOf(answer: object): string[] {
  return Object.keys(answer).filter((k) => /^value[A-Z]/.test(k));
}

function hasJsonType(key: string, value: unknown): boolean {
  switch (key) {
    case 'valueBoolean':
      return typeof value === 'boolean';
    case 'valueDecimal':
      return typeof value === 'number' && Number.isFinite(value);
    case 'valueInteger':
      return Number.isInteger(value);
    case 'valueDate':
    case 'valueDateTime':
    case 'valueTime':
    case 'valueString':
    case 'valueUri':
      return typeof value === 'string' && value.length > 0;
    default:
      return value !== null && typeof value === 'object' && !Array.isArray(value);
  }
}

function checkAnswer(answer: QuestionnaireResponseItemAnswer, q: QuestionnaireItem, path: string, w: Walk): void {
  const linkId = q.linkId;
  if (!answer || typeof answer !== 'object') {
    error(w, path, `Answer to "${linkId}" must be an object`);
    return;
  }
  const keys = valueKeysOf(answer);
  if (keys.length === 0) {
    error(w, path, `Answer to "${linkId}" has no value`, 'required');
    return;
  }
  if (keys.length > 1) {
    error(w, path, `Answer to "${linkId}" has more than one value (${keys.join(', ')})`);
    return;
  }
  const key = keys[0];
  const value = (answer as Record<string, unknown>)[key];
  const allowed = allowedValueKeys(q);
  if (!allowed.includes(key)) {
    error(w, `${path}.${key}`, `Answer to "${linkId}" (type ${q.type}) must be ${allowed.join(' or ')}, not ${key}`, 'value');
    return;
  }
  if (!hasJsonType(key, value)) {
    error(w, `${path}.${key}`, `Answer to "${linkId}" has an invalid ${key}: ${JSON.stringify(value)}`, 'value');
    return;
  }
  // Calculated (readOnly) items: the right type is all we ask; the server recomputes the value.
  if (q.readOnly) return;

  if (q.maxLength !== undefined && typeof value === 'string' && value.length > q.maxLength) {
    error(w, `${path}.${key}`, `Answer to "${linkId}" is ${value.length} characters long; maxLength is ${q.maxLength}`, 'too-long');
  }
  const freeText = q.type === 'open-choice' && key === 'valueString';
  if (q.answerOption?.length && !freeText && !q.answerOption.some((o) => optionMatches(o as Record<string, unknown>, key, value))) {
    error(w, `${path}.${key}`, `Answer to "${linkId}" is not one of its answer options: ${describeValue(key, value)}`, 'code-invalid');
  }
  if (q.answerValueSet && key === 'valueCoding') {
    checkInValueSet(value as Coding, q, `${path}.${key}`, w);
  }
}

function optionMatches(option: Record<string, unknown>, key: string, value: unknown): boolean {
  const expected = option[key];
  if (expected === undefined) return false;
  if (key === 'valueCoding') return codingMatches(value as Coding, expected as Coding);
  if (key === 'valueReference') return (value as { reference?: string }).reference === (expected as { reference?: string }).reference;
  return expected === value;
}

/**
 * Matches on system + code; on code alone when either side has no system (simple clients send the
 * option's code without its system; a different system is still refused).
 */
function codingMatches(actual: Coding, expected: Coding): boolean {
  if (!actual || actual.code === undefined || actual.code !== expected.code) return false;
  return expected.system === undefined || actual.system === undefined || expected.system === actual.system;
}

function describeValue(key: string, value: unknown): string {
  if (key === 'valueCoding') {
    const c = value as Coding;
    return `${c.system ? `${c.system}|` : ''}${c.code ?? '(no code)'}${c.display ? ` (${c.display})` : ''}`;
  }
  return JSON.stringify(value);
}

function checkInValueSet(coding: Coding, q: QuestionnaireItem, path: string, w: Walk): void {
  const canonical = q.answerValueSet!;
  const valueSet = findValueSet(canonical, w);
  if (!valueSet) {
    warning(w, path, `Cannot check the answer to "${q.linkId}": ValueSet ${canonical} is not available`, 'not-found');
    return;
  }
  if (!valueSetContains(valueSet, coding)) {
    error(w, path, `Answer to "${q.linkId}" is not in ValueSet ${canonical}: ${describeValue('valueCoding', coding)}`, 'code-invalid');
  }
}

function findValueSet(canonical: string, w: Walk): ValueSet | undefined {
  if (canonical.startsWith('#')) {
    const id = canonical.slice(1);
    return w.compiled.questionnaire.contained?.find((r): r is ValueSet => r.resourceType === 'ValueSet' && r.id === id);
  }
  const [url, version] = canonical.split('|');
  return w.valueSets.find((vs) => vs.url === url && (version === undefined || vs.version === version));
}

/**
 * Expansion if present, else the compose: enumerated concepts, or a whole system when an include
 * lists neither concepts nor filters. Includes with filters cannot be evaluated here: they accept
 * any code of their system.
 */
function valueSetContains(vs: ValueSet, coding: Coding): boolean {
  if (vs.expansion?.contains) {
    const walk = (list: ValueSetExpansionContains[] | undefined): boolean =>
      (list ?? []).some((c) => (c.code !== undefined && codingMatches(coding, { system: c.system, code: c.code })) || walk(c.contains));
    return walk(vs.expansion.contains);
  }
  const excluded = (vs.compose?.exclude ?? []).some(
    (ex) => ex.system === coding.system && (ex.concept ?? []).some((c) => c.code === coding.code),
  );
  if (excluded) return false;
  return (vs.compose?.include ?? []).some((inc) => {
    if (inc.system !== undefined && coding.system !== inc.system) return false;
    if (inc.concept?.length) return inc.concept.some((c) => c.code === coding.code);
    return inc.system !== undefined;
  });
}

function hasAnswer(item: QuestionnaireResponseItem | undefined): boolean {
  if (!item) return false;
  const answered = (item.answer ?? []).some((a) => a && valueKeysOf(a).length > 0);
  return answered || (item.item ?? []).some(hasAnswer);
}

// ---------------------------------------------------------------------------------------------
// enableWhen

function isEnabled(q: QuestionnaireItem, scope: Scope, context: unknown, w: Walk): boolean {
  const info = w.compiled.byLinkId.get(q.linkId);
  let enabled = true;
  if (q.enableWhen?.length) {
    const results = q.enableWhen.map((ew) => conditionHolds(ew, answersTo(ew.question, scope)));
    enabled = q.enableBehavior === 'any' ? results.some(Boolean) : results.every(Boolean);
  }
  if (enabled && info?.enableWhenExpression) {
    enabled = evaluateEnableWhenExpression(info, context, w);
  }
  return enabled;
}

function evaluateEnableWhenExpression(info: ItemInfo, context: unknown, w: Walk): boolean {
  try {
    const env: Record<string, unknown> = { ...rootEnv(w), context };
    for (const holder of ancestry(info)) {
      for (const v of holder.variables) env[v.name] = v.fn(w.response, env);
    }
    const result = info.enableWhenExpression!(w.response, env);
    // SDC: an empty result means false.
    return result.length > 0 && result[0] === true;
  } catch (e) {
    error(w, 'QuestionnaireResponse', `enableWhenExpression of item "${info.item.linkId}" failed: ${(e as Error).message}`, 'exception');
    return true;
  }
}

function rootEnv(w: Walk): Record<string, unknown> {
  if (!w.rootEnv) {
    const env: Record<string, unknown> = { resource: w.response, questionnaire: w.compiled.questionnaire, context: w.response };
    for (const v of w.compiled.rootVariables) env[v.name] = v.fn(w.response, env);
    w.rootEnv = env;
  }
  return w.rootEnv;
}

/** Outermost first, so inner variables can use outer ones. */
function ancestry(info: ItemInfo): ItemInfo[] {
  const chain: ItemInfo[] = [];
  for (let i: ItemInfo | undefined = info; i; i = i.parent) chain.unshift(i);
  return chain;
}

/** Answers to `linkId` in the nearest scope that has the item (so repeating groups use their own instance). */
function answersTo(linkId: string, scope: Scope): QuestionnaireResponseItemAnswer[] {
  for (let s: Scope | undefined = scope; s; s = s.outer) {
    const found: QuestionnaireResponseItem[] = [];
    collect(s.items, linkId, found);
    if (found.length) return found.flatMap((i) => (Array.isArray(i.answer) ? i.answer : []));
  }
  return [];
}

function collect(items: QuestionnaireResponseItem[] | undefined, linkId: string, out: QuestionnaireResponseItem[]): void {
  for (const item of Array.isArray(items) ? items : []) {
    if (!item) continue;
    if (item.linkId === linkId) out.push(item);
    collect(item.item, linkId, out);
    for (const a of Array.isArray(item.answer) ? item.answer : []) collect(a?.item, linkId, out);
  }
}

/**
 * R4 operator semantics: `exists` compares "has an answer" with answerBoolean; `=` holds when some
 * answer equals; `!=` when no answer equals (so also when unanswered); the orderings when some
 * answer compares that way. Values of different kinds never compare.
 */
function conditionHolds(ew: QuestionnaireItemEnableWhen, answers: QuestionnaireResponseItemAnswer[]): boolean {
  if (ew.operator === 'exists') {
    const answered = answers.some((a) => a && valueKeysOf(a).length > 0);
    return answered === (ew.answerBoolean === true);
  }
  const answerKey = Object.keys(ew).find((k) => /^answer[A-Z]/.test(k));
  if (!answerKey) return false;
  const valueKey = `value${answerKey.slice('answer'.length)}`;
  const expected = (ew as unknown as Record<string, unknown>)[answerKey];
  const comparisons = answers
    .map((a) => (a as unknown as Record<string, unknown> | undefined)?.[valueKey])
    .filter((v) => v !== undefined)
    .map((v) => compareValues(valueKey, v, expected));
  switch (ew.operator) {
    case '=':
      return comparisons.some((c) => c === 0);
    case '!=':
      return !comparisons.some((c) => c === 0);
    case '>':
      return comparisons.some((c) => c !== undefined && c > 0);
    case '<':
      return comparisons.some((c) => c !== undefined && c < 0);
    case '>=':
      return comparisons.some((c) => c !== undefined && c >= 0);
    case '<=':
      return comparisons.some((c) => c !== undefined && c <= 0);
    default:
      return false;
  }
}

/** -1/0/1, NaN-free; undefined when the two cannot be compared (e.g. Quantities in different units). */
function compareValues(key: string, actual: unknown, expected: unknown): number | undefined {
  const order = (a: number | string, b: number | string): number => (a < b ? -1 : a > b ? 1 : 0);
  switch (key) {
    case 'valueBoolean':
      return actual === expected ? 0 : undefined;
    case 'valueDecimal':
    case 'valueInteger':
      return typeof actual === 'number' && typeof expected === 'number' ? order(actual, expected) : undefined;
    case 'valueDateTime': {
      const a = Date.parse(String(actual));
      const b = Date.parse(String(expected));
      const bothTimed = String(actual).includes('T') && String(expected).includes('T');
      return bothTimed && !Number.isNaN(a) && !Number.isNaN(b) ? order(a, b) : order(String(actual), String(expected));
    }
    case 'valueDate':
    case 'valueTime':
    case 'valueString':
    case 'valueUri':
      // ISO 8601 dates and times of the same precision order as strings.
      return typeof actual === 'string' && typeof expected === 'string' ? order(actual, expected) : undefined;
    case 'valueCoding':
      return codingMatches(actual as Coding, expected as Coding) ? 0 : undefined;
    case 'valueQuantity': {
      const a = actual as Quantity;
      const b = expected as Quantity;
      if (typeof a?.value !== 'number' || typeof b?.value !== 'number') return undefined;
      const sameUnit = b.code !== undefined ? a.code === b.code && a.system === b.system : a.unit === b.unit;
      return sameUnit ? order(a.value, b.value) : undefined;
    }
    case 'valueReference':
      return (actual as { reference?: string })?.reference === (expected as { reference?: string })?.reference ? 0 : undefined;
    default:
      return undefined;
  }
}
