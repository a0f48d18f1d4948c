import fhirpath, { type UserInvocationTable } from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';

/**
 * FHIRPath (fhirpath.js) as this service uses it: expressions compiled once, against the FHIR R4
 * model, and then evaluated many times.
 */

/** The R4 model of fhirpath.js: its type information (choice types, type parents) is read elsewhere too. */
export const R4_MODEL = r4Model;

/** A compiled expression: the resource (or focus) and the %variables in, the result collection out. */
export type CompiledFhirPath = (resource: unknown, environment?: Record<string, unknown>) => unknown[];

export interface FhirPathOptions {
  /** Extra functions (fhirpath.js `userInvocationTable`). */
  userInvocationTable?: Record<string, unknown>;
  /** false: results keep fhirpath.js internal types (e.g. FP_DateTime) rather than plain JSON values. */
  resolveInternalTypes?: boolean;
  /** true: compile without the R4 model (no type information; for expressions that read no resource). */
  withoutModel?: boolean;
}

/**
 * Compiles a FHIRPath expression against the R4 model; throws when it does not parse. An object
 * `{base, expression}` evaluates the expression on a part of a resource (e.g. `QuestionnaireResponse.item`).
 */
export function compileFhirPath(
  expression: string | { base: string; expression: string },
  options: FhirPathOptions = {},
): CompiledFhirPath {
  const { withoutModel, userInvocationTable, ...rest } = options;
  return fhirpath.compile(expression, withoutModel ? undefined : r4Model, {
    ...rest,
    ...(userInvocationTable ? { userInvocationTable: userInvocationTable as UserInvocationTable } : {}),
  }) as CompiledFhirPath;
}

/** The parse tree of an expression (throws when it does not parse). */
export function parseFhirPath(expression: string): unknown {
  return fhirpath.parse(expression) as unknown;
}
