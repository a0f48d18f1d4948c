import { compileFhirPath, R4_MODEL } from '../core/fhirpath';
import { normaliseReference } from '../core/references';
import type { Resource } from 'fhir/r4';
import type { IndexEntry, Indexer } from './store';
import { parseDateRange } from '../core/dates';
import { CANONICAL_BASE, EXT_PROVENANCE_PATIENT } from '../core/canonical';

export type SearchParamType = 'token' | 'reference' | 'date' | 'uri';

export interface SearchParamDefinition {
  name: string;
  type: SearchParamType;
  /** FHIRPath over the resource, compiled once. */
  expression: string;
  description: string;
  /** Canonical of the SearchParameter: the core one, or the project's for `basis`. */
  definition: string;
  /** For reference params: the resource type a bare id refers to. */
  target?: string;
  /**
   * A reference param whose element is a canonical (QuestionnaireResponse.questionnaire): it matches the
   * canonical URL (with or without `|version`) and `{target}/{id}` of the resource with that URL.
   */
  canonical?: boolean;
}

const core = (type: string, code: string) => `http://hl7.org/fhir/SearchParameter/${type}-${code}`;
const clinical = (code: string) => `http://hl7.org/fhir/SearchParameter/clinical-${code}`;

/** url, version and status: how clients find the rules, terminology and definitions the server publishes. */
function conformance(type: string): SearchParamDefinition[] {
  const shared = (code: string) => `http://hl7.org/fhir/SearchParameter/conformance-${code}`;
  // PlanDefinition's own parameters are defined per type in R4; the others share the conformance-* ones.
  const definition = (code: string) => (type === 'PlanDefinition' ? core(type, code) : shared(code));
  return [
    { name: 'url', type: 'uri', expression: `${type}.url`, description: `The canonical URL of the ${type}`, definition: definition('url') },
    {
      name: 'version',
      type: 'token',
      expression: `${type}.version`,
      description: `The business version of the ${type}`,
      definition: definition('version'),
    },
    {
      name: 'status',
      type: 'token',
      expression: `${type}.status`,
      description: 'draft | active | retired | unknown',
      definition: definition('status'),
    },
  ];
}

