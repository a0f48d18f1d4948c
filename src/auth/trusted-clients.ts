/**
 * The issuers this service trusts, read once at start-up from the JSON file named by
 * TRUSTED_CLIENTS_FILE. Every problem in the file is reported at once (TrustedClientsError), so a
 * misconfigured deployment fails at start, not on the first request.
 *
 * File shape (see config/trusted-clients.example.json):
 * {
 *   "clients": [{
 *     "iss": "https://ehr.example.org",          // exact `iss` claim
 *     "description": "free text",                 // optional
 *     "jwks": { "keys": [ ...public JWKs ] },     // inline keys, and/or
 *     "jwksUrl": "https://ehr.example.org/jwks",  // a JWKS URL configured out of band
 *     "allowedJku": ["https://ehr.example.org/.well-known/jwks.json"], // `jku` header values accepted
 *     "algorithms": ["ES384", "RS384"],           // default; asymmetric only, never none/HS*
 *     "tenant": "t1",                             // when set, the `tenant` claim must equal it
 *     "cdsClient": true,                          // may call /cds-services (default true)
 *     "apiScopes": ["system/*.rs"]                // may call /fhir with at most these scopes (default: no API access)
 *   }]
 * }
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet } from 'jose';
import type { Config } from '../config/config';
import { isObject } from '../core/json';
import { parseScope } from './scopes';

export type JwtVerifyKeySet = ReturnType<typeof createLocalJWKSet> | ReturnType<typeof createRemoteJWKSet>;

/** Asymmetric JWS algorithms a client may be configured with. `none` and HMAC (HS*) never are. */
export const ASYMMETRIC_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
  'Ed25519',
] as const;
export const DEFAULT_ALGORITHMS = ['ES384', 'RS384'];

export interface TrustedClient {
  iss: string;
  description?: string;
  /** Inline keys, resolved locally (no network). */
  localKeys?: ReturnType<typeof createLocalJWKSet>;
  /** `kid`s of the inline keys, to prefer them over a remote set. */
  localKids: ReadonlySet<string>;
  jwksUrl?: string;
  allowedJku: readonly string[];
  algorithms: string[];
  tenant?: string;
  cdsClient: boolean;
  /** Scopes the issuer may grant on the FHIR API; undefined = not an API caller. */
  apiScopes?: string[];
}

export interface RemoteJwksOptions {
  /** HTTP timeout of one JWKS fetch, ms (CDS calls should answer in ~500 ms, so keep it short). */
  timeoutMs: number;
  /** After a successful fetch, an unknown `kid` triggers another fetch only after this many ms. */
  cooldownMs: number;
  /** Cached keys are refetched after this many ms. */
  cacheMaxAgeMs: number;
}

export const DEFAULT_REMOTE_JWKS_OPTIONS: RemoteJwksOptions = { timeoutMs: 2000, cooldownMs: 30_000, cacheMaxAgeMs: 600_000 };

export class TrustedClients {
  private readonly byIssuer: Map<string, TrustedClient>;

  constructor(
    clients: TrustedClient[],
    /** One remote key set per URL (jwksUrl or allowed jku), created at load, shared by every request. */
    private readonly remoteSets: ReadonlyMap<string, JwtVerifyKeySet>,
  ) {
    this.byIssuer = new Map(clients.map((c) => [c.iss, c]));
  }

  get(iss: string): TrustedClient | undefined {
    return this.byIssuer.get(iss);
  }

  get size(): number {
    return this.byIssuer.size;
  }

  remote(url: string): JwtVerifyKeySet | undefined {
    return this.remoteSets.get(url);
  }
}

export class TrustedClientsError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid trusted clients file ${source}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'TrustedClientsError';
  }
}

