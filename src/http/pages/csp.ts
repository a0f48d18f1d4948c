/**
 * Content-Security-Policy per page. The JSON API keeps helmet's `default-src 'none'` (set app-wide in
 * http/middleware/security-headers.ts); a page replaces it with a policy allowing only what that page
 * needs, all from the service's own origin: no CDN, no inline script, no eval.
 */
import type { Response } from 'express';

export type PageKind = 'landing' | 'portal' | 'clinician';

const BASE: Record<string, string[]> = {
  'default-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'object-src': ["'none'"],
  'img-src': ["'self'"],
  'style-src': ["'self'"],
  'script-src': ["'self'"],
  'connect-src': ["'self'"],
};

/**
 * The portal runs LHC-Forms (Angular): Angular components insert their styles as <style> elements and
 * style attributes at run time, so that page needs 'unsafe-inline' for styles (never for scripts);
 * its CSS references small images, some as data: URLs.
 */
const EXTRA: Record<PageKind, Record<string, string[]>> = {
  landing: { 'connect-src': ["'none'"], 'script-src': ["'none'"] },
  portal: { 'style-src': ["'self'", "'unsafe-inline'"], 'img-src': ["'self'", 'data:'], 'font-src': ["'self'"] },
  clinician: {},
};

export function pagePolicy(kind: PageKind): string {
  const directives = { ...BASE, ...EXTRA[kind] };
  return Object.entries(directives)
    .map(([name, values]) => `${name} ${values.join(' ')}`)
    .join('; ');
}

/**
 * Replaces the API's CSP on this response and keeps pages out of shared caches. `keepOpener`: the page
 * takes its tokens from the application that opened it (production), so Cross-Origin-Opener-Policy
 * must not cut it off from its opener (helmet's `same-origin` would).
 */
export function setPagePolicy(res: Response, kind: PageKind, options: { keepOpener?: boolean } = {}): void {
  res.setHeader('Content-Security-Policy', pagePolicy(kind));
  res.setHeader('Cache-Control', 'no-store');
  if (options.keepOpener) res.setHeader('Cross-Origin-Opener-Policy', 'unsafe-none');
}