/** The search parameters this server implements; the CapabilityStatement is generated from this table. */
export const SEARCH_PARAMETERS: Record<string, SearchParamDefinition[]> = {
  Questionnaire: [
    {
      name: 'url',
      type: 'uri',
      expression: 'Questionnaire.url',
      description: 'The canonical URL of the questionnaire',
      definition: core('Questionnaire', 'url'),
    },
    {
      name: 'version',
      type: 'token',
      expression: 'Questionnaire.version',
      description: 'The business version of the questionnaire',
      definition: core('Questionnaire', 'version'),
    },
    {
      name: 'status',
      type: 'token',
      expression: 'Questionnaire.status',
      description: 'draft | active | retired | unknown',
      definition: core('Questionnaire', 'status'),
    },
  ],
  QuestionnaireResponse: [
    {
      name: 'subject',
      type: 'reference',
      expression: 'QuestionnaireResponse.subject',
      description: 'The subject of the questionnaire response',
      definition: core('QuestionnaireResponse', 'subject'),
      target: 'Patient',
    },
    {
      name: 'patient',
      type: 'reference',
      expression: "QuestionnaireResponse.subject.where(reference.startsWith('Patient/'))",
      description: 'The patient that is the subject of the response',
      definition: core('QuestionnaireResponse', 'patient'),
      target: 'Patient',
    },
    {
      name: 'questionnaire',
      type: 'reference',
      expression: 'QuestionnaireResponse.questionnaire',
      description: 'The questionnaire the response answers: Questionnaire/{id}, its canonical url, or url|version',
      definition: core('QuestionnaireResponse', 'questionnaire'),
      target: 'Questionnaire',
      canonical: true,
    },
    {
      name: 'identifier',
      type: 'token',
      expression: 'QuestionnaireResponse.identifier',
      description: 'The business identifier of the response (system|value): makes portal submissions idempotent with If-None-Exist',
      definition: core('QuestionnaireResponse', 'identifier'),
    },
    {
      name: 'authored',
      type: 'date',
      expression: 'QuestionnaireResponse.authored',
      description: 'When the response was last changed',
      definition: core('QuestionnaireResponse', 'authored'),
    },
    {
      name: 'status',
      type: 'token',
      expression: 'QuestionnaireResponse.status',
      description: 'in-progress | completed | amended | entered-in-error | stopped',
      definition: core('QuestionnaireResponse', 'status'),
    },
    {
      name: 'encounter',
      type: 'reference',
      expression: 'QuestionnaireResponse.encounter',
      description: 'Encounter associated with the response',
      definition: core('QuestionnaireResponse', 'encounter'),
      target: 'Encounter',
    },
  ],
  RiskAssessment: [
    {
      name: 'subject',
      type: 'reference',
      expression: 'RiskAssessment.subject',
      description: 'Who/what does assessment apply to?',
      definition: core('RiskAssessment', 'subject'),
      target: 'Patient',
    },
    {
      name: 'patient',
      type: 'reference',
      expression: "RiskAssessment.subject.where(reference.startsWith('Patient/'))",
      description: 'Who the assessment is about',
      definition: clinical('patient'),
      target: 'Patient',
    },
    {
      name: 'date',
      type: 'date',
      expression: 'RiskAssessment.occurrence',
      description: 'When was assessment made?',
      definition: clinical('date'),
    },
    {
      name: 'risk',
      type: 'token',
      expression: 'RiskAssessment.prediction.qualitativeRisk',
      description: 'Likelihood of specified outcome as a qualitative value',
      definition: core('RiskAssessment', 'risk'),
    },
    {
      name: 'method',
      type: 'token',
      expression: 'RiskAssessment.method',
      description: 'Evaluation mechanism',
      definition: core('RiskAssessment', 'method'),
    },
    {
      name: 'encounter',
      type: 'reference',
      expression: 'RiskAssessment.encounter',
      description: 'Where was assessment performed?',
      definition: clinical('encounter'),
      target: 'Encounter',
    },
    {
      name: 'basis',
      type: 'reference',
      expression: 'RiskAssessment.basis',
      description:
        'The QuestionnaireResponse (or other information) the assessment is based on: RiskAssessment?basis=QuestionnaireResponse/{id}',
      definition: `${CANONICAL_BASE}/SearchParameter/RiskAssessment-basis`,
      target: 'QuestionnaireResponse',
    },
  ],
  Provenance: [
    {
      name: 'target',
      type: 'reference',
      expression: 'Provenance.target',
      description: 'Target Reference(s) (usually version specific)',
      definition: core('Provenance', 'target'),
    },
    {
      name: 'entity',
      type: 'reference',
      expression: 'Provenance.entity.what',
      description: 'Identity of entity',
      definition: core('Provenance', 'entity'),
    },
    {
      name: 'recorded',
      type: 'date',
      expression: 'Provenance.recorded',
      description: 'When the activity was recorded / updated',
      definition: core('Provenance', 'recorded'),
    },
    {
      name: 'agent',
      type: 'reference',
      expression: 'Provenance.agent.who',
      description: 'Who participated',
      definition: core('Provenance', 'agent'),
    },
    {
      name: 'patient',
      type: 'reference',
      expression: `Provenance.extension('${EXT_PROVENANCE_PATIENT}').value`,
      description: 'The patient the target is about (recorded by this server on the Provenance it creates)',
      definition: `${CANONICAL_BASE}/SearchParameter/Provenance-patient`,
      target: 'Patient',
    },
  ],
  Observation: [
    {
      name: 'subject',
      type: 'reference',
      expression: 'Observation.subject',
      description: 'The subject that the observation is about',
      definition: core('Observation', 'subject'),
      target: 'Patient',
    },
    {
      name: 'patient',
      type: 'reference',
      expression: "Observation.subject.where(reference.startsWith('Patient/'))",
      description: 'The subject that the observation is about (if patient)',
      definition: clinical('patient'),
      target: 'Patient',
    },
    {
      name: 'code',
      type: 'token',
      expression: 'Observation.code',
      description: 'The code of the observation type (system|code)',
      definition: clinical('code'),
    },
    {
      name: 'date',
      type: 'date',
      expression: 'Observation.effective',
      description: "Obtained date/time (the response's authored time)",
      definition: clinical('date'),
    },
    {
      name: 'identifier',
      type: 'token',
      expression: 'Observation.identifier',
      description: 'The unique id for a particular observation',
      definition: clinical('identifier'),
    },
    {
      name: 'derived-from',
      type: 'reference',
      expression: 'Observation.derivedFrom',
      description: 'The QuestionnaireResponse the observation was extracted from',
      definition: core('Observation', 'derived-from'),
    },
    {
      name: 'encounter',
      type: 'reference',
      expression: 'Observation.encounter',
      description: 'Encounter related to the observation',
      definition: clinical('encounter'),
      target: 'Encounter',
    },
    {
      name: 'status',
      type: 'token',
      expression: 'Observation.status',
      description: 'The status of the observation',
      definition: core('Observation', 'status'),
    },
  ],
  PlanDefinition: conformance('PlanDefinition'),
  CodeSystem: conformance('CodeSystem'),
  ValueSet: conformance('ValueSet'),
  SearchParameter: conformance('SearchParameter'),
  OperationDefinition: conformance('OperationDefinition'),
  Device: [],
};

