import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Coding, Observation, Questionnaire, QuestionnaireItem, Reference } from 'fhir/r4';
import type { QuestionnaireResponse, QuestionnaireResponseItem, QuestionnaireResponseItemAnswer } from 'fhir/r4';
import { CANONICAL_BASE, EXT_CALCULATED_EXPRESSION, EXT_OBSERVATION_EXTRACT } from '../core/canonical';
import { FHIR_ID_SOURCE } from '../core/ids';
import type { Evaluator } from '../clinical/types';
import type { Store } from '../storage/store';

/**
 * QuestionnaireResponse/$extract, observation-based (SDC): one Observation per answered item that the
 * Questionnaire marks with `observationExtract` and codes, plus the Wells score the server computes
 * (never the form's own). Returned as a transaction Bundle; `persist` stores them in one transaction.
 */
/** Observation.identifier system: `{response id}/{version}/{linkId}`, so extracting twice stores nothing new. */
export const EXTRACT_IDENTIFIER_SYSTEM = `${CANONICAL_BASE}/extracted-observation`;
const SURVEY: Coding = { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey', display: 'Survey' };
const PERFORMER_TYPES = new RegExp(
  `^(?:.*/)?(Practitioner|PractitionerRole|Organization|CareTeam|Patient|RelatedPerson)/${FHIR_ID_SOURCE}(?:/_history/.*)?$`,
);

function flatten(items: QuestionnaireItem[] | undefined): QuestionnaireItem[] {
  return (items ?? []).flatMap((i) => [i, ...flatten(i.item)]);
}

function answeredItems(items: QuestionnaireResponseItem[] | undefined): QuestionnaireResponseItem[] {
  return (items ?? []).flatMap((i) => [i, ...answeredItems(i.item), ...(i.answer ?? []).flatMap((a) => answeredItems(a.item))]);
}

function value(answer: QuestionnaireResponseItemAnswer): Partial<Observation> | undefined {
  if (answer.valueBoolean !== undefined) return { valueBoolean: answer.valueBoolean };
  if (answer.valueInteger !== undefined) return { valueInteger: answer.valueInteger };
  if (answer.valueDecimal !== undefined) return { valueQuantity: { value: answer.valueDecimal } };
  if (answer.valueString !== undefined) return { valueString: answer.valueString };
  if (answer.valueCoding !== undefined)
    return {
      valueCodeableConcept: { coding: [answer.valueCoding], ...(answer.valueCoding.display ? { text: answer.valueCoding.display } : {}) },
    };
  if (answer.valueDate !== undefined) return { valueDateTime: answer.valueDate };
  if (answer.valueDateTime !== undefined) return { valueDateTime: answer.valueDateTime };
  if (answer.valueQuantity !== undefined) return { valueQuantity: answer.valueQuantity };
  return undefined;
}

export interface ExtractOptions {
  now: Date;
}

/** Builds the Observations of a validated response. Pure: stores nothing. */
export function extractObservations(
  response: QuestionnaireResponse,
  questionnaire: Questionnaire,
  evaluator: Evaluator,
  options: ExtractOptions,
): Observation[] {
  const byLinkId = new Map(flatten(questionnaire.item).map((i) => [i.linkId, i]));
  const derivedFrom: Reference = response.id
    ? { reference: `QuestionnaireResponse/${response.id}` }
    : response.identifier
      ? { identifier: response.identifier, type: 'QuestionnaireResponse' }
      : { type: 'QuestionnaireResponse', display: 'QuestionnaireResponse not stored on this server' };
  const performer = [response.author, response.source].filter(
    (r): r is Reference => typeof r?.reference === 'string' && PERFORMER_TYPES.test(r.reference),
  );
  const common = {
    resourceType: 'Observation' as const,
    status: (response.status === 'completed' || response.status === 'amended' ? 'final' : 'preliminary') as Observation['status'],
    category: [{ coding: [SURVEY] }],
    subject: response.subject,
    ...(response.encounter ? { encounter: response.encounter } : {}),
    ...(response.authored ? { effectiveDateTime: response.authored } : {}),
    issued: options.now.toISOString(),
    ...(performer.length ? { performer: performer.slice(0, 1) } : {}),
    derivedFrom: [derivedFrom],
  };
  const identifier = (linkId: string) =>
    response.id ? [{ system: EXTRACT_IDENTIFIER_SYSTEM, value: `${response.id}/${response.meta?.versionId ?? '0'}/${linkId}` }] : undefined;

  const observations: Observation[] = [];
  for (const item of answeredItems(response.item)) {
    const definition = byLinkId.get(item.linkId);
    if (!definition?.code?.length) continue;
    if (definition.extension?.find((e) => e.url === EXT_OBSERVATION_EXTRACT)?.valueBoolean !== true) continue;
    // A calculated item (the Wells score) is recomputed below, never copied from the form.
    if (definition.extension?.some((e) => e.url === EXT_CALCULATED_EXPRESSION)) continue;
    for (const answer of item.answer ?? []) {
      const v = value(answer);
      if (!v) continue;
      const id = identifier(item.linkId);
      observations.push({
        ...common,
        ...(id ? { identifier: id } : {}),
        code: { coding: definition.code, text: definition.text },
        ...v,
      });
    }
  }

  const score = flatten(questionnaire.item).find(
    (i) =>
      i.extension?.some((e) => e.url === EXT_CALCULATED_EXPRESSION) &&
      i.extension?.some((e) => e.url === EXT_OBSERVATION_EXTRACT && e.valueBoolean === true),
  );
  if (score?.code?.length) {
    const { summary } = evaluator.evaluate(response, { now: options.now });
    // Only a determined score: a partial one could read as reassuring while examination items are missing.
    if (summary.wellsScore !== undefined) {
      const id = identifier(score.linkId);
      observations.push({
        ...common,
        ...(id ? { identifier: id } : {}),
        code: { coding: score.code, text: score.text },
        valueInteger: summary.wellsScore,
      });
    }
  }
  return observations;
}

/** The transaction Bundle of the Observations (POST, each conditional on its identifier when it has one). */
export function extractBundle(observations: Observation[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: observations.map((resource): BundleEntry => {
      const identifier = resource.identifier?.[0];
      return {
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource,
        request: {
          method: 'POST',
          url: 'Observation',
          ...(identifier ? { ifNoneExist: `identifier=${encodeURIComponent(`${identifier.system}|${identifier.value}`)}` } : {}),
        },
      };
    }),
  };
}

/** Stores the Observations in one transaction; an Observation already extracted (same identifier) is kept, not duplicated. */
export async function persistObservations(store: Store, observations: Observation[], fhirBase: string): Promise<Bundle> {
  return store.transaction(async (tx) => {
    const entry: BundleEntry[] = [];
    for (const observation of observations) {
      const identifier = observation.identifier?.[0];
      const existing = identifier
        ? (
            await tx.search({
              resourceType: 'Observation',
              criteria: [{ param: 'identifier', kind: 'exact', values: [`${identifier.system}|${identifier.value}`] }],
              sort: [],
              count: 1,
              offset: 0,
            })
          ).resources[0]
        : undefined;
      const stored = existing ?? (await tx.create(observation));
      entry.push({
        fullUrl: `${fhirBase}/Observation/${stored.id}`,
        resource: stored,
        response: {
          status: existing ? '200 OK' : '201 Created',
          location: `${fhirBase}/Observation/${stored.id}/_history/${stored.meta?.versionId}`,
          ...(stored.meta?.versionId ? { etag: `W/"${stored.meta.versionId}"` } : {}),
          ...(stored.meta?.lastUpdated ? { lastModified: stored.meta.lastUpdated } : {}),
        },
      });
    }
    return { resourceType: 'Bundle', type: 'transaction-response', entry };
  });
}
