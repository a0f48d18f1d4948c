/**
 * FHIR API bearer tokens: trusted issuer, aud = BASE_URL/fhir, SMART scopes limited to what the
 * issuer may grant; public metadata and Questionnaire reads.
 */
import express, { type Request } from 'express';
import { SignJWT, type KeyLike } from 'jose';
import request from 'supertest';
import { testConfig } from '../src/config/config';
import { createApiAuth, isPublicFhirRequest } from '../src/auth/api-auth';
import { parseTrustedClients, type TrustedClients } from '../src/auth/trusted-clients';
import { generateClient } from './support/generated-client';
import { answerOutcomeErrors } from './support/outcome-errors';

const BASE = 'https://cds.calf-pain.example';
const AUD = `${BASE}/fhir`;
const NOW = new Date('2025-06-01T12:00:00Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const ISS = 'https://auth.example.org';

let key: KeyLike;
let trusted: TrustedClients;

beforeAll(async () => {
  const client = await generateClient(ISS, { alg: 'RS384', kid: 'auth-1' });
  key = client.privateKey;
  const jwk = client.publicJwk;
  trusted = parseTrustedClients({
    clients: [
      {
        iss: ISS,
        jwks: { keys: [jwk] },
        cdsClient: false,
        apiScopes: ['patient/*.cruds', 'user/RiskAssessment.rs', 'system/Questionnaire.rs'],
      },
      { iss: 'https://cds-only.example.org', jwks: { keys: [jwk] } },
    ],
  });
});

function token(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISS, aud: AUD, iat: NOW_S, exp: NOW_S + 3600, sub: 'app-1', ...claims })
    .setProtectedHeader({ alg: 'RS384', kid: 'auth-1', ...header })
    .sign(key);
}

function app(mode: 'on' | 'off' = 'on') {
  const a = express();
  const config = testConfig({ baseUrl: BASE, auth: { mode, devClients: false } });
  a.use('/fhir', createApiAuth({ config, trustedClients: trusted, now: () => NOW }));
  a.all('/fhir/{*rest}', (_req, res) => res.json({ access: res.locals.access ?? null }));
  a.use(answerOutcomeErrors);
  return a;
}

async function expect401(res: request.Response) {
  expect(res.status).toBe(401);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].code).toBe('login');
  expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="fhir"/);
}

describe('FHIR API: public requests', () => {
  it.each([
    ['GET', '/fhir/metadata'],
    ['GET', '/fhir/metadata?_format=json'],
    ['HEAD', '/fhir/metadata'],
    ['GET', '/fhir/Questionnaire'],
    ['GET', '/fhir/Questionnaire?url=http://x'],
    ['GET', '/fhir/Questionnaire/calf-pain'],
    ['GET', '/fhir/Questionnaire/calf-pain/_history/1'],
  ])('%s %s needs no token', async (method, url) => {
    const res = await request(app())[method === 'GET' ? 'get' : 'head'](url);
    expect(res.status).toBe(200);
  });

  it.each([
    ['GET', '/fhir/QuestionnaireResponse'],
    ['GET', '/fhir/RiskAssessment/1'],
    ['GET', '/fhir/Questionnaire/calf-pain/$populate'],
    ['GET', '/fhir/Questionnaire/../RiskAssessment/1'],
    ['POST', '/fhir/Questionnaire'],
    ['PUT', '/fhir/Questionnaire/calf-pain'],
    ['DELETE', '/fhir/Questionnaire/calf-pain'],
    ['POST', '/fhir/metadata'],
    ['GET', '/fhir'],
  ])('%s %s without a token is 401', async (method, url) => {
    const req = request(app());
    const res = await (method === 'GET'
      ? req.get(url)
      : method === 'POST'
        ? req.post(url)
        : method === 'PUT'
          ? req.put(url)
          : req.delete(url));
    await expect401(res);
  });

  it('verifies a token sent on a public route: an invalid one is 401', async () => {
    await expect401(await request(app()).get('/fhir/metadata').set('Authorization', 'Bearer nonsense'));
  });

  it('recognises public paths under a custom base path only', () => {
    const req = (method: string, originalUrl: string) => ({ method, originalUrl }) as Request;
    expect(isPublicFhirRequest(req('GET', '/api/fhir/metadata'), '/api/fhir')).toBe(true);
    expect(isPublicFhirRequest(req('GET', '/fhir/metadata'), '/api/fhir')).toBe(false);
    expect(isPublicFhirRequest(req('GET', '/fhirx/metadata'))).toBe(false);
  });
});

