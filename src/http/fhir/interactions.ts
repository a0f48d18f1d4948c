import type { Bundle, CapabilityStatement, Resource } from 'fhir/r4';
import { checkAccess, compartmentCriterion, readsEveryResource, type AccessContext } from '../../auth/access';
import type { SearchRequest, Store } from '../../storage/store';
import { historyBundle, searchBundle } from './bundle';
import { CONDITIONAL_UPDATE, INSTANCE_OPERATIONS, INTERACTIONS, OPERATIONS } from './capability-statement';
import { parseDateRange } from '../../core/dates';
import { FHIR_ID, FHIR_ID_SOURCE } from '../../core/ids';
import { badRequest, forbidden, methodNotAllowed, notFound, OperationOutcomeError, preconditionFailed } from '../../core/outcome';
import type { ResponseService } from '../../clinical/questionnaire-responses';
import { parsePaging, parseSearch, type CanonicalResolver, type ParsedSearch, type Query } from './search-query';
import { applySubsetting, parseSubsetting } from './subsetting';
import { includedResources, parseIncludes } from './includes';

/**
 * The FHIR REST interactions, free of HTTP: a request (method, path below the base, query, body and
 * the conditional headers) in, a status, resource and headers out. The Express routes and the
 * entries of batch and transaction Bundles both come through here, so an entry is checked and
 * answered exactly as the same request sent alone.
 */
export interface FhirRequest {
  method: string;
  /** Below the FHIR base, without query: `QuestionnaireResponse/1/_history`. */
  path: string;
  query: Query;
  body?: unknown;
  ifMatch?: string;
  ifNoneExist?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  /** Accept-Language: the patient-facing texts of a computed RiskAssessment ($evaluate) follow it. */
  acceptLanguage?: string;
}

export interface FhirResponse {
  status: number;
  /** Absent for 304. */
  resource?: Resource;
  /** Location, Link, Content-Location. ETag and Last-Modified follow from the resource's meta. */
  headers: Record<string, string>;
  /** Whether Prefer `return` applies (create and update). */
  write?: boolean;
  /** What a write did, for Prefer `return=OperationOutcome`. */
  note?: string;
}

export interface CallContext {
  access?: AccessContext;
  /** The store or the open transaction to work through. */
  store: Store;
  /** Transactions choose ids before creating, to rewrite urn:uuid references. */
  createId?: string;
}

export type Route =
  | { kind: 'metadata' }
  | { kind: 'batch' }
  | { kind: 'history-system' }
  | { kind: 'search'; type: string }
  | { kind: 'create'; type: string }
  | { kind: 'conditional-update'; type: string }
  | { kind: 'history-type'; type: string }
  | { kind: 'operation'; type: string; name: string; id?: string }
  | { kind: 'read'; type: string; id: string }
  | { kind: 'update'; type: string; id: string }
  | { kind: 'history-instance'; type: string; id: string }
  | { kind: 'vread'; type: string; id: string; vid: string };

const READ_METHODS = ['GET', 'HEAD'];

function checkId(value: string, what = 'id'): string {
  if (!FHIR_ID.test(value)) throw badRequest(`"${value.slice(0, 64)}" is not a valid FHIR ${what}`);
  return value;
}

function supports(type: string, interaction: string): boolean {
  return (INTERACTIONS[type] as string[]).includes(interaction);
}

/** The methods a URL of each shape accepts for the type, for `Allow`. */
function allowed(type: string, shape: 'type' | 'search' | 'instance'): string[] {
  if (shape === 'search') return ['GET', 'HEAD', 'POST'];
  if (shape === 'type')
    return [...READ_METHODS, ...(supports(type, 'create') ? ['POST'] : []), ...(CONDITIONAL_UPDATE.has(type) ? ['PUT'] : [])];
  return [...READ_METHODS, ...(supports(type, 'update') ? ['PUT'] : [])];
}

/**
 * Which interaction a method and path ask for: 404 for an unknown type or path, 405 (with `Allow`)
 * for a method the URL does not accept, 400 for a malformed id.
 */
