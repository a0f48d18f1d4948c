import pino from 'pino';
import { ConfigError, loadConfig } from './config/config';
import { createApp } from './app';
import { loadEvaluator } from './evaluation/engine';
import { indexResource } from './fhir/search-parameters';
import { answerClientErrors } from './fhir/http';
import { loadCatalog, seedStore } from './fhir/catalog';
import { createSchemaValidator } from './fhir/schema-validator';
import { openStore } from './storage/open-store';
import { logRedaction } from './security/hardening';

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
    logger.warn('AUTH_MODE=off: EVERY REQUEST IS TRUSTED WITHOUT AUTHENTICATION. Use this for local development only, never with patient data.');
  } else if (config.auth.devClients) {
    logger.warn(
      { trustedClientsFile: config.auth.trustedClientsFile },
      'Trusting the DEVELOPMENT clients (their private keys are public). Set TRUSTED_CLIENTS_FILE (and NODE_ENV=production) before real use.',
    );
  }

  const store = await openStore(config.databaseUrl, indexResource, { now: () => new Date() });
  const catalog = loadCatalog();
  await seedStore(store, catalog);
  const evaluator = loadEvaluator();
  const app = createApp({ config, store, evaluator, logger, now: () => new Date() }, { catalog });

  const server = app.listen(config.port, () => {
    logger.info({ port: config.port, baseUrl: config.baseUrl, database: config.databaseUrl.replace(/\/\/[^@/]*@/, '//***@') }, 'calf-pain CDS service listening');
  });

  answerClientErrors(server);
  // The response schema compiles on first use; do it soon after start rather than in the first patient's request.
  setTimeout(() => createSchemaValidator().warm(['QuestionnaireResponse', 'Parameters']), 250).unref();

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    server.close(() => {
      store.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`Failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
