/**
 * RATE_LIMIT_STORE=redis://...: limits counted in a real Redis (a throw-away redis-server the test
 * starts on its own port). Two apps sharing it share one limit; when Redis goes away requests are let
 * through at once (no hang, no 500) and counting resumes when it is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../src/app';
import { testConfig } from '../src/config/config';
import { loadEvaluator } from '../src/clinical/engine';
import { loadCatalog } from '../src/clinical/catalog';
import { indexResource } from '../src/storage/search-parameters';
import { connectRedisRateLimit, type SharedRateLimit } from '../src/ops/rate-limit-store';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';
import { freePort, waitFor } from './support/service-process';

jest.setTimeout(30_000);

let port: number;
let redis: ChildProcess | undefined;
const shared: SharedRateLimit[] = [];
const evaluator = loadEvaluator();
const catalog = loadCatalog();

function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  return waitFor('redis-server', async () => {
    return new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
  });
}

async function stopRedis(): Promise<void> {
  if (!redis || redis.exitCode !== null) return;
  const exited = new Promise((resolve) => redis!.once('exit', resolve));
  redis.kill('SIGKILL');
  await exited;
}

async function app(limit: number) {
  const logger = pino({ level: 'silent' });
  const limits = await connectRedisRateLimit(`redis://127.0.0.1:${port}`, logger);
  shared.push(limits);
  const store = createSqliteStore({ filename: ':memory:', indexer: indexResource });
  return createApp(
    { config: testConfig({ rateLimitPerMinute: limit }), store, evaluator, logger, now: () => new Date() },
    { catalog, sharedRateLimit: limits },
  );
}

beforeAll(async () => {
  port = await freePort();
  await startRedis();
});

afterAll(async () => {
  for (const s of shared) await s.close().catch(() => undefined);
  await stopRedis();
});

describe('rate limits in Redis', () => {
  it('shares one limit between two apps, lets requests through while Redis is down, and counts again when it is back', async () => {
    const a = await app(3);
    const b = await app(3);
    await request(a).get('/fhir/metadata').expect(200);
    await request(b).get('/fhir/metadata').expect(200);
    await request(a).get('/fhir/metadata').expect(200);
    await request(b).get('/fhir/metadata').expect(429);
    await request(a).get('/fhir/metadata').expect(429);

    await stopRedis();
    const started = Date.now();
    await request(a).get('/fhir/metadata').expect(200);
    await request(b).get('/fhir/metadata').expect(200);
    expect(Date.now() - started).toBeLessThan(2000);

    // A fresh Redis (nothing kept): the clients reconnect by themselves and counting starts over.
    await startRedis();
    await waitFor('the limit counted again', async () => (await request(a).get('/fhir/metadata')).status === 429, 15_000);
    expect((await request(b).get('/fhir/metadata')).status).toBe(429);
  });
});
