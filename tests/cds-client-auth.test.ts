/**
 * CDS Hooks client authentication (CDS Hooks 2.0 "Trusting CDS Clients"): every call needs a JWT
 * signed by a trusted client for the exact endpoint URL; every failure is a bare 401.
 */
import { createHmac, createPublicKey, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike, type JWK } from 'jose';
import request from 'supertest';
import { testConfig } from '../src/config/config';
import { createCdsClientAuth } from '../src/auth/cds-client-auth';
import { loadTrustedClients, parseTrustedClients, type TrustedClients } from '../src/auth/trusted-clients';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';
import type { Store } from '../src/storage/store';
import { DEV_TRUSTED_CLIENTS_FILE } from './support/dev-client';
import { answerOutcomeErrors } from './support/outcome-errors';

const BASE = 'https://cds.calf-pain.example';
const NOW = new Date('2025-06-01T12:00:00Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const SERVICE_URL = `${BASE}/cds-services/calf-pain`;
const ISS = 'https://ehr.example.org';

interface Signer {
  kid: string;
  alg: 'ES384' | 'RS384';
  privateKey: KeyLike;
  publicJwk: JWK;
}

async function signer(alg: 'ES384' | 'RS384', kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

interface MintOptions {
  signer: Signer;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  omit?: string[];
}

/** A token valid for SERVICE_URL at NOW unless options say otherwise. */
async function mint({ signer: s, header = {}, claims = {}, omit = [] }: MintOptions): Promise<string> {
  const payload: Record<string, unknown> = { iss: ISS, aud: SERVICE_URL, iat: NOW_S, exp: NOW_S + 300, jti: randomUUID(), ...claims };
  for (const k of omit) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: s.alg, typ: 'JWT', kid: s.kid, ...header }).sign(s.privateKey);
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

let es: Signer;
let rs: Signer;
let remote: Signer;
let stranger: Signer;
let jwksServer: http.Server;
let jwksBase: string;
let jwksHits = 0;
let trusted: TrustedClients;
let store: Store;

beforeAll(async () => {
  es = await signer('ES384', 'ehr-es384');
  rs = await signer('RS384', 'ehr-rs384');
  remote = await signer('ES384', 'ehr-remote');
  stranger = await signer('ES384', 'ehr-es384'); // same kid as a trusted key, different key pair

  jwksServer = http.createServer((req, res) => {
    jwksHits++;
    if (req.url === '/jwks.json' || req.url === '/url-jwks.json' || req.url === '/other-jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [req.url === '/other-jwks.json' ? stranger.publicJwk : remote.publicJwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksBase = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;

  trusted = parseTrustedClients({
    clients: [
      { iss: ISS, jwks: { keys: [es.publicJwk, rs.publicJwk] }, allowedJku: [`${jwksBase}/jwks.json`] },
      { iss: 'https://tenant-ehr.example.org', jwks: { keys: [es.publicJwk] }, tenant: 'hospital-a' },
      { iss: 'https://url-ehr.example.org', jwksUrl: `${jwksBase}/url-jwks.json` },
      { iss: 'https://api-only.example.org', jwks: { keys: [es.publicJwk] }, cdsClient: false, apiScopes: ['system/*.rs'] },
    ],
  });
});

afterAll(async () => {
  await new Promise((resolve) => jwksServer.close(resolve));
});

beforeEach(() => {
  store = createSqliteStore({ filename: ':memory:', indexer: () => [], now: () => NOW });
});

afterEach(async () => {
  await store.close();
});

function app(trustedClients: TrustedClients = trusted, mode: 'on' | 'off' = 'on') {
  const a = express();
  const config = testConfig({ baseUrl: BASE, auth: { mode, devClients: false } });
  a.use('/cds-services', createCdsClientAuth({ config, store, trustedClients, now: () => NOW }));
  a.get('/cds-services', (_req, res) => res.json({ services: [], caller: res.locals.cdsClient ?? null }));
  a.post('/cds-services/calf-pain', (_req, res) => res.json({ cards: [], caller: res.locals.cdsClient ?? null }));
  a.use(answerOutcomeErrors);
  return a;
}

function call(token: string | undefined, url = '/cds-services/calf-pain', a = app()) {
  const r = request(a).post(url).send({ hook: 'patient-view' });
  return token === undefined ? r : r.set('Authorization', `Bearer ${token}`);
}

async function expectRefused(token: string | undefined, url?: string, a?: express.Express) {
  const res = await call(token, url, a);
  expect(res.status).toBe(401);
  // The body names the problem for the client's developer, never the token.
  expect(Object.keys(res.body as object).sort()).toEqual(['error', 'message']);
  expect(JSON.stringify(res.body)).not.toContain(token ?? '\u0000');
  expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="cds-services"/);
  expect(JSON.stringify(res.headers)).not.toContain(token ?? '\u0000');
}

describe('CDS client JWT: accepted tokens', () => {
  it('accepts an ES384 token from an inline JWKS and exposes the verified issuer', async () => {
    const res = await call(await mint({ signer: es, claims: { sub: 'dr-who' } }));
    expect(res.status).toBe(200);
    expect(res.body.caller).toEqual({ issuer: ISS, subject: 'dr-who' });
  });

  it('accepts an RS384 token from an inline JWKS', async () => {
    expect((await call(await mint({ signer: rs }))).status).toBe(200);
  });

  it('protects discovery too, with aud = the discovery URL', async () => {
    const token = await mint({ signer: es, claims: { aud: `${BASE}/cds-services` } });
    expect((await request(app()).get('/cds-services').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    expect((await request(app()).get('/cds-services')).status).toBe(401);
  });

  it('ignores the query string when matching aud', async () => {
    expect((await call(await mint({ signer: es }), '/cds-services/calf-pain?x=1')).status).toBe(200);
  });

  it('accepts a token within the clock skew (iat 50 s ahead, exp 50 s ago)', async () => {
    expect((await call(await mint({ signer: es, claims: { iat: NOW_S + 50 } }))).status).toBe(200);
    expect((await call(await mint({ signer: es, claims: { iat: NOW_S - 400, exp: NOW_S - 50 } }))).status).toBe(200);
  });

  it('accepts a key fetched from an allow-listed jku served over HTTP', async () => {
    const token = await mint({ signer: remote, header: { jku: `${jwksBase}/jwks.json` } });
    expect((await call(token)).status).toBe(200);
  });

  it('accepts a key from a configured jwksUrl and fetches the JWKS once, not per request', async () => {
    const hitsBefore = jwksHits;
    for (let i = 0; i < 3; i++) {
      const token = await mint({ signer: remote, claims: { iss: 'https://url-ehr.example.org' } });
      expect((await call(token)).status).toBe(200);
    }
    expect(jwksHits - hitsBefore).toBe(1);
  });

  it('checks the tenant when the issuer is configured with one', async () => {
    const iss = 'https://tenant-ehr.example.org';
    expect((await call(await mint({ signer: es, claims: { iss, tenant: 'hospital-a' } }))).status).toBe(200);
  });

  it('passes everything through when AUTH_MODE=off', async () => {
    const res = await call(undefined, undefined, app(trusted, 'off'));
    expect(res.status).toBe(200);
    expect(res.body.caller).toBeNull();
  });
});

describe('CDS client JWT: every bad token is a bare 401', () => {
  it('no Authorization header', async () => {
    await expectRefused(undefined);
  });

  it('another scheme or a malformed bearer value', async () => {
    const token = await mint({ signer: es });
    expect((await request(app()).post('/cds-services/calf-pain').set('Authorization', `Basic ${token}`)).status).toBe(401);
    await expectRefused('not-a-jwt');
    await expectRefused(`${token}.extra`);
    await expectRefused('a'.repeat(9000) + '.b.c');
  });

  it('alg none (unsigned)', async () => {
    const payload = { iss: ISS, aud: SERVICE_URL, iat: NOW_S, exp: NOW_S + 300, jti: randomUUID() };
    await expectRefused(`${b64url({ alg: 'none', typ: 'JWT', kid: es.kid })}.${b64url(payload)}.`);
    await expectRefused(`${b64url({ alg: 'none', typ: 'JWT', kid: es.kid })}.${b64url(payload)}.AAAA`);
  });

  it('HS256 signed with the public key as the HMAC secret', async () => {
    const publicPem = createPublicKey({ key: es.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const payload = { iss: ISS, aud: SERVICE_URL, iat: NOW_S, exp: NOW_S + 300, jti: randomUUID() };
    for (const secret of [publicPem, JSON.stringify(es.publicJwk)]) {
      const input = `${b64url({ alg: 'HS256', typ: 'JWT', kid: es.kid })}.${b64url(payload)}`;
      const sig = createHmac('sha256', secret).update(input).digest('base64url');
      await expectRefused(`${input}.${sig}`);
    }
  });

  it('an asymmetric algorithm not on the issuer allow-list (ES256)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'es256' };
    const t = parseTrustedClients({ clients: [{ iss: ISS, jwks: { keys: [jwk] } }] });
    const token = await new SignJWT({ iss: ISS, aud: SERVICE_URL, iat: NOW_S, exp: NOW_S + 300, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'es256' })
      .sign(privateKey);
    await expectRefused(token, undefined, app(t));
  });

  it('wrong aud: another service, the base URL, another host, or a different scheme', async () => {
    for (const aud of [
      `${BASE}/cds-services/other`,
      BASE,
      'https://evil.example/cds-services/calf-pain',
      SERVICE_URL.replace('https', 'http'),
      `${SERVICE_URL}/`,
    ]) {
      await expectRefused(await mint({ signer: es, claims: { aud } }));
    }
  });

  it('expired (exp beyond the 60 s skew)', async () => {
    await expectRefused(await mint({ signer: es, claims: { iat: NOW_S - 600, exp: NOW_S - 61 } }));
  });

  it('not yet valid: nbf or iat in the future beyond the skew', async () => {
    await expectRefused(await mint({ signer: es, claims: { nbf: NOW_S + 120 } }));
    await expectRefused(await mint({ signer: es, claims: { iat: NOW_S + 120, exp: NOW_S + 400 } }));
  });

  it('replayed jti (the second use of one token, and a new token reusing a jti)', async () => {
    const a = app();
    const token = await mint({ signer: es, claims: { jti: 'once' } });
    expect((await call(token, undefined, a)).status).toBe(200);
    await expectRefused(token, undefined, a);
    await expectRefused(await mint({ signer: rs, claims: { jti: 'once' } }), undefined, a);
  });

  it('a forged token does not burn the jti of a legitimate one', async () => {
    const a = app();
    await expectRefused(await mint({ signer: stranger, claims: { jti: 'precious' } }), undefined, a);
    expect((await call(await mint({ signer: es, claims: { jti: 'precious' } }), undefined, a)).status).toBe(200);
  });

  it('unknown iss', async () => {
    await expectRefused(await mint({ signer: es, claims: { iss: 'https://unknown.example.org' } }));
  });

  it('an issuer trusted for the FHIR API only', async () => {
    await expectRefused(await mint({ signer: es, claims: { iss: 'https://api-only.example.org' } }));
  });

  it('jku not allow-listed (even when the kid is a trusted inline key)', async () => {
    await expectRefused(await mint({ signer: remote, header: { jku: `${jwksBase}/other-jwks.json` } }));
    await expectRefused(await mint({ signer: es, header: { jku: `${jwksBase}/other-jwks.json` } }));
    await expectRefused(await mint({ signer: stranger, header: { jku: `${jwksBase}/other-jwks.json` } }));
  });

  it('unknown kid', async () => {
    await expectRefused(await mint({ signer: es, header: { kid: 'no-such-key' } }));
  });

  it('missing kid or typ other than JWT', async () => {
    const payload = { iss: ISS, aud: SERVICE_URL, iat: NOW_S, exp: NOW_S + 300, jti: randomUUID() };
    await expectRefused(await new SignJWT(payload).setProtectedHeader({ alg: 'ES384', typ: 'JWT' }).sign(es.privateKey));
    await expectRefused(await mint({ signer: es, header: { typ: 'at+jwt' } }));
  });

  it('a key pair that is not the trusted one, under the trusted kid', async () => {
    await expectRefused(await mint({ signer: stranger }));
  });

  it('tampered payload (signature of the original kept)', async () => {
    const token = await mint({ signer: es, claims: { sub: 'nurse' } });
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    await expectRefused(`${h}.${b64url({ ...claims, sub: 'admin' })}.${s}`);
  });

  it('tampered header (kid switched to the other trusted key)', async () => {
    const token = await mint({ signer: es });
    const [, p, s] = token.split('.');
    await expectRefused(`${b64url({ alg: 'ES384', typ: 'JWT', kid: rs.kid })}.${p}.${s}`);
  });

  it.each(['iss', 'aud', 'exp', 'iat', 'jti'])('missing claim %s', async (claim) => {
    await expectRefused(await mint({ signer: es, omit: [claim] }));
  });

  it('wrong or missing tenant for an issuer configured with one', async () => {
    const iss = 'https://tenant-ehr.example.org';
    await expectRefused(await mint({ signer: es, claims: { iss, tenant: 'hospital-b' } }));
    await expectRefused(await mint({ signer: es, claims: { iss } }));
  });

  it('an exp too far ahead: beyond the Date range (no 500) or beyond the one-hour lifetime of a per-call token', async () => {
    for (const exp of [1e20, 8.64e12, NOW_S + 3600 * 24 * 365 * 10, NOW_S + 3600 + 61]) {
      await expectRefused(await mint({ signer: es, claims: { exp } }));
    }
    expect((await call(await mint({ signer: es, claims: { exp: NOW_S + 3600 } }))).status).toBe(200);
  });

  it('claims of the wrong type (exp as a string, aud as a number)', async () => {
    await expectRefused(await mint({ signer: es, claims: { exp: String(NOW_S + 300) } }));
    await expectRefused(await mint({ signer: es, claims: { aud: 42 } }));
  });
});

describe('the CDS Hooks sandbox (development issuer, inline published key)', () => {
  const sandboxJku = 'https://sandbox.cds-hooks.org/.well-known/jwks.json';
  const sandboxKid = '44823f3d-0b01-4a6c-a80e-b9d3e8a7226f';

  it('loads from config/trusted-clients.dev.json with its published ES384 key', () => {
    const dev = loadTrustedClients(DEV_TRUSTED_CLIENTS_FILE);
    const sandbox = dev.get('https://sandbox.cds-hooks.org');
    expect(sandbox).toBeDefined();
    expect(sandbox!.algorithms).toEqual(['ES384']);
    expect([...sandbox!.localKids]).toEqual([sandboxKid]);
    expect(sandbox!.allowedJku).toEqual([sandboxJku]);
  });

  it('refuses a token signed with another key under the sandbox kid and jku', async () => {
    const dev = loadTrustedClients(DEV_TRUSTED_CLIENTS_FILE);
    const impostor: Signer = { ...(await signer('ES384', sandboxKid)) };
    const token = await mint({
      signer: impostor,
      header: { jku: sandboxJku },
      claims: { iss: 'https://sandbox.cds-hooks.org' },
    });
    await expectRefused(token, undefined, app(dev));
  });
});
