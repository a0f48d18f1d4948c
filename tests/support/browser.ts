/// <reference lib="dom" />
/**
 * Real-browser testing: Debian's chromium driven by playwright-core, the app served on a loopback
 * port with its BASE_URL set to that port (JWT audiences are checked against it), and guards that
 * fail a test on any request leaving the app's origin or any console error.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import pino from 'pino';
import { createApp } from '../../src/app';
import { DEV_TRUSTED_CLIENTS_FILE, testConfig, type Config } from '../../src/config/config';
import type { AppDeps } from '../../src/http/deps';
import { loadEvaluator } from '../../src/clinical/engine';
import { loadCatalog } from '../../src/clinical/catalog';
import { seedStore } from '../../src/clinical/seed';
import { indexResource } from '../../src/storage/search-parameters';
import { createSqliteStore } from '../../src/storage/sqlite/sqlite-store';
import type { Store } from '../../src/storage/store';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserUnavailable(): string | undefined {
  return existsSync(CHROMIUM_PATH)
    ? undefined
    : `no Chromium at ${CHROMIUM_PATH} (install Debian's chromium package, or set CHROMIUM_PATH)`;
}

export interface ServedApp {
  app: Express;
  store: Store;
  deps: AppDeps;
  origin: string;
  close(): Promise<void>;
}

const evaluator = loadEvaluator();
const catalog = loadCatalog();

/** The real app on 127.0.0.1:<free port>, BASE_URL = that origin; auth on with the development clients unless overridden. */
export async function serveApp(config: Partial<Config> = {}): Promise<ServedApp> {
  let handler: http.RequestListener = (_req, res) => res.end();
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A real clock: tokens minted in the browser and risk assessments made minutes apart must be ordered as they happen.
  const store = createSqliteStore({ filename: ':memory:', indexer: indexResource, now: () => new Date() });
  await seedStore(store, catalog);
  const deps: AppDeps = {
    config: testConfig({
      baseUrl: origin,
      auth: { mode: 'on', trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: true },
      ...config,
    }),
    store,
    evaluator,
    logger: pino({ level: 'silent' }),
    now: () => new Date(),
  };
  const app = createApp(deps, { catalog });
  handler = app;
  return {
    app,
    store,
    deps,
    origin,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 30_000 });
}

export interface GuardedPage {
  page: Page;
  /** Requests the page sent anywhere but the app's origin. */
  foreignRequests: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
  /** `METHOD /path` of every request sent to the app, in order. */
  requested: string[];
  close(): Promise<void>;
}

/** One context per suite: pages share its HTTP cache, so LHC-Forms is fetched once (no routing: it would turn the cache off). */
export function newContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
}

/** A page that records every request leaving the app's origin and every console error. */
export async function openPage(context: BrowserContext, origin: string, viewport = { width: 1280, height: 900 }): Promise<GuardedPage> {
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  const guarded: GuardedPage = { page, foreignRequests: [], errors: [], requested: [], close: () => page.close() };
  page.on('request', (request) => {
    const url = request.url();
    if (url.startsWith(`${origin}/`) || url === origin) guarded.requested.push(`${request.method()} ${new URL(url).pathname}`);
    else if (!url.startsWith('data:')) guarded.foreignRequests.push(url);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') guarded.errors.push(message.text());
  });
  page.on('pageerror', (error) => guarded.errors.push(`uncaught: ${error.message}`));
  return guarded;
}

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** axe-core run in the page (evaluated through the DevTools protocol, so the page's CSP stays as served). */
export async function criticalAndSeriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run: (
            ctx: Document,
            opts: object,
          ) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }>;
        };
      }
    ).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    }));
  });
  return violations.filter((v) => v.impact === 'critical' || v.impact === 'serious');
}

export const ARTIFACT_DIR = path.join(__dirname, '..', '..', 'test-artifacts', 'screenshots');
export const README_SCREENSHOT_DIR = path.join(__dirname, '..', '..', 'docs', 'screenshots');
