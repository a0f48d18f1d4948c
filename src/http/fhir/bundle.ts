import type { Bundle, BundleEntry, BundleLink, Resource } from 'fhir/r4';
import type { SearchResult } from '../../storage/store';

export function resourceUrl(fhirBase: string, resource: Resource): string {
  return `${fhirBase}/${resource.resourceType}/${resource.id}`;
}

/** `_count`/`_offset` paging links built from the request's own query, so every filter carries over. */
function pageLinks(selfUrl: URL, count: number, offset: number, total: number): BundleLink[] {
  const at = (o: number) => {
    const u = new URL(selfUrl);
    u.searchParams.set('_count', String(count));
    u.searchParams.set('_offset', String(o));
    return u.toString();
  };
  const links: BundleLink[] = [{ relation: 'self', url: selfUrl.toString() }];
  if (count === 0) return links;
  const last = total === 0 ? 0 : Math.floor((total - 1) / count) * count;
  links.push({ relation: 'first', url: at(0) });
  if (offset > 0) links.push({ relation: 'previous', url: at(Math.max(0, offset - count)) });
  if (offset + count < total) links.push({ relation: 'next', url: at(offset + count) });
  links.push({ relation: 'last', url: at(last) });
  return links;
}

/** A page of `result` as a Bundle of `type`, each entry made by `entry` (fullUrl and resource added). */
function pageBundle(
  type: 'searchset' | 'history',
  fhirBase: string,
  selfUrl: URL,
  result: SearchResult,
  page: { count: number; offset: number },
  entry: (resource: Resource) => Omit<BundleEntry, 'fullUrl' | 'resource'>,
): Bundle {
  return {
    resourceType: 'Bundle',
    type,
    total: result.total,
    link: pageLinks(selfUrl, page.count, page.offset, result.total),
    ...(result.resources.length
      ? { entry: result.resources.map((resource) => ({ fullUrl: resourceUrl(fhirBase, resource), resource, ...entry(resource) })) }
      : {}),
  };
}

export function searchBundle(fhirBase: string, selfUrl: URL, result: SearchResult, count: number, offset: number): Bundle {
  return pageBundle('searchset', fhirBase, selfUrl, result, { count, offset }, () => ({ search: { mode: 'match' } }));
}

/** History entries say how each version was made: version 1 by POST (201), later ones by PUT (200). */
export function historyBundle(fhirBase: string, selfUrl: URL, result: SearchResult, count: number, offset: number): Bundle {
  return pageBundle('history', fhirBase, selfUrl, result, { count, offset }, (resource) => {
    const version = resource.meta?.versionId ?? '1';
    return {
      request:
        version === '1'
          ? { method: 'POST', url: resource.resourceType }
          : { method: 'PUT', url: `${resource.resourceType}/${resource.id}` },
      response: {
        status: version === '1' ? '201 Created' : '200 OK',
        etag: `W/"${version}"`,
        ...(resource.meta?.lastUpdated ? { lastModified: resource.meta.lastUpdated } : {}),
      },
    };
  });
}
