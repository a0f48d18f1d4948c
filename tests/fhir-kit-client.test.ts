import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { listenDevAuthApp, signDevClientJwt, type ListeningDevAuthApp } from './support/dev-client';
import { buildResponse } from './support/build-response';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { writtenCounts } from './support/store-counts';

const run = promisify(execFile);

/** fhir-kit-client, unmodified, over HTTP with auth on (tests/clients/fhir-kit-session.mjs). */
describe('fhir-kit-client against the service', () => {
  let served: ListeningDevAuthApp;
  let base: string;
  let token: string;

  beforeAll(async () => {
    const now = new Date();
    served = await listenDevAuthApp(now);
    base = `${served.origin}/fhir`;
    token = await signDevClientJwt(base, {
      now,
      claims: { scope: 'user/QuestionnaireResponse.cruds user/RiskAssessment.rs user/Provenance.rs' },
    });
  });
  afterAll(async () => {
    await served.close();
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
    expect(await writtenCounts(served.t.store)).toEqual({ QuestionnaireResponse: 5, RiskAssessment: 5, Provenance: 6 });
  });
});
