/// <reference lib="dom" />
/**
 * The web pages in a real browser (Debian chromium + playwright-core): a person answers the portal
 * questionnaire by clicking, presses Submit and reads the result; a clinician sees the matching cards,
 * accepts a suggestion and dismisses a card; axe-core on every page; no request leaves the app's origin
 * and no console error. Without chromium the suite is reported as skipped, with the reason.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RiskAssessment } from 'fhir/r4';
import { readAssessment } from './support/read-assessment';
import { WELLS_LINK_IDS } from './support/wells';
import { DEV_TRUSTED_CLIENTS_FILE, signDevClientJwt } from './support/dev-client';
import {
  ARTIFACT_DIR,
  browserUnavailable,
  criticalAndSeriousViolations,
  launchBrowser,
  newContext,
  openPage,
  README_SCREENSHOT_DIR,
  serveApp,
  type GuardedPage,
  type ServedApp,
} from './support/browser';

const unavailable = browserUnavailable();
if (unavailable) {
  // Reported, not silently passed: jest lists every test below as skipped.
  console.warn(`SKIPPED: the real-browser tests of the web pages (tests/pages-browser.test.ts): ${unavailable}`);
}
const describeInBrowser = unavailable ? describe.skip : describe;

// Generous limits: Chromium shares a small machine with the rest of the suite (they bound hangs, they time nothing).
jest.setTimeout(120_000);

type Answers = Record<string, boolean | string>;

/** The ten Wells criteria: yes to those named, no to the rest. */
function wellsAnswers(yes: string[]): Answers {
  return Object.fromEntries(WELLS_LINK_IDS.map((linkId) => [linkId, yes.includes(linkId)]));
}

/** The three stories, answered as a person would, by clicking. */
type Story = { patient: string; answers: Answers };
const STORIES: Record<string, Story> = {
  // Post-operative patient with cancer and a swollen, tender calf: Wells 5, DVT likely.
  likely: {
    patient: 'browser-dvt-likely',
    answers: {
      'affected-side': 'Left leg',
      'onset-sudden': false,
      'onset-during-activity': false,
      'snap-felt': false,
      'pain-site': 'calf-belly',
      'calf-swelling-reported': true,
      'recent-injury': false,
      ...wellsAnswers([
        'wells-active-cancer',
        'wells-bedridden-or-surgery',
        'wells-tenderness-deep-veins',
        'wells-calf-swelling-3cm',
        'wells-pitting-edema',
      ]),
      'pe-shortness-of-breath': false,
      'pe-chest-pain': false,
      'pe-coughing-blood': false,
    },
  },
  // A sports injury with a snap: every Wells criterion no, an alternative diagnosis as likely (-2).
  unlikely: {
    patient: 'browser-dvt-unlikely',
    answers: {
      'affected-side': 'Right leg',
      'onset-sudden': true,
      'onset-during-activity': true,
      'snap-felt': true,
      bruising: true,
      'recent-injury': true,
      ...wellsAnswers(['wells-alternative-diagnosis']),
      'pe-shortness-of-breath': false,
      'pe-chest-pain': false,
      'pe-coughing-blood': false,
    },
  },
  // Calf pain and now breathless with chest pain: the examination not done.
  pe: {
    patient: 'browser-pe-flag',
    answers: {
      'affected-side': 'Left leg',
      'calf-swelling-reported': true,
      'wells-active-cancer': false,
      'wells-bedridden-or-surgery': true,
      'pe-shortness-of-breath': true,
      'pe-chest-pain': true,
      'pe-coughing-blood': false,
    },
  },
};

/** The pain-site answers by code, as the Questionnaire displays them. */
const PAIN_SITE: Record<string, string> = { 'calf-belly': 'calf belly' };

/** Posts a completed response with one PE red flag answered yes for `patient`; returns the HTTP status. */
async function postRedFlagResponse(origin: string, patient: string, redFlag: string, token?: string): Promise<number> {
  const posted = await fetch(`${origin}/fhir/QuestionnaireResponse`, {
    method: 'POST',
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'QuestionnaireResponse',
      questionnaire: 'http://calfpain.example.org/fhir/Questionnaire/calf-pain|1.0.0',
      status: 'completed',
      subject: { reference: `Patient/${patient}` },
      authored: new Date().toISOString(),
      item: [{ linkId: 'red-flags', item: [{ linkId: redFlag, answer: [{ valueBoolean: true }] }] }],
    }),
  });
  return posted.status;
}