export function resolveRoute(method: string, path: string): Route {
  const m = method === 'HEAD' ? 'GET' : method;
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  const segments = trimmed === '' ? [] : trimmed.split('/');
  const refuse = (allow: string[]): never => {
    throw methodNotAllowed(
      `${method.slice(0, 16)} is not supported on /${path.slice(0, 100)} (this URL accepts ${allow.join(', ')}; see /fhir/metadata)`,
      allow,
    );
  };
  if (segments.length === 0) return m === 'POST' ? { kind: 'batch' } : refuse(['POST']);
  const [first, ...rest] = segments;
  if (first === 'metadata' && rest.length === 0) return m === 'GET' ? { kind: 'metadata' } : refuse(READ_METHODS);
  if (first === '_history' && rest.length === 0) return m === 'GET' ? { kind: 'history-system' } : refuse(READ_METHODS);
  if (!Object.hasOwn(INTERACTIONS, first)) throw notFound(`Resource type "${first.slice(0, 64)}" is not supported by this server`);
  const type = first;

  if (rest.length === 0) {
    if (m === 'GET' && supports(type, 'search-type')) return { kind: 'search', type };
    if (m === 'POST' && supports(type, 'create')) return { kind: 'create', type };
    if (m === 'PUT' && CONDITIONAL_UPDATE.has(type)) return { kind: 'conditional-update', type };
    return refuse(allowed(type, 'type'));
  }
  if (rest.length === 1 && rest[0] === '_search')
    return m === 'GET' || m === 'POST' ? { kind: 'search', type } : refuse(allowed(type, 'search'));
  if (rest.length === 1 && rest[0] === '_history') return m === 'GET' ? { kind: 'history-type', type } : refuse(READ_METHODS);
  if (rest.length === 1 && rest[0].startsWith('$')) {
    const name = rest[0].slice(1);
    if (!(OPERATIONS[type] ?? []).some((o) => o.name === name)) throw notFound(`Operation $${name.slice(0, 64)} is not defined on ${type}`);
    return m === 'POST' ? { kind: 'operation', type, name } : refuse(['POST']);
  }
  if (rest.length === 2 && rest[1].startsWith('$')) {
    const name = rest[1].slice(1);
    if (!(INSTANCE_OPERATIONS[type] ?? []).includes(name))
      throw notFound(`Operation $${name.slice(0, 64)} is not defined on a ${type} instance`);
    return m === 'POST' ? { kind: 'operation', type, name, id: checkId(rest[0]) } : refuse(['POST']);
  }
  if (rest.length === 1) {
    const id = checkId(rest[0]);
    if (m === 'GET') return { kind: 'read', type, id };
    if (m === 'PUT' && supports(type, 'update')) return { kind: 'update', type, id };
    return refuse(allowed(type, 'instance'));
  }
  if (rest[1] === '_history' && rest.length <= 3) {
    const id = checkId(rest[0]);
    if (m !== 'GET') return refuse(READ_METHODS);
    return rest.length === 2 ? { kind: 'history-instance', type, id } : { kind: 'vread', type, id, vid: checkId(rest[2], 'version id') };
  }
  throw notFound(`No such endpoint: /fhir/${path.slice(0, 100)}`);
}

const IF_MATCH = new RegExp(String.raw`^\s*(?:W/)?(?:"(${FHIR_ID_SOURCE})"|(${FHIR_ID_SOURCE}))\s*$`);

/** `W/"3"` or `"3"` or `3` -> `3`. */
export function parseIfMatch(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  // Quotes come in pairs or not at all: `W/"3` is a malformed tag, not version 3.
  const m = IF_MATCH.exec(header);
  if (!m) throw badRequest('If-Match must be an ETag such as W/"1"');
  return m[1] ?? m[2];
}

/** A query string (`a=1&b=2`, `?a=1`, or `Type?a=1` as If-None-Exist may carry) as a Query. */
export function queryOf(text: string): Query {
  const query: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const at = text.indexOf('?');
  for (const [k, v] of new URLSearchParams(at === -1 ? text : text.slice(at + 1))) {
    const previous = query[k];
    query[k] = previous === undefined ? v : [...(Array.isArray(previous) ? previous : [previous]), v];
  }
  return query;
}

/** A Query back to `a=1&a=2` (the criteria of a conditional update), dropping `_format`/`_pretty`. */
function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (k === '_format' || k === '_pretty') continue;
    for (const value of Array.isArray(v) ? v : [v]) params.append(k, String(value));
  }
  return params.toString();
}

