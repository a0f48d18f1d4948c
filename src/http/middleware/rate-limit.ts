/**
 * Per-client rate limiting of /fhir and /cds-services, keyed by verified identity or client IP. The
 * /fhir answer is a 429 OperationOutcome for the error handler; the CDS answer is plain JSON (the CDS
 * Hooks surface does not speak FHIR errors).
 */
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type Store as RateLimitStore } from 'express-rate-limit';
import { tooManyRequests } from '../../core/outcome';
import type { Config } from '../../config/config';
import type { AccessContext } from '../../auth/access';
import type { CdsClientIdentity } from '../../auth/cds-client-auth';

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
 * The per-client limit: config.rateLimitPerMinute (env RATE_LIMIT_PER_MINUTE), or the default for a
 * configuration built without it (a test's).
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
