/** `npm run token` (scripts/mint-token.js): the tokens it prints are accepted with the development trusted-clients file. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { verifyClientJwt } from '../src/auth/jwt';
import { grantableScopes, scopesFromClaims } from '../src/auth/scopes';
import { loadTrustedClients } from '../src/auth/trusted-clients';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';
import { DEV_TRUSTED_CLIENTS_FILE } from './support/dev-client';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..');
const SCRIPT = path.join(ROOT, 'scripts', 'mint-token.js');
const trusted = loadTrustedClients(DEV_TRUSTED_CLIENTS_FILE);

async function mint(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run(process.execPath, [SCRIPT, ...args], { env: { PATH: process.env.PATH, ...env } });
  return stdout.trim();
}

describe('mint-token script', () => {
  it('mints a single-use CDS Hooks token for the endpoint given in --aud', async () => {
    const store = createSqliteStore({ filename: ':memory:', indexer: () => [] });
    try {
      const aud = 'http://localhost:8080/cds-services/calf-pain';
      const token = await mint(['--aud', aud]);
      const verify = () => verifyClientJwt(token, trusted, { audience: aud, purpose: 'cds', now: new Date(), cdsRules: true, store });
      const { client, header } = await verify();
      expect(client.iss).toBe('https://dev-client.calf-pain.example');
      expect(header).toMatchObject({ alg: 'ES384', typ: 'JWT', kid: 'dev-client-es384-1' });
      await expect(verify()).rejects.toThrow(/replayed jti/);
    } finally {
      await store.close();
    }
  });

  it('defaults --aud to BASE_URL/cds-services', async () => {
    const token = await mint([], { BASE_URL: 'https://cds.example.org/' });
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    expect(claims.aud).toBe('https://cds.example.org/cds-services');
    expect(claims.exp - claims.iat).toBe(300);
  });

  it('mints a FHIR API token with scopes and a patient', async () => {
    const aud = 'http://localhost:8080/fhir';
    const token = await mint(['--aud', aud, '--scope', 'patient/QuestionnaireResponse.cr patient/RiskAssessment.rs', '--patient', 'pat-1']);
    const { client, payload } = await verifyClientJwt(token, trusted, { audience: aud, purpose: 'api', now: new Date(), cdsRules: false });
    expect(payload.patient).toBe('pat-1');
    expect(grantableScopes(scopesFromClaims(payload as { scope?: unknown }), client.apiScopes!)).toEqual([
      'patient/QuestionnaireResponse.cr',
      'patient/RiskAssessment.rs',
    ]);
  });

  it('fails with usage on an unknown argument', async () => {
    await expect(mint(['--nope', 'x'])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('Usage:') });
  });
});
