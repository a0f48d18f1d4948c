import { type Request, type Response, Router } from 'express';
import type { Resource } from 'fhir/r4';
import type { AppDeps } from '../deps';
import type { AccessContext } from '../../auth/access';
import { createBundleProcessor } from './batch';
import { capabilityStatement } from './capability-statement';
import type { Catalog } from '../../clinical/catalog';
import { isFormSearch, requireAcceptableType, requireJsonFormat, sendResource } from './http';
import { createInteractions, resolveRoute, type FhirRequest, type FhirResponse } from './interactions';
import { outcomeFor, parseReturnPreference, type ReturnPreference } from './prefer';
import type { ResponseService } from '../../clinical/questionnaire-responses';
import type { Query } from './search-query';
import { createSchemaValidator } from '../../core/schema-validator';
import { createSdcOperations } from './sdc-operations';
import { createPopulationPlans } from '../../clinical/population-plans';

function access(res: Response): AccessContext | undefined {
  return res.locals.access as AccessContext | undefined;
}

export interface FhirRouterOptions {
  responses: ResponseService;
  /** The published resources: canonical URLs of Questionnaires for `questionnaire=Questionnaire/{id}`. */
  catalog: Catalog;
  /** Version of the software, for the CapabilityStatement. */
  version: string;
  startedAt: Date;
}

/** `Type/id` -> canonical url of each catalog resource that has one. */
function canonicalResolver(catalog: Catalog): (reference: string) => string | undefined {
  const urls = new Map<string, string>();
  for (const r of catalog.resources) {
    const url = (r as { url?: unknown }).url;
    if (typeof url === 'string') urls.set(`${r.resourceType}/${r.id}`, url);
  }
  return (reference) => urls.get(reference);
}

/** The query of a request: the URL's, plus a form body's for POST _search (both count, R4 3.1.0.9). */
function queryOf(req: Request): Query {
  const query: Record<string, unknown> = { ...(req.query as Record<string, unknown>) };
  if (isFormSearch(req) && req.body && typeof req.body === 'object') {
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) {
      const previous = query[k];
      const values: unknown[] = Array.isArray(v) ? v : [v];
      query[k] = previous === undefined ? v : [...(Array.isArray(previous) ? (previous as unknown[]) : [previous]), ...values];
    }
  }
  return query;
}

function send(res: Response, result: FhirResponse, prefer: ReturnPreference | undefined): void {
  if (result.status === 304) {
    res.status(304);
    for (const [k, v] of Object.entries(result.headers)) res.setHeader(k, v);
    res.end();
    return;
  }
  const resource = result.resource as Resource;
  if (result.write && prefer) res.setHeader('Preference-Applied', `return=${prefer}`);
  if (result.write && prefer === 'minimal') {
    if (resource.meta?.versionId) res.setHeader('ETag', `W/"${resource.meta.versionId}"`);
    if (resource.meta?.lastUpdated) res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
    for (const [k, v] of Object.entries(result.headers)) res.setHeader(k, v);
    res.status(result.status).end();
    return;
  }
  if (result.write && prefer === 'OperationOutcome') {
    const headers = { ...result.headers };
    if (resource.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
    sendResource(res, result.status, outcomeFor(result), headers);
    return;
  }
  sendResource(res, result.status, resource, result.headers);
}

/**
 * The FHIR REST API, mounted at /fhir. CORS, authentication, rate limit, the body (fhir/body.ts, with the
 * 415 rule) and the error handler come from the app; the router adds the 406 checks (_format, Accept).
 */
export function createFhirRouter(deps: AppDeps, options: FhirRouterOptions): Router {
  const { store, config } = deps;
  const fhirBase = `${config.baseUrl}/fhir`;
  const metadata = capabilityStatement(config.baseUrl, options.version, options.startedAt.toISOString());
  const operations = createSdcOperations({
    catalog: options.catalog,
    plans: createPopulationPlans(options.catalog),
    responses: options.responses,
    evaluator: deps.evaluator,
    schema: createSchemaValidator(),
    now: deps.now,
    logger: deps.logger,
    fhirDeadlineMs: config.cdsHooks.fhirServerDeadlineMs,
    fhirBase,
  });
  const interactions = createInteractions({
    store,
    responses: options.responses,
    fhirBase,
    metadata,
    resolveCanonical: canonicalResolver(options.catalog),
    operations,
  });
  const bundles = createBundleProcessor({ interactions, fhirBase });
  const router = Router();

  router.use(requireJsonFormat);
  router.use(requireAcceptableType);

  router.all('/{*path}', async (req: Request, res: Response) => {
    const path = req.path.replace(/^\/+/, '');
    const route = resolveRoute(req.method, path);
    const prefer = parseReturnPreference(req.header('prefer'));
    const ctx = { access: access(res), store };
    if (route.kind === 'batch') {
      const bundle = await bundles.process(req.body, { ...ctx, prefer });
      // Prefer return applies to each create and update entry.
      sendResource(res, 200, bundle, prefer ? { 'Preference-Applied': `return=${prefer}` } : {});
      return;
    }
    const request: FhirRequest = {
      method: req.method,
      path,
      query: queryOf(req),
      body: route.kind === 'search' ? undefined : req.body,
      ifMatch: req.header('if-match'),
      ifNoneExist: req.header('if-none-exist'),
      ifNoneMatch: req.header('if-none-match'),
      ifModifiedSince: req.header('if-modified-since'),
      acceptLanguage: req.header('accept-language'),
    };
    send(res, await interactions.execute(route, request, ctx), prefer);
  });
  return router;
}
