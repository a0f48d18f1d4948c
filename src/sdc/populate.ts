import type {
  Bundle,
  OperationOutcome,
  Parameters,
  ParametersParameter,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
  Reference,
  Resource,
} from 'fhir/r4';
import type { Logger } from 'pino';
import { CANONICAL_BASE } from '../core/canonical';
import { FHIR_ID_SOURCE } from '../core/ids';
import { isObject } from '../core/json';
import type { Catalog } from '../clinical/catalog';
import { badRequest, notFound, operationOutcome, unprocessable, type Problem } from '../core/outcome';
import type { SchemaValidator } from '../core/schema-validator';
import { isProblem, resolveQuestionnaire } from '../clinical/resolve-questionnaire';
import { searchAll } from '../core/fhir-client';
import type { ChartContext, PopulatedItem, PopulationPlan } from '../clinical/chart-population';
import type { PopulationPlans } from '../clinical/population-plans';

/**
 * Questionnaire/$populate (SDC): a QuestionnaireResponse pre-filled from the patient's chart, each answer
 * naming the chart entry it rests on. The chart comes in `context` parameters, or is fetched from the
 * EHR's FHIR server with the caller's token (same deadline and same-server rules as the CDS fallback).
 * Nothing is answered "no" because the chart is silent: the expressions only ever produce "yes".
 */
export const EXT_POPULATE_SOURCE = `${CANONICAL_BASE}/StructureDefinition/populate-source`;

export interface PopulateDeps {
  catalog: Pick<Catalog, 'questionnaires'>;
  plans: PopulationPlans;
  schema: SchemaValidator;
  now: () => Date;
  logger: Logger;
  /** Total time for fetching from an EHR FHIR server (CDS_FHIR_DEADLINE_MS). */
  fhirDeadlineMs: number;
}

export interface PopulateInput {
  questionnaire: Questionnaire;
  patientId: string;
  /** The subject reference as given. */
  subject: Reference;
  chart: ChartContext;
  /** Where each chart resource came from: absolute base for EHR server entries. */
  sourceBase: Map<Resource, string>;
  fhirServer?: { url: string; accessToken?: string };
  issues: Problem[];
}

const PATIENT_REFERENCE = new RegExp(String.raw`^(?:(https?://[^\s#?]+)/)?Patient/(${FHIR_ID_SOURCE})(?:/_history/${FHIR_ID_SOURCE})?$`);

function params(body: Parameters, name: string): ParametersParameter[] {
  return (body.parameter ?? []).filter((p) => p.name === name);
}

function single(body: Parameters, name: string): ParametersParameter | undefined {
  const found = params(body, name);
  if (found.length > 1) throw badRequest(`Parameter "${name}" may be given once`, `Parameters.parameter.where(name='${name}')`);
  return found[0];
}

function stringValue(p: ParametersParameter | undefined): string | undefined {
  return p?.valueCanonical ?? p?.valueUri ?? p?.valueUrl ?? p?.valueString;
}

/** Which Questionnaire: the instance's id, else `canonical`, `questionnaireRef` or a `questionnaire` resource we publish. */
function chooseQuestionnaire(body: Parameters, id: string | undefined, questionnaires: Questionnaire[]): Questionnaire {
  if (id !== undefined) {
    const found = questionnaires.find((q) => q.id === id);
    if (!found) throw notFound(`Questionnaire/${id} is not known to this server`);
    return found;
  }
  const canonical = stringValue(single(body, 'canonical'));
  const ref = single(body, 'questionnaireRef')?.valueReference?.reference;
  const given = single(body, 'questionnaire')?.resource as Questionnaire | undefined;
  const target =
    canonical ??
    ref ??
    (given ? (given.url ? `${given.url}${given.version ? `|${given.version}` : ''}` : `Questionnaire/${given.id ?? ''}`) : undefined);
  if (!target)
    throw badRequest(
      'Name the Questionnaire: POST to /Questionnaire/{id}/$populate, or give a "canonical" (url|version) parameter',
      'Parameters.parameter',
    );
  const found = resolveQuestionnaire(target, questionnaires);
  if (isProblem(found)) throw unprocessable([{ ...found, expression: 'Parameters.parameter' }]);
  return found;
}

