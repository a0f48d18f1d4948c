#!/usr/bin/env node
/**
 * `npm run bench:bounds` (not part of `npm test`, not part of `npm run bench`): how close this machine
 * lets the HTTP targets come. In one run, alternated round after round, each in fresh processes:
 *   - the baseline (bare Express 5 echo) and the same echo on node:http alone (Node's own cost);
 *   - the echo plus jose's ES384 check of a fresh token per request (what auth cannot skip);
 *   - the service's hook and create as `npm start` runs them, in one process and in one process a core
 *     (node:cluster sharing the port: every core serving requests, memory paid once a process).
 * For each: req/s, its ratio to the echo, CPU time per request on the event loop(s) and on all other
 * threads (GC helpers, libuv's pool, workers), the load generator's CPU per request, how busy the whole
 * machine was, and resident memory of the process tree after the run.
 * Then, for each throughput target, the CPU a request may use at the target rate when every core of the
 * machine is busy, against what the service uses now; and what a second V8 isolate with the evaluation
 * stack adds to resident memory (bench/isolate-rss.js).
 *
 * Environment: BENCH_SECONDS (per load run, default 8), BENCH_CONNECTIONS (default 32), BENCH_ROUNDS
 * (default 2), BENCH_WORKERS (processes for the cluster rows, default one a core), BENCH_ONLY (comma list of
 * row keys to measure besides the echo, e.g. hook,hookCluster).
 * Writes bench/results/bounds.json and bounds.md.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pool } = require('./bodies');
const { execFileSync } = require('node:child_process');
const { START_OPTIONS, startService, startEcho, stop, treeRssMb, serviceEnv, cpuMs, machineTicks } = require('./processes');
const { load, signTokens, tokensForRun, SECONDS, CONNECTIONS, WARMUP_SECONDS } = require('./load');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WORKERS = Number(process.env.BENCH_WORKERS ?? os.cpus().length);
const RESULTS = path.join(__dirname, 'results');
const HOOK = '/cds-services/calf-pain-dvt';
const CREATE = '/fhir/QuestionnaireResponse';
const CLUSTER = path.join(__dirname, 'cluster-server.js');
const log = (...args) => console.log(...args);

/** Each scenario: how to start its process(es), the path it is loaded on, its bodies, and per-request headers. */
function scenarios() {
  const hooks = pool('hook');
  const creates = pool('create');
  // The same calls with an empty calfPainResponse prefetch: everything the hook does but the evaluation and its cards.
  const emptyHooks = hooks.map((body) => {
    const call = JSON.parse(body);
    call.prefetch.calfPainResponse = { ...call.prefetch.calfPainResponse, total: 0, entry: [] };
    return JSON.stringify(call);
  });
  const echo = (script) => async () => ({ proc: await startEcho(script), urlPath: '/echo' });
  const service =
    (env, { cluster = false, urlPath = HOOK } = {}) =>
    async () => ({
      proc: await startService(env(), cluster ? { script: CLUSTER } : {}),
      urlPath,
    });
  const withTokens = (start, audienceOf) => async () => {
    const started = await start();
    const tokens = await signTokens(tokensForRun(), audienceOf(started));
    let next = 0;
    return { ...started, headersFor: () => ({ authorization: `Bearer ${tokens[next++ % tokens.length]}` }) };
  };
  const authEnv = () => serviceEnv({ AUTH_MODE: 'on' });
  const hookAudience = (s) => `http://127.0.0.1:${s.proc.port}${HOOK}`;
  return [
    { key: 'echo', name: 'Express 5 echo (the baseline)', bodies: hooks, start: echo('echo-server.js') },
    { key: 'httpEcho', name: 'node:http echo, no Express', bodies: hooks, start: echo('http-echo-server.js') },
    {
      key: 'verifyEcho',
      name: 'Express echo + ES384 check of a fresh token',
      bodies: hooks,
      start: withTokens(echo('verify-echo-server.js'), (s) => `http://127.0.0.1:${s.proc.port}/echo`),
    },
    { key: 'hookNothing', name: 'hook, auth off, no response to evaluate', bodies: emptyHooks, start: service(serviceEnv) },
    { key: 'hook', name: 'hook, auth off, 1 process', bodies: hooks, start: service(serviceEnv) },
    { key: 'hookCluster', name: `hook, auth off, ${WORKERS} processes`, bodies: hooks, start: service(serviceEnv, { cluster: true }) },
    { key: 'hookAuth', name: 'hook, auth on, 1 process', bodies: hooks, start: withTokens(service(authEnv), hookAudience) },
    {
      key: 'hookAuthCluster',
      name: `hook, auth on, ${WORKERS} processes`,
      bodies: hooks,
      start: withTokens(service(authEnv, { cluster: true }), hookAudience),
    },
    { key: 'create', name: 'create on SQLite, 1 process', bodies: creates, start: service(serviceEnv, { urlPath: CREATE }) },
    {
      key: 'createCluster',
      name: `create on SQLite, ${WORKERS} processes`,
      bodies: creates,
      start: service(serviceEnv, { cluster: true, urlPath: CREATE }),
    },
  ];
}

