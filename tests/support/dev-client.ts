/**
 * The development CDS client of config/trusted-clients.dev.json and its private key in
 * config/dev-keys/: tests sign with it exactly as scripts/mint-token.js does, so they exercise the
 * same trust path a developer's `npm run token` goes through.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { importPKCS8, SignJWT, type KeyLike } from 'jose';
import type { Config } from '../../src/config/config';
import { createAuthTestApp, type TestApp } from './app';

const ROOT = path.join(__dirname, '..', '..');

/** The development trusted-clients file, as checked into the repository. */
export const DEV_TRUSTED_CLIENTS_FILE = path.join(ROOT, 'config', 'trusted-clients.dev.json');
export const DEV_CLIENT_KEY_FILE = path.join(ROOT, 'config', 'dev-keys', 'dev-client-es384.private.pem');
export const DEV_CLIENT_ISS = 'https://dev-client.calf-pain.example';
export const DEV_CLIENT_KID = 'dev-client-es384-1';

let devKey: Promise<KeyLike> | undefined;

/** The development client's ES384 private key (read once per test file). */
export function loadDevClientKey(): Promise<KeyLike> {
  devKey ??= importPKCS8(readFileSync(DEV_CLIENT_KEY_FILE, 'utf8'), 'ES384');
  return devKey;
}

export interface DevClientJwtOptions {
  /** Signing key; the development key unless a test forges with another. */
  key?: KeyLike;
  /** The app's clock: iat is now, exp five minutes later. */
  now: Date;
  /** Header kid; the development kid unless a test needs another. */
  kid?: string;
  /** Claims added to sub (e.g. scope for the FHIR API). */
  claims?: Record<string, unknown>;
}

/** A client JWT as the CDS Hooks spec describes it: ES384, kid, typ JWT; iss, aud, exp, iat, jti. */
export async function signDevClientJwt(aud: string, options: DevClientJwtOptions): Promise<string> {
  const nowSeconds = Math.floor(options.now.getTime() / 1000);
  return new SignJWT({ sub: 'dev-user', ...options.claims })
    .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: options.kid ?? DEV_CLIENT_KID })
    .setIssuer(DEV_CLIENT_ISS)
    .setAudience(aud)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + 300)
    .setJti(randomUUID())
    .sign(options.key ?? (await loadDevClientKey()));
}

/** The app with AUTH_MODE=on trusting the development clients (the dev client and the CDS Hooks sandbox). */
export function createDevAuthTestApp(options: { now: Date; baseUrl: string; config?: Partial<Config> }): Promise<TestApp> {
  return createAuthTestApp({ ...options, trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: true });
}

/** The dev-auth app served over real HTTP on a free local port, its base URL that port's origin. */
export interface ListeningDevAuthApp {
  origin: string;
  t: TestApp;
  /** Stops the server and closes the store. */
  close(): Promise<void>;
}

export async function listenDevAuthApp(now: Date): Promise<ListeningDevAuthApp> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const t = await createDevAuthTestApp({ now, baseUrl: origin });
  server.on('request', t.app);
  return {
    origin,
    t,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await t.store.close();
    },
  };
}
