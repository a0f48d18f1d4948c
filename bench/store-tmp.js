const path = require('path'), fs = require('fs'), os = require('os');
const { createSqliteStore } = require('../dist/src/storage/sqlite/sqlite-store.js');
const { indexResource } = require('../dist/src/fhir/search-parameters.js');
const { loadEvaluator } = require('../dist/src/evaluation/engine.js');
const { response } = require('./bodies');
(async () => {
  const ev = loadEvaluator();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
  const store = createSqliteStore({ filename: process.env.MEMDB ? ':memory:' : path.join(dir, 'x.db'), indexer: indexResource });
  const qr = response('p', 3);
  const one = () => store.transaction(async (tx) => { const s = await tx.create(qr); const { riskAssessment } = ev.evaluate(s); const ra = await tx.create(riskAssessment); await tx.create(ev.provenance(ra, s)); });
  for (const conc of [32]) {
    const N = 3000; let done = 0; const t = Date.now(); const c0 = process.cpuUsage();
    await Promise.all(Array.from({ length: conc }, async () => { while (done < N) { done++; await one(); } }));
    const c = process.cpuUsage(c0);
    console.log('concurrency', conc, 'wall ms per create', ((Date.now() - t) / N).toFixed(3), 'cpu ms per create', ((c.user + c.system) / 1000 / N).toFixed(3));
  }
  await store.close();
})();
