import type { Bundle } from 'fhir/r4';
import { OperationOutcomeError, operationOutcome, type Problem } from '../../core/outcome';
import { ORDER_HOOKS, type FhirAuthorization, type HookName, type HookRequest } from '../../core/cds-hooks';
import { isFhirId, UUID } from '../../core/ids';
import { isObject } from '../../core/json';

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

/** 400 naming every problem (the router renders it as a CDS Hooks JSON error). */
export function invalidRequest(problems: Problem[]): OperationOutcomeError {
  return new OperationOutcomeError(400, operationOutcome(problems, 'invalid'));
}

function checkFhirServer(body: Record<string, unknown>, problems: Problem[]): string | undefined {
  if (body.fhirServer === undefined) return undefined;
  if (!nonEmptyString(body.fhirServer)) {
    problems.push({ expression: 'fhirServer', message: 'fhirServer must be a URL' });
    return undefined;
  }
  try {
    const url = new URL(body.fhirServer);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    problems.push({ expression: 'fhirServer', message: 'fhirServer must be an absolute http(s) URL' });
    return undefined;
  }
  return body.fhirServer.replace(/\/+$/, '');
}

function checkAuthorization(value: unknown, problems: Problem[]): FhirAuthorization | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) {
    problems.push({ expression: 'fhirAuthorization', message: 'fhirAuthorization must be an object' });
    return undefined;
  }
  const before = problems.length;
  if (!nonEmptyString(value.access_token))
    problems.push({ expression: 'fhirAuthorization.access_token', message: 'access_token is required' });
  if (!nonEmptyString(value.token_type) || value.token_type.toLowerCase() !== 'bearer') {
    problems.push({ expression: 'fhirAuthorization.token_type', message: 'token_type must be "Bearer"' });
  }
  if (value.expires_in !== undefined && typeof value.expires_in !== 'number') {
    problems.push({ expression: 'fhirAuthorization.expires_in', message: 'expires_in must be a number' });
  }
  for (const key of ['scope', 'subject', 'patient'] as const) {
    if (value[key] !== undefined && !nonEmptyString(value[key])) {
      problems.push({ expression: `fhirAuthorization.${key}`, message: `${key} must be a non-empty string` });
    }
  }
  return problems.length === before ? (value as unknown as FhirAuthorization) : undefined;
}

/**
 * Checks a hook call's body for the service's hook (CDS Hooks 2.0 "HTTP Request"; hook context per the
 * CDS Hooks Library 1.0.1). Lenient where the spec lets clients omit things (userId, selections), strict
 * where the service could do the wrong thing (patientId, hookInstance, draftOrders, credentials).
 * Throws 400 listing every problem.
 */
export function parseHookRequest(body: unknown, hook: HookName): HookRequest {
  if (!isObject(body)) throw invalidRequest([{ message: 'The request body must be a JSON object' }]);
  const problems: Problem[] = [];

  if (body.hook !== hook) {
    problems.push({ expression: 'hook', message: `hook must be "${hook}" for this service (got ${JSON.stringify(body.hook ?? null)})` });
  }
  if (!nonEmptyString(body.hookInstance) || !UUID.test(body.hookInstance)) {
    problems.push({ expression: 'hookInstance', message: 'hookInstance must be a UUID' });
  }
  const fhirServer = checkFhirServer(body, problems);
  const fhirAuthorization = checkAuthorization(body.fhirAuthorization, problems);
  if (body.fhirAuthorization !== undefined && body.fhirServer === undefined) {
    problems.push({ expression: 'fhirServer', message: 'fhirServer is required when fhirAuthorization is given' });
  }

  const context = body.context;
  if (!isObject(context)) {
    problems.push({ expression: 'context', message: 'context must be an object' });
  } else {
    if (!nonEmptyString(context.patientId)) problems.push({ expression: 'context.patientId', message: 'context.patientId is required' });
    else if (!isFhirId(context.patientId)) {
      problems.push({ expression: 'context.patientId', message: 'context.patientId must be a FHIR id' });
    }
    for (const key of ['userId', 'encounterId'] as const) {
      if (context[key] !== undefined && !nonEmptyString(context[key])) {
        problems.push({ expression: `context.${key}`, message: `context.${key} must be a non-empty string` });
      }
    }
    if (ORDER_HOOKS.includes(hook)) {
      const draftOrders = context.draftOrders;
      if (!isObject(draftOrders) || draftOrders.resourceType !== 'Bundle') {
        problems.push({ expression: 'context.draftOrders', message: 'context.draftOrders must be a FHIR Bundle' });
      } else if (draftOrders.entry !== undefined && !Array.isArray(draftOrders.entry)) {
        problems.push({ expression: 'context.draftOrders.entry', message: 'context.draftOrders.entry must be an array' });
      }
      const selections = context.selections;
      if (selections !== undefined && (!Array.isArray(selections) || !selections.every(nonEmptyString))) {
        problems.push({
          expression: 'context.selections',
          message: 'context.selections must be an array of references such as "ServiceRequest/123"',
        });
      }
    }
  }

  if (body.prefetch !== undefined && !isObject(body.prefetch)) {
    problems.push({ expression: 'prefetch', message: 'prefetch must be an object' });
  }
  if (problems.length) throw invalidRequest(problems);

  const ctx = context as Record<string, unknown>;
  return {
    hook,
    hookInstance: body.hookInstance as string,
    ...(fhirServer ? { fhirServer } : {}),
    ...(fhirAuthorization ? { fhirAuthorization } : {}),
    context: {
      patientId: ctx.patientId as string,
      ...(ctx.userId ? { userId: ctx.userId as string } : {}),
      ...(ctx.encounterId ? { encounterId: ctx.encounterId as string } : {}),
      ...(ctx.selections ? { selections: ctx.selections as string[] } : {}),
      ...(ctx.draftOrders ? { draftOrders: ctx.draftOrders as Bundle } : {}),
    },
    ...(body.prefetch ? { prefetch: body.prefetch as Record<string, unknown> } : {}),
  };
}