type Compiled = SearchParamDefinition & { evaluate: (resource: unknown) => unknown[] };

const SIMPLE_PATH = /^[A-Z][A-Za-z]+(?:\.[a-z][A-Za-z0-9]*)+$/;
const REFERENCE_PREFIX = /^([A-Z][A-Za-z]+(?:\.[a-z][A-Za-z0-9]*)+)\.where\(reference\.startsWith\('([A-Za-z/]+)'\)\)$/;
const EXTENSION_VALUE = /^([A-Z][A-Za-z]+)\.extension\('([^'\\]+)'\)\.value$/;

/**
 * A search parameter's expression as a function. Plain paths (`RiskAssessment.prediction.qualitativeRisk`,
 * choice elements such as `RiskAssessment.occurrence` included), `path.where(reference.startsWith('X/'))` and
 * `Type.extension('url').value` are walked directly, with the R4 model's choice types: what FHIRPath returns for them, without its
 * per-call set-up (every stored resource is indexed, so this is on the write path). Anything else runs
 * through FHIRPath. tests/search-parameters.test.ts checks both agree on the bundled and emitted resources.
 */
export function compileSearchExpression(expression: string): (resource: unknown) => unknown[] {
  const extension = EXTENSION_VALUE.exec(expression);
  if (extension) {
    // `Type.extension(url).value`: the value[x] of the resource's top-level extensions with that url.
    const [, type, url] = extension;
    return (resource) => {
      if (resource === null || typeof resource !== 'object' || (resource as Resource).resourceType !== type) return [];
      const list = (resource as { extension?: unknown }).extension;
      if (!Array.isArray(list)) return [];
      const values: unknown[] = [];
      for (const ext of list) {
        if (ext === null || typeof ext !== 'object' || (ext as { url?: unknown }).url !== url) continue;
        for (const [key, value] of Object.entries(ext as Record<string, unknown>)) {
          if (/^value[A-Z]/.test(key) && value !== null && value !== undefined)
            values.push(...(Array.isArray(value) ? (value as unknown[]) : [value]));
        }
      }
      return values;
    };
  }
  const prefixed = REFERENCE_PREFIX.exec(expression);
  const path = prefixed ? prefixed[1] : SIMPLE_PATH.test(expression) ? expression : undefined;
  if (!path) return compileFhirPath(expression);
  const choices = (R4_MODEL as unknown as { choiceTypePaths: Record<string, string[]> }).choiceTypePaths;
  const [type, ...names] = path.split('.');
  const steps = names.map((name, i) => {
    const types = choices[[type, ...names.slice(0, i + 1)].join('.')];
    return types ? types.map((t) => `${name}${t}`) : [name];
  });
  const walk = (resource: unknown): unknown[] => {
    if (resource === null || typeof resource !== 'object' || (resource as Resource).resourceType !== type) return [];
    let nodes: unknown[] = [resource];
    for (const keys of steps) {
      const next: unknown[] = [];
      for (const node of nodes) {
        if (node === null || typeof node !== 'object') continue;
        for (const key of keys) {
          const value = (node as Record<string, unknown>)[key];
          if (Array.isArray(value)) {
            for (const v of value) if (v !== null && v !== undefined) next.push(v);
          } else if (value !== null && value !== undefined) next.push(value);
        }
      }
      nodes = next;
    }
    return nodes;
  };
  if (!prefixed) return walk;
  const start = prefixed[2];
  return (resource) =>
    walk(resource).filter(
      (v) => typeof (v as { reference?: unknown })?.reference === 'string' && (v as { reference: string }).reference.startsWith(start),
    );
}

