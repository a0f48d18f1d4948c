/**
 * Liveness and readiness for load balancers and orchestrators.
 *   GET /healthz  200 while the process answers (liveness: restart it when this fails).
 *   GET /readyz   200 when the database answers within READY_TIMEOUT_MS, the rules and validators are
 *                 loaded and the process is not shutting down; 503 otherwise (take it out of rotation).
 * Both are unauthenticated, mounted before rate limiting, and left out of the access log (app.ts).
 * The body names what is not ready, never why in detail (no hosts, no credentials).
 */
import type { RequestHandler } from 'express';
import type { Store } from '../storage/store';

export type CheckState = 'ok' | 'failing' | 'loading' | 'shutting-down';

export interface ReadinessReport {
  status: 'ready' | 'not-ready';
  checks: Record<string, CheckState>;
}

export interface HealthOptions {
  store: Store;
  /** Longest the database probe may take, in milliseconds. */
  timeoutMs: number;
  /** Components still loading at start (e.g. 'validators'); each is marked with loaded(name). */
  loading?: string[];
}

export interface Health {
  /** Answers GET /healthz and /readyz; passes everything else on (one comparison per request). */
  middleware: RequestHandler;
  /** Marks a component named in `loading` as loaded. */
  loaded(name: string): void;
  /** From now on /readyz answers 503 (graceful shutdown: the load balancer stops sending traffic). */
  startShutdown(): void;
  readonly shuttingDown: boolean;
  readiness(): Promise<ReadinessReport>;
}

/** Resolves true when the store answers a one-row read within timeoutMs. */
export async function databaseAnswers(store: Store, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  // A primary-key read of a table every store has: cheap, and it needs a live connection.
  const probe = store.cardKind('readiness-probe').then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createHealth({ store, timeoutMs, loading = [] }: HealthOptions): Health {
  const pending = new Set(loading);
  let shuttingDown = false;
  // Probes from several load balancers at once share one database round trip.
  let inFlight: Promise<boolean> | undefined;

  const readiness = async (): Promise<ReadinessReport> => {
    inFlight ??= databaseAnswers(store, timeoutMs).finally(() => {
      inFlight = undefined;
    });
    const database = await inFlight;
    const checks: Record<string, CheckState> = {
      database: database ? 'ok' : 'failing',
      rules: pending.has('rules') ? 'loading' : 'ok',
      validators: pending.has('validators') ? 'loading' : 'ok',
      shutdown: shuttingDown ? 'shutting-down' : 'ok',
    };
    const ready = Object.values(checks).every((c) => c === 'ok');
    return { status: ready ? 'ready' : 'not-ready', checks };
  };

  const middleware: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const path = req.path.length > 1 && req.path.endsWith('/') ? req.path.slice(0, -1) : req.path;
    if (path === '/healthz') {
      res.set('Cache-Control', 'no-store').json({ status: 'ok' });
      return;
    }
    if (path !== '/readyz') return next();
    readiness().then(
      (report) => {
        res
          .status(report.status === 'ready' ? 200 : 503)
          .set('Cache-Control', 'no-store')
          .json(report);
      },
      (err: unknown) => next(err),
    );
  };

  return {
    middleware,
    loaded: (name) => void pending.delete(name),
    startShutdown: () => {
      shuttingDown = true;
    },
    get shuttingDown() {
      return shuttingDown;
    },
    readiness,
  };
}
