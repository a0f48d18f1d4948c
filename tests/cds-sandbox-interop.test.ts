/**
 * Interoperability with the real CDS Hooks sandbox: tokens signed exactly as the sandbox signs them
 * (src/retrieve-data-helpers/jwt-generator.js in cds-hooks/sandbox: jsrsasign over these header and
 * payload JSON strings, ES384 with its published key), sent to the real app with client authentication
 * ON and config/trusted-clients.dev.json. No network: the key must come from the inline JWKS, even
 * though every sandbox token carries a jku.
 */
import { randomUUID, sign, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nock from 'nock';
import request from 'supertest';
import { expectConformantDiscovery, expectConformantHookResponse } from './support/cds-conformance';
import type { TestApp } from './support/app';
import { createDevAuthTestApp, DEV_TRUSTED_CLIENTS_FILE } from './support/dev-client';
import { NOW, response, searchset, PATIENT_ID } from './fixtures/cds/harness';
import type { Card } from '../src/core/cds-hooks';

const BASE = 'http://localhost:8080';
const SANDBOX_KID = '44823f3d-0b01-4a6c-a80e-b9d3e8a7226f';
const SANDBOX_JKU = 'https://sandbox.cds-hooks.org/.well-known/jwks.json';

let sandboxKey: KeyObject;
let t: TestApp;

beforeAll(() => {
  sandboxKey = createPrivateKey(readFileSync(path.join(__dirname, 'fixtures', 'cds-sandbox', 'ecprivkey.pem'), 'utf8'));
  nock.disableNetConnect();
  nock.enableNetConnect(/^127\.0\.0\.1(:\d+)?$/);
});

afterAll(() => {
  nock.enableNetConnect();
  // nock patches Node's http module for the whole process: undo it, or later test files in the same
  // jest process (--runInBand) send their requests through its mock sockets.
  nock.restore();
});

beforeEach(async () => {
  t = await createDevAuthTestApp({ now: NOW, baseUrl: BASE });
});

afterEach(async () => {
  await t.store.close();
});

/** generateJWT(audience) of the sandbox, at the app's clock (Math.round, as the sandbox does). */
function sandboxJwt(audience: string): string {
  const nowSeconds = NOW.getTime() / 1000;
  const payload = JSON.stringify({
    iss: 'https://sandbox.cds-hooks.org',
    aud: audience,
    exp: Math.round(nowSeconds + 300),
    iat: Math.round(nowSeconds),
    jti: randomUUID(),
  });
  const header = JSON.stringify({ alg: 'ES384', typ: 'JWT', kid: SANDBOX_KID, jku: SANDBOX_JKU });
  const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  const signature = sign('sha384', Buffer.from(input), { key: sandboxKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** A patient-view request as the sandbox builds it: hookInstance, hook, fhirServer, context, then the prefetch it fetched. */
function sandboxPatientView(): Record<string, unknown> {
  return {
    hookInstance: randomUUID(),
    hook: 'patient-view',
    fhirServer: 'https://launch.smarthealthit.org/v/r4/fhir',
    context: { patientId: PATIENT_ID, userId: 'Practitioner/COREPRACTITIONER1' },
    prefetch: {
      patient: { resourceType: 'Patient', id: PATIENT_ID },
      calfPainResponse: searchset([response('likely')]),
      conditions: searchset([]),
      procedures: searchset([]),
    },
  };
}

describe('the CDS Hooks sandbox, signing with its published key', () => {
  it('the fixture is the private half of the sandbox JWKS trusted in development', () => {
    const jwk = createPublicKey(sandboxKey).export({ format: 'jwk' });
    const dev = JSON.parse(readFileSync(DEV_TRUSTED_CLIENTS_FILE, 'utf8'));
    const trusted = dev.clients.find((c: { iss: string }) => c.iss === 'https://sandbox.cds-hooks.org').jwks.keys[0];
    expect({ x: jwk.x, y: jwk.y, crv: jwk.crv }).toEqual({ x: trusted.x, y: trusted.y, crv: trusted.crv });
    expect(trusted.kid).toBe(SANDBOX_KID);
  });

  it('discovery, a patient-view call and feedback succeed through the real app with auth on', async () => {
    const discovery = await request(t.app)
      .get('/cds-services')
      .set('Accept', 'application/json')
      .set('Authorization', `Bearer ${sandboxJwt(`${BASE}/cds-services`)}`)
      .expect(200);
    expectConformantDiscovery(discovery.body);
    expect(discovery.body.services.map((s: { id: string }) => s.id)).toContain('calf-pain-dvt');

    const hook = await request(t.app)
      .post('/cds-services/calf-pain-dvt')
      .set('Accept', 'application/json')
      .set('Authorization', `Bearer ${sandboxJwt(`${BASE}/cds-services/calf-pain-dvt`)}`)
      .send(sandboxPatientView())
      .expect(200);
    expectConformantHookResponse(hook.body);
    const [card] = hook.body.cards as Card[];
    expect(card.summary).toMatch(/Wells DVT score 4: DVT likely/);

    const feedback = await request(t.app)
      .post('/cds-services/calf-pain-dvt/feedback')
      .set('Authorization', `Bearer ${sandboxJwt(`${BASE}/cds-services/calf-pain-dvt/feedback`)}`)
      .send({
        feedback: [
          {
            card: card.uuid,
            outcome: 'accepted',
            acceptedSuggestions: [{ id: card.suggestions![0].uuid }],
            outcomeTimestamp: NOW.toISOString(),
          },
        ],
      })
      .expect(200);
    expect(feedback.body).toEqual({ received: 1 });
    const stored = await t.store.listFeedback();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ serviceId: 'calf-pain-dvt', card: card.uuid, outcome: 'accepted', cardKind: 'dvt-likely' });
  });

  it('a sandbox token is single-use and bound to the URL it was signed for', async () => {
    const jwt = sandboxJwt(`${BASE}/cds-services/calf-pain-dvt`);
    await request(t.app).post('/cds-services/calf-pain-dvt').set('Authorization', `Bearer ${jwt}`).send(sandboxPatientView()).expect(200);
    await request(t.app).post('/cds-services/calf-pain-dvt').set('Authorization', `Bearer ${jwt}`).send(sandboxPatientView()).expect(401);
    await request(t.app)
      .post('/cds-services/dvt-workup-order-select')
      .set('Authorization', `Bearer ${sandboxJwt(`${BASE}/cds-services/calf-pain-dvt`)}`)
      .send(sandboxPatientView())
      .expect(401);
  });
});
