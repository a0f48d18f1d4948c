import elements from './summary-elements.json';

/**
 * Top-level elements of the resource types this server serves, from the R4 StructureDefinitions
 * (isSummary, and min >= 1), for _summary and _elements. The table (summary-elements.json) was generated
 * from the R4 definitions (hl7.org/fhir/R4/profiles-resources.json); Resource and DomainResource
 * elements are handled in subsetting.ts.
 */
export interface ElementTable {
  summary: readonly string[];
  mandatory: readonly string[];
}

export const ELEMENTS: Readonly<Record<string, ElementTable>> = elements;
