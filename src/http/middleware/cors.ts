import cors from 'cors';
import type { RequestHandler } from 'express';

/** What browser FHIR clients (MedplumClient, SMART fhirclient, fhir-kit-client) send beyond the CORS-safelisted headers. */
export const CORS_REQUEST_HEADERS = [
  'Authorization',
  'Content-Type',
  'Accept',
  'Prefer',
  'If-Match',
  'If-None-Match',
  'If-None-Exist',
  'If-Modified-Since',
  'Cache-Control',
  'X-Request-Id',
  'X-Medplum',
];

/** Response headers a browser script may read: where a resource went, its version, what Prefer did. */
export const CORS_EXPOSED_HEADERS = [
  'Location',
  'Content-Location',
  'ETag',
  'Last-Modified',
  'Link',
  'Preference-Applied',
  'Allow',
  'WWW-Authenticate',
  'Retry-After',
  'X-Request-Id',
];

/**
 * CORS for /fhir. Without a configured list every origin may call, with bearer tokens and no
 * credentials (`Access-Control-Allow-Origin: *`, which browsers never combine with cookies). With
 * CORS_ORIGINS only the listed origins may call; each is echoed back with
 * `Access-Control-Allow-Credentials: true` (and `Vary: Origin`), so clients that fetch with
 * `credentials: 'include'` work too.
 */
export function fhirCors(origins: readonly string[]): RequestHandler {
  const listed = new Set(origins);
  return cors({
    origin: listed.size === 0 ? '*' : (origin, callback) => callback(null, origin !== undefined && listed.has(origin) ? origin : false),
    credentials: listed.size > 0,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS'],
    allowedHeaders: CORS_REQUEST_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 86400,
  });
}

/**
 * CORS for browser-based CDS clients such as the CDS Hooks sandbox (CDS Hooks 2.0 "Cross-Origin Resource
 * Sharing"). Calls carry a bearer JWT, never cookies, so any origin may call. Mounted before client
 * authentication: a preflight OPTIONS carries no Authorization header.
 */
export function cdsHooksCors(): RequestHandler {
  return cors({
    origin: '*',
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    maxAge: 86400,
  });
}
