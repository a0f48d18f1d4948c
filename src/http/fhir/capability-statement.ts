import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestResourceSearchParam } from 'fhir/r4';
import { SEARCH_PARAMETERS } from '../../storage/search-parameters';
import { CANONICAL_BASE, EXT_WELLS_SCORE } from '../../core/canonical';
import { MAX_COUNT } from './search-query';
import { INCLUDES, REVINCLUDES } from './includes';

type Interaction = 'read' | 'vread' | 'update' | 'history-instance' | 'history-type' | 'create' | 'search-type';

const READ_ONLY: Interaction[] = ['read', 'vread', 'history-instance', 'history-type', 'search-type'];

/** What each resource type supports. The routes are resolved from this table too, so the statement stays true. */
export const INTERACTIONS: Record<string, Interaction[]> = {
  Questionnaire: READ_ONLY,
  QuestionnaireResponse: ['create', 'read', 'vread', 'update', 'history-instance', 'history-type', 'search-type'],
  RiskAssessment: READ_ONLY,
  Provenance: READ_ONLY,
  PlanDefinition: READ_ONLY,
  CodeSystem: READ_ONLY,
  ValueSet: READ_ONLY,
  Device: READ_ONLY,
  Observation: READ_ONLY,
  SearchParameter: READ_ONLY,
  OperationDefinition: READ_ONLY,
};

/** Operations per resource type (type level, POST). Their OperationDefinitions are in fhir-resources/. */
export const OPERATIONS: Record<string, { name: string; definition: string; documentation: string }[]> = {
  QuestionnaireResponse: [
    {
      name: 'evaluate',
      definition: `${CANONICAL_BASE}/OperationDefinition/QuestionnaireResponse-evaluate`,
      documentation:
        'POST /QuestionnaireResponse/$evaluate with a QuestionnaireResponse (or Parameters with a "questionnaire-response" ' +
        'resource): validates it and returns the RiskAssessment it yields. Stores nothing.',
    },
    {
      name: 'extract',
      definition: `${CANONICAL_BASE}/OperationDefinition/QuestionnaireResponse-extract`,
      documentation:
        'POST /QuestionnaireResponse/$extract (the response, or Parameters with "questionnaire-response") ' +
        'or /QuestionnaireResponse/{id}/$extract: SDC observation-based extraction into a transaction Bundle ' +
        'of Observations (coded answers and the Wells score); ?persist=true stores them in one transaction.',
    },
  ],
  Questionnaire: [
    {
      name: 'populate',
      definition: `${CANONICAL_BASE}/OperationDefinition/Questionnaire-populate`,
      documentation:
        'POST /Questionnaire/$populate (with "canonical") or /Questionnaire/{id}/$populate: Parameters with ' +
        'subject and context (patient, conditions, procedures), or fhirServer + fhirAccessToken; returns ' +
        'an in-progress QuestionnaireResponse pre-filled from the chart, each answer naming its source, ' +
        'and issues.',
    },
  ],
};

/** Operations that also run on an instance (`/{type}/{id}/$name`). */
export const INSTANCE_OPERATIONS: Record<string, string[]> = { Questionnaire: ['populate'], QuestionnaireResponse: ['extract'] };

/** Types that take If-None-Exist on create, and PUT /{type}?criteria. */
const CONDITIONAL_CREATE = new Set(['QuestionnaireResponse']);
export const CONDITIONAL_UPDATE: ReadonlySet<string> = new Set(['QuestionnaireResponse']);

/** Every search also takes these (search-query.ts handles them before the table's parameters). */
const COMMON_SEARCH_PARAMS: CapabilityStatementRestResourceSearchParam[] = [
  {
    name: '_id',
    definition: 'http://hl7.org/fhir/SearchParameter/Resource-id',
    type: 'token',
    documentation: 'Logical id; comma-separated ids match any',
  },
  {
    name: '_lastUpdated',
    definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated',
    type: 'date',
    documentation: 'When the resource version last changed (prefixes eq, ne, lt, gt, le, ge, sa, eb)',
  },
];

const DOCS: Record<string, string> = {
  QuestionnaireResponse:
    'Create and update validate the response against the FHIR R4 schema and its Questionnaire (422 with ' +
    'every problem), evaluate it, and store the response, a RiskAssessment and a Provenance in one transaction. ' +
    'The RiskAssessment of a response: RiskAssessment?basis=QuestionnaireResponse/{id}.',
  RiskAssessment:
    `Produced by this service; read-only. Find the assessment of a response with basis=QuestionnaireResponse/{id}. ` +
    `The Wells score is in extension ${EXT_WELLS_SCORE}.`,
  Observation:
    'Extracted from QuestionnaireResponses by $extract (persist=true): one per coded answer and the ' +
    'Wells score; derivedFrom the response. Read-only.',
  Provenance:
    'One per evaluation: target the RiskAssessment version, entity the QuestionnaireResponse version, agent Device/calf-pain-cds.',
};

