import type { Extension, Reference, Resource } from 'fhir/r4';
import { EXT_PROVENANCE_PATIENT } from '../core/canonical';
import { forbidden } from '../core/outcome';
import { normaliseReference } from '../core/references';
import type { SearchCriterion } from '../storage/store';
import { parseScope, type Interaction, type ResourceScope } from './scopes';

/**
 * Who is calling the FHIR API, established by the authentication middleware from a bearer JWT
 * (SMART v2 scopes). `undefined` means AUTH_MODE=off: everything allowed.
 */
export interface AccessContext {
  issuer: string;
  subject?: string;
  /** SMART v2 scopes granted, e.g. `patient/QuestionnaireResponse.cruds`, `system/*.rs`. */
  scopes: string[];
  /** For patient-level tokens: the patient id the token is bound to (`patient` claim). */
  patient?: string;
}

/** Resource types anyone may read and search, token or not (the Questionnaire is published, not patient data). */
export const PUBLIC_READ_TYPES: ReadonlySet<string> = new Set(['Questionnaire', 'SearchParameter', 'OperationDefinition']);

/**
 * Where each resource type points at its patient, for the patient compartment. Mirrors the R4
 * `patient` search parameter of each type, so that checkAccess (one resource) and
 * compartmentCriterion (a search on `patient`) agree.
 *
 * Provenance: in the compartment through the server's `provenance-patient` extension (what the
 * `patient` search parameter of src/storage/search-parameters.ts indexes), or, as in R4, a `target`
 * reference to the Patient. A Provenance with neither (targets only a RiskAssessment) is outside
 * every patient compartment and reachable with user/system scopes only: resolving its target would
 * need a store round-trip here, and guessing would leak another patient's audit trail.
 */
const PATIENT_REFERENCES: Record<string, (r: Resource) => (Reference | undefined)[]> = {
  QuestionnaireResponse: (r) => [(r as { subject?: Reference }).subject],
  RiskAssessment: (r) => [(r as { subject?: Reference }).subject],
  Provenance: (r) => [
    ...((r as { extension?: Extension[] }).extension ?? []).filter((e) => e.url === EXT_PROVENANCE_PATIENT).map((e) => e.valueReference),
    ...((r as { target?: Reference[] }).target ?? []),
  ],
  Observation: (r) => [(r as { subject?: Reference }).subject],
  Condition: (r) => [(r as { subject?: Reference }).subject],
  Encounter: (r) => [(r as { subject?: Reference }).subject],
  ServiceRequest: (r) => [(r as { subject?: Reference }).subject],
  MedicationRequest: (r) => [(r as { subject?: Reference }).subject],
};

const NO_MATCH = '#none';

function grantingScopes(ctx: AccessContext, interaction: Interaction, resourceType: string): ResourceScope[] {
  return ctx.scopes
    .map(parseScope)
    .filter(
      (s): s is ResourceScope =>
        s !== undefined && (s.resourceType === '*' || s.resourceType === resourceType) && s.interactions.has(interaction),
    );
}

/** True when resource belongs to the compartment of Patient/patientId. */
export function inPatientCompartment(patientId: string, resource: Resource): boolean {
  if (resource.resourceType === 'Patient') return resource.id === patientId;
  const refs = PATIENT_REFERENCES[resource.resourceType];
  if (!refs) return false;
  const wanted = `Patient/${patientId}`;
  return refs(resource).some((ref) => typeof ref?.reference === 'string' && normaliseReference(ref.reference) === wanted);
}

/**
 * Throws OperationOutcomeError 403 when ctx lacks a scope for interaction on resourceType, or when a
 * patient-level ctx touches a resource outside its patient compartment (resource given for c/r/u).
 *
 * A user/ or system/ scope grants the interaction on every resource of the type (this service has no
 * per-user access lists). A patient/ scope grants it only inside the compartment of ctx.patient; a
 * patient/ scope without a `patient` claim grants nothing. For search and history, pair this with
 * compartmentCriterion. For update, call it for the stored resource and for the new one, so a
 * resource can be neither taken from nor moved into another patient's compartment.
 */
export function checkAccess(ctx: AccessContext | undefined, interaction: Interaction, resourceType: string, resource?: Resource): void {
  if (!ctx) return;
  if (PUBLIC_READ_TYPES.has(resourceType) && (interaction === 'r' || interaction === 's')) return;
  if (resource && resource.resourceType !== resourceType) throw forbidden('Resource type does not match the request');

  const scopes = grantingScopes(ctx, interaction, resourceType);
  if (scopes.some((s) => s.level !== 'patient')) return;
  if (!scopes.length || !ctx.patient) throw forbidden(`Token has no scope for ${resourceType}.${interaction}`);
  if (resource && !inPatientCompartment(ctx.patient, resource)) throw forbidden('Resource is outside the patient compartment of the token');
}

/**
 * True when ctx may read every resource of the type (auth off, a public type, or a user/ or system/
 * scope granting read): what type- and system-level history need, since old versions are not
 * filtered by compartment.
 */
export function readsEveryResource(ctx: AccessContext | undefined, resourceType: string): boolean {
  if (!ctx || PUBLIC_READ_TYPES.has(resourceType)) return true;
  return grantingScopes(ctx, 'r', resourceType).some((s) => s.level !== 'patient');
}

/**
 * For searches by a patient-level ctx: the criterion restricting results to its patient. Undefined
 * when no restriction applies (auth off, public type, or a user/system scope grants the search).
 * Callers still call checkAccess(ctx, 's', type) first; this only narrows what it allowed.
 */
export function compartmentCriterion(ctx: AccessContext | undefined, resourceType: string): SearchCriterion | undefined {
  if (!ctx) return undefined;
  if (PUBLIC_READ_TYPES.has(resourceType)) return undefined;
  const scopes = grantingScopes(ctx, 's', resourceType);
  if (scopes.some((s) => s.level !== 'patient')) return undefined;
  // Nothing may match (checkAccess refuses these cases first; fail closed if it was skipped):
  // `#` never occurs in a FHIR id.
  const patient = ctx.patient ?? NO_MATCH;
  if (resourceType === 'Patient') return { param: '_id', kind: 'exact', values: [patient] };
  if (!PATIENT_REFERENCES[resourceType]) return { param: '_id', kind: 'exact', values: [NO_MATCH] };
  return { param: 'patient', kind: 'exact', values: [`Patient/${patient}`] };
}
