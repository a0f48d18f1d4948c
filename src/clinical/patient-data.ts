import type { Condition, Procedure, QuestionnaireResponse } from 'fhir/r4';

/**
 * The patient data the cards are built from, as gathered for a CDS Hooks call (the gathering itself is
 * the http layer's: src/http/cds-hooks/patient-data.ts).
 */

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
