import type { Resource } from 'fhir/r4';
import { checkAccess, compartmentCriterion, type AccessContext } from '../../auth/access';
import type { SearchCriterion, Store } from '../../storage/store';
import { badRequest } from '../../core/outcome';
import { indexResource } from '../../storage/search-parameters';

/**
 * `_include` and `_revinclude` (R4 search 3.1.1.5.4): the joins between what this server writes. A
 * response's assessment and its Provenance, an assessment's response and Provenance. No `:iterate`, no `*`.
 */
export const INCLUDES: Record<string, string[]> = {
  RiskAssessment: ['RiskAssessment:basis'],
  Provenance: ['Provenance:target', 'Provenance:entity'],
};

export const REVINCLUDES: Record<string, string[]> = {
  QuestionnaireResponse: ['RiskAssessment:basis', 'Provenance:entity'],
  RiskAssessment: ['Provenance:target'],
};

/** Most resources one include brings into a page (beyond the page's own matches). */
const MAX_INCLUDED = 1000;

export interface IncludeRequest {
  include: string[];
  revinclude: string[];
}

function list(query: Record<string, unknown>, name: string): string[] {
  const raw = query[name];
  if (raw === undefined) return [];
  const values = Array.isArray(raw) ? raw : [raw];
  if (!values.every((v) => typeof v === 'string')) throw badRequest(`${name} has an invalid value`, name);
  return values;
}

export function parseIncludes(resourceType: string, query: Record<string, unknown>): IncludeRequest {
  const include = list(query, '_include');
  const revinclude = list(query, '_revinclude');
  for (const key of Object.keys(query)) {
    if (/^_(rev)?include:/.test(key)) throw badRequest(`${key.slice(0, 40)}: modifiers such as :iterate are not supported`, key);
  }
  const refuseUnsupported = (param: '_include' | '_revinclude', values: string[], table: Record<string, string[]>) => {
    const supported = table[resourceType] ?? [];
    for (const value of values) {
      if (supported.includes(value)) continue;
      const listed = supported.join(', ') || 'none';
      throw badRequest(`${param}=${value.slice(0, 64)} is not supported on ${resourceType} (supported: ${listed})`, param);
    }
  };
  refuseUnsupported('_include', include, INCLUDES);
  refuseUnsupported('_revinclude', revinclude, REVINCLUDES);
  return { include, revinclude };
}

function readable(access: AccessContext | undefined, resource: Resource): boolean {
  try {
    checkAccess(access, 'r', resource.resourceType, resource);
    return true;
  } catch {
    return false;
  }
}

/** The resources the includes bring in, the caller may read, and are not already among `matches`. */
export async function includedResources(
  store: Store,
  access: AccessContext | undefined,
  matches: Resource[],
  request: IncludeRequest,
): Promise<Resource[]> {
  if (!matches.length || (!request.include.length && !request.revinclude.length)) return [];
  const seen = new Set(matches.map((r) => `${r.resourceType}/${r.id}`));
  const out: Resource[] = [];
  const add = (resources: Resource[]) => {
    for (const r of resources) {
      const key = `${r.resourceType}/${r.id}`;
      if (seen.has(key) || !readable(access, r)) continue;
      seen.add(key);
      out.push(r);
    }
  };

  for (const value of request.include) {
    const [, param] = value.split(':');
    const references = new Set(
      matches.flatMap((r) =>
        indexResource(r)
          .filter((e) => e.param === param)
          .map((e) => e.value),
      ),
    );
    const byType = new Map<string, string[]>();
    for (const reference of references) {
      const [type, id] = reference.split('/');
      if (!type || !id) continue;
      byType.set(type, [...(byType.get(type) ?? []), id]);
    }
    for (const [type, ids] of byType) {
      add(
        (
          await store.search({
            resourceType: type,
            criteria: [{ param: '_id', kind: 'exact', values: ids }],
            sort: [],
            count: MAX_INCLUDED,
            offset: 0,
          })
        ).resources,
      );
    }
  }

  for (const value of request.revinclude) {
    const [type, param] = value.split(':');
    const criteria: SearchCriterion[] = [{ param, kind: 'exact', values: matches.map((r) => `${r.resourceType}/${r.id}`) }];
    const compartment = compartmentCriterion(access, type);
    if (compartment) criteria.push(compartment);
    add(
      (
        await store.search({
          resourceType: type,
          criteria,
          sort: [{ param: '_lastUpdated', descending: true }],
          count: MAX_INCLUDED,
          offset: 0,
        })
      ).resources,
    );
  }
  return out;
}
