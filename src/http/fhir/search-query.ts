import type { DatePrefix, SearchCriterion, SearchRequest, SortRule } from '../../storage/store';
import { badRequest } from '../../core/outcome';
import { normaliseReference } from '../../core/references';
import { FHIR_ID, FHIR_ID_SOURCE } from '../../core/ids';
import { SEARCH_PARAMETERS, searchParameter } from '../../storage/search-parameters';
import { parseDateRange } from '../../core/dates';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 200;
const MAX_OFFSET = 100_000;
const MAX_VALUES = 50;
const MAX_VALUE_LENGTH = 1024;

/** Result parameters the server understands besides the table's search parameters. */
const CONTROL = new Set(['_count', '_offset', '_sort', '_format', '_pretty', '_total', '_summary', '_elements', '_include', '_revinclude']);
const TOTAL_MODES = ['none', 'estimate', 'accurate'];
const DATE_PREFIXES: DatePrefix[] = ['eq', 'ne', 'lt', 'gt', 'le', 'ge', 'sa', 'eb'];
const RELATIVE_REFERENCE = new RegExp(`^[A-Z][A-Za-z]+/${FHIR_ID_SOURCE}$`);

export type Query = Record<string, unknown>;

function values(name: string, raw: unknown): string[] {
  // Express gives a string, or an array when the parameter repeats (repeats AND together).
  const list = Array.isArray(raw) ? raw : [raw];
  if (!list.every((v) => typeof v === 'string')) throw badRequest(`Search parameter ${name} has an invalid value`, name);
  if (list.length > MAX_VALUES) throw badRequest(`Search parameter ${name} repeats too often`, name);
  for (const v of list) {
    if (v.length > MAX_VALUE_LENGTH) throw badRequest(`Search parameter ${name} is too long`, name);
  }
  return list;
}

function integer(name: string, raw: unknown, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const list = values(name, raw);
  if (list.length > 1) throw badRequest(`${name} must be given once`, name);
  const [v] = list;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) {
    throw badRequest(`${name} must be an integer from ${min} to ${max}`, name);
  }
  return Number(v);
}

/** `_count`: any non-negative integer; above MAX_COUNT the server returns MAX_COUNT a page (R4 lets it return fewer). */
function pageSize(raw: unknown): { count: number; clamped: boolean } {
  if (raw === undefined) return { count: DEFAULT_COUNT, clamped: false };
  const list = values('_count', raw);
  if (list.length > 1) throw badRequest('_count must be given once', '_count');
  const [v] = list;
  if (!/^\d{1,15}$/.test(v))
    throw badRequest(`_count must be a non-negative integer (at most ${MAX_COUNT} are returned per page)`, '_count');
  const count = Number(v);
  return count > MAX_COUNT ? { count: MAX_COUNT, clamped: true } : { count, clamped: false };
}

/** Finds the canonical URL of a resource the server publishes (`Questionnaire/calf-pain` -> its url). */
export type CanonicalResolver = (reference: string) => string | undefined;

/** Matches no index entry: `#` never occurs in a reference or a FHIR id. */
const NOTHING = '#none';

const relativePatterns = new Map<string, RegExp>();

/** `Target/id` or a bare id, compiled once per target type. */
function relativeReference(target: string): RegExp {
  let pattern = relativePatterns.get(target);
  if (!pattern) relativePatterns.set(target, (pattern = new RegExp(`^(?:${target}/)?(${FHIR_ID_SOURCE})$`)));
  return pattern;
}

function canonicalValue(name: string, value: string, target: string, resolve?: CanonicalResolver): string {
  if (!value) throw badRequest(`Search parameter ${name} has an empty value`, name);
  const relative = relativeReference(target).exec(value);
  // A canonical URL (possibly |version) is matched as given; a relative reference or a bare id through the published resource.
  if (!relative) return value;
  return resolve?.(`${target}/${relative[1]}`) ?? NOTHING;
}

function referenceValue(name: string, value: string, target?: string): string {
  if (!value) throw badRequest(`Search parameter ${name} has an empty value`, name);
  const normalised = normaliseReference(value);
  if (RELATIVE_REFERENCE.test(normalised)) return normalised;
  if (FHIR_ID.test(value) && target) return `${target}/${value}`;
  throw badRequest(`Search parameter ${name}: "${value}" is not a reference (Type/id)`, name);
}

function tokenValue(name: string, value: string): string {
  if (!value) throw badRequest(`Search parameter ${name} has an empty value`, name);
  const bar = value.indexOf('|');
  if (bar === -1) return value;
  const system = value.slice(0, bar);
  const code = value.slice(bar + 1);
  if (!code) throw badRequest(`Search parameter ${name}: a code is required after "|"`, name);
  return `${system}|${code}`;
}