export function capabilityStatement(baseUrl: string, version: string, date: string): CapabilityStatement {
  const resource = Object.entries(INTERACTIONS).map(
    ([type, interactions]): CapabilityStatementRestResource => ({
      type: type as CapabilityStatementRestResource['type'],
      ...(DOCS[type] ? { documentation: DOCS[type] } : {}),
      interaction: interactions.map((code) => ({ code })),
      versioning: interactions.includes('update') ? 'versioned-update' : 'versioned',
      readHistory: true,
      updateCreate: false,
      conditionalCreate: CONDITIONAL_CREATE.has(type),
      conditionalRead: 'not-supported',
      conditionalUpdate: CONDITIONAL_UPDATE.has(type),
      conditionalDelete: 'not-supported',
      ...(interactions.includes('search-type')
        ? {
            searchParam: [
              ...COMMON_SEARCH_PARAMS,
              ...(SEARCH_PARAMETERS[type] ?? []).map((p) => ({
                name: p.name,
                definition: p.definition,
                type: p.type,
                documentation: p.description,
              })),
            ],
          }
        : {}),
      ...(INCLUDES[type] ? { searchInclude: INCLUDES[type] } : {}),
      ...(REVINCLUDES[type] ? { searchRevInclude: REVINCLUDES[type] } : {}),
      ...(OPERATIONS[type] ? { operation: OPERATIONS[type] } : {}),
    }),
  );
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
        documentation:
          `All searches (GET, or POST /{type}/_search with a form body) accept _count (default 20; above ${MAX_COUNT} ` +
          `the page holds ${MAX_COUNT} and the self link says so), _offset, ` +
          '_sort (_id, _lastUpdated or any declared parameter, - for descending, comma-separated), _total, ' +
          '_summary (true, text, data, count, false) and _elements; ' +
          'read and vread accept _summary and _elements too. Unknown parameters and modifiers are refused ' +
          'with 400. Token values: code, system|code, or |code (codings without a system). ' +
          'Dates without a time zone are taken as UTC. History (instance, type and system level) accepts _count, ' +
          '_offset, _since and _at. ' +
          'Create and update honour Prefer: return=minimal | representation | OperationOutcome. Batch and ' +
          'transaction Bundles are posted to the base URL. JSON only: XML is 406.',
        security: {
          cors: true,
          description:
            'Bearer JWT (SMART v2 scopes such as patient/QuestionnaireResponse.c, user/RiskAssessment.rs) from ' +
            'a trusted issuer, unless the server runs with AUTH_MODE=off. /metadata and Questionnaire, SearchParameter ' +
            'and OperationDefinition reads and searches are public.',
        },
        resource,
        // Result parameters, listed as HL7 suggests: no definition, type special (number for the counts).
        searchParam: [
          {
            name: '_sort',
            type: 'special',
            documentation: '_id, _lastUpdated or any declared parameter of the type; - for descending; comma-separated',
          },
          {
            name: '_count',
            type: 'number',
            documentation: `Page size, default 20; above ${MAX_COUNT} the page holds ${MAX_COUNT} and the self link says so`,
          },
          { name: '_offset', type: 'number', documentation: 'Entries to skip (the paging links carry it)' },
          { name: '_total', type: 'special', documentation: 'none | estimate | accurate: the total is always counted' },
          {
            name: '_summary',
            type: 'special',
            documentation: 'true | text | data | count | false; on search, read and vread (count on search only)',
          },
          {
            name: '_elements',
            type: 'special',
            documentation: 'Comma-separated top-level elements; mandatory ones are kept; on search, read and vread',
          },
          { name: '_include', type: 'special', documentation: 'As listed in searchInclude of each type; no :iterate' },
          { name: '_revinclude', type: 'special', documentation: 'As listed in searchRevInclude of each type; no :iterate' },
        ],
        interaction: [
          {
            code: 'batch',
            documentation:
              'Entries are read, search, create (If-None-Exist), update (If-Match) and $evaluate, each answered as if sent alone',
          },
          {
            code: 'transaction',
            documentation:
              'All entries in one database transaction; urn:uuid fullUrls are replaced by the ids assigned; any failure stores nothing',
          },
          { code: 'history-system', documentation: 'Versions of every type the caller may read in full' },
        ],
      },
    ],
  };
}
