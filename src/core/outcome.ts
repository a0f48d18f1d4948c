import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

/**
 * One error type end to end: domain code throws an OperationOutcomeError, the single
 * Express error handler turns it into a FHIR OperationOutcome response with `status`.
 */
export class OperationOutcomeError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome,
    /** Response headers that belong to the error (`Allow` on a 405). */
    readonly headers: Record<string, string> = {},
  ) {
    super(outcome.issue.map((i) => i.diagnostics ?? i.details?.text ?? i.code).join('; '));
    this.name = 'OperationOutcomeError';
  }
}

export type IssueCode = OperationOutcomeIssue['code'];

export interface Problem {
  /** FHIRPath-style location of the problem, e.g. `QuestionnaireResponse.item[0].answer[0]`. */
  expression?: string;
  message: string;
  code?: IssueCode;
  severity?: OperationOutcomeIssue['severity'];
}

/**
 * Messages quote what the client sent (a linkId, an id from the URL): control characters and lone
 * surrogates there would make the OperationOutcome itself invalid FHIR, so they are shown as U+FFFD.
 */
export function fhirString(text: string): string {
  return text.replace(CONTROL_OR_LONE_SURROGATE_G, '\uFFFD');
}

/**
 * What a FHIR string may not contain (R4 datatypes: string): control characters other than tab, LF and
 * CR, and UTF-16 surrogates without their pair (not Unicode text).
 */
export const CONTROL_OR_LONE_SURROGATE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL_OR_LONE_SURROGATE_G = new RegExp(CONTROL_OR_LONE_SURROGATE.source, 'g');

export function operationOutcome(problems: Problem[], defaultCode: IssueCode = 'processing'): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: problems.map((p) => ({
      severity: p.severity ?? 'error',
      code: p.code ?? defaultCode,
      diagnostics: fhirString(p.message),
      ...(p.expression ? { expression: [fhirString(p.expression)] } : {}),
    })),
  };
}

function error(status: number, code: IssueCode, message: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(status, operationOutcome([{ message, code, expression }]));
}

export const badRequest = (message: string, expression?: string) => error(400, 'invalid', message, expression);
export const notFound = (message = 'Resource not found') => error(404, 'not-found', message);
export const gone = (message = 'Resource deleted') => error(410, 'deleted', message);
/** 405 with the `Allow` header listing what the URL does accept (RFC 9110 15.5.6). */
export function methodNotAllowed(message = 'Method not allowed', allow: readonly string[] = []): OperationOutcomeError {
  return new OperationOutcomeError(
    405,
    operationOutcome([{ message, code: 'not-supported' }]),
    allow.length ? { Allow: allow.join(', ') } : {},
  );
}
export const notAcceptable = (message: string) => error(406, 'not-supported', message);
export const conflict = (message: string) => error(409, 'conflict', message);
export const preconditionFailed = (message: string) => error(412, 'conflict', message);
export const payloadTooLarge = (message = 'Request body too large') => error(413, 'too-costly', message);
export const unsupportedMediaType = (message: string) => error(415, 'not-supported', message);
export const unauthorized = (message = 'Authentication required') => error(401, 'login', message);
export const forbidden = (message = 'Forbidden') => error(403, 'forbidden', message);
export const tooManyRequests = (message = 'Too many requests') => error(429, 'throttled', message);

/** 422: the resource is well-formed JSON but breaks FHIR or Questionnaire rules; every problem listed. */
export function unprocessable(problems: Problem[]): OperationOutcomeError {
  return new OperationOutcomeError(422, operationOutcome(problems, 'invalid'));
}

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 5;

/** 503 `transient` with Retry-After: the database (or the service) is briefly unavailable. */
export function serviceUnavailable(message = 'The database is unavailable; retry shortly'): OperationOutcomeError {
  return new OperationOutcomeError(503, operationOutcome([{ message, code: 'transient' }]), { 'Retry-After': String(RETRY_AFTER_SECONDS) });
}

export function serverError(): OperationOutcomeError {
  return error(500, 'exception', 'Internal server error');
}
