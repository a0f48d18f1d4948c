import type { RequestHandler } from 'express';

/**
 * A discovery URL entered with a trailing slash (`https://host/cds-services/`) makes CDS clients such as
 * the CDS Hooks Sandbox call `/cds-services//calf-pain-dvt`. Repeated slashes are collapsed for routing
 * only: req.originalUrl keeps the path as called, so the JWT's `aud` is still checked against the exact
 * URL the client signed for.
 */
export function collapseCdsSlashes(): RequestHandler {
  return (req, _res, next) => {
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    if (path.includes('//')) req.url = path.replace(/\/{2,}/g, '/') + (q < 0 ? '' : req.url.slice(q));
    next();
  };
}