/** Reads and validates the trusted-clients file; throws TrustedClientsError listing every problem. */
export function loadTrustedClients(file: string, remoteOptions: RemoteJwksOptions = DEFAULT_REMOTE_JWKS_OPTIONS): TrustedClients {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TrustedClientsError(file, [`cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TrustedClientsError(file, [`not valid JSON (${(e as Error).message})`]);
  }
  return parseTrustedClients(json, file, remoteOptions);
}

/**
 * The registry the app needs for config: loaded from config.auth.trustedClientsFile when auth is on
 * (required then), empty when auth is off.
 */
export function trustedClientsForConfig(config: Config, remoteOptions?: RemoteJwksOptions): TrustedClients {
  if (config.auth.mode === 'off') return new TrustedClients([], new Map());
  if (!config.auth.trustedClientsFile) {
    throw new TrustedClientsError('(none)', ['AUTH_MODE=on needs TRUSTED_CLIENTS_FILE naming the trusted-clients JSON file']);
  }
  return loadTrustedClients(config.auth.trustedClientsFile, remoteOptions);
}

const KNOWN_FIELDS = new Set(['iss', 'description', 'jwks', 'jwksUrl', 'allowedJku', 'algorithms', 'tenant', 'cdsClient', 'apiScopes']);

/** Parses and validates the trusted-clients JSON; throws TrustedClientsError listing every problem. */
export function parseTrustedClients(
  json: unknown,
  source = '(inline)',
  remoteOptions: RemoteJwksOptions = DEFAULT_REMOTE_JWKS_OPTIONS,
): TrustedClients {
  if (!isObject(json) || !Array.isArray(json.clients)) {
    throw new TrustedClientsError(source, ['expected an object with a "clients" array']);
  }
  const problems: string[] = [];
  const issuers = new Set<string>();
  const clients: TrustedClient[] = [];
  json.clients.forEach((raw, index) => {
    const client = parseClient(raw, `clients[${index}]`, issuers, problems);
    if (client) clients.push(client);
  });
  if (problems.length) throw new TrustedClientsError(source, problems);
  return new TrustedClients(clients, remoteKeySets(clients, remoteOptions));
}

/**
 * One entry of "clients": its problems are added to `problems` (all of them, in field order); the client
 * is returned only when it has none. `issuers` holds the issuers already listed, to refuse duplicates.
 */
function parseClient(raw: unknown, at: string, issuers: Set<string>, problems: string[]): TrustedClient | undefined {
  if (!isObject(raw)) {
    problems.push(`${at} must be an object`);
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(raw)) if (!KNOWN_FIELDS.has(key)) problems.push(`${at}.${key} is not a known field`);
  checkIssuer(raw.iss, at, issuers, problems);
  const algorithms = parseAlgorithms(raw.algorithms, at, problems);
  const keys = parseKeys(raw, at, problems);
  // Said only when nothing else is wrong: a key source that was given but refused has its own problem.
  if (!keys.localKeys && !keys.jwksUrl && !keys.allowedJku.length && problems.length === before) {
    problems.push(`${at} needs keys: "jwks", "jwksUrl" or "allowedJku"`);
  }
  checkAttributes(raw, at, problems);
  const apiScopes = parseApiScopes(raw.apiScopes, at, problems);
  if (problems.length !== before) return undefined;
  return {
    iss: raw.iss as string,
    description: raw.description as string | undefined,
    ...keys,
    algorithms,
    tenant: raw.tenant as string | undefined,
    cdsClient: raw.cdsClient === undefined ? true : (raw.cdsClient as boolean),
    apiScopes,
  };
}

/** Identity: `iss`, a non-empty string listed once. */
function checkIssuer(iss: unknown, at: string, issuers: Set<string>, problems: string[]): void {
  if (typeof iss !== 'string' || !iss.trim()) problems.push(`${at}.iss must be a non-empty string`);
  else if (issuers.has(iss)) problems.push(`${at}.iss "${iss}" is listed twice`);
  else issuers.add(iss);
}

/** The JWS algorithms accepted (DEFAULT_ALGORITHMS when not given): asymmetric ones only. */
function parseAlgorithms(value: unknown, at: string, problems: string[]): string[] {
  const algorithms = value === undefined ? [...DEFAULT_ALGORITHMS] : value;
  if (!Array.isArray(algorithms) || !algorithms.length) problems.push(`${at}.algorithms must be a non-empty array`);
  else
    for (const alg of algorithms)
      if (!(ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(alg))
        problems.push(`${at}.algorithms: "${String(alg)}" is not allowed (asymmetric only: ${ASYMMETRIC_ALGORITHMS.join(', ')})`);
  return algorithms as string[];
}

type ClientKeys = Pick<TrustedClient, 'localKeys' | 'localKids' | 'jwksUrl' | 'allowedJku'>;

/** Where the client's keys come from: inline `jwks`, a `jwksUrl`, and the `jku` URLs allowed. */
function parseKeys(raw: Record<string, unknown>, at: string, problems: string[]): ClientKeys {
  let localKeys: TrustedClient['localKeys'];
  const localKids = new Set<string>();
  if (raw.jwks !== undefined) {
    const jwksProblems = checkJwks(raw.jwks, `${at}.jwks`);
    problems.push(...jwksProblems);
    if (!jwksProblems.length) {
      const jwks = raw.jwks as JSONWebKeySet;
      for (const k of jwks.keys) if (typeof k.kid === 'string') localKids.add(k.kid);
      localKeys = createLocalJWKSet(jwks);
    }
  }

  let jwksUrl: string | undefined;
  if (raw.jwksUrl !== undefined) {
    const problem = checkKeyUrl(raw.jwksUrl);
    if (problem) problems.push(`${at}.jwksUrl ${problem}`);
    else jwksUrl = raw.jwksUrl as string;
  }

  const allowedJku: string[] = [];
  if (raw.allowedJku !== undefined) {
    if (!Array.isArray(raw.allowedJku)) problems.push(`${at}.allowedJku must be an array of URLs`);
    else
      raw.allowedJku.forEach((u, i) => {
        const problem = checkKeyUrl(u);
        if (problem) problems.push(`${at}.allowedJku[${i}] ${problem}`);
        else allowedJku.push(u as string);
      });
  }
  return { localKeys, localKids, jwksUrl, allowedJku };
}

/** The optional attributes: `tenant`, `description` and `cdsClient`. */
function checkAttributes(raw: Record<string, unknown>, at: string, problems: string[]): void {
  if (raw.tenant !== undefined && (typeof raw.tenant !== 'string' || !raw.tenant)) problems.push(`${at}.tenant must be a non-empty string`);
  if (raw.description !== undefined && typeof raw.description !== 'string') problems.push(`${at}.description must be a string`);
  if (raw.cdsClient !== undefined && typeof raw.cdsClient !== 'boolean') problems.push(`${at}.cdsClient must be true or false`);
}

/** FHIR API access: the SMART resource scopes the issuer may grant; undefined when not an API caller. */
function parseApiScopes(value: unknown, at: string, problems: string[]): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    problems.push(`${at}.apiScopes must be an array of SMART scopes`);
    return undefined;
  }
  const apiScopes: string[] = [];
  value.forEach((s, i) => {
    if (typeof s !== 'string' || !parseScope(s)) problems.push(`${at}.apiScopes[${i}] "${String(s)}" is not a SMART resource scope`);
    else apiScopes.push(s);
  });
  return apiScopes;
}

/** One remote key set per URL (jwksUrl or allowed jku) across all clients, created once at load. */
function remoteKeySets(clients: TrustedClient[], remoteOptions: RemoteJwksOptions): Map<string, JwtVerifyKeySet> {
  const remoteSets = new Map<string, JwtVerifyKeySet>();
  for (const client of clients) {
    for (const url of [client.jwksUrl, ...client.allowedJku]) {
      if (!url || remoteSets.has(url)) continue;
      remoteSets.set(
        url,
        createRemoteJWKSet(new URL(url), {
          timeoutDuration: remoteOptions.timeoutMs,
          cooldownDuration: remoteOptions.cooldownMs,
          cacheMaxAge: remoteOptions.cacheMaxAgeMs,
        }),
      );
    }
  }
  return remoteSets;
}

/** https only, except loopback hosts (local development and tests). */
function checkKeyUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a URL string';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not an absolute URL`;
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return `"${value}" must use https (http only for localhost)`;
  if (url.username || url.password || url.hash) return `"${value}" must not carry credentials or a fragment`;
  return undefined;
}

function checkJwks(value: unknown, at: string): string[] {
  if (!isObject(value) || !Array.isArray(value.keys) || !value.keys.length)
    return [`${at} must be a JWKS: {"keys": [ ...at least one key ]}`];
  const problems: string[] = [];
  value.keys.forEach((key: unknown, i: number) => {
    const where = `${at}.keys[${i}]`;
    if (!isObject(key)) {
      problems.push(`${where} must be an object`);
      return;
    }
    if (key.kty === 'oct') problems.push(`${where} is a symmetric key (kty "oct"); only public keys are accepted`);
    else if ('d' in key || 'p' in key || 'q' in key) problems.push(`${where} contains private key material; publish only the public key`);
    else if (key.kid !== undefined && typeof key.kid !== 'string') problems.push(`${where}.kid must be a string`);
    else if (key.alg !== undefined && !(ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(key.alg))
      problems.push(`${where}.alg "${typeof key.alg === 'string' ? key.alg : JSON.stringify(key.alg)}" is not an allowed algorithm`);
    else {
      try {
        createPublicKey({ key: key as import('node:crypto').JsonWebKey, format: 'jwk' });
      } catch (e) {
        problems.push(`${where} is not a usable public key (${(e as Error).message})`);
      }
    }
  });
  return problems;
}