const HISTORY_PARAMS = new Set(['_count', '_offset', '_since', '_at', '_format', '_pretty']);

interface HistoryParams {
  count: number;
  offset: number;
  clamped: boolean;
  since?: string;
  at?: { lo: string; hi: string };
}

function parseHistory(query: Query): HistoryParams {
  for (const key of Object.keys(query)) {
    if (!HISTORY_PARAMS.has(key))
      throw badRequest(`Unknown history parameter "${key.slice(0, 64)}" (history accepts _count, _offset, _since and _at)`, key);
  }
  const one = (name: string): string | undefined => {
    const raw = query[name];
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string') throw badRequest(`${name} must be given once`, name);
    return raw;
  };
  const since = one('_since');
  const at = one('_at');
  const sinceRange = since === undefined ? undefined : parseDateRange(since);
  if (since !== undefined && (!sinceRange || !/T/.test(since)))
    throw badRequest(`_since must be an instant such as 2026-01-31T12:00:00Z (got ${JSON.stringify(since.slice(0, 40))})`, '_since');
  const atRange = at === undefined ? undefined : parseDateRange(at);
  if (at !== undefined && !atRange) throw badRequest(`_at must be a FHIR date or dateTime (got ${JSON.stringify(at.slice(0, 40))})`, '_at');
  return { ...parsePaging(query), ...(sinceRange ? { since: sinceRange.lo } : {}), ...(atRange ? { at: atRange } : {}) };
}

/** The request URL with `_count` lowered to what the server used, for the self link. */
function clampedSelf(selfUrl: URL, clamped: boolean, count: number): URL {
  if (!clamped) return selfUrl;
  const url = new URL(selfUrl);
  url.searchParams.set('_count', String(count));
  return url;
}