function subjectOf(resource: Record<string, unknown>): string | undefined {
  const ref = isObject(resource.subject) ? resource.subject.reference : isObject(resource.patient) ? resource.patient.reference : undefined;
  return typeof ref === 'string' ? ref : undefined;
}

function belongsTo(resource: Record<string, unknown>, patientId: string): boolean {
  const ref = subjectOf(resource);
  return ref !== undefined && PATIENT_REFERENCE.exec(ref)?.[2] === patientId;
}

/** The resources a `context` content carries: a Bundle's entries, or the resource itself. */
function resourcesIn(content: Resource): Resource[] {
  if (content.resourceType !== 'Bundle') return [content];
  return ((content as Bundle).entry ?? []).map((e) => e.resource).filter((r): r is Resource => isObject(r));
}

/**
 * The `context` parameters into the chart: launch contexts (the patient) and the named collections of the
 * Questionnaire's x-fhir-query variables. What cannot be used is an issue; a malformed part is 400/422.
 */
function readContexts(parameters: Parameters, plan: PopulationPlan, patientId: string, chart: ChartContext, issues: Problem[]): void {
  const collections = new Map(plan.queries.map((q) => [q.name, q.resourceType]));
  params(parameters, 'context').forEach((p, i) => {
    const at = `Parameters.parameter.where(name='context')[${i}]`;
    const name = p.part?.find((x) => x.name === 'name')?.valueString;
    const contentPart = p.part?.find((x) => x.name === 'content');
    if (!name || !contentPart) throw badRequest('Each "context" parameter needs a "name" part (valueString) and a "content" part', at);
    if (!contentPart.resource) {
      issues.push({
        severity: 'warning',
        code: 'not-supported',
        expression: at,
        message: `context "${name}": only resources (or Bundles) are read, not references; send the resource itself`,
      });
      return;
    }
    if (Object.hasOwn(plan.launchContexts, name)) {
      const type = plan.launchContexts[name];
      const resource = contentPart.resource;
      if (resource.resourceType !== type)
        throw unprocessable([
          { expression: at, code: 'value', message: `context "${name}" must be a ${type}, not ${resource.resourceType}` },
        ]);
      if (name === 'patient' && resource.id !== patientId) {
        throw unprocessable([
          {
            expression: at,
            code: 'value',
            message: `context "patient" is Patient/${resource.id ?? '(no id)'}, but the subject is Patient/${patientId}`,
          },
        ]);
      }
      if (name === 'patient') chart.patient = resource;
      return;
    }
    const type = collections.get(name);
    if (!type) {
      const known = [...Object.keys(plan.launchContexts), ...collections.keys()].join(', ');
      issues.push({
        severity: 'warning',
        code: 'not-supported',
        expression: at,
        message: `context "${name}" is not used by this Questionnaire (it reads ${known})`,
      });
      return;
    }
    const list = (chart.collections[name] ??= []);
    resourcesIn(contentPart.resource).forEach((r) => {
      if (r.resourceType === 'OperationOutcome') return;
      const label = `${r.resourceType}/${r.id ?? '(no id)'}`;
      if (r.resourceType !== type) {
        issues.push({
          severity: 'warning',
          code: 'value',
          expression: at,
          message: `context "${name}": ${label} is not a ${type}; not used`,
        });
      } else if (!belongsTo(r as unknown as Record<string, unknown>, patientId)) {
        issues.push({
          severity: 'warning',
          code: 'value',
          expression: at,
          message: `context "${name}": ${label} is not about Patient/${patientId}; not used`,
        });
      } else {
        list.push(r);
      }
    });
  });
}

