import type { RequestHandler } from 'express';
import compression from 'compression';

/**
 * gzip/deflate/br for clients that accept it (a page of 200 RiskAssessments is hundreds of KB):
 * FHIR searches and Bundles, the pages' scripts. CDS answers are a few cards and skip it (the hook is
 * the hot path).
 */
export function compressExceptCdsHooks(): RequestHandler {
  const compress = compression();
  return (req, res, next) => (req.path.startsWith('/cds-services') ? next() : compress(req, res, next));
}
