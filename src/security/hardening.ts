/**
 * Input hardening shared by /fhir and /cds-services: a JSON body parser with structural limits and
 * prototype-pollution guards, per-client rate limiting, security headers, request ids and the log
 * redaction list. Every refusal is an OperationOutcomeError for the single error handler (except the
 * CDS rate-limit answer, which is plain JSON: the CDS Hooks surface does not speak FHIR errors).
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import {
  badRequest,
  OperationOutcomeError,
  payloadTooLarge,
  tooManyRequests,
  unsupportedMediaType,
} from '../fhir/outcome';
import type { Config } from '../config/config';
import type { AccessContext } from './access';
import type { CdsClientIdentity } from './cds-client-auth';

// ---------------------------------------------------------------------------------------------
// JSON bodies

export const JSON_MEDIA_TYPES = ['application/json', 'application/fhir+json', 'application/json+fhir', 'application/*+json'];
/** Keys that could reach Object.prototype through a later merge/assign; never legitimate in FHIR or CDS Hooks JSON. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export interface JsonLimits {
  /** Deepest nesting of objects/arrays accepted (FHIR resources nest about 10 deep). */
  maxDepth: number;
  /** Longest array accepted. */
  maxArrayLength: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 64, maxArrayLength: 10_000 };

/**
 * JSON.parse with limits: nesting is measured on the raw text before parsing (so a 1 MB `[[[[...`
 * never builds a deep structure), then arrays and keys are checked on the result.
 * Throws OperationOutcomeError 400 (bad JSON, too deep, forbidden key) or 413 (array too long).
 */
export function parseJsonSafely(text: string, limits: JsonLimits = DEFAULT_JSON_LIMITS): unknown {
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  checkDepth(source, limits.maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch {
    throw badRequest('Request body is not valid JSON');
  }
  checkStructure(value, limits);
  return value;
}

/**
 * One pass over the raw text: nesting depth (before anything deep is built) and duplicate object keys
 * (JSON.parse keeps the last, another parser the first: `{"resourceType":"Patient","resourceType":...}`
 * must not mean two things). Keys are compared decoded, so an escaped spelling is the same key.
 */
function checkDepth(text: string, maxDepth: number): void {
  const frames: { keys?: Set<string>; expectKey: boolean }[] = [];
  let inString = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) {
        inString = false;
        const frame = frames[frames.length - 1];
        if (frame?.keys && frame.expectKey) {
          let key: string;
          try {
            key = JSON.parse(text.slice(start, i + 1)) as string;
          } catch {
            throw badRequest('Request body is not valid JSON');
          }
          if (frame.keys.has(key)) throw badRequest(`JSON key "${key.slice(0, 64)}" appears twice in one object`);
          frame.keys.add(key);
          frame.expectKey = false;
        }
      }
    } else if (c === 0x22) {
      inString = true;
      start = i;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (frames.length >= maxDepth) throw badRequest(`JSON nesting deeper than ${maxDepth} levels`);
      frames.push(c === 0x7b ? { keys: new Set(), expectKey: true } : { expectKey: false });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) frames.pop();
    else if (c === 0x2c /* , */) {
      const frame = frames[frames.length - 1];
      if (frame?.keys) frame.expectKey = true;
    }
  }
}

/** Recursion is bounded by checkDepth (maxDepth levels). */
function checkStructure(value: unknown, limits: JsonLimits): void {
  if (Array.isArray(value)) {
    if (value.length > limits.maxArrayLength) {
      throw payloadTooLarge(`JSON array longer than ${limits.maxArrayLength} items`);
    }
    for (const item of value) checkStructure(item, limits);
  } else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) throw badRequest(`JSON key "${key}" is not allowed`);
      checkStructure((value as Record<string, unknown>)[key], limits);
    }
  }
}

export interface JsonBodyParserOptions extends Partial<JsonLimits> {
  /** Largest body in bytes (config.maxBodyBytes); larger -> 413. */
  maxBytes: number;
  /** Refuse POST/PUT/PATCH bodies that are not JSON with 415 (default true). */
  requireJsonMediaType?: boolean;
  /** Refuse a JSON body that is not an object (a FHIR resource, a CDS request) with 400 (default true). */
  requireObject?: boolean;
}

/**
 * Replacement for express.json(): reads the body as text (charset decoded, gzip/deflate inflated,
 * size-limited by body-parser) and parses it with parseJsonSafely. Every failure becomes an
 * OperationOutcomeError: 413 too large, 415 wrong media type or charset, 400 otherwise.
 * An empty body leaves req.body undefined.
 */