/** Reads and checks the Parameters of a $populate call (throws 400/404/422; stores and fetches nothing). */
export function parsePopulateInput(
  body: unknown,
  questionnaireId: string | undefined,
  deps: Pick<PopulateDeps, 'catalog' | 'plans' | 'schema'>,
): PopulateInput {
  if (!isObject(body) || body.resourceType !== 'Parameters')
    throw badRequest('The body of $populate must be a Parameters resource', 'resourceType');
  const structural = deps.schema.validate(body);
  if (structural.length) throw unprocessable(structural);
  const parameters = body as unknown as Parameters;
  const questionnaire = chooseQuestionnaire(parameters, questionnaireId, deps.catalog.questionnaires);
  const plan = deps.plans.get(questionnaire);

  const subject = single(parameters, 'subject')?.valueReference;
  const match = subject?.reference ? PATIENT_REFERENCE.exec(subject.reference) : null;
  if (!subject || !match) {
    throw badRequest(
      '$populate needs a "subject" parameter: a valueReference to the patient as Patient/{id}',
      "Parameters.parameter.where(name='subject')",
    );
  }
  const patientId = match[2];
  const issues: Problem[] = [];
  const chart: ChartContext = { collections: {} };
  const sourceBase = new Map<Resource, string>();

  readContexts(parameters, plan, patientId, chart, issues);

  const server = stringValue(single(parameters, 'fhirServer'));
  let fhirServer: PopulateInput['fhirServer'];
  if (server !== undefined) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw badRequest('fhirServer must be an absolute http(s) URL', "Parameters.parameter.where(name='fhirServer')");
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw badRequest('fhirServer must be an absolute http(s) URL', "Parameters.parameter.where(name='fhirServer')");
    fhirServer = { url: server.replace(/\/+$/, ''), accessToken: single(parameters, 'fhirAccessToken')?.valueString };
  } else if (single(parameters, 'fhirAccessToken')) {
    throw badRequest('fhirAccessToken needs fhirServer', "Parameters.parameter.where(name='fhirAccessToken')");
  }
  const local = single(parameters, 'local');
  if (local?.valueBoolean === false && !fhirServer) {
    issues.push({
      severity: 'information',
      code: 'informational',
      message: 'local=false: no fhirServer was given, so only the context parameters were read',
    });
  }
  return { questionnaire, patientId, subject: { reference: `Patient/${patientId}` }, chart, sourceBase, fhirServer, issues };
}

/** Fetches what the context did not carry from the EHR server, within one deadline, on that server only. */
async function fetchMissing(input: PopulateInput, plan: PopulationPlan, deps: PopulateDeps): Promise<void> {
  const server = input.fhirServer;
  const missing = plan.queries.filter((q) => input.chart.collections[q.name] === undefined);
  if (!server || missing.length === 0) return;
  const access = {
    baseUrl: server.url,
    accessToken: server.accessToken,
    signal: AbortSignal.timeout(deps.fhirDeadlineMs),
    logger: deps.logger,
  };
  await Promise.all(
    missing.map(async (q) => {
      const query = q.query.replace(/\{\{\s*%patient\.id\s*\}\}/g, encodeURIComponent(input.patientId));
      const outcome = await searchAll(access, query, q.resourceType);
      if (!outcome.ok) {
        input.issues.push({
          severity: 'warning',
          code: 'transient',
          message: `${q.name}: ${query} on the FHIR server could not be read (${outcome.reason}); those items were not pre-filled`,
        });
        return;
      }
      if (!outcome.complete)
        input.issues.push({
          severity: 'warning',
          code: 'incomplete',
          message: `${q.name}: only part of ${query} could be read before the deadline`,
        });
      const list = (input.chart.collections[q.name] = [] as Resource[]);
      for (const r of outcome.resources) {
        if (!belongsTo(r as unknown as Record<string, unknown>, input.patientId)) {
          input.issues.push({
            severity: 'warning',
            code: 'value',
            message:
              `${q.name}: ${r.resourceType}/${r.id ?? '(no id)'} from the FHIR server is not about Patient/${input.patientId}; ` +
              `not used`,
          });
          continue;
        }
        list.push(r);
        input.sourceBase.set(r, server.url);
      }
    }),
  );
}

function answerValue(value: unknown, item: QuestionnaireItem): QuestionnaireResponseItemAnswer | undefined {
  if (item.type === 'boolean' && typeof value === 'boolean') return { valueBoolean: value };
  if (item.type === 'integer' && Number.isInteger(value)) return { valueInteger: value as number };
  if (item.type === 'decimal' && typeof value === 'number') return { valueDecimal: value };
  if ((item.type === 'string' || item.type === 'text') && typeof value === 'string') return { valueString: value };
  if (item.type === 'choice' && isObject(value) && typeof value.code === 'string') return { valueCoding: value };
  return undefined;
}

