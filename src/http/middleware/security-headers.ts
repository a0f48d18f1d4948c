import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * helmet for a JSON API: nothing is ever rendered as a page, so CSP forbids everything and framing;
 * Cross-Origin-Resource-Policy is cross-origin because EHRs (the CDS Hooks sandbox is a browser app)
 * call the service from other origins (CORS itself is configured by the app).
 */
export function createSecurityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  });
}
