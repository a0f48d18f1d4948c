import type { Resource } from 'fhir/r4';
import type { SearchCriterion } from '../storage/store';

/**
 * Who is calling the FHIR API, established by the authentication middleware from a bearer JWT
 * (SMART v2 scopes). `undefined` means AUTH_MODE=off: everything allowed.
 * CONTRACT between src/fhir (caller) and src/security (implementation) — keep the signatures.
 */
export interface AccessContext {
  issuer: string;
  subject?: string;
  /** SMART v2 scopes granted, e.g. `patient/QuestionnaireResponse.cruds`, `system/*.rs`. */
  scopes: string[];
  /** For patient-level tokens: the patient id the token is bound to (`patient` claim). */
  patient?: string;
}

/** SMART v2 interactions: c create, r read/vread/history-instance, u update, d delete, s search. */
export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';

/**
 * Throws OperationOutcomeError 403 when ctx lacks a scope for interaction on resourceType, or when a
 * patient-level ctx touches a resource outside its patient compartment (resource given for c/r/u).
 */
export function checkAccess(_ctx: AccessContext | undefined, _interaction: Interaction, _resourceType: string, _resource?: Resource): void {
  // Implemented by the security work (issue: authenticate CDS clients and API callers).
}

/** For searches by a patient-level ctx: the criterion restricting results to its patient. */
export function compartmentCriterion(_ctx: AccessContext | undefined, _resourceType: string): SearchCriterion | undefined {
  return undefined;
}
