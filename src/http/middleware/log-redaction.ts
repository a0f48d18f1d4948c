/**
 * pino `redact.paths`: credentials in request/response headers and the CDS Hooks
 * fhirAuthorization.access_token wherever a body or object is logged.
 */
export const LOG_REDACT_PATHS: string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'authorization',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.token',
  '*.authorization',
  '*.*.access_token',
  '*.*.*.access_token',
  'fhirAuthorization',
  '*.fhirAuthorization',
  '*.*.fhirAuthorization',
];

/** pino options fragment: `pino({ ...logRedaction(), level })`. */
export function logRedaction(): { redact: { paths: string[]; censor: string } } {
  return { redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' } };
}
