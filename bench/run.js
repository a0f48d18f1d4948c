#!/usr/bin/env node
/**
 * `npm run bench` (not part of `npm test`): the service's speed as ratios against a bare Express 5 echo
 * of the same bodies, measured in one run on this machine (shared machines are noisy: absolute figures
 * move from run to run, ratios much less). Each HTTP figure comes from its own processes, service and
 * echo alternated A/B, twice. Writes bench/results/latest.json, latest.md and latest.svg, and prints the
 * targets with PASS/FAIL. Nothing here is a test: no figure fails a build.
 *
 * Environment: BENCH_SECONDS (per load run, default 8), BENCH_CONNECTIONS (default 32),
 * BENCH_POSTGRES_URL (default postgres://127.0.0.1:5432/test; the PostgreSQL figures are left out
 * when it cannot be reached), BENCH_SEARCH_SIZES (default 1000,10000,100000), BENCH_SKIP (comma list of
 * sections to leave out: hook, auth, create-sqlite, create-postgres, evaluation, cold-start, rss, search).
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { pool, response, ROOT } = require('./bodies');
const { startService, startEcho, stop, rssMb, serviceEnv, tmp } = require('./processes');
const { load, signTokens, tokensForRun, SECONDS, CONNECTIONS, WARMUP_SECONDS } = require('./load');
const { chartSvg, markdown } = require('./report');
const { evaluationStack } = require('./evaluation');

const ROUNDS = 2;
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SEARCH_SIZES = (process.env.BENCH_SEARCH_SIZES ?? '1000,10000,100000').split(',').map(Number);
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
const DIST = path.join(ROOT, 'dist', 'src');
const RESULTS = path.join(__dirname, 'results');

const log = (...args) => console.log(...args);

// ---------------------------------------------------------------------------------------------
// HTTP load

/**
 * Service (A) against echo (B): each in its own process, fresh for every run, warmed up first, in the
 * order A B A B. Ratios of the summed throughput and of the mean p50/p99.
 */
