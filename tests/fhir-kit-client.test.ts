import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { createDevAuthTestApp, signDevClientJwt } from './support/dev-client';
import type { TestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { writtenCounts } from './support/store-counts';

const run = promisify(execFile);

/** fhir-kit-client, unmodified, over HTTP with auth on (tests/clients/fhir-kit-session.mjs). */
describe('fhir-kit-client against the service', () => {
  let server: http.Server;
  let t: TestApp;
  let base: string;
  let token: string;

  beforeAll(async () => {
    server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const now = new Date();
    t = await createDevAuthTestApp({ now, baseUrl: origin });
    server.on('request', t.app);
    base = `${origin}/fhir`;
    token = await signDevClientJwt(base, {
      now,
      claims: { scope: 'user/QuestionnaireResponse.cruds user/RiskAssessment.rs user/Provenance.rs' },
    });
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await t.store.close();
  });

  it('creates, reads, vreads, updates, reads every level of history, pages, searches by POST, creates conditionally, evaluates and posts Bundles', async () => {
    const response = buildResponse(WELLS_LIKELY_ANSWERS, { subject: 'Patient/kit' });
    const { stdout } = await run(process.execPath, [path.join(__dirname, 'clients', 'fhir-kit-session.mjs')], {
      env: { ...process.env, FHIR_BASE: base, TOKEN: token, RESPONSE: JSON.stringify(response) },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({
      createdVersion: '1',
      read: true,
      vread: '1',
      updatedVersion: '2',
      instanceHistory: 2,
      typeHistory: 'history',
      systemHistory: 'history',
      pages: [2, 1],
      postSearch: 3,
      conditionalCreateSame: true,
      evaluate: 'RiskAssessment',
      batch: ['200 OK', '200 OK'],
      transaction: ['201 Created', '200 OK'],
    });
    expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 5, RiskAssessment: 5, Provenance: 6 });
  });
});
