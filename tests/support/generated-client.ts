/**
 * A trusted client with a key pair generated for the test run, and a temporary trusted-clients file
 * naming it: tests that need tokens the development key cannot give (their own scopes, another
 * issuer) set one up without a key on disk.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';

export interface GeneratedClient {
  iss: string;
  alg: 'ES384' | 'RS384';
  kid: string;
  privateKey: KeyLike;
  /** The public key as a JWK carrying kid and alg, ready for a jwks entry. */
  publicJwk: JWK;
}

/** A fresh key pair for `iss` (ES384, kid k1 unless given). */
export async function generateClient(iss: string, options: { alg?: 'ES384' | 'RS384'; kid?: string } = {}): Promise<GeneratedClient> {
  const { alg = 'ES384', kid = 'k1' } = options;
  const pair = await generateKeyPair(alg, { extractable: true });
  return { iss, alg, kid, privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg } };
}

export interface TrustedClientsFile {
  dir: string;
  file: string;
  /** Deletes the temporary directory. */
  remove(): void;
}

/** Writes `{ clients }` as a trusted-clients file in a new temporary directory named after `prefix`. */
export function writeTrustedClientsFile(prefix: string, fileName: string, clients: Record<string, unknown>[]): TrustedClientsFile {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, fileName);
  fs.writeFileSync(file, JSON.stringify({ clients }));
  return { dir, file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The trusted-clients entry for `client`: its public key inline, allowed the given FHIR API scopes. */
export function trustedEntry(client: GeneratedClient, apiScopes: string[]): Record<string, unknown> {
  return { iss: client.iss, jwks: { keys: [client.publicJwk] }, apiScopes };
}

/** Signs `payload` as given (no claims added) with header alg, typ JWT and kid of `client`. */
export function signClientJwt(client: GeneratedClient, payload: Record<string, unknown>): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: client.alg, typ: 'JWT', kid: client.kid }).sign(client.privateKey);
}

/** A single-use client JWT of `client` for `aud`: sub user-1, iat `now`, exp five minutes later, a fresh jti; then `claims`. */
export function clientToken(
  client: GeneratedClient,
  aud: string,
  options: { now: Date; claims?: Record<string, unknown> },
): Promise<string> {
  const nowSeconds = Math.floor(options.now.getTime() / 1000);
  return signClientJwt(client, {
    iss: client.iss,
    iat: nowSeconds,
    exp: nowSeconds + 300,
    jti: randomUUID(),
    sub: 'user-1',
    aud,
    ...options.claims,
  });
}

/** A clientToken for the FHIR API (aud BASE_URL/fhir) with SMART scopes, and a patient when given. */
export function fhirApiToken(
  client: GeneratedClient,
  options: { baseUrl: string; now: Date; scope: string; patient?: string },
): Promise<string> {
  const { baseUrl, now, scope, patient } = options;
  return clientToken(client, `${baseUrl}/fhir`, { now, claims: { scope, ...(patient ? { patient } : {}) } });
}
