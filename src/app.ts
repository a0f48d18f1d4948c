import express, { type Express } from 'express';
import compression from 'compression';
import { pinoHttp } from 'pino-http';
import type { AppDeps } from './http/deps';
import { loadCatalog, type Catalog } from './clinical/catalog';
import { createFhirRouter } from './http/fhir/routes';
import { fhirBody } from './http/fhir/body';
import { fhirCors } from './http/middleware/cors';
import { fhirErrorHandler } from './http/fhir/http';
import { notFound } from './core/outcome';
import { createResponseService } from './clinical/questionnaire-responses';
import { createSchemaValidator } from './core/schema-validator';
import { createApiAuth } from './auth/api-auth';
import { createCdsClientAuth } from './auth/cds-client-auth';
import {
  ACCESS_LOG_SERIALIZERS,
  createJsonBodyParser,
  createRateLimit,
  createSecurityHeaders,
  rateLimitFromConfig,
  requestId,
} from './http/middleware/hardening';
import { trustedClientsForConfig } from './auth/trusted-clients';
import { cdsHooksCors, createCdsErrorHandler, createCdsHooksRouter } from './http/cds-hooks/routes';
import { createPagesRouter } from './http/pages/routes';
import { collapseCdsSlashes } from './http/middleware/cds-paths';
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

/** Builds the Express app from its dependencies; does not listen (server.ts does). */
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

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const ops = opsConfig(deps.config);
  // Behind a load balancer: the client's address (rate-limit key of unauthenticated calls) from X-Forwarded-For.
  if (ops.trustProxy !== undefined) app.set('trust proxy', ops.trustProxy);

  // X-Request-Id in and out; pino-http logs it as req.id on every line.
  app.use(requestId());
  // One access line per request (method, url, status, time, request id); headers and bodies, which
  // carry credentials, are never logged. Health probes are not logged.
  // A CDS call adds what it answered (service, hookInstance, card kinds) to its access line: one line per call.
  // The access line holds only the fields above, so it needs no redaction pass.
  app.use(
    pinoHttp({
      logger: deps.logger.child({}, { redact: [] }),
      genReqId: (req) => (req as { id?: string }).id ?? '',
      serializers: ACCESS_LOG_SERIALIZERS,
      wrapSerializers: false,
      customSuccessObject: (_req, res, value) => (res.locals?.cds ? { ...value, cds: res.locals.cds } : value),
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    }),
  );

  const registry = options.registry ?? new Registry();
  if (!options.registry) collectDefaultMetrics({ register: registry });
  // Liveness and readiness before CORS, authentication and rate limits: cheap, and never refused.
  const health = options.health ?? createHealth({ store: deps.store, timeoutMs: ops.readyTimeoutMs });
  app.use(health.router);

  app.use(createSecurityHeaders());
  // gzip/deflate/br for clients that accept it (a page of 200 RiskAssessments is hundreds of KB).
  // Compressed answers (FHIR searches and Bundles, the pages' scripts); CDS answers are a few cards and
  // skip it (the hook is the hot path).
  const compress = compression();
  app.use((req, res, next) => (req.path.startsWith('/cds-services') ? next() : compress(req, res, next)));
  // CORS before authentication: a browser's preflight carries no token, and a 401 must still be readable.
  // CDS Hooks: any origin (bearer JWTs). /fhir: any origin without credentials, or the CORS_ORIGINS list with them.
  app.use('/cds-services', collapseCdsSlashes(), cdsHooksCors());
  app.use('/fhir', fhirCors(deps.config.corsOrigins ?? []));
  // JSON bodies: size (413), media type (415), depth/array limits, no __proto__ keys. Mounted on each
  // surface after its authentication, so a caller without a valid token gets a 401 and no body is read.
  const jsonBody = createJsonBodyParser({ maxBytes: deps.config.maxBodyBytes });
  // Read once here: a bad trusted-clients file (or AUTH_MODE=on without one) stops the start.
  const trustedClients = trustedClientsForConfig(deps.config);
  const rateLimitPerMinute = rateLimitFromConfig(deps.config);
  const sharedStore = options.sharedRateLimit;
  // Audit: mounted before authentication so refusals are recorded too; it reads the identity when the response finishes.
  if (options.audit) {
    app.use('/cds-services', options.audit.middleware('cds-hooks'));
    app.use('/fhir', options.audit.middleware('fhir'));
  }
  // CDS Hooks: every call, discovery included, carries a client JWT (aud = the exact URL called).
  app.use(
    '/cds-services',
    createCdsClientAuth({ config: deps.config, store: deps.store, trustedClients, now: deps.now, logger: deps.logger }),
    createRateLimit({ limitPerMinute: rateLimitPerMinute, surface: 'cds', store: sharedStore?.storeFor('cds') }),
    jsonBody,
  );

  app.use('/cds-services', createCdsHooksRouter(deps, { registry }), createCdsErrorHandler(deps));

  // Prometheus metrics (process, CDS hook calls, cards issued, feedback per card kind), for the operator:
  // METRICS_PORT (own listener), METRICS_TOKEN (bearer), or open outside production only.
  app.get('/metrics', apiPortMetrics(registry, ops));

  // FHIR API: bearer JWT with SMART scopes (sets res.locals.access); metadata and Questionnaires public.
  app.use(
    '/fhir',
    createApiAuth({ config: deps.config, trustedClients, now: deps.now, logger: deps.logger }),
    createRateLimit({ limitPerMinute: rateLimitPerMinute, surface: 'fhir', store: sharedStore?.storeFor('fhir') }),
    fhirBody(jsonBody, { maxBytes: deps.config.maxBodyBytes }),
  );
  app.use('/fhir', createFhirRouter(deps, { responses, catalog, version: packageJson.version, startedAt: deps.now() }));

  // Web pages (landing, patient portal, clinician view), each with its own CSP; development sign-in outside production.
  app.use(createPagesRouter(deps));

  app.use((_req, _res, next) => next(notFound('No such endpoint. The FHIR API is at /fhir, CDS Hooks discovery at /cds-services.')));
  app.use(fhirErrorHandler(deps.logger));
  return app;
}
