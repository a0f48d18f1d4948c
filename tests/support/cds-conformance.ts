/**
 * Checks CDS Hooks 2.0 responses against the rules of the specification (https://cds-hooks.hl7.org/2.0/):
 * required fields, enums, summary < 140 characters, selectionBehavior whenever there are suggestions,
 * link types, uuids, and no null, "", [] or {} anywhere (the one exception: "cards": []). Resources in
 * actions are checked by the independent R4 validator.
 */
import type { Resource } from 'fhir/r4';
import { validateR4 } from './r4-validator';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PREFETCH_TOKENS = new Set([
  'context.patientId',
  'context.encounterId',
  'context.userId',
  'userPractitionerId',
  'userPractitionerRoleId',
  'userPatientId',
  'userRelatedPersonId',
]);

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isAbsoluteUrl(v: Json): boolean {
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Every null, "", [] and {} below `value` (path-named), except `allowEmptyAt`. */
function emptyValues(value: Json, path: string, allowEmptyAt: Set<string>, out: string[]): void {
  if (value === null) out.push(`${path} is null`);
  else if (value === '') out.push(`${path} is ""`);
  else if (Array.isArray(value)) {
    if (value.length === 0 && !allowEmptyAt.has(path)) out.push(`${path} is []`);
    value.forEach((v, i) => emptyValues(v, `${path}[${i}]`, allowEmptyAt, out));
  } else if (isObject(value)) {
    if (Object.keys(value).length === 0) out.push(`${path} is {}`);
    for (const [k, v] of Object.entries(value)) emptyValues(v, `${path}.${k}`, allowEmptyAt, out);
  }
}

function checkCoding(c: Json, path: string, out: string[], needDisplay: boolean): void {
  if (!isObject(c)) return void out.push(`${path} must be a Coding`);
  if (typeof c.code !== 'string') out.push(`${path}.code is required`);
  if (c.system !== undefined && !isAbsoluteUrl(c.system) && !(typeof c.system === 'string' && c.system.startsWith('urn:')))
    out.push(`${path}.system must be a URI`);
  if (needDisplay && typeof c.display !== 'string') out.push(`${path}.display is required`);
}

function checkAction(a: Json, path: string, out: string[]): void {
  if (!isObject(a)) return void out.push(`${path} must be an object`);
  if (!['create', 'update', 'delete'].includes(a.type as string)) out.push(`${path}.type must be create, update or delete`);
  if (typeof a.description !== 'string') out.push(`${path}.description is required`);
  if (a.type === 'create' || a.type === 'update') {
    if (!isObject(a.resource) || typeof a.resource.resourceType !== 'string')
      out.push(`${path}.resource is required for ${String(a.type)}`);
    else for (const e of validateR4(a.resource as unknown as Resource)) out.push(`${path}.resource: ${e}`);
  }
  if (a.type === 'delete' && (typeof a.resourceId !== 'string' || !/^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(a.resourceId))) {
    out.push(`${path}.resourceId must be a relative reference for delete`);
  }
}

function checkCard(card: Json, path: string, out: string[], uuids: Set<string>): void {
  if (!isObject(card)) return void out.push(`${path} must be an object`);
  const seen = (id: Json, where: string) => {
    if (typeof id !== 'string' || !UUID.test(id)) return void out.push(`${where} must be a UUID`);
    if (uuids.has(id)) out.push(`${where} repeats uuid ${id}`);
    uuids.add(id);
  };
  seen(card.uuid, `${path}.uuid`);
  if (typeof card.summary !== 'string') out.push(`${path}.summary is required`);
  else if (card.summary.length >= 140) out.push(`${path}.summary has ${card.summary.length} characters (must be < 140)`);
  if (card.detail !== undefined && typeof card.detail !== 'string') out.push(`${path}.detail must be a markdown string`);
  if (!['info', 'warning', 'critical'].includes(card.indicator as string)) out.push(`${path}.indicator must be info, warning or critical`);
  const source = card.source;
  if (!isObject(source)) out.push(`${path}.source is required`);
  else {
    if (typeof source.label !== 'string') out.push(`${path}.source.label is required`);
    if (source.url !== undefined && !isAbsoluteUrl(source.url)) out.push(`${path}.source.url must be an absolute URL`);
    if (source.icon !== undefined && !isAbsoluteUrl(source.icon)) out.push(`${path}.source.icon must be an absolute URL`);
    if (source.topic !== undefined) checkCoding(source.topic, `${path}.source.topic`, out, false);
  }
  if (card.suggestions !== undefined) {
    if (!Array.isArray(card.suggestions)) out.push(`${path}.suggestions must be an array`);
    else {
      if (!['at-most-one', 'any'].includes(card.selectionBehavior as string))
        out.push(`${path}.selectionBehavior (at-most-one | any) is required with suggestions`);
      card.suggestions.forEach((s, i) => {
        const at = `${path}.suggestions[${i}]`;
        if (!isObject(s)) return void out.push(`${at} must be an object`);
        if (typeof s.label !== 'string') out.push(`${at}.label is required`);
        if (s.uuid !== undefined) seen(s.uuid, `${at}.uuid`);
        if (s.isRecommended !== undefined && typeof s.isRecommended !== 'boolean') out.push(`${at}.isRecommended must be a boolean`);
        if (s.actions !== undefined) {
          if (!Array.isArray(s.actions)) out.push(`${at}.actions must be an array`);
          else s.actions.forEach((a, j) => checkAction(a, `${at}.actions[${j}]`, out));
        }
      });
    }
  } else if (card.selectionBehavior !== undefined) out.push(`${path}.selectionBehavior without suggestions`);
  if (card.overrideReasons !== undefined) {
    if (!Array.isArray(card.overrideReasons)) out.push(`${path}.overrideReasons must be an array`);
    else card.overrideReasons.forEach((c, i) => checkCoding(c, `${path}.overrideReasons[${i}]`, out, true));
  }
  if (card.links !== undefined) {
    if (!Array.isArray(card.links)) out.push(`${path}.links must be an array`);
    else
      card.links.forEach((l, i) => {
        const at = `${path}.links[${i}]`;
        if (!isObject(l)) return void out.push(`${at} must be an object`);
        if (typeof l.label !== 'string') out.push(`${at}.label is required`);
        if (!isAbsoluteUrl(l.url)) out.push(`${at}.url must be an absolute URL`);
        if (l.type !== 'absolute' && l.type !== 'smart') out.push(`${at}.type must be absolute or smart`);
        if (l.appContext !== undefined && l.type !== 'smart') out.push(`${at}.appContext is only allowed on smart links`);
      });
  }
  const known = new Set([
    'uuid',
    'summary',
    'detail',
    'indicator',
    'source',
    'suggestions',
    'selectionBehavior',
    'overrideReasons',
    'links',
    'extension',
  ]);
  for (const key of Object.keys(card)) if (!known.has(key)) out.push(`${path}.${key} is not a card field`);
}

/** Problems with a hook-call response body; [] when it conforms. */
export function hookResponseProblems(body: Json): string[] {
  const out: string[] = [];
  if (!isObject(body)) return ['the response must be a JSON object'];
  if (!Array.isArray(body.cards)) out.push('cards (array) is required');
  emptyValues(body, '$', new Set(['$.cards']), out);
  const uuids = new Set<string>();
  if (Array.isArray(body.cards)) body.cards.forEach((c, i) => checkCard(c, `$.cards[${i}]`, out, uuids));
  if (body.systemActions !== undefined) {
    if (!Array.isArray(body.systemActions)) out.push('systemActions must be an array');
    else body.systemActions.forEach((a, i) => checkAction(a, `$.systemActions[${i}]`, out));
  }
  return out;
}

/** Problems with a discovery response body; [] when it conforms. */
export function discoveryProblems(body: Json): string[] {
  const out: string[] = [];
  if (!isObject(body) || !Array.isArray(body.services)) return ['services (array) is required'];
  emptyValues(body, '$', new Set(), out);
  const ids = new Set<string>();
  body.services.forEach((s, i) => {
    const at = `$.services[${i}]`;
    if (!isObject(s)) return void out.push(`${at} must be an object`);
    for (const key of ['hook', 'id', 'description'] as const) if (typeof s[key] !== 'string') out.push(`${at}.${key} is required`);
    if (s.title !== undefined && typeof s.title !== 'string') out.push(`${at}.title must be a string`);
    if (typeof s.id === 'string') {
      if (!/^[A-Za-z0-9\-_.]+$/.test(s.id)) out.push(`${at}.id must be URL-safe`);
      if (ids.has(s.id)) out.push(`${at}.id repeats ${s.id}`);
      ids.add(s.id);
    }
    if (s.prefetch !== undefined) {
      if (!isObject(s.prefetch)) out.push(`${at}.prefetch must be an object`);
      else
        for (const [key, template] of Object.entries(s.prefetch)) {
          if (typeof template !== 'string') {
            out.push(`${at}.prefetch.${key} must be a string`);
            continue;
          }
          for (const m of template.matchAll(/\{\{([^}]*)\}\}/g)) {
            if (!PREFETCH_TOKENS.has(m[1].trim())) out.push(`${at}.prefetch.${key} uses unknown token {{${m[1]}}}`);
          }
          if (!/^[A-Z][A-Za-z]+(\/|\?)/.test(template)) out.push(`${at}.prefetch.${key} must be a relative FHIR read or search`);
        }
    }
    if (s.usageRequirements !== undefined && typeof s.usageRequirements !== 'string') out.push(`${at}.usageRequirements must be a string`);
  });
  return out;
}

/** Fails the test with every problem when a hook response does not conform. */
export function expectConformantHookResponse(body: Json): void {
  const problems = hookResponseProblems(body);
  if (problems.length) throw new Error(`CDS Hooks response does not conform:\n  ${problems.join('\n  ')}`);
}

export function expectConformantDiscovery(body: Json): void {
  const problems = discoveryProblems(body);
  if (problems.length) throw new Error(`CDS Hooks discovery does not conform:\n  ${problems.join('\n  ')}`);
}
