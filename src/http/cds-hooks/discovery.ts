import { QUESTIONNAIRE_URL } from '../../core/canonical';
import type { ServiceDefinition } from '../../core/cds-hooks';

export const PATIENT_VIEW_SERVICE = 'calf-pain-dvt';
export const ORDER_SELECT_SERVICE = 'dvt-workup-order-select';

/** Prefetch keys; the same keys name the data when it is fetched from the fhirServer instead. */
export const PREFETCH = {
  patient: 'patient',
  response: 'calfPainResponse',
  conditions: 'conditions',
  procedures: 'procedures',
} as const;

/** The most recent calf-pain QuestionnaireResponse; `patient` is the QuestionnaireResponse search parameter for subject-as-Patient. */
export const RESPONSE_QUERY = `QuestionnaireResponse?patient={{context.patientId}}&questionnaire=${QUESTIONNAIRE_URL}&_sort=-authored&_count=1`;
/**
 * All of the patient's Conditions, not only active ones: a previous DVT is usually recorded as resolved
 * and still counts for Wells ("previously documented DVT"); the chart rules decide which status counts.
 */
export const CONDITIONS_QUERY = 'Condition?patient={{context.patientId}}';
/** Most recent Procedures first (surgery within 12 weeks is a Wells criterion). */
export const PROCEDURES_QUERY = 'Procedure?patient={{context.patientId}}&_sort=-date&_count=50';

const USAGE =
  "For adults with calf pain. Reads the patient's most recent calf-pain questionnaire (Questionnaire " +
  `${QUESTIONNAIRE_URL}) from the last configured number of days (default 14), from the EHR or from this service's own FHIR API. ` +
  'Without prefetch the service reads the EHR FHIR server with the fhirAuthorization access token (scopes: ' +
  'patient/QuestionnaireResponse.rs, patient/Condition.rs, patient/Procedure.rs). Decision support, not a diagnosis.';

export const SERVICES: ServiceDefinition[] = [
  {
    hook: 'patient-view',
    id: PATIENT_VIEW_SERVICE,
    title: 'Calf pain: DVT and pulmonary embolism alert',
    description:
      "Wells DVT score from the patient's recent calf-pain questionnaire: pulmonary embolism red flags (critical), " +
      'DVT likely (ultrasound within 4 h), DVT unlikely (D-dimer), or the examination items still missing; with the ' +
      'differential of calf pain and what the chart adds (cancer, previous DVT, recent surgery). No card when there is no recent questionnaire.',
    prefetch: {
      [PREFETCH.patient]: 'Patient/{{context.patientId}}',
      [PREFETCH.response]: RESPONSE_QUERY,
      [PREFETCH.conditions]: CONDITIONS_QUERY,
      [PREFETCH.procedures]: PROCEDURES_QUERY,
    },
    usageRequirements: USAGE,
  },
  {
    hook: 'order-select',
    id: ORDER_SELECT_SERVICE,
    title: 'DVT work-up: D-dimer or leg vein ultrasound first',
    description:
      'When a D-dimer (LOINC 48065-7 / 48066-5) or a leg vein ultrasound is selected, checks it against the two-level ' +
      'Wells score (NICE NG158): DVT likely needs an ultrasound (a D-dimer alone cannot rule DVT out); DVT unlikely ' +
      'starts with a D-dimer. Offers the calf-pain questionnaire when no recent assessment exists. Silent for other orders.',
    prefetch: {
      [PREFETCH.patient]: 'Patient/{{context.patientId}}',
      [PREFETCH.response]: RESPONSE_QUERY,
    },
    usageRequirements: USAGE,
  },
];

export function findService(id: string): ServiceDefinition | undefined {
  return SERVICES.find((s) => s.id === id);
}
