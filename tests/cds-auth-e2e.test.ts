/**
 * CDS Hooks through the real app with client authentication ON and the development trusted clients
 * (config/trusted-clients.dev.json): tokens signed ES384 with the development key in config/dev-keys/,
 * as scripts/mint-token.js does. Covers the spec's "Trusting CDS Clients" rules end to end, and CORS
 * working with authentication (preflight without token, allow-origin on a 401).
 */
import { generateKeyPair, type KeyLike } from 'jose';
import request from 'supertest';
import { expectConformantDiscovery, expectConformantHookResponse } from './support/cds-conformance';
import type { TestApp } from './support/app';
import { createDevAuthTestApp, signDevClientJwt } from './support/dev-client';
import { NOW, patientView, response, searchset } from './fixtures/cds/harness';
import type { Card } from '../src/core/cds-hooks';

const BASE = 'https://cds.calf-pain.example';
const ORIGIN = 'https://sandbox.cds-hooks.org';
const SERVICE = '/cds-services/calf-pain-dvt';

let t: TestApp;

beforeEach(async () => {
  t = await createDevAuthTestApp({ now: NOW, baseUrl: BASE });
});

afterEach(async () => {
  await t.store.close();
});

/** A dev-client JWT at the app's clock, signed with the development key unless another is given. */
function token(aud: string, options: { key?: KeyLike; kid?: string } = {}): Promise<string> {
  return signDevClientJwt(aud, { now: NOW, ...options });
}

const hookCall = () =>
  patientView({ prefetch: { calfPainResponse: searchset([response('likely')]), conditions: searchset([]), procedures: searchset([]) } });
const callService = (jwt?: string) => {
  const r = request(t.app).post(SERVICE).set('Origin', ORIGIN);
  return (jwt ? r.set('Authorization', `Bearer ${jwt}`) : r).send(hookCall());
};

function expectRefused(res: request.Response): void {
  expect(res.status).toBe(401);
  expect(Object.keys(res.body as object).sort()).toEqual(['error', 'message']);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
  expect(res.headers['access-control-allow-origin']).toBe('*');
}

describe('CDS Hooks with client authentication on', () => {
  it('discovery succeeds with a signed token whose aud is the discovery URL', async () => {
    const jwt = await token(`${BASE}/cds-services`);
    const res = await request(t.app).get('/cds-services').set('Authorization', `Bearer ${jwt}`).expect(200);
    expectConformantDiscovery(res.body);
    expect(res.body.services.map((s: { id: string }) => s.id).sort()).toEqual(['calf-pain-dvt', 'dvt-workup-order-select']);
  });

  it('a patient-view call succeeds with a signed token whose aud is the service URL', async () => {
    const res = await callService(await token(`${BASE}${SERVICE}`)).expect(200);
    expectConformantHookResponse(res.body);
    const cards = res.body.cards as Card[];
    expect(cards).toHaveLength(1);
    expect(cards[0].summary).toMatch(/Wells DVT score 4: DVT likely/);
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('refuses the same token replayed', async () => {
    const jwt = await token(`${BASE}${SERVICE}`);
    await callService(jwt).expect(200);
    expectRefused(await callService(jwt));
  });

  it('refuses a call without a token, with the allow-origin header so a browser client can read the 401', async () => {
    const res = await callService();
    expectRefused(res);
    expect(res.headers['www-authenticate']).not.toMatch(/error=/);
  });

  it('refuses discovery without a token', async () => {
    expectRefused(await request(t.app).get('/cds-services').set('Origin', ORIGIN));
  });

  it('refuses a token whose aud is not the exact URL called', async () => {
    expectRefused(await callService(await token(`${BASE}/cds-services`)));
    expectRefused(await callService(await token(`${BASE}${SERVICE}/`)));
    expectRefused(await callService(await token(`http://localhost:8080${SERVICE}`)));
  });

  it('refuses a token for the dev issuer signed with another key', async () => {
    const other = await generateKeyPair('ES384');
    expectRefused(await callService(await token(`${BASE}${SERVICE}`, { key: other.privateKey })));
  });

  it('a refused token does not use up its jti: the genuine token still works afterwards', async () => {
    const jwt = await token(`${BASE}${SERVICE}`);
    const [header, payload] = jwt.split('.');
    const forged = `${header}.${payload}.${Buffer.alloc(96).toString('base64url')}`;
    expectRefused(await callService(forged));
    await callService(jwt).expect(200);
  });

  it('answers a CORS preflight without a token', async () => {
    const res = await request(t.app)
      .options(SERVICE)
      .set('Origin', ORIGIN)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-headers']).toMatch(/Authorization/i);
    expect(res.headers['access-control-allow-methods']).toMatch(/POST/);
  });
});
