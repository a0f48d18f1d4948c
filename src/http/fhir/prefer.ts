import type { OperationOutcome } from 'fhir/r4';
import type { FhirResponse } from './interactions';
import { operationOutcome } from '../../core/outcome';

/** Prefer `return` (R4 http 3.1.0.4.1): what a create or update answers with. */
export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

const RETURN = /(?:^|[;,])\s*return\s*=\s*"?(minimal|representation|OperationOutcome)"?\s*(?=[;,]|$)/i;

/** The `return` preference of a Prefer header; anything else in it (handling, respond-async) is not applied. */
export function parseReturnPreference(header: string | undefined): ReturnPreference | undefined {
  const m = header ? RETURN.exec(header) : null;
  if (!m) return undefined;
  const value = m[1].toLowerCase();
  return value === 'minimal' ? 'minimal' : value === 'representation' ? 'representation' : 'OperationOutcome';
}

/** The OperationOutcome a create or update answers with under `return=OperationOutcome`. */
export function outcomeFor(result: FhirResponse): OperationOutcome {
  const r = result.resource;
  const what = r ? `${r.resourceType}/${r.id} version ${r.meta?.versionId ?? '?'}` : 'The resource';
  return operationOutcome([{ severity: 'information', code: 'informational', message: `${what}: ${result.note ?? 'done'}` }]);
}
