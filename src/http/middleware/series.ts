import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Middleware run one after another as one Express layer: `next()` goes on to the next, `next(err)` (or
 * a throw, or a rejected promise, as Express 5 treats them) leaves the series with the error. Mounted
 * once, the series costs one router step per request where each middleware on its own costs one
 * (path match, URL trimming and restoring): the CDS Hooks and FHIR mounts each run six or seven.
 */
export function series(...handlers: RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, done: NextFunction) => {
    let index = 0;
    const next = (err?: unknown): void => {
      if (err !== undefined && err !== null && err !== false) return done(err);
      const handler = handlers[index++];
      if (!handler) return done();
      try {
        const result: unknown = handler(req, res, next);
        if (result instanceof Promise) result.catch((e: unknown) => next(e ?? new Error('Rejected promise')));
      } catch (e) {
        next(e);
      }
    };
    next();
  };
}
