/**
 * Graceful shutdown on SIGTERM: readiness turns 503 at once (the load balancer stops sending new
 * requests; SHUTDOWN_DRAIN_MS gives it time to notice), then the listener closes, requests in flight
 * finish (bounded by SHUTDOWN_GRACE_MS), idle keep-alive connections are closed, the audit trail is
 * flushed, the pool closes and the process exits 0. Past the grace period it exits 1.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Health } from './health';

export interface ShutdownOptions {
  server: Server;
  health: Health;
  logger: Logger;
  drainMs: number;
  graceMs: number;
  /** Releases everything else (audit trail, Redis, the store), after the last request finished. */
  close: () => Promise<void>;
  exit?: (code: number) => void;
}

export function gracefulShutdown(options: ShutdownOptions): (signal: string) => Promise<void> {
  const { server, health, logger, drainMs, graceMs, close } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  return async (signal) => {
    if (health.shuttingDown) return;
    health.startShutdown();
    logger.info({ signal, drainMs, graceMs }, 'shutting down: readiness is 503, finishing requests in flight');
    const deadline = setTimeout(() => {
      logger.error({ graceMs }, 'requests still in flight after the grace period; exiting');
      exit(1);
    }, drainMs + graceMs);
    deadline.unref();
    if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
    // Connections between requests would keep server.close() waiting; ones mid-request are left alone.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // A keep-alive client may send one more request on a connection that was busy; it gets answered
    // with `Connection: close`, and the connection is closed once idle.
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    idle.unref();
    await closed;
    clearInterval(idle);
    try {
      await close();
      logger.info('shut down cleanly');
      logger.flush?.();
      exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      exit(1);
    }
  };
}
