import { Router, type ErrorRequestHandler, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import type { AppDeps } from '../deps';
import { OperationOutcomeError, RETRY_AFTER_SECONDS } from '../../core/outcome';
import { isDatabaseUnavailable } from '../../storage/db-faults';
import { loadCardRules, type CardRules } from '../../clinical/card-rules';
import { defaultServices, type ServiceRegistry } from './discovery';
import { parseFeedback, recordFeedback, summariseFeedback } from './feedback';
import { createCdsMetrics, type CdsMetrics } from './metrics';
import { parseHookRequest } from './request';
import type { HookResponse } from '../../core/cds-hooks';

export interface CdsHooksRouterOptions {
  /** Registry for the CDS counters (share the app's /metrics registry); a private one otherwise. */
  registry?: Registry;
  /** Compiled card rules (default: loaded from fhir-resources/ once, here). */
  rules?: CardRules;
  /** The services (default: the modules of ./services/, loaded once). */
  services?: ServiceRegistry;
}

interface CdsError {
  error: string;
  message: string;
  issues?: { message: string; expression?: string }[];
}

const ERROR_NAMES: Record<number, string> = {
  400: 'invalid_request',
  404: 'unknown_service',
  405: 'method_not_allowed',
  412: 'precondition_failed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  500: 'internal_error',
  503: 'service_unavailable',
};

function sendError(res: Response, status: number, message: string, issues?: CdsError['issues']): void {
  const body: CdsError = { error: ERROR_NAMES[status] ?? 'error', message, ...(issues && issues.length > 1 ? { issues } : {}) };
  if (issues?.length === 1 && issues[0].expression) body.issues = issues;
  res.status(status).json(body);
}

/**
 * The CDS Hooks endpoints: discovery, one POST per service, feedback, and the operator's feedback summary.
 * CORS, client authentication, rate limit, the JSON body and the error handler come from the app.
 */
export function createCdsHooksRouter(deps: AppDeps, options: CdsHooksRouterOptions = {}): Router {
  const rules = options.rules ?? loadCardRules();
  const services = options.services ?? defaultServices();
  const discovery = { services: services.definitions };
  const metrics: CdsMetrics = createCdsMetrics(options.registry);
  const router = Router();

  router.get('/', (_req, res) => {
    res.json(discovery);
  });

  // Operator endpoint: acceptance and override counts per card kind (from the stored feedback).
  router.get('/feedback-summary', async (_req, res) => {
    res.json(await summariseFeedback(deps.store, deps.now()));
  });

  router.post('/:id', async (req: Request<{ id: string }>, res) => {
    const found = services.find(req.params.id);
    if (!found) return sendError(res, 404, `No CDS service "${req.params.id}"`);
    const service = found.definition;
    try {
      const request = parseHookRequest(req.body, service.hook);
      const result = await found.handler(deps, rules, request);
      const issuedAt = deps.now().toISOString();
      if (result.drafts.length) {
        await deps.store.recordCards(result.drafts.map((d) => ({ uuid: d.card.uuid, serviceId: service.id, kind: d.kind, issuedAt })));
      }
      for (const d of result.drafts) metrics.cardsIssued.inc({ service: service.id, kind: d.kind });
      const body: HookResponse = {
        cards: result.drafts.map((d) => d.card),
        ...(result.systemActions?.length ? { systemActions: result.systemActions } : {}),
      };
      metrics.hookCalls.inc({ service: service.id, status: '200' });
      // Logged on the call's access line (app.ts).
      res.locals.cds = { service: service.id, hookInstance: request.hookInstance, cards: result.drafts.map((d) => d.kind) };
      res.json(body);
    } catch (err) {
      const status = err instanceof OperationOutcomeError ? err.status : 500;
      metrics.hookCalls.inc({ service: service.id, status: String(status) });
      throw err;
    }
  });

  router.post('/:id/feedback', async (req: Request<{ id: string }>, res) => {
    const service = services.find(req.params.id)?.definition;
    if (!service) return sendError(res, 404, `No CDS service "${req.params.id}"`);
    const records = parseFeedback(req.body, service.id, deps.now());
    await recordFeedback(deps.store, metrics, records);
    res.status(200).json({ received: records.length });
  });

  router.all('/:id', (req: Request<{ id: string }>, res) => {
    if (!services.find(req.params.id)) return sendError(res, 404, `No CDS service "${req.params.id}"`);
    res.setHeader('Allow', 'POST');
    sendError(res, 405, `Use POST to call ${req.params.id}`);
  });
  router.use((req, res) => sendError(res, 404, `No CDS Hooks endpoint at ${req.method} ${req.originalUrl}`));
  return router;
}

/**
 * CDS Hooks errors as `{ error, message }` JSON with the status the spec names (400, 404, 412, ...).
 * The app mounts it once, after the router, for everything on /cds-services (client authentication,
 * rate limit, body parser and the router itself).
 */
export function createCdsErrorHandler(deps: AppDeps): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    if (res.headersSent) return;
    if (isDatabaseUnavailable(err)) {
      deps.logger.warn({ err: { message: (err as Error).message, code: (err as { code?: unknown }).code } }, 'database unavailable');
      res.set('Retry-After', String(RETRY_AFTER_SECONDS));
      return sendError(res, 503, 'The service cannot reach its database; retry shortly');
    }
    if (err instanceof OperationOutcomeError) {
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      const issues = err.outcome.issue.map((i) => ({
        message: i.diagnostics ?? i.code,
        ...(i.expression?.[0] ? { expression: i.expression[0] } : {}),
      }));
      return sendError(res, err.status, issues.map((i) => i.message).join('; '), issues);
    }
    const type = (err as { type?: string }).type;
    if (type === 'entity.parse.failed') return sendError(res, 400, 'The request body is not valid JSON');
    if (type === 'entity.too.large') return sendError(res, 413, `The request body is larger than ${deps.config.maxBodyBytes} bytes`);
    if (type === 'encoding.unsupported' || type === 'charset.unsupported')
      return sendError(res, 415, 'Unsupported content encoding or charset');
    deps.logger.error({ err }, 'CDS Hooks request failed');
    sendError(res, 500, 'Internal server error');
  };
}
