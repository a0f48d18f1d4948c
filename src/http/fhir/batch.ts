import { timeOrderedUuid } from '../../core/ids';
import { STATUS_CODES } from 'node:http';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from 'fhir/r4';
import type { AccessContext } from '../../auth/access';
import type { Store } from '../../storage/store';
import { queryOf, resolveRoute, type FhirRequest, type FhirResponse, type Interactions, type Route } from './interactions';
import { badRequest, OperationOutcomeError, payloadTooLarge } from '../../core/outcome';
import { toOutcomeError } from './http';
import { outcomeFor, type ReturnPreference } from './prefer';

/**
 * Batch and transaction Bundles posted to the base URL. Each entry goes through the same
 * resolveRoute + execute as the request sent alone. A batch answers every entry on its own; a
 * transaction runs in one store transaction (urn:uuid fullUrls replaced by the ids assigned, FHIR's
 * order: creates, then updates, then reads) and a failing entry rolls everything back.
 */
export const MAX_BUNDLE_ENTRIES = 100;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH']);
/** R4 transaction processing order (3.1.0.11.2): DELETE, POST, PUT/PATCH, GET/HEAD. */
const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

interface ParsedEntry {
  index: number;
  fullUrl?: string;
  request: FhirRequest;
}

interface BundleContext {
  access?: AccessContext;
  store: Store;
  prefer?: ReturnPreference;
}

function entryError(index: number, entry: ParsedEntry | undefined, err: unknown): OperationOutcomeError {
  const e = toOutcomeError(err);
  const where = `Bundle.entry[${index}]${entry ? ` (${entry.request.method} ${entry.request.path.slice(0, 80)})` : ''}`;
  const outcome: OperationOutcome = {
    ...e.outcome,
    issue: e.outcome.issue.map((i) => ({
      ...i,
      diagnostics: `${where}: ${i.diagnostics ?? i.code}`,
      expression: [...(i.expression ?? []), where],
    })),
  };
  return new OperationOutcomeError(e.status, outcome, e.headers);
}

/** The path below the base of an entry's request.url: relative, or absolute on this server. */
function entryPath(url: string, fhirBase: string): { path: string; query: string } {
  let rest = url.trim();
  if (/^https?:\/\//i.test(rest)) {
    if (!rest.startsWith(`${fhirBase}/`) && rest !== fhirBase)
      throw badRequest(`request.url ${JSON.stringify(url.slice(0, 100))} is not on this server (${fhirBase})`);
    rest = rest.slice(fhirBase.length);
  }
  rest = rest.replace(/^\/+/, '');
  const at = rest.indexOf('?');
  return at === -1 ? { path: rest, query: '' } : { path: rest.slice(0, at), query: rest.slice(at + 1) };
}

function parseEntry(raw: unknown, index: number, fhirBase: string): ParsedEntry {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('Each entry must be an object');
  const entry = raw as BundleEntry;
  const req = entry.request as unknown;
  if (!req || typeof req !== 'object') throw badRequest('entry.request (method and url) is required in a batch or transaction');
  const { method, url, ifMatch, ifNoneExist, ifNoneMatch, ifModifiedSince } = req as Record<string, unknown>;
  if (typeof method !== 'string' || !METHODS.has(method))
    throw badRequest(`entry.request.method must be one of ${[...METHODS].join(', ')}`);
  if (typeof url !== 'string' || !url.trim()) throw badRequest('entry.request.url is required');
  for (const [name, value] of Object.entries({ ifMatch, ifNoneExist, ifNoneMatch, ifModifiedSince, fullUrl: entry.fullUrl })) {
    if (value !== undefined && typeof value !== 'string')
      throw badRequest(`entry.${name === 'fullUrl' ? '' : 'request.'}${name} must be a string`);
  }
  const { path, query } = entryPath(url, fhirBase);
  if (entry.resource !== undefined && method !== 'POST' && method !== 'PUT')
    throw badRequest(`entry.resource is not allowed with ${method}`);
  return {
    index,
    ...(entry.fullUrl ? { fullUrl: entry.fullUrl } : {}),
    request: {
      method,
      path,
      query: queryOf(query),
      body: entry.resource,
      ...(ifMatch ? { ifMatch: ifMatch as string } : {}),
      ...(ifNoneExist ? { ifNoneExist: ifNoneExist as string } : {}),
      ...(ifNoneMatch ? { ifNoneMatch: ifNoneMatch as string } : {}),
      ...(ifModifiedSince ? { ifModifiedSince: ifModifiedSince as string } : {}),
    },
  };
}