async function choose(page: Page, linkId: string, text: string): Promise<void> {
  const input = page.locator(`[id="${linkId}/1/1"]`);
  await input.click();
  const option = page.locator('#lhc-tools-searchResults li').filter({ hasText: text }).first();
  await option.click();
  await page.waitForFunction((id) => (document.getElementById(`${id}/1/1`) as HTMLInputElement | null)?.value !== '', linkId);
}

async function answer(page: Page, linkId: string, value: boolean | string): Promise<void> {
  if (typeof value === 'string') return choose(page, linkId, PAIN_SITE[value] ?? value);
  await page.locator(`[id="${linkId}/1/1|${value}"]`).click();
}

async function fillPortal(page: Page, answers: Answers): Promise<void> {
  await page.waitForSelector('body[data-form-ready="true"]', { timeout: 45_000 });
  for (const [linkId, value] of Object.entries(answers)) await answer(page, linkId, value);
}

async function submitAndWait(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.waitForSelector('#result:not([hidden])', { timeout: 20_000 });
  return (await page.locator('#result').innerText()).replace(/\s+/g, ' ');
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACT_DIR, { recursive: true });
  const file = path.join(ARTIFACT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, timeout: 60_000 });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(README_SCREENSHOT_DIR, { recursive: true });
    copyFileSync(file, path.join(README_SCREENSHOT_DIR, `${name}.png`));
  }
}

function expectClean(guarded: GuardedPage): void {
  expect(guarded.foreignRequests).toEqual([]);
  expect(guarded.errors).toEqual([]);
}