function etagMatches(header: string | undefined, resource: Resource): boolean {
  if (!header || !resource.meta?.versionId) return false;
  return header.split(',').some((tag) => tag.trim() === '*' || tag.trim().replace(/^W\//, '') === `"${resource.meta!.versionId}"`);
}

function notModifiedSince(header: string | undefined, resource: Resource): boolean {
  if (!header || !resource.meta?.lastUpdated) return false;
  const since = Date.parse(header);
  // HTTP dates have whole seconds: compare at that precision.
  return !Number.isNaN(since) && Math.floor(Date.parse(resource.meta.lastUpdated) / 1000) * 1000 <= since;
}

export interface InteractionDeps {
  store: Store;
  responses: ResponseService;
  fhirBase: string;
  metadata: CapabilityStatement;
  resolveCanonical: CanonicalResolver;
  /** Operations other than $evaluate ($populate, $extract), by `Type/name`. */
  operations?: Record<string, OperationHandler>;
}

/** An operation's handler: same request and context as any interaction. */
export type OperationHandler = (route: Extract<Route, { kind: 'operation' }>, req: FhirRequest, ctx: CallContext) => Promise<FhirResponse>;

export function createInteractions(deps: InteractionDeps) {
  const { responses, fhirBase, metadata, resolveCanonical } = deps;
  const selfUrlOf = (req: FhirRequest) => {
    const url = new URL(`${fhirBase}/${req.path}`);
    for (const [k, v] of Object.entries(req.query))
      for (const value of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(value));
    return url;
  };

  function searchRequest(type: string, query: Query, access: AccessContext | undefined): ParsedSearch {
    checkAccess(access, 's', type);
    const request = parseSearch(type, query, { resolveCanonical });
    const compartment = compartmentCriterion(access, type);
    if (compartment) request.criteria.push(compartment);
    return request;
  }

  function readResult(req: FhirRequest, resource: Resource): FhirResponse {
    if (etagMatches(req.ifNoneMatch, resource) || (!req.ifNoneMatch && notModifiedSince(req.ifModifiedSince, resource))) {
      return { status: 304, headers: { ETag: `W/"${resource.meta!.versionId}"` } };
    }
    return { status: 200, resource: applySubsetting(resource, parseSubsetting(req.query, { allowCount: false })), headers: {} };
  }

  function written(type: string, resource: Resource, riskAssessmentId: string | undefined, status: number, note: string): FhirResponse {
    return {
      status,
      resource,
      write: true,
      note,
      headers: {
        Location: `${fhirBase}/${type}/${resource.id}/_history/${resource.meta!.versionId}`,
        ...(riskAssessmentId
          ? { Link: `<${fhirBase}/RiskAssessment/${riskAssessmentId}>; rel="related"; type="application/fhir+json"` }
          : {}),
      },
    };
  }

  async function history(req: FhirRequest, ctx: CallContext, types: string[], id?: string): Promise<FhirResponse> {
    const params = parseHistory(req.query);
    const result = await ctx.store.historyOf({ resourceTypes: types, ...(id ? { id } : {}), ...params });
    return {
      status: 200,
      resource: historyBundle(fhirBase, clampedSelf(selfUrlOf(req), params.clamped, params.count), result, params.count, params.offset),
      headers: {},
    };
  }

  /** Search: the matches (subset as asked), then what _include/_revinclude bring, tagged include. */
  async function search(type: string, req: FhirRequest, ctx: CallContext): Promise<FhirResponse> {
    const { access, store } = ctx;
    const request = searchRequest(type, req.query, access);
    const subsetting = parseSubsetting(req.query, { allowCount: true });
    const includes = parseIncludes(type, req.query);
    const countOnly = subsetting.summary === 'count';
    const result = await store.search(countOnly ? { ...request, count: 0 } : request);
    const bundle: Bundle = searchBundle(
      fhirBase,
      clampedSelf(selfUrlOf(req), request.clamped, request.count),
      result,
      countOnly ? 0 : request.count,
      request.offset,
    );
    for (const entry of bundle.entry ?? []) entry.resource = applySubsetting(entry.resource!, subsetting);
    const included = countOnly ? [] : await includedResources(store, access, result.resources, includes);
    if (included.length) {
      bundle.entry = [
        ...(bundle.entry ?? []),
        ...included.map((r) => ({ fullUrl: `${fhirBase}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' as const } })),
      ];
    }
    return { status: 200, resource: bundle, headers: {} };
  }

  /** Update of an existing resource; one that does not exist is 405 (updateCreate is false). */
  async function update(type: string, id: string, req: FhirRequest, ctx: CallContext): Promise<FhirResponse> {
    const { access, store } = ctx;
    checkAccess(access, 'u', type, req.body as Resource);
    let current: Resource;
    try {
      current = await store.read(type, id);
    } catch (e) {
      if (e instanceof OperationOutcomeError && e.status === 404) {
        throw methodNotAllowed(
          `${type}/${id} does not exist and this server does not create resources with PUT (updateCreate ` +
            `is false): POST to /${type} to create one`,
          READ_METHODS,
        );
      }
      throw e;
    }
    checkAccess(access, 'u', type, current);
    const { response, riskAssessment } = await responses.update(id, req.body, parseIfMatch(req.ifMatch), { store });
    return written(type, response, riskAssessment?.id, 200, 'updated and re-evaluated');
  }

  /** Runs one interaction. `route` comes from resolveRoute; batch Bundles are handled by the caller. */
  async function execute(route: Route, req: FhirRequest, ctx: CallContext): Promise<FhirResponse> {
    const { access, store } = ctx;
    switch (route.kind) {
      case 'metadata':
        return { status: 200, resource: metadata, headers: {} };
      case 'batch':
        throw badRequest('A batch or transaction Bundle cannot be nested in another');
      case 'read': {
        const resource = await store.read(route.type, route.id);
        checkAccess(access, 'r', route.type, resource);
        return readResult(req, resource);
      }
      case 'vread': {
        const resource = await store.vread(route.type, route.id, route.vid);
        checkAccess(access, 'r', route.type, resource);
        return readResult(req, resource);
      }
      case 'search':
        return search(route.type, req, ctx);
      case 'create': {
        checkAccess(access, 'c', route.type, req.body as Resource);
        const ifNoneExist = req.ifNoneExist === undefined ? undefined : conditionalSearch(route.type, req.ifNoneExist, access);
        const { response, riskAssessment, created } = await responses.create(req.body, { store, ifNoneExist, id: ctx.createId });
        return written(
          route.type,
          response,
          riskAssessment?.id,
          created ? 201 : 200,
          created ? 'created and evaluated' : 'matched If-None-Exist; nothing was stored',
        );
      }
      case 'update':
        return update(route.type, route.id, req, ctx);
      case 'conditional-update':
        return conditionalUpdate(route.type, req, ctx);
      case 'operation': {
        const handler = deps.operations?.[`${route.type}/${route.name}`];
        if (handler) return handler(route, req, ctx);
        // $evaluate: access is decided on the response evaluated, also inside Parameters.
        const input = responses.evaluationInput(req.body);
        checkAccess(access, 'c', 'QuestionnaireResponse', input as Resource);
        return { status: 200, resource: responses.evaluate(input, req.acceptLanguage), headers: {} };
      }
      case 'history-instance': {
        checkAccess(access, 'r', route.type, await store.read(route.type, route.id));
        return history(req, ctx, [route.type], route.id);
      }
      case 'history-type': {
        if (!readsEveryResource(access, route.type)) {
          throw forbidden(
            `Type-level history of ${route.type} needs a user/ or system/ read scope; with a patient/ scope ` +
              `read the history of each resource (/${route.type}/{id}/_history)`,
          );
        }
        return history(req, ctx, [route.type]);
      }
      case 'history-system': {
        // Only the types the caller may read in full: old versions are not filtered by compartment.
        const types = Object.keys(INTERACTIONS).filter((t) => supports(t, 'history-type') && readsEveryResource(access, t));
        return history(req, ctx, types);
      }
    }
  }

  /**
   * `PUT /{type}?criteria` (R4 3.1.0.4.3): no match creates (the body without an id), one match is
   * updated (the body's id, if any, must be that one), several are 412. Search and write share a transaction.
   */
  async function conditionalUpdate(type: string, req: FhirRequest, ctx: CallContext): Promise<FhirResponse> {
    const { access } = ctx;
    const criteria = conditionalSearch(type, queryString(req.query), access, 'Conditional update');
    checkAccess(access, 'u', type, req.body as Resource);
    const bodyId = (req.body as Resource | undefined)?.id;
    return ctx.store.transaction(async (tx) => {
      const found = await tx.search({ ...criteria, count: 2, offset: 0 });
      if (found.total > 1)
        throw preconditionFailed(`Conditional update: the criteria match ${found.total} ${type} resources; they must select at most one`);
      if (found.total === 0) {
        if (bodyId !== undefined) {
          throw methodNotAllowed(
            `Conditional update: nothing matches and this server does not create resources with a client ` +
              `id (updateCreate is false); leave out the id to create`,
            allowed(type, 'type'),
          );
        }
        checkAccess(access, 'c', type, req.body as Resource);
        const { response, riskAssessment } = await responses.create(req.body, { store: tx });
        return written(type, response, riskAssessment?.id, 201, 'nothing matched: created and evaluated');
      }
      const match = found.resources[0];
      if (bodyId !== undefined && bodyId !== match.id)
        throw badRequest(
          `Conditional update: the body's id (${bodyId.slice(0, 64)}) is not the matching resource's (${match.id})`,
          `${type}.id`,
        );
      checkAccess(access, 'u', type, match);
      const { response, riskAssessment } = await responses.update(
        match.id!,
        { ...(req.body as object), id: match.id },
        parseIfMatch(req.ifMatch),
        { store: tx },
      );
      return written(type, response, riskAssessment?.id, 200, 'updated and re-evaluated');
    });
  }

  /** If-None-Exist (`identifier=sys|123`, optionally `Type?...`): the search it names, within the caller's compartment. */
  function conditionalSearch(type: string, text: string, access: AccessContext | undefined, what = 'If-None-Exist'): SearchRequest {
    const query = queryOf(text);
    if (Object.keys(query).length === 0)
      throw badRequest(`${what} needs search criteria, e.g. identifier=https://portal.example.org|123`, what);
    for (const key of Object.keys(query)) {
      if (key.startsWith('_') && key !== '_id' && key !== '_lastUpdated')
        throw badRequest(`${what}: ${key.slice(0, 32)} is not a search criterion`, what);
    }
    return searchRequest(type, query, access);
  }

  return { execute, selfUrlOf };
}

export type Interactions = ReturnType<typeof createInteractions>;