function dateCriterion(name: string, value: string): SearchCriterion {
  const prefix = DATE_PREFIXES.find((p) => value.startsWith(p)) ?? 'eq';
  const rest = value.startsWith(prefix) ? value.slice(2) : value;
  const range = parseDateRange(rest);
  if (!range)
    throw badRequest(
      `Search parameter ${name}: "${value}" is not a FHIR date with an optional prefix (eq, ne, lt, gt, le, ge, sa, eb)`,
      name,
    );
  return { param: name, kind: 'date', prefix, lo: range.lo, hi: range.hi };
}

function sortRules(resourceType: string, raw: unknown): SortRule[] {
  if (raw === undefined) return [{ param: '_lastUpdated', descending: true }];
  const rules = values('_sort', raw)
    .join(',')
    .split(',')
    .filter(Boolean)
    .map((token) => {
      const descending = token.startsWith('-');
      const param = descending ? token.slice(1) : token;
      if (param !== '_lastUpdated' && param !== '_id' && !searchParameter(resourceType, param)) {
        throw badRequest(`_sort: ${resourceType} cannot be sorted by "${param}"`, '_sort');
      }
      return { param, descending };
    });
  if (!rules.length) throw badRequest('_sort needs a parameter name', '_sort');
  return rules;
}

/**
 * Parses an Express query into a store SearchRequest. Unknown parameters and modifiers are refused
 * (400) rather than ignored, so a client never mistakes an unfiltered result for a filtered one.
 */
/** `_count` and `_offset` of a search or history request; `clamped` when `_count` was above MAX_COUNT. */
export function parsePaging(query: Query): { count: number; offset: number; clamped: boolean } {
  return {
    ...pageSize(query._count),
    offset: integer('_offset', query._offset, 0, MAX_OFFSET, 0),
  };
}

export interface ParsedSearch extends SearchRequest {
  /** `_count` was above MAX_COUNT and was lowered to it (say so in the self link). */
  clamped: boolean;
  /** `_total=none`: the client does not need the total. */
  total: 'none' | 'estimate' | 'accurate' | undefined;
}

export function parseSearch(resourceType: string, query: Query, options: { resolveCanonical?: CanonicalResolver } = {}): ParsedSearch {
  if (!Object.hasOwn(SEARCH_PARAMETERS, resourceType)) throw badRequest(`Search is not supported for ${resourceType}`);
  const criteria: SearchCriterion[] = [];
  for (const [key, raw] of Object.entries(query)) {
    if (CONTROL.has(key) || /^_(rev)?include:/.test(key)) continue;
    const [name, modifier] = key.split(':');
    if (name === '_id' || name === '_lastUpdated') {
      if (modifier) throw badRequest(`Modifier :${modifier} is not supported on ${name}`, key);
      for (const v of values(key, raw)) {
        if (name === '_lastUpdated') criteria.push(dateCriterion(name, v));
        else {
          const ids = v.split(',');
          if (!ids.every((id) => FHIR_ID.test(id))) throw badRequest(`_id: "${v}" is not a valid id`, key);
          criteria.push({ param: '_id', kind: 'exact', values: ids });
        }
      }
      continue;
    }
    const definition = searchParameter(resourceType, name);
    if (!definition) throw badRequest(`Unknown search parameter "${name}" for ${resourceType}`, key);
    if (modifier !== undefined && !(definition.type === 'reference' && modifier === definition.target)) {
      throw badRequest(`Modifier :${modifier} is not supported on ${name}`, key);
    }
    for (const v of values(key, raw)) {
      const alternatives = v.split(',');
      switch (definition.type) {
        case 'date':
          if (alternatives.length > 1) throw badRequest(`Search parameter ${name}: one date per parameter (repeat it to AND)`, key);
          criteria.push(dateCriterion(name, v));
          break;
        case 'reference':
          if (definition.canonical) {
            criteria.push({
              param: name,
              kind: 'exact',
              values: alternatives.map((a) => canonicalValue(name, a, definition.target!, options.resolveCanonical)),
            });
            break;
          }
          criteria.push({ param: name, kind: 'exact', values: alternatives.map((a) => referenceValue(name, a, definition.target)) });
          break;
        case 'token':
          criteria.push({ param: name, kind: 'exact', values: alternatives.map((a) => tokenValue(name, a)) });
          break;
        case 'uri':
          if (alternatives.some((a) => !a)) throw badRequest(`Search parameter ${name} has an empty value`, key);
          criteria.push({ param: name, kind: 'exact', values: alternatives });
          break;
      }
    }
  }
  let total: ParsedSearch['total'];
  if (query._total !== undefined) {
    const [mode] = values('_total', query._total);
    if (!TOTAL_MODES.includes(mode) || values('_total', query._total).length > 1)
      throw badRequest(`_total must be one of ${TOTAL_MODES.join(', ')}`, '_total');
    total = mode as ParsedSearch['total'];
  }
  return {
    resourceType,
    criteria,
    sort: sortRules(resourceType, query._sort),
    ...parsePaging(query),
    total,
  };
}