describeInBrowser('the web pages in Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  describe('auth on, development sign-in', () => {
    let served: ServedApp;
    let context: BrowserContext;
    const pages: GuardedPage[] = [];

    async function open(pathname: string, viewport?: { width: number; height: number }): Promise<GuardedPage> {
      const guarded = await openPage(context, served.origin, viewport);
      pages.push(guarded);
      await guarded.page.goto(`${served.origin}${pathname}`);
      return guarded;
    }

    async function storedAssessments(patient: string): Promise<RiskAssessment[]> {
      const token = await signDevClientJwt(`${served.origin}/fhir`, { now: new Date(), claims: { scope: 'system/*.rs' } });
      const res = await fetch(`${served.origin}/fhir/RiskAssessment?patient=${patient}&_sort=-date`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      const bundle = (await res.json()) as { entry?: { resource: RiskAssessment }[] };
      return (bundle.entry ?? []).map((e) => e.resource);
    }

    /** Opens the portal for the story's patient, answers it by clicking and waits for the live score line to read `live`. */
    async function answerStory(story: Story, live: string, viewport?: { width: number; height: number }): Promise<GuardedPage> {
      const guarded = await open(`/portal?patient=${story.patient}`, viewport);
      await fillPortal(guarded.page, story.answers);
      await guarded.page.waitForFunction((text) => document.getElementById('live-score')?.textContent?.includes(text), live);
      return guarded;
    }

    beforeAll(async () => {
      served = await serveApp();
      context = await newContext(browser);
    });

    afterEach(async () => {
      for (const guarded of pages.splice(0)) await guarded.close();
    });

    afterAll(async () => {
      await context?.close();
      await served?.close();
    });

    test('the landing page says what the service is and links to the pages and APIs; no axe findings', async () => {
      const guarded = await open('/');
      const { page } = guarded;
      await expect(page.locator('h1').innerText()).resolves.toBe('Calf-pain DVT decision support');
      const hrefs = await page.locator('a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
      expect(hrefs).toEqual(expect.arrayContaining(['/fhir/metadata', '/fhir/Questionnaire/calf-pain']));
      await expect(page.locator('body').innerText()).resolves.toContain('/cds-services');
      await page.fill('#patient-portal', 'from-landing');
      await page.getByRole('button', { name: 'Open the patient questionnaire' }).click();
      await page.waitForURL(`${served.origin}/portal?patient=from-landing`);
      await page.goto(`${served.origin}/`);
      expect(await criticalAndSeriousViolations(page)).toEqual([]);
      expectClean(guarded);
    });

    test('likely DVT: answered by clicking, the live Wells score, Submit, the result and the stored RiskAssessment', async () => {
      const guarded = await answerStory(STORIES.likely, 'Wells DVT score: 5');
      const { page } = guarded;
      // The number is LHC-Forms' own: the Questionnaire's calculatedExpression fills its Wells score field.
      await expect(page.inputValue('[id="wells-score/1"]')).resolves.toBe('5');
      expect(await criticalAndSeriousViolations(page)).toEqual([]);

      const text = await submitAndWait(page);
      expect(text).toContain('A blood clot in the leg (DVT) is possible');
      expect(text).toContain('Wells DVT score: 5');
      expect(text).toContain('within 4 hours');
      expect(text).not.toContain('Emergency');
      await expect(page.locator('[data-testid="wells-score"]').innerText()).resolves.toBe('5');
      expect(await criticalAndSeriousViolations(page)).toEqual([]);
      await screenshot(page, 'portal-desktop');

      const stored = await storedAssessments(STORIES.likely.patient);
      expect(stored).toHaveLength(1);
      const reading = readAssessment(stored[0]);
      expect(reading).toMatchObject({ status: 'final', score: 5, twoLevel: 'likely', peFlag: false });
      expect(reading.topCause).toBe('dvt');
      expectClean(guarded);
    });

    test('unlikely DVT: a sports injury scores -2 and the page says unlikely, with the D-dimer next', async () => {
      const guarded = await answerStory(STORIES.unlikely, 'Wells DVT score: -2');
      const { page } = guarded;
      const text = await submitAndWait(page);
      expect(text).toContain('A blood clot in the leg (DVT) is unlikely, but not ruled out');
      expect(text).toContain('Wells DVT score: -2');
      expect(text).toContain('D-dimer');

      const [ra] = await storedAssessments(STORIES.unlikely.patient);
      expect(readAssessment(ra)).toMatchObject({ status: 'final', score: -2, twoLevel: 'unlikely', peFlag: false });
      expectClean(guarded);
    });

    test('PE red flag: the emergency message comes first; phone-sized screen', async () => {
      // Examination not done: no provisional score is shown.
      const guarded = await answerStory(STORIES.pe, 'not yet calculated', { width: 390, height: 844 });
      const { page } = guarded;
      await expect(page.inputValue('[id="wells-score/1"]')).resolves.toBe('');
      const text = await submitAndWait(page);
      const firstBlock = await page.locator('#result > *:nth-child(2)').innerText();
      expect(firstBlock).toContain('Emergency: call emergency services now');
      expect(text.indexOf('call emergency services now')).toBeLessThan(text.indexOf('What happens next'));
      expect(text).toContain('a clinician needs to examine your leg');
      expect(text).toMatch(/warning sign of a blood clot in the lungs \(pulmonary embolism\): [^.]*breath/i);
      expect(text).not.toMatch(/qualitativeRisk|Probability not quantified|weight \d/);

      // The page fits the phone's width: nothing scrolls sideways.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      expect(await criticalAndSeriousViolations(page)).toEqual([]);
      await screenshot(page, 'portal-phone');

      const stored = await storedAssessments(STORIES.pe.patient);
      expect(stored).toHaveLength(1);
      expect(readAssessment(stored[0])).toMatchObject({ status: 'preliminary', peFlag: true });
      expectClean(guarded);
    });

    test('Submit is safe to retry: a lost answer from the server and a double click store one response', async () => {
      const patient = 'browser-retry';
      const guarded = await open(`/portal?patient=${patient}`);
      const { page } = guarded;
      await fillPortal(page, { 'affected-side': 'Left leg', 'calf-swelling-reported': true, 'pe-chest-pain': false });
      // The first POST reaches the server and is stored, but its answer is lost on the way back.
      let lost = 0;
      await page.route('**/fhir/QuestionnaireResponse', async (route) => {
        if (route.request().method() !== 'POST' || lost > 0) return route.fallback();
        lost++;
        const response = await route.fetch();
        expect(response.status()).toBe(201);
        await route.abort('connectionreset');
      });
      await page.getByRole('button', { name: 'Submit' }).dblclick();
      await page.waitForSelector('#form-problems:not([hidden])');
      await expect(page.locator('#form-problems').innerText()).resolves.toContain('Your answers were not sent');
      expect(lost).toBe(1);
      expect(await storedAssessments(patient)).toHaveLength(1);

      const text = await submitAndWait(page);
      expect(text).toContain('Your result');
      const stored = await storedAssessments(patient);
      expect(stored).toHaveLength(1);
      // One POST (its answer lost), then a search that found the stored response, and no second POST.
      expect(guarded.requested.filter((r) => r === 'POST /fhir/QuestionnaireResponse')).toHaveLength(1);
      expect(guarded.requested.filter((r) => r === 'GET /fhir/QuestionnaireResponse')).toHaveLength(1);
      expect(guarded.foreignRequests).toEqual([]);
      // Chromium logs the lost answer as a failed load; nothing else may be logged.
      expect(guarded.errors.filter((e) => !/ERR_CONNECTION_RESET|Failed to fetch/.test(e))).toEqual([]);
    });

    test('server validation problems are shown next to the answers they concern', async () => {
      const guarded = await open('/portal?patient=browser-invalid');
      const { page } = guarded;
      await fillPortal(page, { 'wells-active-cancer': true });
      // A response whose cancer answer is not a boolean: the server's 422 names that answer.
      await page.evaluate(() => {
        const util = (
          window as unknown as {
            LForms: {
              Util: {
                getFormFHIRData: (...a: unknown[]) => { item: { linkId: string; item?: { linkId: string; answer?: unknown[] }[] }[] };
              };
            };
          }
        ).LForms.Util;
        const original = util.getFormFHIRData.bind(util);
        util.getFormFHIRData = (...args: unknown[]) => {
          const qr = original(...args);
          for (const group of qr.item)
            for (const item of group.item ?? []) if (item.linkId === 'wells-active-cancer') item.answer = [{ valueString: 'yes' }];
          return qr;
        };
      });
      await page.getByRole('button', { name: 'Submit' }).click();
      const problem = page.locator('[id="item-wells-active-cancer/1/1"] .answer-problem');
      await problem.waitFor({ timeout: 20_000 });
      await expect(problem.innerText()).resolves.toMatch(/wells-active-cancer|boolean/i);
      await expect(page.locator('#form-problems').innerText()).resolves.toContain('Some answers need attention');
      expect(await storedAssessments('browser-invalid')).toEqual([]);
      expect(guarded.foreignRequests).toEqual([]);
      // The 422 itself is logged by Chromium as a failed resource load; nothing else may be.
      expect(guarded.errors.filter((e) => !/status of 422/.test(e))).toEqual([]);
    });

    test('clinician view: the cards match the stories; accepting a suggestion and dismissing a card are stored as feedback', async () => {
      // Likely DVT: a warning card with the ultrasound suggestion, accepted.
      let guarded = await open(`/clinician?patient=${STORIES.likely.patient}`);
      let { page } = guarded;
      await page.waitForSelector('body[data-page-ready="true"]');
      const likelyCard = page.locator('article.card').first();
      await expect(likelyCard.locator('.card-indicator').innerText()).resolves.toMatch(/warning/i);
      await expect(likelyCard.locator('.card-summary').innerText()).resolves.toContain('Wells DVT score 5: DVT likely');
      await expect(likelyCard.locator('.card-detail table').count()).resolves.toBeGreaterThan(0);
      expect(await criticalAndSeriousViolations(page)).toEqual([]);
      await screenshot(page, 'clinician-desktop');
      const uuid = await likelyCard.getAttribute('data-card-uuid');
      await likelyCard.locator('button.suggestion').first().click();
      await page.waitForFunction(() => document.querySelector('.card-outcome')?.textContent?.includes('Feedback sent'));
      await expect(likelyCard.locator('.card-outcome').innerText()).resolves.toContain('Accepted');
      const accepted = (await served.store.listFeedback()).filter((f) => f.card === uuid);
      expect(accepted).toHaveLength(1);
      expect(accepted[0]).toMatchObject({ outcome: 'accepted', cardKind: 'dvt-likely' });
      expect(accepted[0].acceptedSuggestions).toHaveLength(1);
      // History: the one assessment of this patient, from the FHIR API.
      await expect(page.locator('#history-table tbody tr').count()).resolves.toBe(1);
      expectClean(guarded);

      // PE: the critical card first; dismissed with a reason.
      guarded = await open(`/clinician?patient=${STORIES.pe.patient}`, { width: 390, height: 844 });
      ({ page } = guarded);
      await page.waitForSelector('body[data-page-ready="true"]');
      const peCard = page.locator('article.card').first();
      await expect(peCard.locator('.card-indicator').innerText()).resolves.toMatch(/critical/i);
      await expect(peCard.locator('.card-summary').innerText()).resolves.toMatch(/pulmonary embolism/i);
      expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
      await screenshot(page, 'clinician-phone');
      const peUuid = await peCard.getAttribute('data-card-uuid');
      await expect(peCard.locator('form.dismiss-form').isVisible()).resolves.toBe(false);
      await peCard.getByRole('button', { name: 'Dismiss…' }).click();
      await expect(peCard.locator('form.dismiss-form').isVisible()).resolves.toBe(true);
      const reasons = await peCard.locator('select option').count();
      if (reasons > 1) await peCard.locator('select').selectOption({ index: 1 });
      await peCard.locator('textarea').fill('Seen in the emergency department already');
      await peCard.getByRole('button', { name: 'Dismiss card' }).click();
      await page.waitForFunction(() => document.querySelector('.card-outcome')?.textContent?.includes('Feedback sent'));
      const overridden = (await served.store.listFeedback()).filter((f) => f.card === peUuid);
      expect(overridden).toHaveLength(1);
      expect(overridden[0]).toMatchObject({ outcome: 'overridden', cardKind: 'pe-red-flag' });
      expect(overridden[0].overrideReason?.userComment).toBe('Seen in the emergency department already');
      expect(await criticalAndSeriousViolations(page)).toEqual([]);
      expectClean(guarded);

      // Unlikely: an info card.
      guarded = await open(`/clinician?patient=${STORIES.unlikely.patient}`);
      ({ page } = guarded);
      await page.waitForSelector('body[data-page-ready="true"]');
      await expect(page.locator('article.card .card-indicator').first().innerText()).resolves.toMatch(/info/i);
      await expect(page.locator('article.card .card-summary').first().innerText()).resolves.toMatch(/unlikely/i);
      expectClean(guarded);
    });

    test('clinician view by keyboard alone: a card dismissed with a reason, the focus always visible', async () => {
      const guarded = await open(`/clinician?patient=${STORIES.unlikely.patient}`);
      const { page } = guarded;
      await page.waitForSelector('body[data-page-ready="true"]');
      const card = page.locator('article.card').first();
      const uuid = await card.getAttribute('data-card-uuid');
      // Tab from the top of the page until the card's Dismiss button has the focus.
      let reached = false;
      for (let i = 0; i < 40 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.textContent === 'Dismiss…');
        const outline = await page.evaluate(() => {
          const el = document.activeElement;
          return el && el !== document.body ? getComputedStyle(el).outlineStyle : 'none';
        });
        expect(outline).not.toBe('none');
      }
      expect(reached).toBe(true);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.activeElement?.tagName === 'SELECT');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Tab');
      await page.keyboard.type('Sports injury confirmed on examination');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('.card-outcome')?.textContent?.includes('Feedback sent'));
      const stored = (await served.store.listFeedback()).filter((f) => f.card === uuid);
      expect(stored).toHaveLength(1);
      expect(stored[0].outcome).toBe('overridden');
      expect(stored[0].overrideReason?.reason?.code).toBeTruthy();
      expect(stored[0].overrideReason?.userComment).toBe('Sports injury confirmed on examination');
      expectClean(guarded);
    });

    test('clinician view: risk assessments newest first, and card markdown never becomes HTML', async () => {
      const patient = STORIES.likely.patient;
      // A second, later assessment for the same patient, posted as a portal would.
      const signIn = await fetch(`${served.origin}/dev/sign-in`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ role: 'patient', patient }),
      });
      const { token } = (await signIn.json()) as { token: string };
      expect(await postRedFlagResponse(served.origin, patient, 'pe-coughing-blood', token)).toBe(201);
      const newest = (await storedAssessments(patient))[0];

      const guarded = await open(`/clinician?patient=${patient}`);
      const { page } = guarded;
      await page.waitForSelector('body[data-page-ready="true"]');
      const rows = page.locator('#history-table tbody tr');
      await expect(rows.count()).resolves.toBe(2);
      await expect(rows.first().innerText()).resolves.toContain(`RiskAssessment/${newest.id}`);
      await expect(rows.first().innerText()).resolves.toContain('Yes: emergency');

      // The markdown renderer, in this page, with hostile input: text only, no element from the data.
      const rendered = await page.evaluate(() => {
        const md = (window as unknown as { CardMarkdown: { render: (s: string, d: Document) => DocumentFragment } }).CardMarkdown;
        const box = document.createElement('div');
        box.appendChild(md.render('**bold** <img src=x onerror=alert(1)> [x](javascript:alert(1)) <script>alert(2)</script>', document));
        return { html: box.innerHTML, images: box.querySelectorAll('img, script').length, links: box.querySelectorAll('a').length };
      });
      expect(rendered.images).toBe(0);
      expect(rendered.links).toBe(0);
      expect(rendered.html).toContain('<strong>bold</strong>');
      expect(rendered.html).toContain('&lt;img');
      expectClean(guarded);
    });
  });

  describe('production: tokens from the embedding application', () => {
    let served: ServedApp;
    let ehr: http.Server;
    let ehrOrigin: string;

    beforeAll(async () => {
      served = await serveApp({ production: true, auth: { mode: 'on', trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: false } });
      // A stand-in EHR on another origin: it opens the clinician page and answers its token requests.
      ehr = http.createServer((req, res) => {
        const app = JSON.stringify(new URL(req.url ?? '/', 'http://ehr.invalid').searchParams.get('app') ?? '').replace(/</g, '\\u003c');
        res.setHeader('Content-Type', 'text/html');
        res.end(`<!doctype html><html lang="en"><title>EHR</title><button id="open">Open</button><script>
          let popup;
          document.getElementById('open').addEventListener('click', () => { popup = window.open(${app}); });
          window.addEventListener('message', async (event) => {
            if (event.source !== popup || !event.data || event.data.type !== 'calf-pain-cds/token-request') return;
            const token = await window.mintToken(event.data);
            popup.postMessage({ type: 'calf-pain-cds/token', id: event.data.id, token, expiresIn: 300 }, '*');
          });
        </script></html>`);
      });
      await new Promise<void>((resolve) => ehr.listen(0, '127.0.0.1', resolve));
      ehrOrigin = `http://127.0.0.1:${(ehr.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => ehr.close(() => resolve()));
      await served?.close();
    });

    test('the clinician page opened by an EHR signs in through it; the development sign-in is not there', async () => {
      const patient = 'browser-embedded';
      const system = await signDevClientJwt(`${served.origin}/fhir`, { now: new Date(), claims: { scope: 'system/*.cruds' } });
      expect(await postRedFlagResponse(served.origin, patient, 'pe-coughing-blood', system)).toBe(201);
      expect(
        (
          await fetch(`${served.origin}/dev/sign-in`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: '{"role":"clinician"}',
          })
        ).status,
      ).toBe(404);

      const context = await newContext(browser);
      try {
        const ehrPage = await context.newPage();
        const asked: { kind: string; audience: string }[] = [];
        await ehrPage.exposeFunction('mintToken', async (request: { kind: string; audience: string }) => {
          asked.push({ kind: request.kind, audience: request.audience });
          const claims = request.kind === 'fhir' ? { scope: 'user/RiskAssessment.rs user/QuestionnaireResponse.rs' } : {};
          return signDevClientJwt(request.audience, { now: new Date(), claims });
        });
        await ehrPage.goto(`${ehrOrigin}/?app=${encodeURIComponent(`${served.origin}/clinician?patient=${patient}`)}`);
        const [popup] = await Promise.all([context.waitForEvent('page'), ehrPage.click('#open')]);
        const errors: string[] = [];
        const requested: string[] = [];
        popup.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
        popup.on('request', (r) => requested.push(new URL(r.url()).pathname));
        await popup.waitForSelector('body[data-page-ready="true"]');
        await expect(popup.locator('article.card .card-indicator').first().innerText()).resolves.toMatch(/critical/i);
        await expect(popup.locator('#history-table tbody tr').count()).resolves.toBe(1);
        expect(asked).toEqual(
          expect.arrayContaining([
            { kind: 'fhir', audience: `${served.origin}/fhir` },
            { kind: 'cds', audience: `${served.origin}/cds-services/calf-pain-dvt` },
          ]),
        );
        expect(requested.filter((p) => p.startsWith('/dev/'))).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
    });
  });

  describe('AUTH_MODE=off', () => {
    let served: ServedApp;

    beforeAll(async () => {
      served = await serveApp({ auth: { mode: 'off', devClients: false } });
    });

    afterAll(async () => {
      await served?.close();
    });

    test('the clinician page works without any sign-in', async () => {
      const patient = 'browser-auth-off';
      expect(await postRedFlagResponse(served.origin, patient, 'pe-chest-pain')).toBe(201);
      const guarded = await openPage(await newContext(browser), served.origin);
      try {
        await guarded.page.goto(`${served.origin}/clinician?patient=${patient}`);
        await guarded.page.waitForSelector('body[data-page-ready="true"]');
        await expect(guarded.page.locator('article.card .card-indicator').first().innerText()).resolves.toMatch(/critical/i);
        expect(guarded.requested.filter((r) => r.includes(' /dev/'))).toEqual([]);
        expectClean(guarded);
      } finally {
        await guarded.page.context().close();
      }
    });
  });
});
