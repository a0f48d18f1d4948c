/**
 * Top-level elements of the resource types this server serves, from the R4 StructureDefinitions
 * (isSummary, and min >= 1), for _summary and _elements. Generated once from the R4 definitions
 * (hl7.org/fhir/R4/profiles-resources.json); Resource and DomainResource elements are handled in subsetting.ts.
 */
export interface ElementTable {
  summary: readonly string[];
  mandatory: readonly string[];
}

export const ELEMENTS: Record<string, ElementTable> = {
  CodeSystem: { summary: ['url', 'identifier', 'version', 'name', 'title', 'status', 'experimental', 'date', 'publisher', 'contact', 'useContext', 'jurisdiction', 'caseSensitive', 'valueSet', 'hierarchyMeaning', 'compositional', 'versionNeeded', 'content', 'supplements', 'count', 'filter', 'property'], mandatory: ['status', 'content'] },
  Device: { summary: ['udiCarrier', 'status', 'safety'], mandatory: [] },
  OperationDefinition: { summary: ['url', 'version', 'name', 'title', 'status', 'kind', 'experimental', 'date', 'publisher', 'contact', 'useContext', 'jurisdiction', 'affectsState', 'code', 'base', 'resource', 'system', 'type', 'instance'], mandatory: ['name', 'status', 'kind', 'code', 'system', 'type', 'instance'] },
  PlanDefinition: { summary: ['url', 'identifier', 'version', 'name', 'title', 'type', 'status', 'experimental', 'date', 'publisher', 'contact', 'description', 'useContext', 'jurisdiction', 'effectivePeriod'], mandatory: ['status'] },
  Provenance: { summary: ['target', 'recorded'], mandatory: ['target', 'recorded', 'agent'] },
  Questionnaire: { summary: ['url', 'identifier', 'version', 'name', 'title', 'status', 'experimental', 'subjectType', 'date', 'publisher', 'contact', 'useContext', 'jurisdiction', 'effectivePeriod', 'code'], mandatory: ['status'] },
  QuestionnaireResponse: { summary: ['identifier', 'basedOn', 'partOf', 'questionnaire', 'status', 'subject', 'encounter', 'authored', 'author', 'source'], mandatory: ['status'] },
  RiskAssessment: { summary: ['identifier', 'status', 'method', 'code', 'subject', 'encounter', 'occurrence', 'condition', 'performer'], mandatory: ['status', 'subject'] },
  SearchParameter: { summary: ['url', 'version', 'name', 'status', 'experimental', 'date', 'publisher', 'contact', 'description', 'useContext', 'jurisdiction', 'code', 'base', 'type'], mandatory: ['url', 'name', 'status', 'description', 'code', 'base', 'type'] },
  ValueSet: { summary: ['url', 'identifier', 'version', 'name', 'title', 'status', 'experimental', 'date', 'publisher', 'contact', 'useContext', 'jurisdiction', 'immutable'], mandatory: ['status'] },
};
