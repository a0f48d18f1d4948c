import path from 'node:path';
import { PROJECT_ROOT } from '../project-root';

export type AuthMode = 'on' | 'off';

export interface Config {
  port: number;
  /** Public base URL (no trailing slash), used for absolute links, Location headers and JWT `aud`. */
  baseUrl: string;
  /** `sqlite:///abs/path.db`, `sqlite::memory:` or `postgres://...`. */
  databaseUrl: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Requests per client (token identity, else IP) per minute, per surface (/fhir, /cds-services). */
  rateLimitPerMinute: number;
  /** Browser origins allowed to call /fhir, with credentials (CORS_ORIGINS); empty: any origin, without credentials. */
  corsOrigins?: string[];
  cdsHooks: {
    /** Total deadline for fetching missing data from the EHR's fhirServer, in milliseconds. */
    fhirServerDeadlineMs: number;
    /** Only QuestionnaireResponses authored within this many days count. */
    responseWindowDays: number;
    /** Add systemActions recording the RiskAssessment in the EHR. */
    systemActions: boolean;
  };
  auth: {
    mode: AuthMode;
    /** Path of the trusted-clients JSON file (issuers, JWKS, allowed jku, algorithms). */
    trustedClientsFile?: string;
    /** True when the development trusted-clients file is in use because none was configured. */
    devClients: boolean;
  };
  /** NODE_ENV=production: no development defaults. */
  production: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** The development trusted-clients file shipped with the project (never used in production). */
export const DEV_TRUSTED_CLIENTS_FILE = path.join(PROJECT_ROOT, 'config', 'trusted-clients.dev.json');

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
    return fallback;
  }
  return value;
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean, problems: string[]): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['false', '0', 'no', 'off'].includes(raw.toLowerCase())) return false;
  problems.push(`${name} must be true or false (got "${raw}")`);
  return fallback;
}

/** Reads and validates configuration from the environment; throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const problems: string[] = [];
  const port = integer(env, 'PORT', 8080, 0, 65535, problems);

  const baseUrlRaw = env.BASE_URL || `http://localhost:${port}`;
  let baseUrl = baseUrlRaw.replace(/\/+$/, '');
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`BASE_URL must be an http(s) URL (got "${baseUrlRaw}")`);
    if (u.search || u.hash) problems.push(`BASE_URL must not have a query or fragment (got "${baseUrlRaw}")`);
  } catch {
    problems.push(`BASE_URL must be an absolute URL (got "${baseUrlRaw}")`);
    baseUrl = `http://localhost:${port}`;
  }

  const databaseUrl = env.DATABASE_URL || `sqlite://${path.resolve(cwd, 'data', 'calf-pain.db')}`;
  if (!/^sqlite:(\/\/\/.+|:memory:)$/.test(databaseUrl) && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push(`DATABASE_URL must be sqlite:///absolute/path.db, sqlite::memory: or postgres://... (got "${databaseUrl}")`);
  }

  const logLevel = (env.LOG_LEVEL || 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${env.LOG_LEVEL}")`);

  const maxBodyBytes = integer(env, 'MAX_BODY_BYTES', 1_000_000, 1024, 50_000_000, problems);
  const rateLimitPerMinute = integer(env, 'RATE_LIMIT_PER_MINUTE', 1200, 1, 1_000_000, problems);
  const fhirServerDeadlineMs = integer(env, 'CDS_FHIR_DEADLINE_MS', 1000, 50, 30_000, problems);
  const responseWindowDays = integer(env, 'CDS_RESPONSE_WINDOW_DAYS', 14, 1, 3650, problems);
  const systemActions = boolean(env, 'CDS_SYSTEM_ACTIONS', false, problems);

  const corsOrigins = (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of corsOrigins) {
    let valid = false;
    try {
      valid = new URL(origin).origin === origin;
    } catch {
      valid = false;
    }
    if (!valid) problems.push(`CORS_ORIGINS must list origins such as https://portal.example.org (scheme, host, optional port; no path) (got "${origin}")`);
  }

  const authRaw = (env.AUTH_MODE || 'on').toLowerCase();
  if (authRaw !== 'on' && authRaw !== 'off') problems.push(`AUTH_MODE must be on or off (got "${env.AUTH_MODE}")`);
  const production = env.NODE_ENV === 'production';
  // Outside production, the development clients (whose key is in config/dev-keys/) are trusted unless
  // a file is named, so the README examples work with auth on. Production must name its own file.
  const devClients = !env.TRUSTED_CLIENTS_FILE && !production;
  const trustedClientsFile = env.TRUSTED_CLIENTS_FILE
    ? path.resolve(cwd, env.TRUSTED_CLIENTS_FILE)
    : devClients
      ? DEV_TRUSTED_CLIENTS_FILE
      : undefined;
  if (production && authRaw === 'on' && !trustedClientsFile) {
    problems.push('TRUSTED_CLIENTS_FILE is required when NODE_ENV=production and AUTH_MODE is on');
  }

  if (problems.length) throw new ConfigError(problems);
  return {
    port,
    baseUrl,
    databaseUrl,
    logLevel,
    maxBodyBytes,
    rateLimitPerMinute,
    corsOrigins,
    cdsHooks: { fhirServerDeadlineMs, responseWindowDays, systemActions },
    auth: { mode: authRaw as AuthMode, trustedClientsFile, devClients },
    production,
  };
}

/** Configuration for tests: in-memory SQLite, auth off, quiet logs; override what a test needs. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    port: 0,
    baseUrl: 'http://localhost:8080',
    databaseUrl: 'sqlite::memory:',
    logLevel: 'silent',
    maxBodyBytes: 1_000_000,
    rateLimitPerMinute: 1_000_000,
    cdsHooks: { fhirServerDeadlineMs: 1000, responseWindowDays: 14, systemActions: false },
    auth: { mode: 'off', devClients: false },
    production: false,
    ...overrides,
  };
}
