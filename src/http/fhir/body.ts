import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { isFormSearch, isPostSearch } from './http';
import { resolveRoute } from './interactions';
import { badRequest, payloadTooLarge, unsupportedMediaType, type OperationOutcomeError } from '../../core/outcome';
import { createJsonBodyParser, nonJsonBodyError } from '../middleware/json-body';

/** The media types of a FHIR resource body (a JSON-suffixed type such as application/ld+json is not one). */
const FHIR_BODY_TYPES: ReadonlySet<string> = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);
const LEADING_SLASHES = /^\/+/;

/**
 * The FHIR API's body stage, mounted once after authentication and rate limiting. An unknown URL (404)
 * or a method the URL does not accept (405 with `Allow`: PATCH, DELETE, POST to a read-only type) is
 * answered before any body (a JSON Patch array, say) is read or its media type judged. It is the one
 * owner of the FHIR media-type rule (415): a form-encoded `POST /{type}/_search` is read as a form;
 * any other body must be declared JSON before it is read, and once read a POST or PUT must be declared
 * a FHIR JSON type and a `_search` must carry no JSON body. The JSON itself is read by the shared
 * parser (size 413, UTF-8 only, structural limits).
 */
export function fhirBody(options: { maxBytes: number }): RequestHandler {
  const json = createJsonBodyParser({ maxBytes: options.maxBytes, requireJsonMediaType: false });
  const form = express.urlencoded({ extended: false, limit: options.maxBytes, parameterLimit: 1000 });
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'OPTIONS') {
      try {
        resolveRoute(req.method, req.path.replace(LEADING_SLASHES, ''));
      } catch (err) {
        return next(err);
      }
    }
    if (isFormSearch(req)) {
      form(req, res, (err?: unknown) => {
        if (!err) return next();
        const e = err as { status?: number; type?: string };
        next(
          e.status === 413
            ? payloadTooLarge()
            : badRequest(e.type === 'parameters.too.many' ? 'Too many form parameters' : 'The form body could not be read'),
        );
      });
      return;
    }
    const notJson = nonJsonBodyError(req);
    if (notJson) return next(notJson);
    json(req, res, (err?: unknown) => (err ? next(err) : next(fhirBodyTypeError(req))));
  };
}

/**
 * After the JSON body is read: a POST or PUT must declare a FHIR JSON media type (even without a
 * body), and `POST /{type}/_search` takes its parameters in the URL or a form, never a JSON body.
 */
function fhirBodyTypeError(req: Request): OperationOutcomeError | undefined {
  if (req.method !== 'POST' && req.method !== 'PUT') return undefined;
  if (isPostSearch(req)) {
    // A search by POST may come without a body at all (parameters in the URL); any other body would be ignored.
    if (req.body === undefined) return undefined;
    return unsupportedMediaType('POST /{type}/_search takes its parameters as application/x-www-form-urlencoded (or in the URL)');
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!FHIR_BODY_TYPES.has(type)) {
    return unsupportedMediaType(`Content-Type must be application/fhir+json (got ${type ? JSON.stringify(type.slice(0, 60)) : 'none'})`);
  }
  return undefined;
}