function sourceReference(resource: Resource, base: string | undefined): Reference {
  const code = (resource as { code?: { text?: unknown; coding?: { display?: unknown }[] } }).code;
  const display =
    typeof code?.text === 'string' ? code.text : code?.coding?.map((c) => c.display).find((d): d is string => typeof d === 'string');
  const local = resource.id ? `${resource.resourceType}/${resource.id}` : undefined;
  return {
    ...(local ? { reference: base ? `${base}/${local}` : local } : {}),
    type: resource.resourceType,
    ...(display ? { display } : !local ? { display: `${resource.resourceType} without an id` } : {}),
  };
}

/** The response items for the answered ones, nested as in the Questionnaire (groups only when they hold answers). */
function responseItems(
  items: QuestionnaireItem[] | undefined,
  answers: Map<string, QuestionnaireResponseItemAnswer[]>,
): QuestionnaireResponseItem[] {
  const out: QuestionnaireResponseItem[] = [];
  for (const item of items ?? []) {
    const children = responseItems(item.item, answers);
    const answer = answers.get(item.linkId);
    if (!answer && children.length === 0) continue;
    if (item.type === 'group') out.push({ linkId: item.linkId, ...(item.text ? { text: item.text } : {}), item: children });
    else
      out.push({
        linkId: item.linkId,
        ...(item.text ? { text: item.text } : {}),
        answer: answer!.map((a) => (children.length ? { ...a, item: children } : a)),
      });
  }
  return out;
}

export interface PopulateResult {
  response: QuestionnaireResponse;
  issues?: OperationOutcome;
  populated: PopulatedItem[];
}

/** Runs the Questionnaire's population expressions over the chart and builds the in-progress response. */
export function buildPopulatedResponse(input: PopulateInput, plan: PopulationPlan, now: Date): PopulateResult {
  const populated = plan.evaluate(input.chart, now);
  const answers = new Map<string, QuestionnaireResponseItemAnswer[]>();
  for (const p of populated) {
    const values = p.values.map((v) => answerValue(v, p.item)).filter((a): a is QuestionnaireResponseItemAnswer => a !== undefined);
    if (p.values.length > values.length) {
      input.issues.push({
        severity: 'warning',
        code: 'processing',
        message: `item ${p.linkId}: the initialExpression gave a value of the wrong type; not pre-filled`,
      });
    }
    if (values.length === 0) continue;
    const sources = p.evidence.map((r) => ({ url: EXT_POPULATE_SOURCE, valueReference: sourceReference(r, input.sourceBase.get(r)) }));
    answers.set(
      p.linkId,
      (p.item.repeats ? values : values.slice(0, 1)).map((a) => ({ ...(sources.length ? { extension: sources } : {}), ...a })),
    );
  }
  const q = input.questionnaire;
  const response: QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    questionnaire: q.version ? `${q.url}|${q.version}` : q.url,
    status: 'in-progress',
    subject: input.subject,
    authored: now.toISOString(),
  };
  const item = responseItems(q.item, answers);
  if (item.length) response.item = item;
  return { response, populated, ...(input.issues.length ? { issues: operationOutcome(input.issues) } : {}) };
}

export function createPopulateOperation(deps: PopulateDeps) {
  return {
    parse: (body: unknown, questionnaireId?: string) => parsePopulateInput(body, questionnaireId, deps),
    /** $populate: Parameters in, Parameters (`response`, and `issues` when something could not be used) out. */
    async run(input: PopulateInput): Promise<Parameters> {
      const plan = deps.plans.get(input.questionnaire);
      await fetchMissing(input, plan, deps);
      const { response, issues } = buildPopulatedResponse(input, plan, deps.now());
      return {
        resourceType: 'Parameters',
        parameter: [{ name: 'response', resource: response }, ...(issues ? [{ name: 'issues', resource: issues }] : [])],
      };
    },
  };
}

export type PopulateOperation = ReturnType<typeof createPopulateOperation>;