const compiled: Record<string, Compiled[]> = Object.fromEntries(
  Object.entries(SEARCH_PARAMETERS).map(([type, params]) => [
    type,
    params.map((p) => ({ ...p, evaluate: compileSearchExpression(p.expression) })),
  ]),
);

export function searchParameter(resourceType: string, name: string): SearchParamDefinition | undefined {
  return Object.hasOwn(SEARCH_PARAMETERS, resourceType) ? SEARCH_PARAMETERS[resourceType].find((p) => p.name === name) : undefined;
}

function tokenValues(value: unknown): string[] {
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') return [String(value)];
  if (!value || typeof value !== 'object') return [];
  const v = value as { coding?: unknown[]; system?: string; code?: string; value?: string };
  if (Array.isArray(v.coding)) return v.coding.flatMap(tokenValues);
  const code = v.code ?? v.value;
  if (typeof code !== 'string') return [];
  // `|code` matches only codings and identifiers without a system (R4 token search).
  return v.system ? [code, `${v.system}|${code}`] : [code, `|${code}`];
}

/** A canonical is found by its url, and by url|version when it names one. */
function canonicalEntries(param: string, value: string): IndexEntry[] {
  const [url] = value.split('|');
  return url !== value
    ? [
        { param, value },
        { param, value: url },
      ]
    : [{ param, value }];
}

function entries(param: Compiled, value: unknown): IndexEntry[] {
  switch (param.type) {
    case 'token':
      return tokenValues(value).map((v) => ({ param: param.name, value: v }));
    case 'reference': {
      if (param.canonical && typeof value === 'string') return canonicalEntries(param.name, value);
      const ref = typeof value === 'object' && value ? (value as { reference?: string }).reference : undefined;
      return typeof ref === 'string' ? [{ param: param.name, value: normaliseReference(ref) }] : [];
    }
    case 'uri':
      return typeof value === 'string' ? canonicalEntries(param.name, value) : [];
    case 'date': {
      const range = typeof value === 'string' ? parseDateRange(value) : undefined;
      return range ? [{ param: param.name, value: range.lo, lo: range.lo, hi: range.hi }] : [];
    }
  }
}

/** The index entries of a resource for every search parameter of its type. */
export const indexResource: Indexer = (resource: Resource) => {
  const params = Object.hasOwn(compiled, resource.resourceType) ? compiled[resource.resourceType] : [];
  const out: IndexEntry[] = [];
  for (const param of params) {
    for (const value of param.evaluate(resource)) out.push(...entries(param, value));
  }
  return out;
};
