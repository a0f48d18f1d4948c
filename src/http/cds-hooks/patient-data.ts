import type { Condition, Procedure, QuestionnaireResponse, Resource } from 'fhir/r4';
import { preconditionFailed } from '../../core/outcome';
import type { CardRules } from '../../clinical/card-rules';
import type { ChartData, FoundResponse, Origin, PatientData } from '../../clinical/patient-data';
import { QUESTIONNAIRE_URL } from '../../core/canonical';
import type { AppDeps } from '../deps';
import { CONDITIONS_QUERY, PREFETCH, PROCEDURES_QUERY, RESPONSE_QUERY } from './queries';
import { searchAll, type FhirServerAccess, type SearchOutcome } from '../../core/fhir-client';
import { readPrefetch, type PrefetchState } from './prefetch';
import type { HookRequest } from '../../core/cds-hooks';
import type { Store } from '../../storage/store';

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

/** The prefetch answers of one call (the chart ones only when the chart is wanted). */
interface PrefetchStates {
  responses: PrefetchState;
  conditions?: PrefetchState;
  procedures?: PrefetchState;
}

/** What came back from the EHR's fhirServer and this service's store (undefined: not asked). */
interface Fetched {
  responses?: SearchOutcome;
  conditions?: SearchOutcome;
  procedures?: SearchOutcome;
  local: Resource[];
}

/** The search windows of one call: the response window and the chart rules' Procedure look-back. */
interface Windows {
  now: Date;
  responseCutoffMs: number;
  procedureLookbackMs?: number;
}

function readPrefetches(request: HookRequest, chart: boolean): PrefetchStates {
  return {
    responses: readPrefetch(request.prefetch, PREFETCH.response, 'QuestionnaireResponse'),
    ...(chart
      ? {
          conditions: readPrefetch(request.prefetch, PREFETCH.conditions, 'Condition'),
          procedures: readPrefetch(request.prefetch, PREFETCH.procedures, 'Procedure'),
        }
      : {}),
  };
}

/** The EHR's fhirServer, with one deadline for everything fetched from it during this hook call. */
function ehrAccess(deps: AppDeps, request: HookRequest): FhirServerAccess | undefined {
  if (!request.fhirServer) return undefined;
  return {
    baseUrl: request.fhirServer,
    accessToken: request.fhirAuthorization?.access_token,
    signal: AbortSignal.timeout(deps.config.cdsHooks.fhirServerDeadlineMs),
    logger: deps.logger,
  };
}

/** This service's own recent calf-pain responses for the patient. */
async function localResponses(store: Store, patientId: string, cutoffIso: string): Promise<Resource[]> {
  const found = await store.search({
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
  });
  return found.resources;
}

/** Searches the EHR for what the prefetch did not answer, and this service's store for responses, at once. */
async function fetchData(deps: AppDeps, request: HookRequest, states: PrefetchStates, windows: Windows): Promise<Fetched> {
  const patientId = request.context.patientId;
  const access = ehrAccess(deps, request);
  // The query is written only when the EHR is asked (most calls come with every prefetch answered).
  const search = (state: PrefetchState | undefined, query: () => string, type: string): Promise<SearchOutcome> | undefined =>
    state?.kind === 'unanswered' && access ? searchAll(access, query(), type) : undefined;
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const procedureDate = () =>
    windows.procedureLookbackMs !== undefined ? `&date=ge${day(windows.now.getTime() - windows.procedureLookbackMs)}` : '';

  const [responses, conditions, procedures, local] = await Promise.all([
    search(
      states.responses,
      () => `${render(RESPONSE_QUERY, patientId).replace('&_count=1', '&_count=50')}&authored=ge${day(windows.responseCutoffMs)}`,
      'QuestionnaireResponse',
    ),
    search(states.conditions, () => render(CONDITIONS_QUERY, patientId), 'Condition'),
    search(states.procedures, () => `${render(PROCEDURES_QUERY, patientId)}${procedureDate()}`, 'Procedure'),
    localResponses(deps.store, patientId, new Date(windows.responseCutoffMs).toISOString()),
  ]);
  return { responses, conditions, procedures, local };
}