/** One measured run: warm-up, then the load with the CPU of the process tree, of this process and of the machine read around it. */
async function measure(scenario) {
  const { proc, urlPath, headersFor } = await scenario.start();
  try {
    await load(proc.port, urlPath, scenario.bodies, { seconds: WARMUP_SECONDS, headersFor });
    const pid = proc.child.pid;
    const [cpu0, own0, machine0] = [cpuMs(pid), process.cpuUsage(), machineTicks()];
    const r = await load(proc.port, urlPath, scenario.bodies, { headersFor });
    const [cpu1, own1, machine1] = [cpuMs(pid), process.cpuUsage(own0), machineTicks()];
    const perRequest = (ms) => (ms * 1000) / Math.max(r.requests, 1);
    return {
      ...r,
      eventLoopUsPerRequest: perRequest(cpu1.main - cpu0.main),
      otherThreadsUsPerRequest: perRequest(cpu1.other - cpu0.other),
      loadGeneratorUsPerRequest: perRequest((own1.user + own1.system) / 1000),
      machineBusy: (machine1.busy - machine0.busy) / Math.max(machine1.total - machine0.total, 1),
      rssMb: treeRssMb(pid),
    };
  } finally {
    await stop(proc);
  }
}

/** Resident memory of one process with the evaluation stack in one isolate, then in two (bench/isolate-rss.js, run with `npm start`'s options). */
function secondIsolate() {
  const out = execFileSync(process.execPath, [...START_OPTIONS, path.join(__dirname, 'isolate-rss.js')], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

const mean = (xs, f) => xs.reduce((a, x) => a + f(x), 0) / xs.length;

/** What the cores allow at a target rate: CPU time per request for everything (service and load generator). */
function budgets(summary) {
  const echo = summary.echo.rps;
  const cores = os.cpus().length;
  const rows = [
    ['hook, auth off', 0.4, summary.hook],
    ['hook, auth on', 0.25, summary.hookAuth],
    ['create, SQLite', 0.2, summary.create],
  ].filter(([, , now]) => now);
  return rows.map(([name, ratio, now]) => {
    const rate = ratio * echo;
    return {
      target: `${name} >= ${ratio}x`,
      ratePerSecond: rate,
      // Every core busy all the time: the most CPU time one request (with its share of the load) can use.
      budgetUsPerRequest: (cores * 1e6) / rate,
      serviceUsPerRequest: now.eventLoopUsPerRequest + now.otherThreadsUsPerRequest,
      eventLoopBudgetUsPerRequest: 1e6 / rate,
      eventLoopUsPerRequest: now.eventLoopUsPerRequest,
      loadGeneratorUsPerRequest: now.loadGeneratorUsPerRequest,
    };
  });
}

function markdown(results) {
  const f0 = (v) => v.toFixed(0);
  const lines = [
    `# How close this machine lets the HTTP targets come (${results.startedAt.slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    `Machine: ${results.machine}; load average at start ${results.loadAverageAtStart.join(' ')}.`,
    `Method: autocannon, ${CONNECTIONS} connections, ${SECONDS} s per run after a ${WARMUP_SECONDS} s warm-up, every row in fresh processes, ` +
      `${ROUNDS} rounds of all rows in turn; means over the rounds. CPU from /proc per thread. \`npm run bench:bounds\`.`,
    '',
    '| what | req/s | x echo | p99 ms | event loop(s) us/req | other threads us/req | load generator us/req | machine busy | RSS MB |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.rows.map(
      (r) =>
        `| ${r.name} | ${f0(r.rps)} | ${r.ratio.toFixed(2)}x | ${r.p99.toFixed(1)} | ${f0(r.eventLoopUsPerRequest)} | ${f0(r.otherThreadsUsPerRequest)} | ` +
        `${f0(r.loadGeneratorUsPerRequest)} | ${(100 * r.machineBusy).toFixed(0)}% | ${f0(r.rssMb)} |`,
    ),
    '',
    `A second V8 isolate holding the evaluation stack (a worker thread that loads FHIRPath with its R4 model, the rules and the schema ` +
      `validators and evaluates 3,000 responses, as the first did): resident memory ${f0(results.secondIsolate.oneIsolateMb)} MB with one isolate, ` +
      `${f0(results.secondIsolate.twoIsolatesMb)} MB with two (bench/isolate-rss.js).`,
    '',
    '## CPU a request may use at each target rate',
    '',
    'With every core busy all the time, at the target rate a request (with its share of the load generator) can use at most the budget below;',
    'one event loop alone can give it at most the event-loop budget.',
    '',
    '| target | rate, req/s | budget, all cores, us/req | service now, all threads, us/req | load generator, us/req | one event loop: budget / now, us/req |',
    '|---|---|---|---|---|---|',
    ...results.budgets.map(
      (b) =>
        `| ${b.target} | ${f0(b.ratePerSecond)} | ${f0(b.budgetUsPerRequest)} | ${f0(b.serviceUsPerRequest)} | ${f0(b.loadGeneratorUsPerRequest)} | ` +
        `${f0(b.eventLoopBudgetUsPerRequest)} / ${f0(b.eventLoopUsPerRequest)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

async function main() {
  if (!fs.existsSync(path.join(__dirname, '..', 'dist', 'src', 'server.js')))
    throw new Error('dist/ is missing: run `npm run build` first');
  const cpus = os.cpus();
  const results = {
    startedAt: new Date().toISOString(),
    machine: `${cpus.length} x ${cpus[0]?.model ?? 'unknown'}, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}`,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
  log(`bounds: ${results.machine}, load ${results.loadAverageAtStart.join(' ')}`);
  const only = new Set((process.env.BENCH_ONLY ?? '').split(',').filter(Boolean));
  const list = scenarios().filter((s) => only.size === 0 || s.key === 'echo' || only.has(s.key));
  const runs = Object.fromEntries(list.map((s) => [s.key, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of list) {
      const r = await measure(scenario);
      runs[scenario.key].push(r);
      log(
        `  ${scenario.name.padEnd(44)} round ${round + 1}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms, ` +
          `event loop ${r.eventLoopUsPerRequest.toFixed(0)} us/req, other ${r.otherThreadsUsPerRequest.toFixed(0)} us/req, ` +
          `machine ${(100 * r.machineBusy).toFixed(0)}% busy${r.non2xx || r.errors ? `, NOT 2xx: ${r.non2xx}, errors: ${r.errors}` : ''}`,
      );
    }
  }
  const summary = {};
  for (const s of list) {
    const xs = runs[s.key];
    summary[s.key] = {
      key: s.key,
      name: s.name,
      ...Object.fromEntries(
        ['rps', 'p50', 'p99', 'eventLoopUsPerRequest', 'otherThreadsUsPerRequest', 'loadGeneratorUsPerRequest', 'machineBusy', 'rssMb'].map(
          (k) => [k, mean(xs, (r) => r[k])],
        ),
      ),
      failedRequests: xs.reduce((a, r) => a + r.non2xx + r.errors, 0),
    };
  }
  results.rows = list.map((s) => ({ ...summary[s.key], ratio: summary[s.key].rps / summary.echo.rps }));
  results.budgets = budgets(summary);
  results.secondIsolate = secondIsolate();
  results.runs = runs;
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'bounds.json'), `${JSON.stringify(results, null, 2)}\n`);
  const md = markdown(results);
  fs.writeFileSync(path.join(RESULTS, 'bounds.md'), md);
  log(`\n${md}\nWritten: bench/results/bounds.json, bounds.md`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
