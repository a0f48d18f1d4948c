import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NextFunction, Request, Response } from 'express';
import type { Resource } from 'fhir/r4';
import type { Logger } from 'pino';
import { OperationOutcomeError, payloadTooLarge, badRequest, serverError, unsupportedMediaType, methodNotAllowed, notAcceptable, operationOutcome } from './outcome';

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
  // Quotes come in pairs or not at all: `W/"3` is a malformed tag, not version 3.
  const m = /^\s*(?:W\/)?(?:"([A-Za-z0-9\-.]{1,64})"|([A-Za-z0-9\-.]{1,64}))\s*$/.exec(header);
  if (!m) throw badRequest('If-Match must be an ETag such as W/"1"');
  return m[1] ?? m[2];
}

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/** `_format` (any interaction): this server speaks JSON only, so XML or Turtle is 406 rather than silently JSON. */
export function requireJsonFormat(req: Request, _res: Response, next: NextFunction): void {
  const raw = req.query._format;
  if (raw === undefined) return next();
  const list = Array.isArray(raw) ? raw : [raw];
  const ok = list.length === 1 && typeof list[0] === 'string' && JSON_FORMATS.has(list[0].split(';')[0].trim().toLowerCase());
  if (!ok) return next(notAcceptable(`_format: this server returns FHIR JSON only (_format=json or application/fhir+json)`));
  next();
}

/**
 * Requests Node's HTTP parser refuses before Express sees them (request line or headers over the
 * size limit: 431; malformed HTTP: 400) are still answered with an OperationOutcome.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const message =
      status === 431 ? 'Request line or headers too large (long searches: fewer values per request)' : status === 408 ? 'Request timeout' : 'Malformed HTTP request';
    const body = JSON.stringify(operationOutcome([{ message, code: status === 431 ? 'too-long' : status === 408 ? 'timeout' : 'structure' }]));
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${FHIR_JSON}; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
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