/**
 * The usable responses, most recent first: the EHR's (prefetch, else fhirServer) and this service's.
 * Throws 412 when the EHR did not answer and this service has none either.
 */
function recentResponses(request: HookRequest, states: PrefetchStates, fetched: Fetched, windows: Windows): FoundResponse[] {
  const patientId = request.context.patientId;
  const candidates: FoundResponse[] = [];
  let ehrAnswered = false;
  if (states.responses.kind === 'answered') {
    ehrAnswered = true;
    for (const r of states.responses.resources) candidates.push({ response: r as QuestionnaireResponse, origin: 'prefetch' });
  } else if (fetched.responses?.ok) {
    ehrAnswered = true;
    for (const r of fetched.responses.resources) candidates.push({ response: r as QuestionnaireResponse, origin: 'fhir-server' });
  }
  for (const r of fetched.local) candidates.push({ response: r as QuestionnaireResponse, origin: 'this-service' });

  const latestMs = windows.now.getTime() + AUTHORED_SKEW_MS;
  const responses = candidates
    .filter((c) => isUsableResponse(c.response, patientId, windows.responseCutoffMs, latestMs))
    .sort((a, b) => (authoredMs(b.response) ?? 0) - (authoredMs(a.response) ?? 0));

  if (!ehrAnswered && responses.length === 0) {
    const state = states.responses;
    const why = [
      `prefetch "${PREFETCH.response}" ${state.kind === 'unanswered' ? state.reason.replace('-', ' ') : 'unusable'}`,
      request.fhirServer
        ? `fhirServer: ${fetched.responses && !fetched.responses.ok ? fetched.responses.reason : 'not used'}`
        : 'no fhirServer given',
      'no recent response in this service',
    ];
    throw preconditionFailed(`The patient's calf-pain questionnaire responses cannot be obtained (${why.join('; ')})`);
  }
  return responses;
}

/** The chart entries of one type for this patient: the prefetch's, else the fhirServer's, else none. */
function chartEntries<T extends Resource>(
  state: PrefetchState | undefined,
  fetched: SearchOutcome | undefined,
  type: string,
  patientId: string,
): { resources: T[]; origin: Origin } | undefined {
  const forPatient = (r: Resource) => r.resourceType === type && isForPatient(r as { subject?: { reference?: string } }, patientId);
  if (state?.kind === 'answered') return { resources: state.resources.filter(forPatient) as T[], origin: 'prefetch' };
  if (fetched?.ok) return { resources: fetched.resources.filter(forPatient) as T[], origin: 'fhir-server' };
  return undefined;
}

function chartData(states: PrefetchStates, fetched: Fetched, patientId: string): ChartData {
  const conditions = chartEntries<Condition>(states.conditions, fetched.conditions, 'Condition', patientId);
  const procedures = chartEntries<Procedure>(states.procedures, fetched.procedures, 'Procedure', patientId);
  return { ...(conditions ? { conditions } : {}), ...(procedures ? { procedures } : {}) };
}

/**
 * Gathers what the cards need: the patient's recent calf-pain QuestionnaireResponses (prefetch, else the
 * EHR's fhirServer, plus responses submitted to this service's own FHIR API) and, when asked, the chart
 * (Conditions, Procedures; Procedures searched back as far as the chart rules look). Throws 412 when the
 * responses cannot be had from anywhere.
 */
export async function gatherPatientData(
  deps: AppDeps,
  rules: CardRules,
  request: HookRequest,
  options: { chart: boolean },
): Promise<PatientData> {
  const now = deps.now();
  const windows: Windows = {
    now,
    responseCutoffMs: now.getTime() - deps.config.cdsHooks.responseWindowDays * DAY_MS,
    ...(rules.procedureLookbackMs !== undefined ? { procedureLookbackMs: rules.procedureLookbackMs } : {}),
  };
  const states = readPrefetches(request, options.chart);
  const fetched = await fetchData(deps, request, states, windows);
  const responses = recentResponses(request, states, fetched, windows);
  return { responses, chart: options.chart ? chartData(states, fetched, request.context.patientId) : {} };
}
