/**
 * Who may read /metrics: nobody on the API port when METRICS_PORT moves it to its own listener;
 * with METRICS_TOKEN, callers sending `Authorization: Bearer <token>`; without either, anyone, but
 * only outside production (development). The metrics name services and counts, never patients, yet
 * they reveal load and card volumes, so a hospital deployment keeps them off the public port.
 */
import { timingSafeEqual } from 'node:crypto';
import express, { type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import type { OpsConfig } from '../config/config';

/** The exposition handler itself (no access check): for the separate metrics listener. */
export function metricsHandler(registry: Registry): RequestHandler {
  return async (_req, res) => {
    res
      .set('Cache-Control', 'no-store')
      .type(registry.contentType)
      .send(await registry.metrics());
  };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** GET /metrics on the API port, guarded as the configuration says; next() (404) when not served there. */
export function apiPortMetrics(registry: Registry, ops: OpsConfig): RequestHandler {
  const serve = metricsHandler(registry);
  return (req, res, next) => {
    if (ops.metricsPort !== undefined) return next();
    if (ops.metricsToken !== undefined) {
      const m = /^Bearer ([^\s]+)$/i.exec(req.get('authorization') ?? '');
      if (!m || !sameSecret(m[1], ops.metricsToken)) {
        res
          .status(401)
          .set('WWW-Authenticate', 'Bearer realm="metrics"')
          .set('Cache-Control', 'no-store')
          .json({ error: 'metrics need the METRICS_TOKEN bearer token' });
        return;
      }
      return serve(req, res, next);
    }
    if (ops.metricsPublic) return serve(req, res, next);
    next();
  };
}

/** The app for the separate metrics port: /metrics and nothing else. */
export function createMetricsApp(registry: Registry): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', metricsHandler(registry));
  app.use((_req, res) => void res.status(404).json({ error: 'only /metrics is served here' }));
  return app;
}
