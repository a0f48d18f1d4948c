import { QUESTIONNAIRE_URL } from '../../core/canonical';

/**
 * The FHIR queries the calf-pain services read, shared by their discovery entries (prefetch templates)
 * and by src/http/cds-hooks/patient-data.ts (which runs the same queries on the EHR's fhirServer when
 * the client did not prefetch).
 */

/** Prefetch keys; the same keys name the data when it is fetched from the fhirServer instead. */
export const PREFETCH = {
  patient: 'patient',
  response: 'calfPainResponse',
  conditions: 'conditions',
  procedures: 'procedures',
} as const;

export const PATIENT_QUERY = 'Patient/{{context.patientId}}';
/** The most recent calf-pain QuestionnaireResponse; `patient` is the QuestionnaireResponse search parameter for subject-as-Patient. */
export const RESPONSE_QUERY =
  `QuestionnaireResponse?patient={{context.patientId}}&questionnaire=${QUESTIONNAIRE_URL}` + '&_sort=-authored&_count=1';
/**
 * All of the patient's Conditions, not only active ones: a previous DVT is usually recorded as resolved
 * and still counts for Wells ("previously documented DVT"); the chart rules decide which status counts.
 */
export const CONDITIONS_QUERY = 'Condition?patient={{context.patientId}}';
/** Most recent Procedures first (surgery within 12 weeks is a Wells criterion). */
export const PROCEDURES_QUERY = 'Procedure?patient={{context.patientId}}&_sort=-date&_count=50';

/** The prefetch both calf-pain services declare: the patient and their most recent calf-pain response. */
export const CALF_PAIN_PREFETCH: Record<string, string> = {
  [PREFETCH.patient]: PATIENT_QUERY,
  [PREFETCH.response]: RESPONSE_QUERY,
};

/** The usageRequirements both calf-pain services declare in discovery. */
export const CALF_PAIN_USAGE =
  "For adults with calf pain. Reads the patient's most recent calf-pain questionnaire (Questionnaire " +
  `${QUESTIONNAIRE_URL}) from the last configured number of days (default 14), from the EHR or from this service's own FHIR API. ` +
  'Without prefetch the service reads the EHR FHIR server with the fhirAuthorization access token (scopes: ' +
  'patient/QuestionnaireResponse.rs, patient/Condition.rs, patient/Procedure.rs). Decision support, not a diagnosis.';
