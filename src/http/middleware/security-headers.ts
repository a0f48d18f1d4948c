import type { Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

/**
 * helmet for a JSON API: nothing is ever rendered as a page, so CSP forbids everything and framing;
 * Cross-Origin-Resource-Policy is cross-origin because EHRs (the CDS Hooks sandbox is a browser app)
 * call the service from other origins (CORS itself is configured by the app).
 *
 * These headers do not depend on the request, so helmet runs once, here, and every request gets the
 * headers it set (the hook is the hot path: thirteen middleware calls per request become one loop).
 */
export function createSecurityHeaders(): RequestHandler {
  const headers = headersOf(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      crossOriginResourcePolicy: { policy: 'cross-origin' },
      crossOriginOpenerPolicy: { policy: 'same-origin' },
      referrerPolicy: { policy: 'no-referrer' },
      frameguard: { action: 'deny' },
      strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    }),
  );
  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    res.removeHeader('X-Powered-By');
    next();
  };
}

/** The headers a request-independent middleware sets (helmet's only removal, X-Powered-By, is repeated per request). */
function headersOf(middleware: RequestHandler): [string, string][] {
  const headers: [string, string][] = [];
  const recorder = {
    setHeader: (name: string, value: unknown) => void headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  let passed = false;
  void middleware({ headers: {} } as Request, recorder as unknown as Response, (err?: unknown) => {
    if (err) throw err instanceof Error ? err : new Error('security headers: helmet refused its options');
    passed = true;
  });
  if (!passed) throw new Error('security headers: helmet did not finish synchronously');
  return headers;
}