export function createJsonBodyParser(options: JsonBodyParserOptions): RequestHandler {
  const limits: JsonLimits = {
    maxDepth: options.maxDepth ?? DEFAULT_JSON_LIMITS.maxDepth,
    maxArrayLength: options.maxArrayLength ?? DEFAULT_JSON_LIMITS.maxArrayLength,
  };
  const requireJson = options.requireJsonMediaType ?? true;
  const requireObject = options.requireObject ?? true;
  const readText = express.text({ type: JSON_MEDIA_TYPES, limit: options.maxBytes, defaultCharset: 'utf-8' });

  return (req: Request, res: Response, next: NextFunction) => {
    if (requireJson && ['POST', 'PUT', 'PATCH'].includes(req.method) && hasBody(req) && !req.is(JSON_MEDIA_TYPES)) {
      return next(unsupportedMediaType('Request body must be application/fhir+json or application/json'));
    }
    // FHIR and CDS Hooks bodies are UTF-8 (RFC 8259); any other declared charset is refused.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') {
      return next(unsupportedMediaType(`Request body must be UTF-8 (got charset ${charset.slice(0, 32)})`));
    }
    readText(req, res, (err?: unknown) => {
      if (err) return next(bodyReadError(err));
      if (typeof req.body !== 'string') return next();
      const text = req.body;
      req.body = undefined;
      if (!text.trim()) return next();
      try {
        const value = parseJsonSafely(text, limits);
        if (requireObject && (value === null || typeof value !== 'object' || Array.isArray(value))) {
          throw badRequest('Request body must be a JSON object');
        }
        req.body = value;
        next();
      } catch (e) {
        next(e);
      }
    });
  };
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

/** body-parser's http-errors -> OperationOutcomeError (no stack, no internals). */
function bodyReadError(err: unknown): OperationOutcomeError {
  if (err instanceof OperationOutcomeError) return err;
  const e = err as { status?: number; type?: string };
  if (e.status === 413 || e.type === 'entity.too.large') return payloadTooLarge();
  if (e.status === 415) return unsupportedMediaType('Unsupported charset or content encoding');
  return badRequest('Request body could not be read');
}

// ---------------------------------------------------------------------------------------------
// Rate limiting

export interface RateLimitOptions {
  /** Requests per client per minute (env RATE_LIMIT_PER_MINUTE). */
  limitPerMinute: number;
  /** 'fhir': 429 OperationOutcome via the error handler; 'cds': 429 plain JSON. */
  surface: 'fhir' | 'cds';
}

/** Requests per client per minute when the configuration does not say. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 1200;

/**
 * The per-client limit from config.rateLimitPerMinute (env RATE_LIMIT_PER_MINUTE) once the config
 * carries it; the default until then.
 */
export function rateLimitFromConfig(config: Config): number {
  const value = config.rateLimitPerMinute;
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : DEFAULT_RATE_LIMIT_PER_MINUTE;
}

/**
 * Who is calling, for rate limiting: the verified token identity (issuer + subject) when the auth
 * middleware ran before, else the client IP (IPv6 grouped by /56). Unverified token claims are never
 * used: anyone could mint a fresh identity per request.
 */
export function rateLimitKey(req: Request, res: Response): string {
  const access = res.locals.access as AccessContext | undefined;
  if (access) return `token:${access.issuer}|${access.subject ?? ''}`;
  const cds = res.locals.cdsClient as CdsClientIdentity | undefined;
  if (cds) return `token:${cds.issuer}|${cds.subject ?? ''}`;
  return `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`;
}

/**
 * Per-client fixed-window limiter (in-process memory store: with several processes each counts on
 * its own). Mount after the surface's auth middleware so authenticated callers are keyed by identity.
 */
export function createRateLimit({ limitPerMinute, surface }: RateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: limitPerMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: rateLimitKey,
    // Validation messages go to console; the checks that matter are covered by our key generator.
    validate: { keyGeneratorIpFallback: false },
    handler: (_req, res, next) => {
      if (surface === 'fhir') return next(tooManyRequests());
      res.status(429).json({ error: 'Too many requests' });
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Security headers

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

// ---------------------------------------------------------------------------------------------
// Request ids

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is a plain token (no log injection), else a new UUID. */
export function requestIdFor(incoming: string | string[] | undefined): string {
  const value = Array.isArray(incoming) ? incoming[0] : incoming;
  return value && REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * Sets req.id (pino-http's default genReqId uses it), res.locals.requestId and the X-Request-Id
 * response header. Mount before pino-http.
 */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const id = requestIdFor(req.headers['x-request-id']);
    (req as Request & { id?: string }).id = id;
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    next();
  };
}

// ---------------------------------------------------------------------------------------------
// Log redaction

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
