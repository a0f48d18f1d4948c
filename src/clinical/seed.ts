import type { Resource } from 'fhir/r4';
import { indexResource } from '../storage/search-parameters';
import type { Store } from '../storage/store';
import type { Catalog } from './catalog';

/**
 * Seeding: the catalog's resources written into the store at start-up, so they can be read and
 * searched over the FHIR API. Loading them from disk is catalog.ts.
 */

/** Stores each catalog resource, writing a new version only when its content (or its indexing) changed. */
export async function seedStore(store: Store, catalog: Catalog): Promise<void> {
  for (const resource of catalog.resources) {
    const current = await storedVersion(store, resource);
    if (!current || withoutMeta(current) !== withoutMeta(resource) || !(await indexedInFull(store, current))) await store.update(resource);
  }
}

/** The stored copy of a catalog resource, or undefined when there is none (or it cannot be read). */
async function storedVersion(store: Store, resource: Resource): Promise<Resource | undefined> {
  try {
    return await store.read(resource.resourceType, resource.id!);
  } catch {
    return undefined;
  }
}

/** The resource's JSON without meta (versionId and lastUpdated are the store's). */
function withoutMeta(resource: Resource): string {
  return JSON.stringify({ ...resource, meta: undefined });
}

/**
 * True when every search parameter value of the stored resource finds it: a database written before a
 * parameter was added (url on ValueSet, say) has no index rows for it, and a new version writes them.
 */
async function indexedInFull(store: Store, resource: Resource): Promise<boolean> {
  for (const entry of indexResource(resource)) {
    const criterion =
      entry.lo !== undefined && entry.hi !== undefined
        ? { param: entry.param, kind: 'date' as const, prefix: 'eq' as const, lo: entry.lo, hi: entry.hi }
        : { param: entry.param, kind: 'exact' as const, values: [entry.value] };
    const found = await store.search({
      resourceType: resource.resourceType,
      criteria: [{ param: '_id', kind: 'exact', values: [resource.id!] }, criterion],
      sort: [],
      count: 0,
      offset: 0,
    });
    if (found.total === 0) return false;
  }
  return true;
}
