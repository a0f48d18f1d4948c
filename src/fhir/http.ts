import type { NextFunction, Request, Response } from 'express';
import type { Resource } from 'fhir/r4';
import type { Logger } from 'pino';
import { OperationOutcomeError, payloadTooLarge, badRequest, serverError, unsupportedMediaType, methodNotAllowed } from './outcome';

export const FHIR_JSON = 'application/fhir+json';
const ACCEPTED_BODY_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];

export function sendResource(res: Response, status: number, resource: Resource, headers: Record<string, string> = {}): void {
  res.status(status);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (resource.meta?.versionId) res.setHeader('ETag', `W/"${resource.meta.versionId}"`);
  if (resource.meta?.lastUpdated) res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
  res.type(`${FHIR_JSON}; charset=utf-8`).send(JSON.stringify(resource));
}

/** 415 unless a request with a body declares a FHIR JSON media type. */
export function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  if (req.method !== 'POST' && req.method !== 'PUT') return next();
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!ACCEPTED_BODY_TYPES.includes(type)) {
    return next(unsupportedMediaType(`Content-Type must be application/fhir+json (got ${type ? JSON.stringify(type.slice(0, 60)) : 'none'})`));
  }
  next();
}

/** `W/"3"` or `"3"` or `3` -> `3`. */
export function parseIfMatch(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?([A-Za-z0-9\-.]{1,64})"?\s*$/.exec(header);
  if (!m) throw badRequest('If-Match must be an ETag such as W/"1"');
  return m[1];
}

export function methodNotAllowedHandler(_req: Request, _res: Response, next: NextFunction): void {
  next(methodNotAllowed('This interaction is not supported on this resource (see /fhir/metadata)'));
}

interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
}

/** Turns any error into an OperationOutcome response; never a stack trace. */
export function toOutcomeError(err: unknown): OperationOutcomeError {
  if (err instanceof OperationOutcomeError) return err;
  const e = err as BodyParserError;
  if (e?.type === 'entity.too.large') return payloadTooLarge();
  if (e?.type === 'entity.parse.failed') return badRequest('The body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return unsupportedMediaType('Unsupported body encoding or charset');
  if (e?.type === 'request.aborted') return badRequest('Request aborted');
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return badRequest('Bad request');
  return serverError();
}

export function fhirErrorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const outcome = toOutcomeError(err);
    if (outcome.status >= 500) logger.error({ err, url: req.originalUrl, method: req.method }, 'request failed');
    if (res.headersSent) return;
    sendResource(res, outcome.status, outcome.outcome);
  };
}
