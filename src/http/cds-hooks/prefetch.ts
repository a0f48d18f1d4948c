import type { Bundle, Resource } from 'fhir/r4';

/**
 * What a prefetch value tells us (CDS Hooks 2.0 "Prefetch"): a key may be missing (the client could not
 * or would not satisfy it), `null` (the query found nothing), an empty Bundle, an OperationOutcome (the
 * query failed), a Bundle of results, or a bare resource (an instance read).
 */
export type PrefetchState =
  /** The client answered: these are the resources (possibly none). */
  | { kind: 'answered'; resources: Resource[] }
  /** The client did not answer usefully: fetch the data another way. */
  | { kind: 'unanswered'; reason: 'missing' | 'operation-outcome' | 'unrecognised' };

export function readPrefetch(prefetch: Record<string, unknown> | undefined, key: string, resourceType: string): PrefetchState {
  if (!prefetch || !(key in prefetch) || prefetch[key] === undefined) return { kind: 'unanswered', reason: 'missing' };
  const value = prefetch[key];
  if (value === null) return { kind: 'answered', resources: [] };
  if (typeof value !== 'object' || Array.isArray(value)) return { kind: 'unanswered', reason: 'unrecognised' };
  const resource = value as Resource;
  if (resource.resourceType === 'OperationOutcome') return { kind: 'unanswered', reason: 'operation-outcome' };
  if (resource.resourceType === resourceType) return { kind: 'answered', resources: [resource] };
  if (resource.resourceType === 'Bundle') {
    const entries = (resource as Bundle).entry;
    if (entries !== undefined && !Array.isArray(entries)) return { kind: 'unanswered', reason: 'unrecognised' };
    const all = (entries ?? []).map((e) => e?.resource).filter((r): r is Resource => !!r && typeof r === 'object');
    const matching = all.filter((r) => r.resourceType === resourceType);
    // A Bundle holding only an OperationOutcome is a failed search, not "nothing found".
    if (
      matching.length === 0 &&
      all.some((r) => r.resourceType === 'OperationOutcome') &&
      all.every((r) => r.resourceType === 'OperationOutcome')
    ) {
      return { kind: 'unanswered', reason: 'operation-outcome' };
    }
    return { kind: 'answered', resources: matching };
  }
  return { kind: 'unanswered', reason: 'unrecognised' };
}
