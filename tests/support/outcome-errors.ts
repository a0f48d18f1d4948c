/**
 * How tests observe the OperationOutcomeError a middleware or check throws: as the HTTP answer the
 * app's own error handler would give, or as the bare status. Shared so the security unit tests
 * read refusals the same way the app reports them.
 */
import type { NextFunction, Request, Response } from 'express';
import { OperationOutcomeError } from '../../src/core/outcome';

/** Express error handler for a middleware under test: an OperationOutcomeError as its status and outcome, anything else a bare 500. */
export function answerOutcomeErrors(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  if (err instanceof OperationOutcomeError) res.status(err.status).json(err.outcome);
  else res.status(500).json({});
}

/** Runs `fn`: the status of the OperationOutcomeError it throws, or `passed` when it returns; other errors propagate. */
export function outcomeStatusOf<T>(fn: () => unknown, passed: T): number | T {
  try {
    fn();
    return passed;
  } catch (e) {
    if (e instanceof OperationOutcomeError) return e.status;
    throw e;
  }
}
