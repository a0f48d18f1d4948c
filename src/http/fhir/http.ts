import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NextFunction, Request, Response } from 'express';
import type { Resource } from 'fhir/r4';
import type { Logger } from 'pino';
import {
  OperationOutcomeError,
  payloadTooLarge,
  badRequest,
  serverError,
  serviceUnavailable,
  unsupportedMediaType,
  notAcceptable,
  operationOutcome,
} from '../../core/outcome';
import { isDatabaseUnavailable } from '../../storage/db-faults';

export const FHIR_JSON = 'application/fhir+json';

export function sendResource(res: Response, status: number, resource: Resource, headers: Record<string, string> = {}): void {
  res.status(status);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (resource.meta?.versionId) res.setHeader('ETag', `W/"${resource.meta.versionId}"`);
  if (resource.meta?.lastUpdated) res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
  res.type(`${FHIR_JSON}; charset=utf-8`).send(JSON.stringify(resource));
}

const FORM = 'application/x-www-form-urlencoded';
const SEARCH_PATH = /\/_search\/?$/;

/** `POST /{type}/_search` (or `POST /_search`), whatever its body. */
export function isPostSearch(req: Request): boolean {
  return req.method === 'POST' && SEARCH_PATH.test(req.path);
}

/** `POST /{type}/_search` with a form body (how the CDS Hooks sandbox and HAPI's client search). */
export function isFormSearch(req: Request): boolean {
  return isPostSearch(req) && (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === FORM;
}

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/**
 * `_format` (any interaction): this server speaks JSON only, so XML or Turtle is 406 rather than
 * silently JSON. An unescaped `+` arrives as a space (`application/fhir json`): HAPI and most
 * servers accept that, and so does this one.
 */
export function requireJsonFormat(req: Request, _res: Response, next: NextFunction): void {
  const raw = req.query._format;
  if (raw === undefined) return next();
  const list = Array.isArray(raw) ? raw : [raw];
  const ok =
    list.length === 1 && typeof list[0] === 'string' && JSON_FORMATS.has(list[0].split(';')[0].trim().toLowerCase().replace(/ /g, '+'));
  if (!ok) return next(notAcceptable(`_format: this server returns FHIR JSON only (_format=json or application/fhir+json)`));
  next();
}

const ACCEPTABLE_TYPES = new Set(['*/*', 'application/*', ...JSON_FORMATS]);

/**
 * `Accept`: 406 when the client accepts nothing this server can send (`application/fhir+xml`), or
 * asks for a FHIR version other than R4 (`fhirVersion=3.0`). A missing header, `* / *` or any JSON
 * type is fine. `_format`, when given, overrides Accept (R4 http 3.1.0.1.10).
 */
export function requireAcceptableType(req: Request, _res: Response, next: NextFunction): void {
  const header = req.headers.accept;
  if (!header || req.query._format !== undefined) return next();
  const ranges = header.split(',').map((part) => {
    const [type, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    const param = (name: string) =>
      params
        .find((p) => p.startsWith(`${name}=`))
        ?.slice(name.length + 1)
        .replace(/"/g, '');
    return { type, q: Number(param('q') ?? '1'), fhirVersion: param('fhirversion') };
  });
  const usable = ranges.filter((r) => ACCEPTABLE_TYPES.has(r.type) && !(r.q <= 0));
  if (usable.length === 0)
    return next(
      notAcceptable(`Accept: this server returns FHIR JSON only (application/fhir+json), not ${JSON.stringify(header.slice(0, 80))}`),
    );
  if (usable.every((r) => r.fhirVersion !== undefined && !/^4\.0(\.\d+)?$/.test(r.fhirVersion))) {
    return next(
      notAcceptable(`Accept: this server speaks FHIR R4 (fhirVersion=4.0), not fhirVersion=${usable[0].fhirVersion!.slice(0, 16)}`),
    );
  }
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
      status === 431
        ? 'Request line or headers too large (long searches: fewer values per request)'
        : status === 408
          ? 'Request timeout'
          : 'Malformed HTTP request';
    const body = JSON.stringify(
      operationOutcome([{ message, code: status === 431 ? 'too-long' : status === 408 ? 'timeout' : 'structure' }]),
    );
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${FHIR_JSON}; charset=utf-8\r\nContent-Length: ` +
        `${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
}

/** Turns any error into an OperationOutcome response; never a stack trace. */
export function toOutcomeError(err: unknown): OperationOutcomeError {
  if (err instanceof OperationOutcomeError) return err;
  if (isDatabaseUnavailable(err)) return serviceUnavailable();
  const e = err as BodyParserError;
  if (e?.type === 'entity.too.large') return payloadTooLarge();
  if (e?.type === 'entity.parse.failed') return badRequest('The body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return unsupportedMediaType('Unsupported body encoding or charset');
  if (e?.type === 'request.aborted') return badRequest('Request aborted');
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return badRequest('Bad request');
  return serverError();
}

export function fhirErrorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const outcome = toOutcomeError(err);
    if (outcome.status === 503)
      logger.warn(
        { err: { message: (err as Error)?.message, code: (err as { code?: unknown })?.code }, url: req.originalUrl, method: req.method },
        'database unavailable',
      );
    else if (outcome.status >= 500) logger.error({ err, url: req.originalUrl, method: req.method }, 'request failed');
    if (res.headersSent) return;
    sendResource(res, outcome.status, outcome.outcome, outcome.headers);
  };
}
