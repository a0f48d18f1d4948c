import type { Parameters, PlanDefinition, Questionnaire, QuestionnaireResponse, Resource, RiskAssessment } from 'fhir/r4';
import type { Evaluator } from './types';
import type { SearchRequest, Store } from '../storage/store';
import { isProblem, resolveQuestionnaire } from './resolve-questionnaire';
import { validateResponse } from './validate-response';
import type { SchemaValidator } from '../core/schema-validator';
import type { Catalog } from './catalog';
import { parseDateRange } from '../core/dates';
import { FHIR_ID_SOURCE } from '../core/ids';
import { badRequest, preconditionFailed, unprocessable, type Problem } from '../core/outcome';
import { chooseLanguage, createRiskAssessmentLocalizer } from './localize';

/**
 * What happens to a QuestionnaireResponse: validation (FHIR schema, then against its Questionnaire),
 * evaluation into a RiskAssessment, and storage of response + assessment + Provenance in one
 * transaction. Free of HTTP: routes translate.
 */
export interface ResponseServiceDeps {
  store: Store;
  evaluator: Evaluator;
  catalog: Catalog;
  schema: SchemaValidator;
  now: () => Date;
}

export interface StoredAssessment {
  response: QuestionnaireResponse;
  /** Absent only for a conditional create that found a response stored without one. */
  riskAssessment?: RiskAssessment;
  /** False when a conditional create found its match and stored nothing. */
  created: boolean;
}

export interface WriteOptions {
  /** The store (or open transaction) to write through; the service's own store by default. */
  store?: Store;
}

export interface CreateOptions extends WriteOptions {
  /** If-None-Exist: 0 matches creates, 1 returns it and stores nothing, more is 412. */
  ifNoneExist?: SearchRequest;
  /** The id to give the new response (a transaction assigns ids first, to rewrite urn:uuid references). */
  id?: string;
}

/** `Patient/{id}`, optionally absolute and/or version-specific. */
const PATIENT_REFERENCE = new RegExp(String.raw`^(?:https?://[^\s#?]+/)?Patient/${FHIR_ID_SOURCE}(?:/_history/${FHIR_ID_SOURCE})?$`);

function requireResourceType<T extends Resource>(body: unknown, resourceType: T['resourceType']): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw badRequest(`The body must be a ${resourceType} resource (a JSON object)`);
  const actual = (body as { resourceType?: unknown }).resourceType;
  if (actual !== resourceType) {
    throw badRequest(
      `Expected resourceType ${resourceType}, got ${typeof actual === 'string' ? JSON.stringify(actual).slice(0, 80) : 'none'}`,
      'resourceType',
    );
  }
  return body as T;
}

/**
 * The client's meta (profiles, tags, security labels: LHC-Forms tags its responses) is kept; versionId
 * and lastUpdated belong to the server and are set by the store.
 */
function withClientMeta(response: QuestionnaireResponse): QuestionnaireResponse {
  if (!response.meta) return response;
  const { versionId: _v, lastUpdated: _l, ...meta } = response.meta;
  const { meta: _meta, ...rest } = response;
  return Object.keys(meta).length ? { ...rest, meta } : rest;
}

/** Clocks of portals and EHRs drift: a response authored up to an hour "ahead" is accepted. */
const CLOCK_SKEW_MS = 60 * 60 * 1000;

