const pino = require('pino');
const { parseJsonSafely } = require('../dist/src/security/hardening.js');
const { parseHookRequest } = require('../dist/src/cds-hooks/request.js');
const { calfPainDvt } = require('../dist/src/cds-hooks/services/calf-pain-dvt.js');
const { loadCardRules } = require('../dist/src/cds-hooks/card-rules.js');
const { loadEvaluator } = require('../dist/src/evaluation/engine.js');
const { testConfig } = require('../dist/src/config/config.js');
const { createSqliteStore } = require('../dist/src/storage/sqlite/sqlite-store.js');
const { indexResource } = require('../dist/src/fhir/search-parameters.js');
const { pool } = require('./bodies');
(async () => {
  const store = createSqliteStore({ filename: ':memory:', indexer: indexResource });
  const deps = { config: testConfig(), store, evaluator: loadEvaluator(), logger: pino({ level: 'silent' }), now: () => new Date() };
  const rules = loadCardRules(); const bodies = pool('hook');
  const phases = { parse: 0n, request: 0n, service: 0n, stringify: 0n };
  const N = Number(process.env.N || 3000);
  for (let i = 0; i < N + 500; i++) {
    const b = bodies[i % bodies.length];
    const t0 = process.hrtime.bigint(); const body = parseJsonSafely(b); const t1 = process.hrtime.bigint();
    const req = parseHookRequest(body, 'patient-view'); const t2 = process.hrtime.bigint();
    const r = await calfPainDvt(deps, rules, req); const t3 = process.hrtime.bigint();
    JSON.stringify({ cards: r.drafts.map((d) => d.card) }); const t4 = process.hrtime.bigint();
    if (i >= 500) { phases.parse += t1 - t0; phases.request += t2 - t1; phases.service += t3 - t2; phases.stringify += t4 - t3; }
  }
  for (const [k, v] of Object.entries(phases)) console.log(k.padEnd(10), (Number(v) / N / 1000).toFixed(1), 'us');
})();
