import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { isFormSearch } from './http';
import { resolveRoute } from './interactions';
import { badRequest, payloadTooLarge } from '../../core/outcome';

/**
 * The FHIR API's body reading, in front of the shared JSON parser: an unknown URL (404) or a method
 * the URL does not accept (405 with `Allow`: PATCH, DELETE, POST to a read-only type) is answered
 * before any body (a JSON Patch array, say) is read or its media type judged; a form-encoded
 * `POST /{type}/_search` is read as a form.
 */
export function fhirBody(jsonBody: RequestHandler, options: { maxBytes: number }): RequestHandler {
  const form = express.urlencoded({ extended: false, limit: options.maxBytes, parameterLimit: 1000 });
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'OPTIONS') {
      try {
        resolveRoute(req.method, req.path.replace(/^\/+/, ''));
      } catch (err) {
        return next(err);
      }
    }
    if (!isFormSearch(req)) return jsonBody(req, res, next);
    form(req, res, (err?: unknown) => {
      if (!err) return next();
      const e = err as { status?: number; type?: string };
      next(
        e.status === 413
          ? payloadTooLarge()
          : badRequest(e.type === 'parameters.too.many' ? 'Too many form parameters' : 'The form body could not be read'),
      );
    });
  };
}
