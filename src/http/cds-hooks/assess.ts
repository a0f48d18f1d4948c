import type { AppDeps } from '../deps';
import type { Evaluation } from '../../clinical/types';
import type { FoundResponse } from '../../clinical/patient-data';

/**
 * Evaluates the most recent response with the one evaluation engine. A response from the EHR has not
 * been through this service's validation; one the engine cannot evaluate is logged and the next most
 * recent is used.
 */
export function assessMostRecent(deps: AppDeps, responses: FoundResponse[]): { found: FoundResponse; evaluation: Evaluation } | undefined {
  for (const found of responses) {
    try {
      return { found, evaluation: deps.evaluator.evaluate(found.response, { now: deps.now() }) };
    } catch (err) {
      deps.logger.warn(
        { origin: found.origin, responseId: found.response.id, err: (err as Error).message },
        'CDS: response could not be evaluated',
      );
    }
  }
  return undefined;
}
