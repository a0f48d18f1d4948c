import express, { type Express } from 'express';
import type { AppDeps } from './http/deps';
import { loadCatalog, type Catalog } from './clinical/catalog';
import { createFhirRouter } from './http/fhir/routes';
import { fhirBody } from './http/fhir/body';
import { fhirErrorHandler } from './http/fhir/http';
import { notFound } from './core/outcome';
import { createResponseService } from './clinical/questionnaire-responses';
import { createSchemaValidator } from './core/schema-validator';
import { createApiAuth } from './auth/api-auth';
import { createCdsClientAuth } from './auth/cds-client-auth';
import { trustedClientsForConfig } from './auth/trusted-clients';
import { createCdsErrorHandler, createCdsHooksRouter } from './http/cds-hooks/routes';
import { createPagesRouter } from './http/pages/routes';
import { accessLog } from './http/middleware/access-log';
import { collapseCdsSlashes } from './http/middleware/cds-paths';
import { compressExceptCdsHooks } from './http/middleware/compression';
import { cdsHooksCors, fhirCors } from './http/middleware/cors';
import { createJsonBodyParser } from './http/middleware/json-body';
import { createRateLimit, rateLimitFromConfig } from './http/middleware/rate-limit';
import { requestId } from './http/middleware/request-id';
import { series } from './http/middleware/series';
import { createSecurityHeaders } from './http/middleware/security-headers';
import { opsConfig } from './config/config';
import type { AuditTrail } from './ops/audit';
import { createHealth, type Health } from './ops/health';
import { apiPortMetrics } from './ops/metrics-endpoint';
import type { SharedRateLimit } from './ops/rate-limit-store';
import { collectDefaultMetrics, Registry } from 'prom-client';
import packageJson from '../package.json';

export interface AppOptions {
  /** Bundled Questionnaires, rules and terminology; loaded from the project folders by default. */
  catalog?: Catalog;
  /** Readiness state (server.ts marks shutdown on it); a fresh one over deps.store by default. */
  health?: Health;
  /** Prometheus registry (server.ts serves it on METRICS_PORT too); a fresh one by default. */
  registry?: Registry;
  /** Shared rate-limit counters (RATE_LIMIT_STORE=redis://...); in-process memory when absent. */
  sharedRateLimit?: SharedRateLimit;
  /** Audit trail of FHIR and CDS Hooks calls (AUDIT_LOG_DIR); none when absent. */
  audit?: AuditTrail;
}

/**
 * Builds the Express app from its dependencies; does not listen (server.ts does). Reads top to bottom as
 * the request pipeline: every middleware is mounted here, once.
 */
export function createApp(deps: AppDeps, options: AppOptions = {}): Express {
  const catalog = options.catalog ?? loadCatalog();
  const responses = createResponseService({
    store: deps.store,
    evaluator: deps.evaluator,
    catalog,
    // Memoised per process in schema-validator.ts: about a second to compile, shared by every app.
    schema: createSchemaValidator(),
    now: deps.now,
  });
  const ops = opsConfig(deps.config);
  const registry = options.registry ?? new Registry();
  if (!options.registry) collectDefaultMetrics({ register: registry });
  const health = options.health ?? createHealth({ store: deps.store, timeoutMs: ops.readyTimeoutMs });
  // Read once here: a bad trusted-clients file (or AUTH_MODE=on without one) stops the start.
  const trustedClients = trustedClientsForConfig(deps.config);
  const rateLimitPerMinute = rateLimitFromConfig(deps.config);
  const sharedStore = options.sharedRateLimit;
  const audit = options.audit;

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Behind a load balancer: the client's address (rate-limit key of unauthenticated calls) from X-Forwarded-For.
  if (ops.trustProxy !== undefined) app.set('trust proxy', ops.trustProxy);

  // Every request, in this order (one router step, see series.ts): X-Request-Id in and out, then its one
  // access line (with the id); liveness and readiness before CORS, authentication and rate limits (cheap,
  // and never refused); security headers (helmet: CSP default-src 'none'; pages set their own CSP);
  // compression except CDS answers.
  app.use(series(requestId(), accessLog(deps.logger), health.middleware, createSecurityHeaders(), compressExceptCdsHooks()));

  // CDS Hooks (the hot path). CORS before authentication: a browser's preflight carries no token, and a
  // 401 must still be readable (any origin: bearer JWTs). Audit before authentication so refusals are
  // recorded too (it reads the identity when the response finishes). Every call, discovery included,
  // carries a client JWT (aud = the exact URL called); the rate limit comes after it to key callers by
  // identity, and the JSON body (size 413, media type 415, depth/array limits, no __proto__ keys) after
  // both, so a caller without a valid token gets a 401 and no body is read. One error handler for all
  // of it: `{ error, message }` JSON.
  app.use(
    '/cds-services',
    series(
      collapseCdsSlashes(),
      cdsHooksCors(),
      ...(audit ? [audit.middleware('cds-hooks')] : []),
      createCdsClientAuth({ config: deps.config, store: deps.store, trustedClients, now: deps.now, logger: deps.logger }),
      createRateLimit({ limitPerMinute: rateLimitPerMinute, surface: 'cds', store: sharedStore?.storeFor('cds') }),
      createJsonBodyParser({ maxBytes: deps.config.maxBodyBytes }),
      createCdsHooksRouter(deps, { registry }),
    ),
    createCdsErrorHandler(deps),
  );

  // Prometheus metrics (process, CDS hook calls, cards issued, feedback per card kind), for the operator:
  // METRICS_PORT (own listener), METRICS_TOKEN (bearer), or open outside production only.
  app.get('/metrics', apiPortMetrics(registry, ops));

  // FHIR API, in the same order. CORS: any origin without credentials, or the CORS_ORIGINS list with
  // them. Bearer JWT with SMART scopes (sets res.locals.access); metadata and Questionnaires public.
  // The body stage answers 404/405 before reading, owns the 415 rule and reads JSON or a _search form.
  // Errors reach the app's OperationOutcome error handler at the end.
  app.use(
    '/fhir',
    series(
      fhirCors(deps.config.corsOrigins ?? []),
      ...(audit ? [audit.middleware('fhir')] : []),
      createApiAuth({ config: deps.config, trustedClients, now: deps.now, logger: deps.logger }),
      createRateLimit({ limitPerMinute: rateLimitPerMinute, surface: 'fhir', store: sharedStore?.storeFor('fhir') }),
      fhirBody({ maxBytes: deps.config.maxBodyBytes }),
      createFhirRouter(deps, { responses, catalog, version: packageJson.version, startedAt: deps.now() }),
    ),
  );

  // Web pages (landing, patient portal, clinician view), each with its own CSP; development sign-in outside production.
  app.use(createPagesRouter(deps));

  app.use((_req, _res, next) => next(notFound('No such endpoint. The FHIR API is at /fhir, CDS Hooks discovery at /cds-services.')));
  app.use(fhirErrorHandler(deps.logger));
  return app;
}
