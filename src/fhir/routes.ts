import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { Resource } from 'fhir/r4';
import type { AppDeps } from '../deps';
import { checkAccess, compartmentCriterion, type AccessContext, type Interaction } from '../security/access';
import { capabilityStatement, INTERACTIONS } from './capability-statement';
import { historyBundle, searchBundle } from './bundle';
import { parsePaging, parseSearch } from './search-query';
import { badRequest, notFound } from './outcome';
import { FHIR_JSON, methodNotAllowedHandler, parseIfMatch, requireJsonBody, requireJsonFormat, sendResource } from './http';
import type { ResponseService } from './questionnaire-responses';

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

function access(res: Response): AccessContext | undefined {
  return res.locals.access as AccessContext | undefined;
}

function param(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}

function resourceType(req: Request, interaction: string): string {
  const type = param(req, 'type');
  const interactions = Object.hasOwn(INTERACTIONS, type) ? (INTERACTIONS[type] as string[]) : undefined;
  if (!interactions) throw notFound(`Resource type "${type.slice(0, 64)}" is not supported by this server`);
  if (!interactions.includes(interaction)) throw badRequest(`${interaction} is not supported on ${type}`);
  return type;
}

function id(req: Request, name = 'id'): string {
  const value = param(req, name);
  if (!ID_RE.test(value)) throw badRequest(`"${value.slice(0, 64)}" is not a valid FHIR id`);
  return value;
}

export interface FhirRouterOptions {
  responses: ResponseService;
  /** Version of the software, for the CapabilityStatement. */
  version: string;
  startedAt: Date;
}

/** The FHIR REST API, mounted at /fhir. Body parsing and the error handler come from the app. */
export function createFhirRouter(deps: AppDeps, options: FhirRouterOptions): Router {
  const { store, config } = deps;
  const { responses } = options;
  const fhirBase = `${config.baseUrl}/fhir`;
  const selfUrl = (req: Request) => new URL(req.originalUrl, `${config.baseUrl}/`);
  const router = Router();
  const metadata = capabilityStatement(config.baseUrl, options.version, options.startedAt.toISOString());

  router.use(requireJsonBody);
  router.use(requireJsonFormat);
  router.use(express.json({ type: ['application/fhir+json', 'application/json', 'application/json+fhir'], limit: config.maxBodyBytes, strict: true }));

  router.get('/metadata', (_req, res) => sendResource(res, 200, metadata));
  router.all('/metadata', methodNotAllowedHandler);

  router.post('/QuestionnaireResponse/\\$evaluate', (req, res) => {
    // Access is decided on the response evaluated, also when it comes wrapped in Parameters.
    const input = responses.evaluationInput(req.body);
    checkAccess(access(res), 'c', 'QuestionnaireResponse', input as Resource);
    sendResource(res, 200, responses.evaluate(input));
  });
  router.all('/QuestionnaireResponse/\\$evaluate', methodNotAllowedHandler);

  router.post('/QuestionnaireResponse', async (req, res) => {
    checkAccess(access(res), 'c', 'QuestionnaireResponse', req.body as Resource);
    const { response, riskAssessment } = await responses.create(req.body);
    sendResource(res, 201, response, {
      Location: `${fhirBase}/QuestionnaireResponse/${response.id}/_history/${response.meta!.versionId}`,
      Link: `<${fhirBase}/RiskAssessment/${riskAssessment.id}>; rel="related"; type="${FHIR_JSON}"`,
    });
  });

  router.put('/QuestionnaireResponse/:id', async (req, res) => {
    const responseId = id(req);
    const ctx = access(res);
    checkAccess(ctx, 'u', 'QuestionnaireResponse', req.body as Resource);
    if (ctx) checkAccess(ctx, 'u', 'QuestionnaireResponse', await store.read('QuestionnaireResponse', responseId));
    const { response, riskAssessment } = await responses.update(responseId, req.body, parseIfMatch(req.header('if-match')));
    sendResource(res, 200, response, {
      Location: `${fhirBase}/QuestionnaireResponse/${response.id}/_history/${response.meta!.versionId}`,
      Link: `<${fhirBase}/RiskAssessment/${riskAssessment.id}>; rel="related"; type="${FHIR_JSON}"`,
    });
  });

  router.get('/:type', async (req, res) => {
    const type = resourceType(req, 'search-type');
    const ctx = access(res);
    checkAccess(ctx, 's', type);
    const request = parseSearch(type, req.query as Record<string, unknown>);
    const compartment = compartmentCriterion(ctx, type);
    if (compartment) request.criteria.push(compartment);
    const result = await store.search(request);
    sendResource(res, 200, searchBundle(fhirBase, selfUrl(req), result, request.count, request.offset));
  });

  router.get('/:type/:id', async (req, res) => {
    const type = resourceType(req, 'read');
    const resource = await store.read(type, id(req));
    checkAccess(access(res), 'r', type, resource);
    sendResource(res, 200, resource);
  });

  router.get('/:type/:id/_history', async (req, res) => {
    const type = resourceType(req, 'history-instance');
    const resourceId = id(req);
    const ctx = access(res);
    if (ctx) checkAccess(ctx, 'r', type, await store.read(type, resourceId));
    const { count, offset } = parsePaging(req.query as Record<string, unknown>);
    const result = await store.history(type, resourceId, { count, offset });
    sendResource(res, 200, historyBundle(fhirBase, selfUrl(req), result, count, offset));
  });

  router.get('/:type/:id/_history/:vid', async (req, res) => {
    const type = resourceType(req, 'vread');
    const resource = await store.vread(type, id(req), id(req, 'vid'));
    checkAccess(access(res), 'r', type, resource);
    sendResource(res, 200, resource);
  });

  // Everything else: 404 for an unknown type, 405 for an interaction this server does not offer.
  router.all(['/:type', '/:type/*rest'], (req: Request, _res: Response, next: NextFunction) => {
    if (!Object.hasOwn(INTERACTIONS, param(req, 'type'))) return next(notFound(`Resource type "${param(req, 'type').slice(0, 64)}" is not supported by this server`));
    methodNotAllowedHandler(req, _res, next);
  });
  router.all('/', methodNotAllowedHandler);
  return router;
}

export type { Interaction };
