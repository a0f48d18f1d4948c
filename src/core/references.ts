import { FHIR_ID_SOURCE } from './ids';

const RELATIVE = new RegExp(`(?:^|/)([A-Z][A-Za-z]+/${FHIR_ID_SOURCE})(?:/_history/${FHIR_ID_SOURCE})?$`);

/**
 * `Patient/1/_history/2` or an absolute URL ending in Type/id -> `Patient/1`; anything else as given.
 * The one normalisation of references: the search index (the `patient` parameter) and access control
 * (the patient compartment) must read a reference the same way, or a resource could be found by a
 * search it may not be read by, or the reverse.
 */
export function normaliseReference(reference: string): string {
  const m = RELATIVE.exec(reference);
  return m ? m[1] : reference;
}
