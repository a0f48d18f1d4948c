import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { isFormSearch } from './http';
import { resolveRoute } from './interactions';
import { badRequest, payloadTooLarge } from './outcome';

/**
 * The FHIR API's body reading, in front of the shared JSON parser: a form-encoded `POST /{type}/_search`
 * is read as a form, and a method no FHIR URL here accepts (PATCH, DELETE) is answered 405 with
 * `Allow` before any body (a JSON Patch array, say) is read.
 */
export function fhirBody(jsonBody: RequestHandler, options: { maxBytes: number }): RequestHandler {
  const form = express.urlencoded({ extended: false, limit: options.maxBytes, parameterLimit: 1000 });
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'PATCH' || req.method === 'DELETE') {
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
      next(e.status === 413 ? payloadTooLarge() : badRequest(e.type === 'parameters.too.many' ? 'Too many form parameters' : 'The form body could not be read'));
    });
  };
}
