/**
 * Counting what a store holds, for tests that assert a refused request stored nothing. Counts go
 * through the store's own search (count 0), so they see exactly what the API would return.
 */
import type { Store } from '../../src/storage/store';

/** The resource types a QuestionnaireResponse create writes: the response, its RiskAssessment, a Provenance. */
export const WRITTEN_RESOURCE_TYPES = ['QuestionnaireResponse', 'RiskAssessment', 'Provenance'] as const;

/** How many resources of `type` the store holds (current versions). */
export async function countStored(store: Store, type: string): Promise<number> {
  return (await store.search({ resourceType: type, criteria: [], sort: [], count: 0, offset: 0 })).total;
}

/** countStored for each of WRITTEN_RESOURCE_TYPES, by type. */
export async function writtenCounts(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const type of WRITTEN_RESOURCE_TYPES) out[type] = await countStored(store, type);
  return out;
}
