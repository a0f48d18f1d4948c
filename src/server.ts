import pino from 'pino';
import { ConfigError, loadConfig } from './config/config';
import { createApp } from './app';
import { loadEvaluator } from './clinical/engine';
import { indexResource } from './storage/search-parameters';
import { answerClientErrors } from './http/fhir/http';
import { loadCatalog } from './clinical/catalog';
import { seedStore } from './clinical/seed';
import { createSchemaValidator } from './core/schema-validator';
import { openStore } from './storage/open-store';
import { logRedaction } from './http/middleware/log-redaction';
import { opsConfig } from './config/config';
import { createAuditTrail } from './ops/audit';
import { createHealth } from './ops/health';
import { createMetricsApp } from './ops/metrics-endpoint';
import { connectRedisRateLimit, type SharedRateLimit } from './ops/rate-limit-store';
import { gracefulShutdown } from './ops/shutdown';
import { collectDefaultMetrics, Registry } from 'prom-client';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Written asynchronously (pino flushes the buffer when the process exits): a request never waits on stdout.
  const logger = pino({ level: config.logLevel, ...logRedaction() }, pino.destination({ dest: 1, sync: false }));
  if (config.auth.mode === 'off') {
    logger.warn(
      'AUTH_MODE=off: EVERY REQUEST IS TRUSTED WITHOUT AUTHENTICATION. Use this for local development only, never with patient data.',
    );
  } else if (config.auth.devClients) {
    logger.warn(
      { trustedClientsFile: config.auth.trustedClientsFile },
      'Trusting the DEVELOPMENT clients (their private keys are public). Set TRUSTED_CLIENTS_FILE ' +
        '(and NODE_ENV=production) before real use.',
    );
  }

  const ops = opsConfig(config);
  const store = await openStore(config.databaseUrl, indexResource, { now: () => new Date() });
  const catalog = loadCatalog();
  await seedStore(store, catalog);
  const evaluator = loadEvaluator();
  let sharedRateLimit: SharedRateLimit | undefined;
  if (ops.rateLimitStore !== 'memory') sharedRateLimit = await connectRedisRateLimit(ops.rateLimitStore, logger);
  const audit = ops.auditLogDir ? createAuditTrail({ dir: ops.auditLogDir, retentionDays: ops.auditRetentionDays, logger }) : undefined;
  const health = createHealth({ store, timeoutMs: ops.readyTimeoutMs, loading: ['validators'] });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const app = createApp({ config, store, evaluator, logger, now: () => new Date() }, { catalog, health, registry, sharedRateLimit, audit });
  if (config.production && !ops.metricsToken && ops.metricsPort === undefined) {
    logger.warn('/metrics is not served: set METRICS_PORT (own listener) or METRICS_TOKEN (bearer) to expose it');
  }

  const server = app.listen(config.port, () => {
    logger.info(
      { port: config.port, baseUrl: config.baseUrl, database: config.databaseUrl.replace(/\/\/[^@/]*@/, '//***@') },
      'calf-pain CDS service listening',
    );
  });
  const metricsServer =
    ops.metricsPort !== undefined
      ? createMetricsApp(registry).listen(ops.metricsPort, ops.metricsHost, () =>
          logger.info({ port: ops.metricsPort, host: ops.metricsHost }, 'metrics listening'),
        )
      : undefined;

  answerClientErrors(server);
  // The response schema compiles on first use; do it soon after start rather than in the first patient's request.
  setTimeout(() => {
    createSchemaValidator().warm(['QuestionnaireResponse', 'Parameters']);
    health.loaded('validators');
  }, 250).unref();

  const shutdown = gracefulShutdown({
    server,
    health,
    logger,
    drainMs: ops.shutdownDrainMs,
    graceMs: ops.shutdownGraceMs,
    close: async () => {
      metricsServer?.close();
      await audit?.close();
      await sharedRateLimit?.close();
      await store.close();
    },
  });
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`Failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
