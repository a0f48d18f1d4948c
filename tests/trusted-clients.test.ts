/** The trusted-clients file: validated at start, every problem reported at once. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { testConfig } from '../src/config/config';
import {
  DEFAULT_ALGORITHMS,
  loadTrustedClients,
  parseTrustedClients,
  trustedClientsForConfig,
  TrustedClientsError,
} from '../src/auth/trusted-clients';
import { DEV_TRUSTED_CLIENTS_FILE } from './support/dev-client';
import { problemsThrown } from './support/problems';

let publicJwk: JWK;
let privateJwk: JWK;
let dir: string;

beforeAll(async () => {
  const pair = await generateKeyPair('ES384', { extractable: true });
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1' };
  privateJwk = { ...(await exportJWK(pair.privateKey)), kid: 'k1' };
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trusted-clients-'));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function problemsOf(json: unknown): string[] {
  return problemsThrown(() => parseTrustedClients(json, 'test.json'), TrustedClientsError);
}

describe('trusted clients file', () => {
  it('applies defaults: ES384/RS384, CDS client, no API access', () => {
    const t = parseTrustedClients({ clients: [{ iss: 'https://ehr.example.org', jwks: { keys: [publicJwk] } }] });
    const c = t.get('https://ehr.example.org')!;
    expect(c.algorithms).toEqual(DEFAULT_ALGORITHMS);
    expect(c.cdsClient).toBe(true);
    expect(c.apiScopes).toBeUndefined();
    expect(t.size).toBe(1);
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', [], /"clients" array/],
    ['missing iss', { clients: [{ jwks: { keys: [] } }] }, /iss must be a non-empty string/],
    ['no keys at all', { clients: [{ iss: 'a' }] }, /needs keys/],
    ['alg none', { clients: [{ iss: 'a', jwks: { keys: [] }, algorithms: ['none'] }] }, /"none" is not allowed/],
    [
      'HMAC algorithm',
      { clients: [{ iss: 'a', allowedJku: ['https://a/jwks'], algorithms: ['ES384', 'HS256'] }] },
      /"HS256" is not allowed/,
    ],
    ['empty algorithm list', { clients: [{ iss: 'a', allowedJku: ['https://a/jwks'], algorithms: [] }] }, /non-empty array/],
    ['symmetric key', { clients: [{ iss: 'a', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }] }, /symmetric key/],
    ['plain-http jwksUrl', { clients: [{ iss: 'a', jwksUrl: 'http://ehr.example.org/jwks' }] }, /must use https/],
    ['relative jku', { clients: [{ iss: 'a', allowedJku: ['/jwks'] }] }, /not an absolute URL/],
    ['unknown field (typo)', { clients: [{ iss: 'a', allowedJkus: ['https://a/jwks'] }] }, /allowedJkus is not a known field/],
    [
      'duplicate issuer',
      {
        clients: [
          { iss: 'a', allowedJku: ['https://a/j'] },
          { iss: 'a', allowedJku: ['https://a/j'] },
        ],
      },
      /listed twice/,
    ],
    ['invalid scope', { clients: [{ iss: 'a', allowedJku: ['https://a/j'], apiScopes: ['everything'] }] }, /not a SMART resource scope/],
    [
      'cdsClient not boolean',
      { clients: [{ iss: 'a', allowedJku: ['https://a/j'], cdsClient: 'yes' }] },
      /cdsClient must be true or false/,
    ],
    ['empty tenant', { clients: [{ iss: 'a', allowedJku: ['https://a/j'], tenant: '' }] }, /tenant must be a non-empty string/],
    [
      'garbage key',
      { clients: [{ iss: 'a', jwks: { keys: [{ kty: 'EC', crv: 'P-384', x: 'AA', y: 'AA' }] } }] },
      /not a usable public key/,
    ],
  ])('refuses %s', (_name, json, message) => {
    expect(problemsOf(json).join('\n')).toMatch(message);
  });

  it('refuses private key material in the JWKS', () => {
    expect(problemsOf({ clients: [{ iss: 'a', jwks: { keys: [privateJwk] } }] }).join('\n')).toMatch(/private key material/);
  });

  it('lists every problem of every client at once', () => {
    const problems = problemsOf({
      clients: [
        { iss: '', allowedJku: ['x'] },
        { iss: 'b', algorithms: ['HS512'], jwks: {} },
      ],
    });
    expect(problems.length).toBeGreaterThanOrEqual(4);
  });

  it('accepts http key URLs on loopback hosts (local development)', () => {
    expect(
      problemsOf({ clients: [{ iss: 'a', jwksUrl: 'http://127.0.0.1:9999/jwks', allowedJku: ['http://localhost:9999/jwks'] }] }),
    ).toEqual([]);
  });

  it('reports an unreadable or non-JSON file with its name', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{ nope');
    expect(() => loadTrustedClients(bad)).toThrow(/bad\.json[\s\S]*not valid JSON/);
    expect(() => loadTrustedClients(path.join(dir, 'missing.json'))).toThrow(/cannot read the file \(ENOENT\)/);
  });

  it('the development file loads: the dev client (CDS + API) and the sandbox (CDS only)', () => {
    const t = loadTrustedClients(DEV_TRUSTED_CLIENTS_FILE);
    expect(t.get('https://dev-client.calf-pain.example')?.apiScopes).toContain('system/*.cruds');
    expect(t.get('https://sandbox.cds-hooks.org')?.apiScopes).toBeUndefined();
  });

  it('the example production file loads', () => {
    const t = loadTrustedClients(path.join(__dirname, '..', 'config', 'trusted-clients.example.json'));
    expect(t.size).toBe(2);
  });

  it('for config: required when auth is on, empty when off', () => {
    expect(() => trustedClientsForConfig(testConfig({ auth: { mode: 'on', devClients: false } }))).toThrow(/TRUSTED_CLIENTS_FILE/);
    expect(trustedClientsForConfig(testConfig({ auth: { mode: 'off', devClients: false } })).size).toBe(0);
    const file = DEV_TRUSTED_CLIENTS_FILE;
    expect(trustedClientsForConfig(testConfig({ auth: { mode: 'on', trustedClientsFile: file, devClients: false } })).size).toBe(2);
  });
});
