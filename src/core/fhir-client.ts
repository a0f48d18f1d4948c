import type { Bundle, Resource } from 'fhir/r4';
import type { Logger } from 'pino';

/**
 * Reads from the CDS client's FHIR server (CDS Hooks 2.0 "FHIR Resource Access") with the access token
 * the client handed over. All calls of one hook request share one AbortSignal, so the configured
 * deadline bounds the whole fetch (every page of every query), not each call. Failures are answers,
 * not exceptions: a 401, a 500, a timeout or a body that is not a FHIR Bundle means "unobtainable".
 */
export interface FhirServerAccess {
  baseUrl: string;
  accessToken?: string;
  signal: AbortSignal;
  logger: Logger;
  /** Stop following `next` links after this many pages. */
  maxPages?: number;
}

export type SearchOutcome = { ok: true; resources: Resource[]; complete: boolean } | { ok: false; reason: string };

const DEFAULT_MAX_PAGES = 10;

function isBundle(value: unknown): value is Bundle {
  return typeof value === 'object' && value !== null && (value as Bundle).resourceType === 'Bundle';
}

/**
 * A next link is followed only when it stays under the FHIR server's base URL: a Bundle must not be
 * able to send the client's access token to another host.
 */
function sameServer(baseUrl: string, link: string): URL | undefined {
  try {
    const base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    const next = new URL(link, base);
    if (next.origin !== base.origin || !next.pathname.startsWith(base.pathname)) return undefined;
    return next;
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  const name = (err as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'deadline exceeded';
  return `request failed (${(err as Error)?.message ?? String(err)})`;
}

/** Runs a search (`query` relative to the base, e.g. `Condition?patient=123`) and follows paging. */
export async function searchAll(access: FhirServerAccess, query: string, resourceType: string): Promise<SearchOutcome> {
  const maxPages = access.maxPages ?? DEFAULT_MAX_PAGES;
  const headers: Record<string, string> = { Accept: 'application/fhir+json, application/json;q=0.9' };
  if (access.accessToken) headers.Authorization = `Bearer ${access.accessToken}`;

  const resources: Resource[] = [];
  let url: URL | undefined = sameServer(access.baseUrl, query);
  if (!url) return { ok: false, reason: 'query outside the FHIR server' };
  for (let page = 0; url && page < maxPages; page++) {
    let bundle: unknown;
    try {
      const response = await fetch(url, { headers, signal: access.signal, redirect: 'error' });
      const text = await response.text();
      if (!response.ok) {
        access.logger.warn({ status: response.status, resourceType, page }, 'CDS fhirServer search failed');
        return page === 0 ? { ok: false, reason: `HTTP ${response.status}` } : { ok: true, resources, complete: false };
      }
      bundle = JSON.parse(text);
    } catch (err) {
      access.logger.warn({ resourceType, page, reason: describe(err) }, 'CDS fhirServer search failed');
      return page === 0 ? { ok: false, reason: describe(err) } : { ok: true, resources, complete: false };
    }
    if (!isBundle(bundle)) {
      access.logger.warn({ resourceType, page }, 'CDS fhirServer search returned something other than a Bundle');
      return page === 0 ? { ok: false, reason: 'response is not a FHIR Bundle' } : { ok: true, resources, complete: false };
    }
    for (const entry of bundle.entry ?? []) {
      if (entry.resource?.resourceType === resourceType) resources.push(entry.resource);
    }
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (!next) return { ok: true, resources, complete: true };
    url = sameServer(access.baseUrl, next);
    if (!url) access.logger.warn({ resourceType }, 'CDS fhirServer next link points outside the server; not followed');
  }
  return { ok: true, resources, complete: false };
}