function statusText(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}

/** A response entry; the resource of a create or update as Prefer `return` asks. */
function responseEntry(fhirBase: string, method: string, result: FhirResponse, prefer: ReturnPreference | undefined): BundleEntry {
  const resource = method === 'HEAD' ? undefined : result.resource;
  const response: BundleEntry['response'] = { status: statusText(result.status) };
  if (result.headers.Location) response.location = result.headers.Location.slice(fhirBase.length + 1);
  if (resource?.meta?.versionId) response.etag = `W/"${resource.meta.versionId}"`;
  if (resource?.meta?.lastUpdated) response.lastModified = resource.meta.lastUpdated;
  const entry: BundleEntry = {};
  if (resource?.id && resource.resourceType !== 'Bundle' && result.write)
    entry.fullUrl = `${fhirBase}/${resource.resourceType}/${resource.id}`;
  if (result.write && prefer === 'minimal') return { ...entry, response };
  if (result.write && prefer === 'OperationOutcome') return { ...entry, response: { ...response, outcome: outcomeFor(result) } };
  if (resource) entry.resource = resource;
  return { ...entry, response };
}

function errorEntry(err: unknown): BundleEntry {
  const e = toOutcomeError(err);
  return { response: { status: statusText(e.status), outcome: e.outcome } };
}

/** Replaces every `reference` equal to a mapped fullUrl, at any depth. */
function rewriteReferences(value: unknown, ids: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteReferences(v, ids));
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = key === 'reference' && typeof v === 'string' && ids.has(v) ? ids.get(v) : rewriteReferences(v, ids);
  }
  return out;
}

function rewriteQuery(query: FhirRequest['query'], ids: Map<string, string>): FhirRequest['query'] {
  const swap = (v: string) => ids.get(v) ?? v;
  return Object.fromEntries(Object.entries(query).map(([k, v]) => [k, Array.isArray(v) ? v.map(swap) : swap(v as string)]));
}