async function versusEcho(name, startA, urlPath, bodies, options = {}) {
  const runs = { service: [], echo: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of ['service', 'echo']) {
      const proc = side === 'service' ? await startA() : await startEcho();
      try {
        if (side === 'service' && options.beforeRun) await options.beforeRun(proc);
        await load(proc.port, side === 'service' ? urlPath : '/echo', bodies, {
          seconds: WARMUP_SECONDS,
          headersFor: side === 'service' ? options.headersFor : undefined,
        });
        const r = await load(proc.port, side === 'service' ? urlPath : '/echo', bodies, {
          headersFor: side === 'service' ? options.headersFor : undefined,
        });
        runs[side].push(r);
        log(
          `  ${name} ${side.padEnd(7)} round ${round + 1}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms${r.non2xx || r.errors ? `, NOT 2xx: ${r.non2xx}, errors: ${r.errors}` : ''}`,
        );
      } finally {
        await stop(proc);
      }
    }
  }
  const mean = (xs, f) => xs.reduce((a, x) => a + f(x), 0) / xs.length;
  const service = { rps: mean(runs.service, (r) => r.rps), p50: mean(runs.service, (r) => r.p50), p99: mean(runs.service, (r) => r.p99) };
  const echo = { rps: mean(runs.echo, (r) => r.rps), p50: mean(runs.echo, (r) => r.p50), p99: mean(runs.echo, (r) => r.p99) };
  const failed = runs.service.reduce((a, r) => a + r.non2xx + r.errors, 0);
  return {
    name,
    service,
    echo,
    throughputRatio: service.rps / echo.rps,
    p50Ratio: service.p50 / Math.max(echo.p50, 1),
    p99Ratio: service.p99 / Math.max(echo.p99, 1),
    failedRequests: failed,
    runs,
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

async function postgresReachable(url) {
  const { Client } = require('pg');
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropSchema(url, schema) {
  const { Client } = require('pg');
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

function withSchema(url, schema) {
  return `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
}

// ---------------------------------------------------------------------------------------------
// In-process figures

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** One evaluation as the API does it: schema validation, validation against the Questionnaire, rules, RiskAssessment. */
function evaluationFigures() {
  const responses = Array.from({ length: 64 }, (_, i) => response(`p${i}`, i));
  const out = {};
  for (const memoise of [true, false]) {
    const one = evaluationStack({ memoise });
    for (let i = 0; i < 2000; i++) one(responses[i % responses.length]);
    const samples = [];
    for (let i = 0; i < 20000; i++) {
      const qr = responses[i % responses.length];
      const t = process.hrtime.bigint();
      one(qr);
      samples.push(Number(process.hrtime.bigint() - t) / 1000);
    }
    samples.sort((a, b) => a - b);
    out[memoise ? 'memoised' : 'notMemoised'] = { medianUs: percentile(samples, 0.5), p99Us: percentile(samples, 0.99), n: samples.length };
    log(
      `  evaluation ${memoise ? 'memoised    ' : 'not memoised'}: median ${percentile(samples, 0.5).toFixed(1)} us, p99 ${percentile(samples, 0.99).toFixed(1)} us`,
    );
  }
  return out;
}

async function coldStart(runs = 5) {
  const dir = tmp('calf-cold-');
  const times = [];
  for (let i = 0; i < runs; i++) {
    const proc = await startService(serviceEnv({ DATABASE_URL: `sqlite://${dir}/cold.db` }));
    times.push(proc.readyMs);
    await stop(proc);
  }
  const sorted = [...times].sort((a, b) => a - b);
  log(`  cold start (spawn to first 200 from /fhir/metadata): ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
  return { runsMs: times, medianMs: percentile(sorted, 0.5), maxMs: sorted[sorted.length - 1] };
}

function request(targetPort, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: targetPort,
        method,
        path: urlPath,
        agent: keepAlive,
        headers: body ? { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) } : {},
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** RSS after 10,000 requests of every kind the service answers, 16 at a time. */
async function rssAfterMixed(total = 10_000) {
  const proc = await startService(serviceEnv());
  const hooks = pool('hook', 64);
  const creates = pool('create', 64);
  const kinds = [
    () => request(proc.port, 'POST', '/cds-services/calf-pain-dvt', hooks[Math.floor(Math.random() * hooks.length)]),
    () => request(proc.port, 'POST', '/fhir/QuestionnaireResponse', creates[Math.floor(Math.random() * creates.length)]),
    () => request(proc.port, 'POST', '/fhir/QuestionnaireResponse/$evaluate', creates[Math.floor(Math.random() * creates.length)]),
    () => request(proc.port, 'GET', `/fhir/RiskAssessment?patient=Patient/bench-${Math.floor(Math.random() * 64)}&_sort=-date&_count=10`),
    () => request(proc.port, 'GET', `/fhir/QuestionnaireResponse?patient=Patient/bench-${Math.floor(Math.random() * 64)}`),
    () => request(proc.port, 'GET', '/fhir/metadata'),
    () => request(proc.port, 'GET', '/fhir/Questionnaire/calf-pain'),
    () => request(proc.port, 'GET', '/cds-services'),
  ];
  const statuses = {};
  let sent = 0;
  const worker = async () => {
    while (sent < total) {
      sent++;
      const { status } = await kinds[sent % kinds.length]();
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const idle = rssMb(proc.child.pid);
  await Promise.all(Array.from({ length: 16 }, worker));
  await new Promise((r) => setTimeout(r, 500));
  const after = rssMb(proc.child.pid);
  await stop(proc);
  log(`  RSS: ${idle.toFixed(0)} MB idle, ${after.toFixed(0)} MB after ${total} mixed requests (statuses ${JSON.stringify(statuses)})`);
  return { idleMb: idle, afterMb: after, requests: total, statuses };
}

/**
 * Search latency at growing store sizes: RiskAssessment by patient newest first, QuestionnaireResponse by
 * patient. One store per size, filled first; then the stores are searched in turns (a batch of searches on
 * each, round after round), so a change in the machine's load during the run touches every size alike
 * instead of the last-measured one.
 */
async function searchScaling(sizes) {
  const { createSqliteStore } = require(path.join(DIST, 'storage', 'sqlite', 'sqlite-store.js'));
  const { indexResource } = require(path.join(DIST, 'storage', 'search-parameters.js'));
  const { loadEvaluator } = require(path.join(DIST, 'clinical', 'engine.js'));
  const { createApp } = require(path.join(DIST, 'app.js'));
  const { testConfig } = require(path.join(DIST, 'config', 'config.js'));
  const { loadCatalog } = require(path.join(DIST, 'clinical', 'catalog.js'));
  const { seedStore } = require(path.join(DIST, 'clinical', 'seed.js'));
  const pino = require('pino');
  const dir = tmp('calf-search-');
  const catalog = loadCatalog();
  const evaluator = loadEvaluator();
  // About ten responses per patient at every size, each with its RiskAssessment and Provenance, as the API stores them.
  const templates = Array.from({ length: 32 }, (_, i) => response('x', i));
  const fill = async (store, size) => {
    const batch = 500;
    for (let stored = 0; stored < size; stored += batch) {
      const n = Math.min(batch, size - stored);
      await store.transaction(async (tx) => {
        for (let k = 0; k < n; k++) {
          const i = stored + k;
          const qr = {
            ...templates[i % templates.length],
            subject: { reference: `Patient/s${Math.floor(i / 10)}` },
            authored: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
          };
          const saved = await tx.create(qr);
          const { riskAssessment } = evaluator.evaluate(saved);
          const ra = await tx.create(riskAssessment);
          await tx.create(evaluator.provenance(ra, saved));
        }
      });
    }
  };

  const stores = [];
  for (const size of sizes) {
    const store = createSqliteStore({ filename: path.join(dir, `search-${size}.db`), indexer: indexResource });
    await seedStore(store, catalog);
    const t = Date.now();
    await fill(store, size);
    const app = createApp(
      {
        config: { ...testConfig(), rateLimitPerMinute: 1_000_000 },
        store,
        evaluator,
        logger: pino({ level: 'silent' }),
        now: () => new Date(),
      },
      { catalog },
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    stores.push({ size, store, server, port: server.address().port, fillSeconds: (Date.now() - t) / 1000, samples: { ra: [], qr: [] } });
    log(`  ${size} responses stored in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  }

  const searches = {
    ra: (p) => `/fhir/RiskAssessment?patient=Patient/s${p}&_sort=-date&_count=10`,
    qr: (p) => `/fhir/QuestionnaireResponse?patient=Patient/s${p}`,
  };
  const ROUNDS_OF_SEARCHES = 8;
  const PER_ROUND = 50;
  for (let round = 0; round <= ROUNDS_OF_SEARCHES; round++) {
    for (const s of stores) {
      for (const [kind, urlFor] of Object.entries(searches)) {
        for (let i = 0; i < PER_ROUND; i++) {
          const t0 = process.hrtime.bigint();
          const { status, body } = await request(s.port, 'GET', urlFor(Math.floor(Math.random() * (s.size / 10))));
          if (status !== 200 || !JSON.parse(body).entry?.length) throw new Error(`search answered ${status} with no entries`);
          // Round 0 warms each store up (its pages into the cache); it is not counted.
          if (round > 0) s.samples[kind].push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      }
    }
  }

  const results = [];
  for (const s of stores) {
    const figure = (samples) => {
      samples.sort((a, b) => a - b);
      return { medianMs: percentile(samples, 0.5), p99Ms: percentile(samples, 0.99) };
    };
    const riskAssessment = figure(s.samples.ra);
    const questionnaireResponse = figure(s.samples.qr);
    results.push({ responses: s.size, riskAssessment, questionnaireResponse, fillSeconds: s.fillSeconds });
    log(
      `  search at ${s.size} responses: RiskAssessment ${riskAssessment.medianMs.toFixed(2)} ms, QuestionnaireResponse ${questionnaireResponse.medianMs.toFixed(2)} ms (medians of ${s.samples.ra.length})`,
    );
  }
  keepAlive.destroy();
  for (const s of stores) {
    s.server.closeAllConnections();
    s.server.close();
    await s.store.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return results;
}

// ---------------------------------------------------------------------------------------------

const atLeast = (limit) => (v) => v >= limit;
const atMost = (limit) => (v) => v <= limit;
const shown = (digits, unit) => (v) => `${v.toFixed(digits)}${unit}`;
const [RATIO, US, MS, MB] = [shown(2, 'x'), shown(0, ' us'), shown(0, ' ms'), shown(0, ' MB')];

/** A target: the figure, the target as written, how to read the figure from the results, the test and how to show it. */
const target = (figure, written, value, ok, fmt) => ({ figure, target: written, value, ok, fmt });

/** A search's median at the largest store size over its median at 1k, or undefined with fewer than two sizes. */
const searchGrowth = (key) => (r) =>
  r.search?.length > 1 ? r.search[r.search.length - 1][key].medianMs / r.search[0][key].medianMs : undefined;

const SQLITE_CREATE = 'create throughput, SQLite (durable: WAL synced before the 201)';
const TARGETS = [
  target('hook throughput, auth off', '>= 0.4x bare echo', (r) => r.hook?.throughputRatio, atLeast(0.4), RATIO),
  target('hook p99, auth off', '<= 3x bare echo p99', (r) => r.hook?.p99Ratio, atMost(3), RATIO),
  target('hook throughput, auth on', '>= 0.25x bare echo', (r) => r.hookAuth?.throughputRatio, atLeast(0.25), RATIO),
  target(SQLITE_CREATE, '>= 0.2x bare echo', (r) => r.createSqlite?.throughputRatio, atLeast(0.2), RATIO),
  target('create throughput, PostgreSQL', '>= 0.15x bare echo', (r) => r.createPostgres?.throughputRatio, atLeast(0.15), RATIO),
  target('one evaluation, median', '<= 0.3 ms', (r) => r.evaluation?.memoised.medianUs, atMost(300), US),
  target('one evaluation, p99', '<= 1 ms', (r) => r.evaluation?.memoised.p99Us, atMost(1000), US),
  target('one evaluation without memoisation, median', '<= 1 ms', (r) => r.evaluation?.notMemoised.medianUs, atMost(1000), US),
  target('cold start (median of 5)', '<= 1 s', (r) => r.coldStart?.medianMs, atMost(1000), MS),
  target('RSS after 10,000 mixed requests', '<= 150 MB', (r) => r.rss?.afterMb, atMost(150), MB),
  target('RiskAssessment search at the largest size vs 1k', '<= 1.5x', searchGrowth('riskAssessment'), atMost(1.5), RATIO),
  target('QuestionnaireResponse search at the largest size vs 1k', '<= 1.5x', searchGrowth('questionnaireResponse'), atMost(1.5), RATIO),
];

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

async function main() {
  if (!fs.existsSync(path.join(DIST, 'server.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const started = new Date();
  const results = {
    startedAt: started.toISOString(),
    machine: machine(),
    settings: { seconds: SECONDS, connections: CONNECTIONS, rounds: ROUNDS, warmupSeconds: WARMUP_SECONDS },
  };
  log(
    `calf-pain-cds benchmark: ${results.machine.cores} x ${results.machine.cpu}, ${results.machine.memoryGb} GB, Node ${results.machine.node}, load ${results.machine.loadAverageAtStart.join(' ')}`,
  );
  const hooks = pool('hook');
  const creates = pool('create');

  if (!SKIP.has('evaluation')) {
    log('In-process evaluation (validation + rules + RiskAssessment):');
    results.evaluation = evaluationFigures();
  }
  if (!SKIP.has('hook')) {
    log('patient-view hook, auth off, vs echo:');
    results.hook = await versusEcho('hook', () => startService(serviceEnv()), '/cds-services/calf-pain-dvt', hooks);
  }
  if (!SKIP.has('auth')) {
    log('patient-view hook, auth on (a fresh ES384 client JWT per request), vs echo:');
    // Enough single-use tokens for every service run (warm-up included) at several times the target rate.
    let tokens = [];
    let next = 0;
    results.hookAuth = await versusEcho(
      'hook+auth',
      async () => {
        const env = serviceEnv({ AUTH_MODE: 'on' });
        const proc = await startService(env);
        tokens = await signTokens(tokensForRun(), `${env.BASE_URL}/cds-services/calf-pain-dvt`);
        next = 0;
        return proc;
      },
      '/cds-services/calf-pain-dvt',
      hooks,
      { headersFor: () => ({ authorization: `Bearer ${tokens[next++ % tokens.length]}` }) },
    );
  }
  if (!SKIP.has('create-sqlite')) {
    log('create QuestionnaireResponse on SQLite (durable: WAL synced before the 201), vs echo:');
    results.createSqlite = await versusEcho('create sqlite', () => startService(serviceEnv()), '/fhir/QuestionnaireResponse', creates);
  }
  if (!SKIP.has('create-postgres')) {
    if (await postgresReachable(POSTGRES_URL)) {
      log('create QuestionnaireResponse on PostgreSQL, vs echo:');
      const schemas = [];
      try {
        results.createPostgres = await versusEcho(
          'create postgres',
          () => {
            const schema = `bench_${Date.now().toString(36)}_${schemas.length}`;
            schemas.push(schema);
            return startService(serviceEnv({ DATABASE_URL: withSchema(POSTGRES_URL, schema) }));
          },
          '/fhir/QuestionnaireResponse',
          creates,
        );
      } finally {
        for (const schema of schemas) await dropSchema(POSTGRES_URL, schema).catch(() => undefined);
      }
    } else {
      log(`PostgreSQL at ${POSTGRES_URL} not reachable: create on PostgreSQL left out`);
    }
  }
  if (!SKIP.has('cold-start')) {
    log('Cold start:');
    results.coldStart = await coldStart();
  }
  if (!SKIP.has('rss')) {
    log('Memory:');
    results.rss = await rssAfterMixed();
  }
  if (!SKIP.has('search')) {
    log('Search at growing store sizes (SQLite):');
    results.search = await searchScaling(SEARCH_SIZES);
  }

  results.targets = TARGETS.map((t) => {
    const value = t.value(results);
    return {
      figure: t.figure,
      target: t.target,
      value: value === undefined ? null : value,
      shown: value === undefined ? 'not measured' : t.fmt(value),
      pass: value === undefined ? null : t.ok(value),
    };
  });
  results.finishedAt = new Date().toISOString();

  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(RESULTS, 'latest.svg'), chartSvg(results));
  fs.writeFileSync(path.join(RESULTS, 'latest.md'), markdown(results));

  log('\nTargets:');
  for (const t of results.targets)
    log(`  ${t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'FAIL'}  ${t.figure}: ${t.shown} (target ${t.target})`);
  log(`\nWritten: bench/results/latest.json, latest.md, latest.svg (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
