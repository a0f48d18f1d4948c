import type { Condition, Procedure, QuestionnaireResponse, Resource } from 'fhir/r4';
import { preconditionFailed } from '../../core/outcome';
import { QUESTIONNAIRE_URL } from '../../core/canonical';
import type { AppDeps } from '../deps';
import { CONDITIONS_QUERY, PREFETCH, PROCEDURES_QUERY, RESPONSE_QUERY } from './discovery';
import { searchAll, type FhirServerAccess, type SearchOutcome } from '../../core/fhir-client';
import { readPrefetch } from './prefetch';
import type { HookRequest } from '../../core/cds-hooks';

/** Where a piece of data came from, as shown to clinicians in card details. */
export type Origin = 'prefetch' | 'fhir-server' | 'this-service';

export const ORIGIN_LABEL: Record<Origin, string> = {
  prefetch: 'EHR prefetch',
  'fhir-server': 'EHR FHIR server',
  'this-service': "this service's FHIR API",
};

export interface FoundResponse {
  response: QuestionnaireResponse;
  origin: Origin;
}

export interface ChartData {
  /** Undefined when the Conditions could not be had. */
  conditions?: { resources: Condition[]; origin: Origin };
  procedures?: { resources: Procedure[]; origin: Origin };
}

export interface PatientData {
  /** The patient's recent calf-pain responses, most recent first (only those inside the window). */
  responses: FoundResponse[];
  chart: ChartData;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const RESPONSE_STATUSES = ['completed', 'amended'];
/** How far ahead of our clock a response's `authored` may be (clock drift between EHR and service). */
const AUTHORED_SKEW_MS = 60 * 60 * 1000;

function render(template: string, patientId: string): string {
  return template.replace(/\{\{context\.patientId\}\}/g, encodeURIComponent(patientId));
}

// Prefetch and fhirServer data come from the EHR unchecked: every field is tested for its JSON type
// before use, so a malformed resource is skipped instead of failing the call.
function authoredMs(response: QuestionnaireResponse): number | undefined {
  if (typeof response.authored !== 'string' || !response.authored) return undefined;
  const ms = Date.parse(response.authored);
  return Number.isNaN(ms) ? undefined : ms;
}

function isForPatient(resource: { subject?: { reference?: string } }, patientId: string): boolean {
  const ref = typeof resource.subject === 'object' && resource.subject !== null ? resource.subject.reference : undefined;
  return typeof ref === 'string' && (ref === `Patient/${patientId}` || ref.endsWith(`/Patient/${patientId}`));
}

/**
 * A response counts when it is for this patient, answers our Questionnaire, is finished and is recent
 * (authored after cutoffMs, and not after latestMs: a future-dated response would otherwise outrank
 * every real one).
 */
export function isUsableResponse(response: QuestionnaireResponse, patientId: string, cutoffMs: number, latestMs = Infinity): boolean {
  const canonical = typeof response.questionnaire === 'string' ? response.questionnaire : '';
  const authored = authoredMs(response);
  return (
    (canonical === QUESTIONNAIRE_URL || canonical.startsWith(`${QUESTIONNAIRE_URL}|`)) &&
    RESPONSE_STATUSES.includes(response.status) &&
    isForPatient(response, patientId) &&
    authored !== undefined &&
    authored >= cutoffMs &&
    authored <= latestMs
  );
}

/**
 * Gathers what the cards need: the patient's recent calf-pain QuestionnaireResponses (prefetch, else the
 * EHR's fhirServer, plus responses submitted to this service's own FHIR API) and, when asked, the chart
 * (Conditions, Procedures). Throws 412 when the responses cannot be had from anywhere.
 */
export async function gatherPatientData(deps: AppDeps, request: HookRequest, options: { chart: boolean }): Promise<PatientData> {
  const { config, store, logger } = deps;
  const patientId = request.context.patientId;
  const now = deps.now();
  const cutoffMs = now.getTime() - config.cdsHooks.responseWindowDays * DAY_MS;
  const cutoffIso = new Date(cutoffMs).toISOString();

  const responsePrefetch = readPrefetch(request.prefetch, PREFETCH.response, 'QuestionnaireResponse');
  const conditionPrefetch = options.chart ? readPrefetch(request.prefetch, PREFETCH.conditions, 'Condition') : undefined;
  const procedurePrefetch = options.chart ? readPrefetch(request.prefetch, PREFETCH.procedures, 'Procedure') : undefined;

  // One deadline for everything fetched from the EHR during this hook call.
  const access: FhirServerAccess | undefined = request.fhirServer
    ? {
        baseUrl: request.fhirServer,
        accessToken: request.fhirAuthorization?.access_token,
        signal: AbortSignal.timeout(config.cdsHooks.fhirServerDeadlineMs),
        logger,
      }
    : undefined;
  const fetchIfNeeded = (
    state: ReturnType<typeof readPrefetch> | undefined,
    query: string,
    type: string,
  ): Promise<SearchOutcome> | undefined => (state?.kind === 'unanswered' && access ? searchAll(access, query, type) : undefined);

  const cutoffDay = cutoffIso.slice(0, 10);
  const surgeryCutoffDay = new Date(now.getTime() - 84 * DAY_MS).toISOString().slice(0, 10);
  const [fetchedResponses, fetchedConditions, fetchedProcedures, local] = await Promise.all([
    fetchIfNeeded(
      responsePrefetch,
      `${render(RESPONSE_QUERY, patientId).replace('&_count=1', '&_count=50')}&authored=ge${cutoffDay}`,
      'QuestionnaireResponse',
    ),
    fetchIfNeeded(conditionPrefetch, render(CONDITIONS_QUERY, patientId), 'Condition'),
    fetchIfNeeded(procedurePrefetch, `${render(PROCEDURES_QUERY, patientId)}&date=ge${surgeryCutoffDay}`, 'Procedure'),
    store.search({
      resourceType: 'QuestionnaireResponse',
      criteria: [
        { param: 'patient', kind: 'exact', values: [`Patient/${patientId}`] },
        { param: 'questionnaire', kind: 'exact', values: [QUESTIONNAIRE_URL] },
        { param: 'status', kind: 'exact', values: RESPONSE_STATUSES },
        { param: 'authored', kind: 'date', prefix: 'ge', lo: cutoffIso, hi: cutoffIso },
      ],
      sort: [{ param: 'authored', descending: true }],
      count: 10,
      offset: 0,
    }),
  ]);

  const candidates: FoundResponse[] = [];
  let ehrAnswered = false;
  if (responsePrefetch.kind === 'answered') {
    ehrAnswered = true;
    for (const r of responsePrefetch.resources) candidates.push({ response: r as QuestionnaireResponse, origin: 'prefetch' });
  } else if (fetchedResponses?.ok) {
    ehrAnswered = true;
    for (const r of fetchedResponses.resources) candidates.push({ response: r as QuestionnaireResponse, origin: 'fhir-server' });
  }
  for (const r of local.resources) candidates.push({ response: r as QuestionnaireResponse, origin: 'this-service' });

  const responses = candidates
    .filter((c) => isUsableResponse(c.response, patientId, cutoffMs, now.getTime() + AUTHORED_SKEW_MS))
    .sort((a, b) => (authoredMs(b.response) ?? 0) - (authoredMs(a.response) ?? 0));

  if (!ehrAnswered && responses.length === 0) {
    const why = [
      `prefetch "${PREFETCH.response}" ${responsePrefetch.kind === 'unanswered' ? responsePrefetch.reason.replace('-', ' ') : 'unusable'}`,
      request.fhirServer
        ? `fhirServer: ${fetchedResponses && !fetchedResponses.ok ? fetchedResponses.reason : 'not used'}`
        : 'no fhirServer given',
      'no recent response in this service',
    ];
    throw preconditionFailed(`The patient's calf-pain questionnaire responses cannot be obtained (${why.join('; ')})`);
  }

  const chart: ChartData = {};
  const pick = <T extends Resource>(
    state: ReturnType<typeof readPrefetch> | undefined,
    fetched: SearchOutcome | undefined,
    type: string,
  ): { resources: T[]; origin: Origin } | undefined => {
    const forPatient = (r: Resource) => r.resourceType === type && isForPatient(r as { subject?: { reference?: string } }, patientId);
    if (state?.kind === 'answered') return { resources: state.resources.filter(forPatient) as T[], origin: 'prefetch' };
    if (fetched?.ok) return { resources: fetched.resources.filter(forPatient) as T[], origin: 'fhir-server' };
    return undefined;
  };
  if (options.chart) {
    const conditions = pick<Condition>(conditionPrefetch, fetchedConditions, 'Condition');
    const procedures = pick<Procedure>(procedurePrefetch, fetchedProcedures, 'Procedure');
    if (conditions) chart.conditions = conditions;
    if (procedures) chart.procedures = procedures;
  }
  return { responses, chart };
}
