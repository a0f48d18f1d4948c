import pino from 'pino';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import { testConfig, type Config } from '../../src/config/config';
import type { AppDeps } from '../../src/http/deps';
import { loadEvaluator } from '../../src/clinical/engine';
import type { Evaluator } from '../../src/clinical/types';
import { loadCatalog, type Catalog } from '../../src/clinical/catalog';
import { seedStore } from '../../src/clinical/seed';
import { indexResource } from '../../src/storage/search-parameters';
import { createSqliteStore } from '../../src/storage/sqlite/sqlite-store';
import type { Store } from '../../src/storage/store';

let evaluator: Evaluator | undefined;
let catalog: Catalog | undefined;

export interface TestApp {
  app: Express;
  store: Store;
  deps: AppDeps;
  /** Moves the app's clock. */
  setNow(date: Date): void;
}

/** The real app over a real in-memory SQLite store, seeded with the bundled resources. */
export async function createTestApp(options: { config?: Partial<Config>; store?: Store; now?: Date } = {}): Promise<TestApp> {
  evaluator ??= loadEvaluator();
  catalog ??= loadCatalog();
  let now = options.now ?? new Date();
  const clock = () => now;
  const store = options.store ?? createSqliteStore({ filename: ':memory:', indexer: indexResource, now: clock });
  await seedStore(store, catalog);
  const deps: AppDeps = { config: testConfig(options.config), store, evaluator, logger: pino({ level: 'silent' }), now: clock };
  return { app: createApp(deps, { catalog }), store, deps, setNow: (d) => (now = d) };
}

export interface AuthTestAppOptions {
  now: Date;
  /** BASE_URL: token audiences are checked against it. */
  baseUrl: string;
  trustedClientsFile: string;
  /** Also trust the development clients (config/trusted-clients.dev.json). */
  devClients: boolean;
  /** Further configuration (e.g. maxBodyBytes). */
  config?: Partial<Config>;
}

/** The real app with AUTH_MODE=on, as production runs it: every FHIR and CDS call needs a trusted client's token. */
export function createAuthTestApp(options: AuthTestAppOptions): Promise<TestApp> {
  const { now, baseUrl, trustedClientsFile, devClients, config } = options;
  return createTestApp({ now, config: { ...config, baseUrl, auth: { mode: 'on', trustedClientsFile, devClients } } });
}

/**
 * A fresh app for each test of the enclosing block (made by `make`, its store closed after the test).
 * The returned object is refilled before each test, so it can be captured once at describe level.
 */
export function useTestApp(make: () => Promise<TestApp> = () => createTestApp()): TestApp {
  const slot = {} as TestApp;
  beforeEach(async () => {
    Object.assign(slot, await make());
  });
  afterEach(async () => {
    await slot.store.close();
  });
  return slot;
}

/** A PUT of `body` as FHIR JSON to `path`, with any further headers (If-Match, Prefer). */
export function putFhir(t: TestApp, path: string, body: unknown, headers: Record<string, string> = {}): request.Test {
  return request(t.app)
    .put(path)
    .set({ 'Content-Type': 'application/fhir+json', ...headers })
    .send(JSON.stringify(body));
}

/** A CORS preflight from `origin` for a POST with Authorization and Content-Type, as a browser sends it. */
export function corsPreflight(app: Express, path: string, origin: string): request.Test {
  return request(app)
    .options(path)
    .set({ Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' });
}
