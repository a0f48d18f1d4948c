import type { Coding, Resource } from 'fhir/r4';
import { badRequest } from '../../core/outcome';
import { ELEMENTS } from './summary-elements';

/**
 * `_summary` and `_elements` (R4 search 3.1.1.5.8-9): a subset of each resource's top-level elements,
 * tagged SUBSETTED so nobody mistakes it for the whole resource (or PUTs it back).
 */
export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';

export interface Subsetting {
  summary?: SummaryMode;
  elements?: string[];
}

const SUMMARY_MODES: readonly SummaryMode[] = ['true', 'text', 'data', 'count', 'false'];
const ELEMENT_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;
/** Resource / DomainResource elements that always stay: identity, and what changes the meaning of the rest. */
const ALWAYS = ['resourceType', 'id', 'meta', 'implicitRules', 'modifierExtension'];

export const SUBSETTED: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

function single(name: string, raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length !== 1 || typeof list[0] !== 'string') throw badRequest(`${name} must be given once`, name);
  return list[0];
}

/** Reads `_summary` / `_elements` from a query; `count` only where `allowCount` (searches). */
export function parseSubsetting(query: Record<string, unknown>, options: { allowCount: boolean }): Subsetting {
  const summary = single('_summary', query._summary);
  const elements = single('_elements', query._elements);
  const out: Subsetting = {};
  if (summary !== undefined) {
    if (!(SUMMARY_MODES as string[]).includes(summary) || (summary === 'count' && !options.allowCount)) {
      const modes = SUMMARY_MODES.filter((m) => m !== 'count' || options.allowCount).join(', ');
      throw badRequest(`_summary must be one of ${modes} (got ${JSON.stringify(summary.slice(0, 32))})`, '_summary');
    }
    out.summary = summary as SummaryMode;
  }
  if (elements !== undefined) {
    if (summary !== undefined && summary !== 'false') throw badRequest('_summary and _elements cannot be combined', '_elements');
    const names = elements
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean);
    const bad = names.find((n) => !ELEMENT_NAME.test(n));
    if (!names.length || bad !== undefined)
      throw badRequest(`_elements must list top-level element names (got ${JSON.stringify((bad ?? elements).slice(0, 64))})`, '_elements');
    out.elements = names;
  }
  return out;
}

/** `valueString` belongs to `value` (a choice element `value[x]`). */
function keptBy(key: string, names: readonly string[]): boolean {
  return names.some((n) => key === n || (key.startsWith(n) && /^[A-Z]/.test(key.charAt(n.length))));
}

/** The resource as the subsetting asks; the resource itself when nothing is removed. */
export function applySubsetting<T extends Resource>(resource: T, subsetting: Subsetting): T {
  const { summary, elements } = subsetting;
  if ((summary === undefined || summary === 'false' || summary === 'count') && !elements) return resource;
  const table = ELEMENTS[resource.resourceType] ?? { summary: [], mandatory: [] };
  let keep: (key: string) => boolean;
  if (elements) keep = (k) => ALWAYS.includes(k) || keptBy(k, elements) || keptBy(k, table.mandatory);
  else if (summary === 'true') keep = (k) => ALWAYS.includes(k) || keptBy(k, table.summary) || keptBy(k, table.mandatory);
  else if (summary === 'text') keep = (k) => ALWAYS.includes(k) || k === 'text' || keptBy(k, table.mandatory);
  else keep = (k) => k !== 'text'; // data
  const out: Record<string, unknown> = {};
  let removed = false;
  for (const [key, value] of Object.entries(resource)) {
    if (keep(key)) out[key] = value;
    else removed = true;
  }
  if (!removed) return resource;
  const meta = (out.meta ?? {}) as NonNullable<Resource['meta']>;
  const tags = (meta.tag ?? []).filter((t) => !(t.system === SUBSETTED.system && t.code === SUBSETTED.code));
  out.meta = { ...meta, tag: [...tags, SUBSETTED] };
  return out as T;
}
