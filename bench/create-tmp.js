const { createResponseService } = require('../dist/src/fhir/questionnaire-responses.js');
const { createSchemaValidator } = require('../dist/src/fhir/schema-validator.js');
const { loadEvaluator } = require('../dist/src/evaluation/engine.js');
const { loadCatalog, seedStore } = require('../dist/src/fhir/catalog.js');
const { createSqliteStore } = require('../dist/src/storage/sqlite/sqlite-store.js');
const { indexResource } = require('../dist/src/fhir/search-parameters.js');
const { validateResponse } = require('../dist/src/questionnaire/validate-response.js');
const { pool } = require('./bodies');
(async () => {
  const store = createSqliteStore({ filename: ':memory:', indexer: indexResource }); const catalog = loadCatalog(); await seedStore(store, catalog);
  const schema = createSchemaValidator(); const evaluator = loadEvaluator();
  const svc = createResponseService({ store, evaluator, catalog, schema, now: () => new Date() });
  const bodies = pool('create').map((b) => JSON.parse(b)); const q = catalog.questionnaires[0];
  const N = Number(process.env.N || 2000);
  for (let i = 0; i < 300; i++) await svc.create(structuredClone(bodies[i % 64]));
  const ph = { schema: 0n, questionnaire: 0n, create: 0n };
  for (let i = 0; i < N; i++) { const b = structuredClone(bodies[i % 64]);
    const t0 = process.hrtime.bigint(); schema.validate(b); const t1 = process.hrtime.bigint(); validateResponse(b, q, { valueSets: catalog.valueSets }); const t2 = process.hrtime.bigint(); await svc.create(b); const t3 = process.hrtime.bigint();
    ph.schema += t1 - t0; ph.questionnaire += t2 - t1; ph.create += t3 - t2; }
  for (const [k, v] of Object.entries(ph)) console.log(k.padEnd(14), (Number(v) / N / 1000).toFixed(1), 'us');
})();
