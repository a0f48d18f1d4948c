/**
 * The rate limiter's counters: in this process (RATE_LIMIT_STORE=memory, the default and the cheapest:
 * no network on the hot path), or in Redis (RATE_LIMIT_STORE=redis://host:port) so that every replica
 * behind a load balancer counts against one shared limit per client. The `redis` client and
 * rate-limit-redis are loaded only when Redis is configured.
 */
import type { ClientRateLimitInfo, IncrementResponse, Options, Store as RateLimitCounterStore } from 'express-rate-limit';
import type { Logger } from 'pino';

export interface SharedRateLimit {
  /** A counter store per surface ('fhir', 'cds'): separate key prefixes, one connection. */
  storeFor(surface: string): RateLimitCounterStore;
  close(): Promise<void>;
}

/** A Redis outage is logged at most this often (every request would otherwise log it). */
const OUTAGE_LOG_EVERY_MS = 30_000;

/**
 * Lets a request through when the shared counters cannot be reached (the limit protects the service; it
 * must not take it down), logging the outage now and then through pino rather than on every request.
 */
class FailOpenStore implements RateLimitCounterStore {
  readonly localKeys = false;
  constructor(
    private readonly inner: RateLimitCounterStore,
    private readonly outage: (err: unknown) => void,
  ) {}

  get prefix(): string | undefined {
    return this.inner.prefix;
  }

  init(options: Options): void | Promise<void> {
    return this.inner.init?.(options);
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    try {
      return await this.inner.get?.(key);
    } catch (err) {
      this.outage(err);
      return undefined;
    }
  }

  async increment(key: string): Promise<IncrementResponse> {
    try {
      return await this.inner.increment(key);
    } catch (err) {
      this.outage(err);
      return { totalHits: 0, resetTime: undefined };
    }
  }

  async decrement(key: string): Promise<void> {
    try {
      await this.inner.decrement(key);
    } catch (err) {
      this.outage(err);
    }
  }

  async resetKey(key: string): Promise<void> {
    try {
      await this.inner.resetKey(key);
    } catch (err) {
      this.outage(err);
    }
  }
}

/** How long start-up waits for Redis before giving up. */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * Connects to Redis and returns the stores; throws when Redis does not answer at start-up. Later
 * outages fail fast (no offline queue) and the limiter lets requests through (FailOpenStore) rather
 * than refusing clinical traffic because a counter is unreachable; the client reconnects by itself.
 */
export async function connectRedisRateLimit(url: string, logger: Logger): Promise<SharedRateLimit> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { createClient } = require('redis') as typeof import('redis');
  const { RedisStore } = require('rate-limit-redis') as typeof import('rate-limit-redis');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
  });
  let lastError = '';
  client.on('error', (err: Error) => {
    // Logged once per distinct problem, not on every reconnect attempt.
    if (err.message !== lastError) logger.warn({ err: { message: err.message } }, 'rate-limit store (Redis) error');
    lastError = err.message;
  });
  client.on('ready', () => {
    if (lastError) logger.info('rate-limit store (Redis) reconnected');
    lastError = '';
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Redis at RATE_LIMIT_STORE did not answer within ${CONNECT_TIMEOUT_MS} ms`)),
          CONNECT_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    client.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  let lastOutageLog = 0;
  const outage = (err: unknown) => {
    const now = Date.now();
    if (now - lastOutageLog < OUTAGE_LOG_EVERY_MS) return;
    lastOutageLog = now;
    logger.warn(
      { err: { message: (err as Error)?.message } },
      'rate-limit store (Redis) unreachable: requests are let through without rate limiting',
    );
  };
  return {
    storeFor: (surface) =>
      new FailOpenStore(
        new RedisStore({
          prefix: `calf-pain-cds:rl:${surface}:`,
          sendCommand: (...args: string[]) => client.sendCommand(args),
        }),
        outage,
      ),
    close: async () => {
      if (client.isOpen) await client.quit().catch(() => client.destroy());
    },
  };
}
