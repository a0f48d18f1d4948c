#!/usr/bin/env node
// Ad-hoc: one autocannon run against a URL with a body. Usage: node bench/quick.js hook|create|echo-hook|echo-create [seconds]
'use strict';
const autocannon = require('autocannon');
const { patientViewRequest, response } = require('./bodies');
const { startService, startEcho, stop } = require('./processes');
const os = require('node:os'); const path = require('node:path'); const fs = require('node:fs');

async function main() {
  const what = process.argv[2]; const seconds = Number(process.argv[3] ?? 8);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const isEcho = what.startsWith('echo');
  const proc = isEcho ? await startEcho() : await startService({ PORT: '18080', AUTH_MODE: 'off', RATE_LIMIT_PER_MINUTE: '1000000', DATABASE_URL: process.env.DB ?? `sqlite://${dir}/b.db`, ...(process.env.PROF ? {} : {}) });
  const body = JSON.stringify(what.endsWith('hook') ? patientViewRequest() : response());
  const url = what.endsWith('hook') ? `/cds-services/calf-pain-dvt` : '/fhir/QuestionnaireResponse';
  const r = await autocannon({ url: `http://127.0.0.1:${proc.port}${url}`, method: 'POST', connections: 32, duration: seconds, headers: { 'content-type': 'application/json' }, body });
  console.log(what, 'req/s', r.requests.average, 'p50', r.latency.p50, 'p99', r.latency.p99, 'non2xx', r.non2xx, 'errors', r.errors);
  await stop(proc);
}
main();