export function createResponseService(deps: ResponseServiceDeps) {
  const { store, evaluator, catalog, schema, now } = deps;
  const assessmentPlan = catalog.resources.find(
    (r): r is PlanDefinition => r.resourceType === 'PlanDefinition' && r.id === 'calf-pain-assessment',
  );
  const localizer = assessmentPlan ? createRiskAssessmentLocalizer(assessmentPlan) : undefined;

  /** Every problem with the response, or its Questionnaire. Throws 400/422 listing them all. */
  function validate(
    body: unknown,
    options: { requireSubject: boolean },
  ): { response: QuestionnaireResponse; questionnaire: Questionnaire } {
    const response = requireResourceType<QuestionnaireResponse>(body, 'QuestionnaireResponse');
    const structural = schema.validate(response);
    // Past a structural failure the content cannot be walked safely: report what the schema found.
    if (structural.length) throw unprocessable(structural);

    const problems: Problem[] = [];
    const questionnaire = resolveQuestionnaire(response.questionnaire, catalog.questionnaires);
    if (isProblem(questionnaire)) throw unprocessable([questionnaire]);
    problems.push(...validateResponse(response, questionnaire, { valueSets: catalog.valueSets }));
    if (options.requireSubject && !response.subject?.reference) {
      problems.push({
        expression: 'QuestionnaireResponse.subject',
        code: 'required',
        message: 'QuestionnaireResponse.subject (a reference to the patient) is required to store a response and its RiskAssessment',
      });
    } else if (response.subject?.reference !== undefined && !PATIENT_REFERENCE.test(response.subject.reference)) {
      // The subject is copied to the RiskAssessment (subject: Reference(Patient|Group)) and indexed for
      // patient searches and compartments: a Wells score is about one patient, named by a resolvable reference.
      problems.push({
        expression: 'QuestionnaireResponse.subject.reference',
        code: 'value',
        message:
          `QuestionnaireResponse.subject must reference the patient as Patient/{id} (or an absolute URL ` +
          `ending in Patient/{id}), not ${JSON.stringify(response.subject.reference.slice(0, 80))}`,
      });
    }
    const authored = response.authored ? parseDateRange(response.authored) : undefined;
    if (authored && Date.parse(authored.lo) > now().getTime() + CLOCK_SKEW_MS) {
      // A future date would rank this response above every real one ("most recent" for CDS cards).
      problems.push({
        expression: 'QuestionnaireResponse.authored',
        code: 'value',
        message: `QuestionnaireResponse.authored (${response.authored}) is in the future`,
      });
    }
    if (problems.some((p) => (p.severity ?? 'error') === 'error' || p.severity === 'fatal')) throw unprocessable(problems);
    return { response, questionnaire };
  }

  function assess(response: QuestionnaireResponse, acceptLanguage?: string): RiskAssessment {
    const { riskAssessment } = evaluator.evaluate(response, { now: now() });
    // A response recorded in error must not leave an assessment that looks valid.
    if (response.status === 'entered-in-error') riskAssessment.status = 'entered-in-error';
    // The patient-facing next steps follow the response's own language, else (computed only) Accept-Language.
    const language = chooseLanguage(acceptLanguage, response.language);
    return localizer ? localizer.localize(riskAssessment, language) : riskAssessment;
  }

  async function findAssessment(tx: Store, responseId: string): Promise<RiskAssessment | undefined> {
    const found = await tx.search({
      resourceType: 'RiskAssessment',
      criteria: [{ param: 'basis', kind: 'exact', values: [`QuestionnaireResponse/${responseId}`] }],
      sort: [{ param: '_lastUpdated', descending: true }],
      count: 1,
      offset: 0,
    });
    return found.resources[0] as RiskAssessment | undefined;
  }

  async function record(tx: Store, response: QuestionnaireResponse, previous?: RiskAssessment): Promise<RiskAssessment> {
    const assessment = assess(response);
    const riskAssessment = previous ? await tx.update({ ...assessment, id: previous.id }) : await tx.create(assessment);
    await tx.create(evaluator.provenance(riskAssessment, response, now()));
    return riskAssessment;
  }

  /**
   * The QuestionnaireResponse an $evaluate body carries: the body itself, or the resource of the
   * Parameters' "questionnaire-response" parameter (the Parameters checked first). Routes check
   * access on this, not on the wrapper.
   */
  function evaluationInput(body: unknown): unknown {
    let candidate = body;
    if (body && typeof body === 'object' && (body as Resource).resourceType === 'Parameters') {
      // The Parameters wrapper is a resource too: checked as such before anything is read from it.
      const structural = schema.validate(body);
      if (structural.length) throw unprocessable(structural);
      const matching = ((body as Parameters).parameter ?? []).filter((p) => p?.name === 'questionnaire-response');
      if (matching.length !== 1 || !matching[0].resource) {
        throw badRequest('Parameters must contain exactly one "questionnaire-response" parameter with a resource', 'Parameters.parameter');
      }
      // inv-1: a parameter carries a value, a resource or parts: exactly one of them.
      if (Object.keys(matching[0]).some((k) => /^value[A-Z]/.test(k) || k === 'part')) {
        throw unprocessable([
          {
            expression: 'Parameters.parameter',
            code: 'invariant',
            message: 'The "questionnaire-response" parameter must carry only a resource, not also a value or parts (inv-1)',
          },
        ]);
      }
      candidate = matching[0].resource;
    }
    return candidate;
  }

  return {
    validate,

    evaluationInput,

    /**
     * $evaluate: validate and evaluate; stores nothing. Accepts the response or Parameters wrapping it.
     * The next steps follow the response's language, else `acceptLanguage`.
     */
    evaluate(body: unknown, acceptLanguage?: string): RiskAssessment {
      const { response } = validate(evaluationInput(body), { requireSubject: false });
      return assess(response, acceptLanguage);
    },

    async create(body: unknown, options: CreateOptions = {}): Promise<StoredAssessment> {
      const { response } = validate(body, { requireSubject: true });
      // The server assigns ids on create (FHIR create semantics).
      const { id: _ignored, ...content } = withClientMeta(response);
      return (options.store ?? store).transaction(async (tx) => {
        if (options.ifNoneExist) {
          // In the same transaction as the write, so two retries of one submission cannot both create.
          const found = await tx.search({ ...options.ifNoneExist, count: 2, offset: 0 });
          if (found.total > 1)
            throw preconditionFailed(`If-None-Exist matches ${found.total} QuestionnaireResponses: the criteria must select at most one`);
          if (found.total === 1) {
            const existing = found.resources[0] as QuestionnaireResponse;
            return { response: existing, riskAssessment: await findAssessment(tx, existing.id!), created: false };
          }
        }
        const stored = await tx.create<QuestionnaireResponse>({
          ...content,
          ...(options.id ? { id: options.id } : {}),
        });
        return { response: stored, riskAssessment: await record(tx, stored), created: true };
      });
    },

    async update(id: string, body: unknown, ifMatch?: string, options: WriteOptions = {}): Promise<StoredAssessment> {
      const { response } = validate(body, { requireSubject: true });
      if (response.id !== id)
        throw badRequest(`The resource id (${response.id ?? 'missing'}) must match the id in the URL (${id})`, 'QuestionnaireResponse.id');
      return (options.store ?? store).transaction(async (tx) => {
        const content = withClientMeta(response);
        const stored = await tx.update<QuestionnaireResponse>(content, { ifMatch, mustExist: true });
        return { response: stored, riskAssessment: await record(tx, stored, await findAssessment(tx, id)), created: false };
      });
    },
  };
}

export type ResponseService = ReturnType<typeof createResponseService>;
