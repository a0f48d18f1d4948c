import type { Observation, Parameters, Resource } from 'fhir/r4';
import type { Logger } from 'pino';
import type { Evaluator } from '../../clinical/types';
import type { Catalog } from '../../clinical/catalog';
import type { CallContext, FhirRequest, FhirResponse, OperationHandler, Route } from './interactions';
import { badRequest } from '../../core/outcome';
import type { ResponseService } from '../../clinical/questionnaire-responses';
import type { SchemaValidator } from '../../core/schema-validator';
import { checkAccess } from '../../auth/access';
import { extractBundle, extractObservations, persistObservations } from '../../sdc/extract';
import type { PopulationPlans } from '../../clinical/population-plans';
import { createPopulateOperation } from '../../sdc/populate';

/** The SDC operations as FHIR interaction handlers ($populate, $extract). Routes and batch entries share them. */
export interface SdcOperationDeps {
  catalog: Catalog;
  plans: PopulationPlans;
  responses: ResponseService;
  evaluator: Evaluator;
  schema: SchemaValidator;
  now: () => Date;
  logger: Logger;
  fhirDeadlineMs: number;
  fhirBase: string;
}

type OperationRoute = Extract<Route, { kind: 'operation' }>;

const OPERATION_QUERY = new Set(['persist', '_format', '_pretty']);

/** `persist` from the query (`?persist=true`) or a Parameters `persist` valueBoolean; anything else is 400. */
function persistFlag(req: FhirRequest): boolean {
  for (const key of Object.keys(req.query)) {
    if (!OPERATION_QUERY.has(key)) throw badRequest(`Unknown parameter "${key.slice(0, 64)}" for $extract (it takes persist)`, key);
  }
  const raw = req.query.persist;
  let persist: boolean | undefined;
  if (raw !== undefined) {
    if (raw !== 'true' && raw !== 'false') throw badRequest('persist must be true or false (given once)', 'persist');
    persist = raw === 'true';
  }
  const body = req.body as Parameters | undefined;
  if (body?.resourceType === 'Parameters') {
    const p = (body.parameter ?? []).filter((x) => x?.name === 'persist');
    if (p.length > 1 || (p.length === 1 && typeof p[0].valueBoolean !== 'boolean'))
      throw badRequest('The persist parameter is one valueBoolean', "Parameters.parameter.where(name='persist')");
    if (p.length === 1) {
      if (persist !== undefined && persist !== p[0].valueBoolean)
        throw badRequest('persist is given twice, with different values (query and Parameters)', 'persist');
      persist = p[0].valueBoolean;
    }
  }
  return persist ?? false;
}

function isEmptyBody(body: unknown): boolean {
  if (body === undefined || body === null) return true;
  if (typeof body !== 'object' || Array.isArray(body)) return false;
  const keys = Object.keys(body);
  if (keys.length === 0) return true;
  // A Parameters carrying only persist names no response: the instance's stored one is meant.
  const p = body as Parameters;
  return p.resourceType === 'Parameters' && (p.parameter ?? []).every((x) => x?.name === 'persist');
}

export function createSdcOperations(deps: SdcOperationDeps): Record<string, OperationHandler> {
  const populate = createPopulateOperation({
    catalog: deps.catalog,
    plans: deps.plans,
    schema: deps.schema,
    now: deps.now,
    logger: deps.logger,
    fhirDeadlineMs: deps.fhirDeadlineMs,
  });

  async function runPopulate(route: OperationRoute, req: FhirRequest, ctx: CallContext): Promise<FhirResponse> {
    const input = populate.parse(req.body, route.id);
    // Pre-filling answers for a patient is as sensitive as writing their response: the same scope.
    checkAccess(ctx.access, 'c', 'QuestionnaireResponse', {
      resourceType: 'QuestionnaireResponse',
      status: 'in-progress',
      subject: input.subject,
    } as Resource);
    return { status: 200, resource: await populate.run(input), headers: {} };
  }

  async function runExtract(route: OperationRoute, req: FhirRequest, ctx: CallContext): Promise<FhirResponse> {
    const persist = persistFlag(req);
    let candidate: unknown;
    if (route.id !== undefined) {
      if (!isEmptyBody(req.body))
        throw badRequest(`POST /QuestionnaireResponse/${route.id}/$extract reads the stored response: send no response in the body`);
      candidate = await ctx.store.read('QuestionnaireResponse', route.id);
      checkAccess(ctx.access, 'r', 'QuestionnaireResponse', candidate as Resource);
    } else {
      candidate = deps.responses.evaluationInput(req.body);
      checkAccess(ctx.access, 'c', 'QuestionnaireResponse', candidate as Resource);
    }
    const { response, questionnaire } = deps.responses.validate(candidate, { requireSubject: true });
    const observations: Observation[] = extractObservations(response, questionnaire, deps.evaluator, {
      now: deps.now(),
    });
    if (!persist) return { status: 200, resource: extractBundle(observations), headers: {} };
    for (const o of observations) checkAccess(ctx.access, 'c', 'Observation', o);
    return { status: 200, resource: await persistObservations(ctx.store, observations, deps.fhirBase), headers: {} };
  }

  return { 'Questionnaire/populate': runPopulate, 'QuestionnaireResponse/extract': runExtract };
}
