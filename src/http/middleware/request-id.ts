import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler } from 'express';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is a plain token (no log injection), else a new UUID. */
export function requestIdFor(incoming: string | string[] | undefined): string {
  const value = Array.isArray(incoming) ? incoming[0] : incoming;
  return value && REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * Sets req.id (the access line logs it), res.locals.requestId and the X-Request-Id response header.
 * Mount before accessLog().
 */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const id = requestIdFor(req.headers['x-request-id']);
    (req as Request & { id?: string }).id = id;
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    next();
  };
}
