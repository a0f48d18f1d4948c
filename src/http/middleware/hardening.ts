/**
 * Input hardening shared by /fhir and /cds-services: a JSON body parser with structural limits and
 * prototype-pollution guards, per-client rate limiting, security headers, request ids and the log
 * redaction list. Every refusal is an OperationOutcomeError for the single error handler (except the
 * CDS rate-limit answer, which is plain JSON: the CDS Hooks surface does not speak FHIR errors).
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { ipKeyGenerator, rateLimit, type Store as RateLimitStore } from 'express-rate-limit';
import helmet from 'helmet';
import { badRequest, OperationOutcomeError, payloadTooLarge, tooManyRequests, unsupportedMediaType } from '../../core/outcome';
import type { Config } from '../../config/config';
import type { AccessContext } from '../../auth/access';
import type { CdsClientIdentity } from '../../auth/cds-client-auth';

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
 * JSON.parse with limits: one pass over the raw text checks nesting (before anything deep is built),
 * array lengths, duplicate and forbidden keys; then JSON.parse builds the value.
 * Throws OperationOutcomeError 400 (bad JSON, too deep, duplicate or forbidden key) or 413 (array too long).
 */
export function parseJsonSafely(text: string, limits: JsonLimits = DEFAULT_JSON_LIMITS): unknown {
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  checkText(source, limits);
  try {
    return JSON.parse(source);
  } catch {
    throw badRequest('Request body is not valid JSON');
  }
}

interface Frame {
  /** Keys seen so far (objects only). */
  keys?: Set<string>;
  /** Objects: the next string is a key. */
  expectKey: boolean;
  /** Arrays: elements so far (commas + 1 once a value is seen). */
  elements: number;
}

/**
 * One pass over the raw text: nesting depth, array lengths, forbidden keys and duplicate object keys
 * (JSON.parse keeps the last, another parser the first: `{"resourceType":"Patient","resourceType":...}`
 * must not mean two things). Keys are compared decoded, so an escaped spelling is the same key.
 * Malformed text is left for JSON.parse to refuse.
 */
function checkText(text: string, limits: JsonLimits): void {
  const frames: Frame[] = [];
  let top: Frame | undefined;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      if (end < 0) throw badRequest('Request body is not valid JSON');
      if (top) {
        if (top.keys && top.expectKey) {
          const raw = text.slice(i + 1, end);
          let key = raw;
          if (raw.includes('\\')) {
            try {
              key = JSON.parse(`"${raw}"`) as string;
            } catch {
              throw badRequest('Request body is not valid JSON');
            }
          }
          if (FORBIDDEN_KEYS.has(key)) throw badRequest(`JSON key "${key}" is not allowed`);
          if (top.keys.has(key)) throw badRequest(`JSON key "${key.slice(0, 64)}" appears twice in one object`);
          top.keys.add(key);
          top.expectKey = false;
        } else if (!top.keys && top.elements === 0) top.elements = 1;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (top && !top.keys && top.elements === 0) top.elements = 1;
      if (frames.length >= limits.maxDepth) throw badRequest(`JSON nesting deeper than ${limits.maxDepth} levels`);
      top = c === 0x7b ? { keys: new Set(), expectKey: true, elements: 0 } : { expectKey: false, elements: 0 };
      frames.push(top);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      frames.pop();
      top = frames[frames.length - 1];
    } else if (c === 0x2c /* , */) {
      if (top?.keys) top.expectKey = true;
      else if (top && ++top.elements > limits.maxArrayLength)
        throw payloadTooLarge(`JSON array longer than ${limits.maxArrayLength} items`);
    } else if (top && !top.keys && top.elements === 0 && c > 0x20) {
      // A number, true, false or null opens the array's first element.
      top.elements = 1;
    }
  }
}

/** Index of the quote closing the string opened at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return -1;
    let backslashes = 0;
    for (let j = quote - 1; text.charCodeAt(j) === 0x5c; j--) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
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
  return (
    req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  );
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
  /** Shared counters (Redis, RATE_LIMIT_STORE); default the in-process memory store. */
  store?: RateLimitStore;
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
  const raw = req.ip ?? 'unknown';
  const ip = raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw;
  // IPv6 addresses are grouped by /56 (one subscriber); an IPv4 address (also IPv4-mapped) is its own key.
  return `ip:${ip.includes(':') ? ipKeyGenerator(ip) : ip}`;
}

/**
 * Per-client fixed-window limiter (in-process memory store: with several processes each counts on
 * its own). Mount after the surface's auth middleware so authenticated callers are keyed by identity.
 */
export function createRateLimit({ limitPerMinute, surface, store }: RateLimitOptions): RequestHandler {
  return rateLimit({
    // A shared store that cannot be reached lets requests through (logged by its client) rather than
    // refusing clinical traffic; the memory store cannot fail.
    ...(store ? { store, passOnStoreError: true } : {}),
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

/**
 * The access log line of a request: who asked for what and the answer, nothing else (headers, which
 * carry credentials, and bodies never reach it; the id ties it to the request's other lines).
 */
export const ACCESS_LOG_SERIALIZERS = {
  req: (req: { id?: unknown; method?: string; url?: string; originalUrl?: string; socket?: { remoteAddress?: string } }) => ({
    id: req.id,
    method: req.method,
    url: req.originalUrl ?? req.url,
    remoteAddress: req.socket?.remoteAddress,
  }),
  res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
};

/** pino options fragment: `pino({ ...logRedaction(), level })`. */
export function logRedaction(): { redact: { paths: string[]; censor: string } } {
  return { redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' } };
}
