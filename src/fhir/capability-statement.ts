import type { CapabilityStatement, CapabilityStatementRestResource } from 'fhir/r4';
import { SEARCH_PARAMETERS } from './search-parameters';
import { CANONICAL_BASE, EXT_WELLS_SCORE } from '../evaluation/types';
import { MAX_COUNT } from './search-query';

type Interaction = 'read' | 'vread' | 'update' | 'history-instance' | 'create' | 'search-type';

/** What each resource type supports. The routes are built from this table too, so the statement stays true. */
export const INTERACTIONS: Record<string, Interaction[]> = {
  Questionnaire: ['read', 'vread', 'history-instance', 'search-type'],
  QuestionnaireResponse: ['create', 'read', 'vread', 'update', 'history-instance', 'search-type'],
  RiskAssessment: ['read', 'vread', 'history-instance', 'search-type'],
  Provenance: ['read', 'vread', 'history-instance', 'search-type'],
  PlanDefinition: ['read', 'vread', 'history-instance', 'search-type'],
  CodeSystem: ['read', 'vread', 'history-instance', 'search-type'],
  ValueSet: ['read', 'vread', 'history-instance', 'search-type'],
  Device: ['read', 'vread', 'history-instance', 'search-type'],
};

const DOCS: Record<string, string> = {
  QuestionnaireResponse:
    'Create and update validate the response against the FHIR R4 schema and its Questionnaire (422 with every problem), evaluate it, and store the response, a RiskAssessment and a Provenance in one transaction. The RiskAssessment of a response: RiskAssessment?basis=QuestionnaireResponse/{id}.',
  RiskAssessment: `Produced by this service; read-only. Find the assessment of a response with basis=QuestionnaireResponse/{id}. The Wells score is in extension ${EXT_WELLS_SCORE}.`,
  Provenance: 'One per evaluation: target the RiskAssessment version, entity the QuestionnaireResponse version, agent Device/calf-pain-cds.',
};

export function capabilityStatement(baseUrl: string, version: string, date: string): CapabilityStatement {
  const resource = Object.entries(INTERACTIONS).map(([type, interactions]): CapabilityStatementRestResource => ({
    type: type as CapabilityStatementRestResource['type'],
    ...(DOCS[type] ? { documentation: DOCS[type] } : {}),
    interaction: interactions.map((code) => ({ code })),
    versioning: interactions.includes('update') ? 'versioned-update' : 'versioned',
    readHistory: true,
    updateCreate: false,
    conditionalCreate: false,
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    ...(interactions.includes('search-type') && SEARCH_PARAMETERS[type]?.length
      ? {
          searchParam: SEARCH_PARAMETERS[type].map((p) => ({ name: p.name, definition: p.definition, type: p.type, documentation: p.description })),
        }
      : {}),
  }));
  return {
    resourceType: 'CapabilityStatement',
    id: 'calf-pain-cds',
    url: `${CANONICAL_BASE}/CapabilityStatement/calf-pain-cds`,
    version,
    name: 'CalfPainCds',
    title: 'Calf-pain DVT decision support FHIR API',
    status: 'active',
    date,
    publisher: 'Calf-pain CDS project',
    kind: 'instance',
    software: { name: 'calf-pain-cds', version },
    implementation: { description: 'Calf-pain DVT decision support', url: `${baseUrl}/fhir` },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/json'],
    rest: [
      {
        mode: 'server',
        documentation: `All searches accept _count (0-${MAX_COUNT}, default 20), _offset and _sort; unknown parameters and modifiers are refused with 400. Dates without a time zone are taken as UTC.`,
        security: {
          cors: true,
          description:
            'Bearer JWT (SMART v2 scopes such as patient/QuestionnaireResponse.c, user/RiskAssessment.rs) from a trusted issuer, unless the server runs with AUTH_MODE=off. /metadata and Questionnaire reads are public.',
        },
        resource,
        operation: [
          {
            name: 'evaluate',
            definition: `${CANONICAL_BASE}/OperationDefinition/QuestionnaireResponse-evaluate`,
            documentation:
              'POST /QuestionnaireResponse/$evaluate with a QuestionnaireResponse (or Parameters with a "questionnaire-response" resource): validates it and returns the RiskAssessment it yields. Stores nothing.',
          },
        ],
      },
    ],
  };
}