describe('FHIR API: bearer tokens', () => {
  it('sets res.locals.access with the scopes the issuer may grant and the patient claim', async () => {
    const t = await token({ scope: 'patient/QuestionnaireResponse.c patient/RiskAssessment.rs launch/patient openid', patient: 'p1' });
    const res = await request(app()).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${t}`);
    expect(res.status).toBe(200);
    expect(res.body.access).toEqual({
      issuer: ISS,
      subject: 'app-1',
      scopes: ['patient/QuestionnaireResponse.c', 'patient/RiskAssessment.rs'],
      patient: 'p1',
    });
  });

  it('drops requested scopes beyond the issuer allow-list (system/*.cruds from a patient/user issuer)', async () => {
    const t = await token({ scope: 'system/*.cruds user/RiskAssessment.rs user/RiskAssessment.cruds user/QuestionnaireResponse.read' });
    const res = await request(app()).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${t}`);
    expect(res.body.access.scopes).toEqual(['user/RiskAssessment.rs']);
  });

  it('accepts scopes as an scp array and typ at+jwt', async () => {
    const t = await token({ scp: ['patient/RiskAssessment.read'], patient: 'p1' }, { typ: 'at+jwt' });
    const res = await request(app()).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${t}`);
    expect(res.status).toBe(200);
    expect(res.body.access.scopes).toEqual(['patient/RiskAssessment.read']);
  });

  it('ignores a patient claim that is not a FHIR id', async () => {
    const t = await token({ scope: 'patient/RiskAssessment.rs', patient: 'p1/../p2' });
    const res = await request(app()).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${t}`);
    expect(res.body.access.patient).toBeUndefined();
  });

  it('is a pass-through when AUTH_MODE=off', async () => {
    const res = await request(app('off')).post('/fhir/RiskAssessment');
    expect(res.status).toBe(200);
    expect(res.body.access).toBeNull();
  });

  it.each<[string, () => Promise<string>]>([
    ['wrong aud (the CDS services URL)', () => token({ aud: `${BASE}/cds-services` })],
    ['wrong aud (the bare base URL)', () => token({ aud: BASE })],
    ['expired', () => token({ exp: NOW_S - 120 })],
    ['not yet valid', () => token({ nbf: NOW_S + 300 })],
    ['issued in the future', () => token({ iat: NOW_S + 300 })],
    ['missing exp', () => token({ exp: undefined })],
    ['missing aud', () => token({ aud: undefined })],
    ['unknown issuer', () => token({ iss: 'https://else.example.org' })],
    ['an issuer trusted as a CDS client only', () => token({ iss: 'https://cds-only.example.org' })],
    ['unknown kid', () => token({}, { kid: 'other' })],
    ['typ of an ID token', () => token({}, { typ: 'id_token+jwt' })],
  ])('401 for %s', async (_name, make) => {
    const res = await request(app())
      .get('/fhir/RiskAssessment')
      .set('Authorization', `Bearer ${await make()}`);
    await expect401(res);
  });

  it('allows the same access token to be used many times (no jti replay on the API)', async () => {
    const t = await token({ scope: 'user/RiskAssessment.rs', jti: 'reused' });
    const a = app();
    for (let i = 0; i < 3; i++) expect((await request(a).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${t}`)).status).toBe(200);
  });

  it('401 for a tampered scope claim', async () => {
    const t = await token({ scope: 'patient/RiskAssessment.rs', patient: 'p1' });
    const [h, p, s] = t.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, scope: 'user/RiskAssessment.rs' })).toString('base64url');
    await expect401(await request(app()).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${h}.${forged}.${s}`));
  });
});
