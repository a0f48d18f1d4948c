/**
 * Verification of client-signed JWTs (CDS Hooks 2.0 "Trusting CDS Clients"; also the FHIR API's bearer
 * tokens). HTTP-free: takes the compact token and what it must satisfy, returns the verified claims
 * or throws JwtRejected. The reason in JwtRejected is for debug logs only — responses never carry it,
 * and nothing here ever logs or echoes the token itself.
 */
import {
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
  type JWTHeaderParameters,
  type ProtectedHeaderParameters,
} from 'jose';
import type { Store } from '../storage/store';
import type { TrustedClient, TrustedClients, JwtVerifyKeySet } from './trusted-clients';

/** Accepted difference between our clock and the client's, in seconds (exp, nbf, iat). */
export const CLOCK_SKEW_SECONDS = 60;
/** Compact JWTs longer than this are refused before any parsing (a signed JWT is well under 4 KB). */
const MAX_TOKEN_LENGTH = 8192;
const MAX_JTI_LENGTH = 255;
/**
 * A CDS Hooks JWT authenticates one call (the sandbox signs for 300 s): one whose exp lies further
 * ahead than this is refused. It also bounds how long its jti is kept in the store.
 */
export const MAX_CDS_TOKEN_LIFETIME_SECONDS = 3600;
/** The latest instant a JavaScript Date can hold, in seconds: a later exp could never be stored. */
const MAX_DATE_SECONDS = 8.64e12;
/** A compact JWS: three base64url parts (the signature may not be empty: that is `alg: none`). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export class JwtRejected extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'JwtRejected';
  }
}

export interface VerifyRequirements {
  /** The exact `aud` required. */
  audience: string;
  /** Which surface the token is for: the issuer must be allowed on it. */
  purpose: 'cds' | 'api';
  now: Date;
  /** CDS: `kid`, `typ: JWT`, `iat` and `jti` required and jti replay refused via the store. */
  cdsRules: boolean;
  store?: Store;
}

export interface VerifiedJwt {
  client: TrustedClient;
  payload: JWTPayload & Record<string, unknown>;
  header: JWTHeaderParameters;
}

/** Extracts the token from `Authorization: Bearer <token>`; undefined when absent or another scheme. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(authorization);
  return m ? m[1] : undefined;
}

export async function verifyClientJwt(token: string, trusted: TrustedClients, req: VerifyRequirements): Promise<VerifiedJwt> {
  if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) throw new JwtRejected('not a compact JWS');

  let header: ProtectedHeaderParameters;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    unverified = decodeJwt(token);
  } catch {
    throw new JwtRejected('undecodable header or payload');
  }
  if (typeof unverified.iss !== 'string') throw new JwtRejected('missing iss');
  const client = trusted.get(unverified.iss);
  if (!client) throw new JwtRejected('untrusted iss');
  if (req.purpose === 'cds' ? !client.cdsClient : !client.apiScopes)
    throw new JwtRejected(`issuer not allowed on the ${req.purpose} surface`);

  if (typeof header.alg !== 'string' || !client.algorithms.includes(header.alg)) throw new JwtRejected('algorithm not allowed');
  if (header.crit !== undefined) throw new JwtRejected('crit header not supported');
  if (req.cdsRules) {
    if (typeof header.kid !== 'string' || !header.kid) throw new JwtRejected('missing kid');
    if (typeof header.typ !== 'string' || header.typ.toUpperCase() !== 'JWT') throw new JwtRejected('typ must be JWT');
  } else if (header.typ !== undefined && !['JWT', 'AT+JWT', 'APPLICATION/AT+JWT'].includes(String(header.typ).toUpperCase())) {
    throw new JwtRejected('unexpected typ');
  }

  const keys = keySetFor(client, header, trusted);

  const required = req.cdsRules ? ['iss', 'aud', 'exp', 'iat', 'jti'] : ['iss', 'aud', 'exp'];
  let payload: JWTPayload;
  let verifiedHeader: JWTHeaderParameters;
  try {
    ({ payload, protectedHeader: verifiedHeader } = await jwtVerify(token, keys, {
      algorithms: client.algorithms,
      issuer: client.iss,
      audience: req.audience,
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: req.now,
      requiredClaims: required,
    }));
  } catch (e) {
    throw new JwtRejected(`${(e as { code?: string }).code ?? 'ERR'}: ${(e as Error).message}`);
  }

  const nowSeconds = Math.floor(req.now.getTime() / 1000);
  if (typeof payload.exp === 'number' && payload.exp >= MAX_DATE_SECONDS) throw new JwtRejected('exp out of range');
  // jose checks iat against the future only together with maxTokenAge; a token "issued" later than
  // now + skew is not yet valid either.
  if (payload.iat !== undefined && payload.iat > nowSeconds + CLOCK_SKEW_SECONDS) throw new JwtRejected('iat in the future');
  if (client.tenant !== undefined && payload.tenant !== client.tenant) throw new JwtRejected('tenant mismatch');

  if (req.cdsRules) {
    if ((payload.exp as number) > nowSeconds + MAX_CDS_TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS)
      throw new JwtRejected('exp too far in the future');
    const jti = payload.jti;
    if (typeof jti !== 'string' || !jti || jti.length > MAX_JTI_LENGTH) throw new JwtRejected('bad jti');
    if (!req.store) throw new JwtRejected('no store for jti replay check');
    // Remember the jti as long as the token could still be accepted (exp + skew). Recorded only after the
    // signature held, so forged tokens cannot burn a legitimate client's jtis.
    const until = new Date(((payload.exp as number) + CLOCK_SKEW_SECONDS) * 1000);
    if (!(await req.store.recordJti(client.iss, jti, until))) throw new JwtRejected('replayed jti');
  }
  return { client, payload: payload, header: verifiedHeader };
}

/**
 * Where the verification key comes from:
 * - a `jku` header is only acceptable when allow-listed for this issuer (else rejected outright);
 * - a `kid` found among the issuer's inline keys is verified locally (no network), so the sandbox's
 *   inline key works offline even though its tokens carry a jku;
 * - otherwise the allow-listed jku's key set, else the configured jwksUrl, else the inline set.
 */
function keySetFor(client: TrustedClient, header: ProtectedHeaderParameters, trusted: TrustedClients): JwtVerifyKeySet {
  const jku = header.jku;
  if (jku !== undefined && (typeof jku !== 'string' || !client.allowedJku.includes(jku))) throw new JwtRejected('jku not allow-listed');
  if (client.localKeys && typeof header.kid === 'string' && client.localKids.has(header.kid)) return client.localKeys;
  const url = jku ?? client.jwksUrl;
  if (url) {
    const remote = trusted.remote(url);
    if (!remote) throw new JwtRejected('no key set for url');
    return remote;
  }
  if (client.localKeys) return client.localKeys;
  throw new JwtRejected('no keys for issuer');
}
