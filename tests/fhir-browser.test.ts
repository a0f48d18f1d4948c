import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createDevAuthTestApp, signDevClientJwt } from './support/dev-client';
import type { TestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { writtenCounts } from './support/store-counts';

/**
 * A browser page on another origin runs MedplumClient (the @medplum/core ES module, unmodified)
 * against the service with auth on: CORS preflights with Prefer, If-None-Exist and X-Medplum, and
 * MedplumClient's `credentials: 'include'`, which only a listed origin (CORS_ORIGINS) may use.
 * Chromium: CHROMIUM_PATH, else the Debian package's binary.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => fs.existsSync(p));
const MEDPLUM_ESM = require.resolve('@medplum/core').replace(/cjs[\\/]index\.cjs$/, 'esm/index.mjs');

jest.setTimeout(60_000);

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; origin: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('MedplumClient in a browser page on another origin', () => {
  let browser: Browser;
  let page: Page;
  let pageSite: { server: http.Server; origin: string };
  let api: { server: http.Server; origin: string };
  let open: { server: http.Server; origin: string };
  let t: TestApp;
  let unlisted: TestApp;
  let token: string;

  beforeAll(async () => {
    if (!CHROMIUM || !fs.existsSync(CHROMIUM) || !fs.existsSync(MEDPLUM_ESM)) {
      throw new Error(`Chromium (${CHROMIUM ?? 'not found'}) and ${MEDPLUM_ESM} are required: install chromium or set CHROMIUM_PATH`);
    }
    pageSite = await listen((req, res) => {
      if (req.url === '/medplum.mjs') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(fs.readFileSync(MEDPLUM_ESM));
      else res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>portal</title>');
    });
    api = await listen(() => undefined);
    open = await listen(() => undefined);
    const now = new Date();
    t = await createDevAuthTestApp({ now, baseUrl: api.origin, config: { corsOrigins: [pageSite.origin] } });
    api.server.on('request', t.app);
    unlisted = await createDevAuthTestApp({ now, baseUrl: open.origin });
    open.server.on('request', unlisted.app);
    token = await signDevClientJwt(`${api.origin}/fhir`, {
      now,
      claims: { scope: 'user/QuestionnaireResponse.cruds user/RiskAssessment.rs' },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
    page = await browser.newPage();
    await page.goto(pageSite.origin);
  });

  afterAll(async () => {
    await browser?.close();
    for (const site of [pageSite, api, open]) if (site) await new Promise((resolve) => site.server.close(resolve));
    await t?.store.close();
    await unlisted?.store.close();
  });

  it('runs conditional create, read, search, $evaluate and a transaction without a workaround', async () => {
    const qr = {
      ...buildResponse(WELLS_LIKELY_ANSWERS, { subject: 'Patient/browser' }),
      identifier: { system: 'https://portal.example.org', value: 'browser-1' },
    };
    const result = await page.evaluate(
      async ({ base, token, qr, site }) => {
        const { MedplumClient } = (await import(`${site}/medplum.mjs`)) as typeof import('@medplum/core');
        const medplum = new MedplumClient({ baseUrl: `${base}/`, fhirUrlPath: 'fhir', cacheTime: 0 });
        medplum.setAccessToken(token);
        const query = 'identifier=https://portal.example.org|browser-1';
        const first = await medplum.createResourceIfNoneExist(qr, query);
        const again = await medplum.createResourceIfNoneExist(qr, query);
        const read = await medplum.readResource('QuestionnaireResponse', first.id);
        const found = await medplum.searchResources('RiskAssessment', { basis: `QuestionnaireResponse/${first.id}` });
        const evaluated = (await medplum.post(medplum.fhirUrl('QuestionnaireResponse', '$evaluate'), qr)) as { resourceType: string };
        const tx = await medplum.executeBatch({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              fullUrl: 'urn:uuid:5e0c6a8e-1f3b-4c2d-9e7a-0b1c2d3e4f50',
              resource: { ...qr, identifier: undefined } as never,
              request: { method: 'POST', url: 'QuestionnaireResponse' },
            },
          ],
        });
        return {
          same: first.id === again.id,
          read: read.id === first.id,
          assessments: found.length,
          evaluated: evaluated.resourceType,
          tx: tx.entry?.[0].response?.status,
        };
      },
      { base: api.origin, token, qr, site: pageSite.origin },
    );
    expect(result).toEqual({ same: true, read: true, assessments: 1, evaluated: 'RiskAssessment', tx: '201 Created' });
    expect(await writtenCounts(t.store)).toEqual({ QuestionnaireResponse: 2, RiskAssessment: 2, Provenance: 2 });
  });

  it('without CORS_ORIGINS, any origin may call without credentials, and credentialed fetches are refused by the browser', async () => {
    const outcome = await page.evaluate(async (base) => {
      const plain = await fetch(`${base}/fhir/metadata`, { headers: { Accept: 'application/fhir+json', Prefer: 'return=representation' } });
      let credentialed = 'allowed';
      try {
        await fetch(`${base}/fhir/metadata`, { credentials: 'include', headers: { 'X-Medplum': 'extended' } });
      } catch {
        credentialed = 'blocked';
      }
      return { plain: plain.status, credentialed };
    }, open.origin);
    expect(outcome).toEqual({ plain: 200, credentialed: 'blocked' });
  });
});