export function createBundleProcessor(deps: { interactions: Interactions; fhirBase: string }) {
  const { interactions, fhirBase } = deps;

  async function batch(entries: unknown[], ctx: BundleContext): Promise<Bundle> {
    const out: BundleEntry[] = [];
    for (const [index, raw] of entries.entries()) {
      try {
        const entry = parseEntry(raw, index, fhirBase);
        const route = resolveRoute(entry.request.method, entry.request.path);
        if (route.kind === 'batch') throw badRequest('A batch or transaction Bundle cannot be nested in another');
        const result = await interactions.execute(route, entry.request, { access: ctx.access, store: ctx.store });
        out.push(responseEntry(fhirBase, entry.request.method, result, ctx.prefer));
      } catch (err) {
        out.push(errorEntry(err));
      }
    }
    return { resourceType: 'Bundle', type: 'batch-response', ...(out.length ? { entry: out } : {}) };
  }

  async function transaction(entries: unknown[], ctx: BundleContext): Promise<Bundle> {
    const parsed: { entry: ParsedEntry; route: Route }[] = [];
    for (const [index, raw] of entries.entries()) {
      let entry: ParsedEntry | undefined;
      try {
        entry = parseEntry(raw, index, fhirBase);
        const route = resolveRoute(entry.request.method, entry.request.path);
        if (route.kind === 'batch') throw badRequest('A batch or transaction Bundle cannot be nested in another');
        parsed.push({ entry, route });
      } catch (err) {
        throw entryError(index, entry, err);
      }
    }
    const fullUrls = parsed.map((p) => p.entry.fullUrl).filter((u): u is string => u !== undefined);
    const duplicate = fullUrls.find((u, i) => fullUrls.indexOf(u) !== i);
    if (duplicate)
      throw badRequest(`fullUrl ${JSON.stringify(duplicate.slice(0, 100))} appears in more than one entry`, 'Bundle.entry.fullUrl');

    return ctx.store.transaction(async (tx) => {
      // Ids first, so every reference to a new resource can be rewritten before anything is written.
      const ids = new Map<string, string>();
      const createIds = new Map<number, string>();
      for (const { entry, route } of parsed) {
        if (route.kind !== 'create') continue;
        let id: string | undefined;
        if (entry.request.ifNoneExist !== undefined) {
          try {
            // Decided once here; execute() searches again in the same transaction and finds the same.
            const probe = await interactions.execute(
              { kind: 'search', type: route.type },
              { method: 'GET', path: route.type, query: { ...queryOf(entry.request.ifNoneExist), _count: '2', _elements: 'id' } },
              { access: ctx.access, store: tx },
            );
            const bundle = probe.resource as Bundle;
            if (bundle.total === 1) id = bundle.entry![0].resource!.id;
          } catch (err) {
            throw entryError(entry.index, entry, err);
          }
        }
        if (id === undefined) {
          id = timeOrderedUuid();
          createIds.set(entry.index, id);
        }
        if (entry.fullUrl) ids.set(entry.fullUrl, `${route.type}/${id}`);
      }

      const results = new Map<number, BundleEntry>();
      const ordered = [...parsed].sort(
        (a, b) => ORDER[a.entry.request.method] - ORDER[b.entry.request.method] || a.entry.index - b.entry.index,
      );
      for (const { entry, route } of ordered) {
        const request: FhirRequest = {
          ...entry.request,
          query: rewriteQuery(entry.request.query, ids),
          body: rewriteReferences(entry.request.body, ids),
        };
        try {
          const result = await interactions.execute(route, request, {
            access: ctx.access,
            store: tx,
            createId: createIds.get(entry.index),
          });
          results.set(entry.index, responseEntry(fhirBase, entry.request.method, result, ctx.prefer));
        } catch (err) {
          throw entryError(entry.index, entry, err);
        }
      }
      return {
        resourceType: 'Bundle',
        type: 'transaction-response',
        ...(parsed.length ? { entry: parsed.map((p) => results.get(p.entry.index)!) } : {}),
      };
    });
  }

  /** POST /fhir with a batch or transaction Bundle. */
  async function process(body: unknown, ctx: BundleContext): Promise<Bundle> {
    if (!body || typeof body !== 'object' || (body as Resource).resourceType !== 'Bundle') {
      throw badRequest('POST to the base URL takes a Bundle of type batch or transaction', 'Bundle');
    }
    const bundle = body as Bundle;
    if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
      throw badRequest(
        `Bundle.type must be batch or transaction to be processed (got ${JSON.stringify(String(bundle.type).slice(0, 32))})`,
        'Bundle.type',
      );
    }
    const entries = (bundle.entry as unknown) ?? [];
    if (!Array.isArray(entries)) throw badRequest('Bundle.entry must be an array', 'Bundle.entry');
    if (entries.length > MAX_BUNDLE_ENTRIES) {
      throw payloadTooLarge(`A ${bundle.type} may hold at most ${MAX_BUNDLE_ENTRIES} entries (got ${entries.length}): split it`);
    }
    return bundle.type === 'batch' ? batch(entries, ctx) : transaction(entries, ctx);
  }

  return { process };
}

export type BundleProcessor = ReturnType<typeof createBundleProcessor>;
