import path from 'node:path';
import { PROJECT_ROOT } from '../core/project-root';

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
  /** Operations: shared rate-limit store, /metrics access, audit trail, shutdown (src/ops/). */
  ops?: OpsConfig;
}

export interface OpsConfig {
  /** RATE_LIMIT_STORE: `memory` (one process) or a `redis://host:port` URL shared by every replica. */
  rateLimitStore: string;
  /** METRICS_TOKEN: /metrics on the API port needs `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** METRICS_PORT: /metrics served on this port (bind METRICS_HOST, default 127.0.0.1) and not on the API port. */
  metricsPort?: number;
  metricsHost: string;
  /** Neither token nor port, outside production: /metrics open on the API port (development). */
  metricsPublic: boolean;
  /** AUDIT_LOG_DIR: where the audit trail's daily JSON Lines files go; undefined: no audit trail (AUDIT_LOG_DIR=off). */
  auditLogDir?: string;
  /** AUDIT_RETENTION_DAYS: audit files older than this are deleted (0: kept forever). */
  auditRetentionDays: number;
  /** SHUTDOWN_GRACE_MS: how long in-flight requests may take to finish after SIGTERM. */
  shutdownGraceMs: number;
  /** SHUTDOWN_DRAIN_MS: how long /readyz answers 503 before the listener closes (load balancer notices). */
  shutdownDrainMs: number;
  /** READY_TIMEOUT_MS: longest a /readyz database probe may take. */
  readyTimeoutMs: number;
  /**
   * TRUST_PROXY: Express `trust proxy` — hops (`1`) or addresses/ranges (`loopback`, `uniquelocal`,
   * `10.0.0.0/8`, comma-separated) of load balancers whose X-Forwarded-For names the client; unset: none.
   */
  trustProxy?: number | string[];
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
    let valid: boolean;
    try {
      valid = new URL(origin).origin === origin;
    } catch {
      valid = false;
    }
    if (!valid) problems.push(`CORS_ORIGINS must list origins such as https://portal.example.org (scheme, host, optional port; ` +
      `no path) (got "${origin}")`);
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

  const ops = loadOpsConfig(env, cwd, production, problems);

  if (problems.length) throw new ConfigError(problems);
  return {
    ops,
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

function loadOpsConfig(env: NodeJS.ProcessEnv, cwd: string, production: boolean, problems: string[]): OpsConfig {
  const rateLimitStore = env.RATE_LIMIT_STORE || 'memory';
  if (rateLimitStore !== 'memory' && !/^rediss?:\/\/[^\s]+$/.test(rateLimitStore)) {
    problems.push(`RATE_LIMIT_STORE must be memory or a redis://host:port URL (got "${rateLimitStore.replace(/\/\/[^@/]*@/, '//***@')}")`);
  }
  const metricsToken = env.METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && metricsToken.length < 16) problems.push('METRICS_TOKEN must be at least 16 characters');
  const metricsPortRaw = integer(env, 'METRICS_PORT', -1, 0, 65535, problems);
  const auditRaw = env.AUDIT_LOG_DIR ?? '';
  const auditLogDir = auditRaw.toLowerCase() === 'off' ? undefined : path.resolve(cwd, auditRaw || path.join('data', 'audit'));
  const metricsPort = metricsPortRaw >= 0 ? metricsPortRaw : undefined;
  return {
    rateLimitStore,
    metricsToken,
    metricsPort,
    metricsHost: env.METRICS_HOST || '127.0.0.1',
    metricsPublic: !production && metricsToken === undefined && metricsPort === undefined,
    auditLogDir,
    auditRetentionDays: integer(env, 'AUDIT_RETENTION_DAYS', 400, 0, 36500, problems),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000, problems),
    shutdownDrainMs: integer(env, 'SHUTDOWN_DRAIN_MS', 0, 0, 60_000, problems),
    readyTimeoutMs: integer(env, 'READY_TIMEOUT_MS', 1000, 50, 30_000, problems),
    trustProxy: trustProxyFrom(env.TRUST_PROXY, problems),
  };
}

function trustProxyFrom(raw: string | undefined, problems: string[]): number | string[] | undefined {
  if (raw === undefined || raw === '' || raw === 'false') return undefined;
  if (/^\d{1,2}$/.test(raw)) return Number(raw);
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  // Never `true` (every hop trusted: any client could choose its rate-limit key).
  if (list.length === 0 || list.some((v) => !/^(loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(\/\d{1,3})?)$/.test(v))) {
    problems.push(`TRUST_PROXY must be a hop count or a comma-separated list of addresses, ranges, loopback, linklocal ` +
      `or uniquelocal (got "${raw}")`);
    return undefined;
  }
  return list;
}

/** Operations settings of a config (tests' configs carry none: memory limits, public /metrics, no audit). */
export function opsConfig(config: Config): OpsConfig {
  return (
    config.ops ?? {
      rateLimitStore: 'memory',
      metricsHost: '127.0.0.1',
      metricsPublic: true,
      auditRetentionDays: 0,
      shutdownGraceMs: 10_000,
      shutdownDrainMs: 0,
      readyTimeoutMs: 1000,
    }
  );
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
