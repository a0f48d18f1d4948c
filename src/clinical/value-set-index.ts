import fs from 'node:fs';
import path from 'node:path';
import type { ValueSet } from 'fhir/r4';
import { CANONICAL_BASE } from '../core/canonical';
import { isObject } from '../core/json';
import { PROJECT_ROOT } from '../core/project-root';

/**
 * The chart code lists (cancer, DVT, surgery, paralysis/cast) are ValueSets in fhir-resources/. Each is
 * compiled once into a Set of `system|code` plus the regular expressions of its filters, so a membership
 * check is a few lookups, never an expansion per call. FHIRPath reaches it as `inValueSet(url)`.
 */
export const EXT_TEXT_PATTERN = `${CANONICAL_BASE}/StructureDefinition/valueset-text-pattern`;

export interface CompiledValueSet {
  url: string;
  /** True when the Coding, CodeableConcept or text is in the value set. */
  contains(value: unknown): boolean;
}

export class ValueSetError extends Error {
  override name = 'ValueSetError';
}

interface CodingLike {
  system?: unknown;
  code?: unknown;
  display?: unknown;
}

export function compileValueSet(valueSet: ValueSet): CompiledValueSet {
  const where = `ValueSet/${valueSet.id ?? '?'}`;
  if (!valueSet.url) throw new ValueSetError(`${where}: url is required`);
  const codes = new Set<string>();
  const filters: { system: string; pattern: RegExp }[] = [];
  for (const include of valueSet.compose?.include ?? []) {
    if (!include.system) throw new ValueSetError(`${where}: every include needs a system`);
    for (const concept of include.concept ?? []) codes.add(`${include.system}|${concept.code}`);
    for (const filter of include.filter ?? []) {
      if (filter.property !== 'code' || filter.op !== 'regex') throw new ValueSetError(`${where}: only "code regex" filters are supported`);
      // FHIR regex filters match the whole code.
      filters.push({ system: include.system, pattern: new RegExp(`^(?:${filter.value})$`) });
    }
  }
  const textPattern = valueSet.extension?.find((e) => e.url === EXT_TEXT_PATTERN)?.valueString;
  const text = textPattern ? new RegExp(textPattern, 'i') : undefined;

  const codingIn = (c: CodingLike): boolean => {
    if (typeof c.system !== 'string' || typeof c.code !== 'string') return false;
    if (codes.has(`${c.system}|${c.code}`)) return true;
    return filters.some((f) => f.system === c.system && f.pattern.test(c.code as string));
  };
  const textIn = (s: unknown): boolean => text !== undefined && typeof s === 'string' && text.test(s);

  return {
    url: valueSet.url,
    contains(value: unknown): boolean {
      if (typeof value === 'string') return textIn(value);
      if (!isObject(value)) return false;
      // Chart data comes from the EHR unchecked: a field of the wrong JSON type is ignored.
      const codings = Array.isArray(value.coding) ? value.coding.filter(isObject) : 'code' in value ? [value] : [];
      if (codings.some(codingIn)) return true;
      return textIn(value.text) || codings.some((c) => textIn(c.display));
    },
  };
}

export interface ValueSetIndex {
  get(url: string): CompiledValueSet | undefined;
  /** FHIRPath functions for fhirpath.js `userInvocationTable`: `inValueSet(url)`. */
  functions: Record<string, unknown>;
}

/** fhirpath.js hands over model-typed nodes ({data, path, ...}); plain values pass through. */
function unwrap(node: unknown): unknown {
  return isObject(node) && 'data' in node && 'path' in node ? node.data : node;
}

export function createValueSetIndex(valueSets: ValueSet[]): ValueSetIndex {
  const byUrl = new Map<string, CompiledValueSet>();
  for (const vs of valueSets) {
    if (!vs.compose?.include?.length) continue;
    const compiled = compileValueSet(vs);
    byUrl.set(compiled.url, compiled);
  }
  const inValueSet = (inputs: unknown[], url: unknown): boolean[] => {
    const canonical: unknown = Array.isArray(url) ? url[0] : url;
    const set = typeof canonical === 'string' ? byUrl.get(canonical.split('|')[0]) : undefined;
    // An unknown value set is a rule error, found at start-up by the loaders that compile the rules.
    if (!set) throw new ValueSetError(`inValueSet: unknown value set ${String(canonical)}`);
    return [inputs.some((input) => set.contains(unwrap(input)))];
  };
  return {
    get: (url) => byUrl.get(url.split('|')[0]),
    functions: { inValueSet: { fn: inValueSet, arity: { 1: ['String'] } } },
  };
}

/** The ValueSets of fhir-resources/ (read once at start-up). */
export function loadValueSetIndex(rootDir = PROJECT_ROOT): ValueSetIndex {
  const dir = path.join(rootDir, 'fhir-resources');
  const valueSets = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('ValueSet-') && f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ValueSet);
  return createValueSetIndex(valueSets);
}
