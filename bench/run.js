#!/usr/bin/env node
/**
 * Benchmarks (not tests): evaluation of a QuestionnaireResponse, schema + Questionnaire validation,
 * and the HTTP create/$evaluate paths over SQLite. Run with `npm run bench` (builds first).
 * Prints median and p95 per operation; nothing here asserts a time.
 */
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const http = require('node:http');
const pino = require('pino');

const dist = path.join(__dirname, '..', 'dist', 'src');
const { loadEvaluator } = require(path.join(dist, 'evaluation', 'engine.js'));
const { createApp } = require(path.join(dist, 'app.js'));
const { testConfig } = require(path.join(dist, 'config', 'config.js'));
const { loadCatalog, seedStore } = require(path.join(dist, 'fhir', 'catalog.js'));
const { indexResource } = require(path.join(dist, 'fhir', 'search-parameters.js'));
const { createSqliteStore } = require(path.join(dist, 'storage', 'sqlite', 'sqlite-store.js'));
const { createSchemaValidator } = require(path.join(dist, 'fhir', 'schema-validator.js'));
const { validateResponse } = require(path.join(dist, 'questionnaire', 'validate-response.js'));

const example = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'examples', 'questionnaire-response.json'), 'utf8'));

function stats(name, samples) {
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  console.log(`${name.padEnd(44)} n=${String(samples.length).padStart(5)}  median ${at(0.5).toFixed(3)} ms  p95 ${at(0.95).toFixed(3)} ms`);
}

function timeSync(name, n, fn) {
  for (let i = 0; i < Math.min(50, n); i++) fn();
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  stats(name, samples);
}

async function timeAsync(name, n, fn) {
  for (let i = 0; i < Math.min(20, n); i++) await fn();
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  stats(name, samples);
}

function request(port, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: data ? { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode < 300 ? resolve(res.statusCode) : reject(new Error(`${method} ${urlPath}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function main() {
  const evaluator = loadEvaluator();
  const catalog = loadCatalog();
  const schema = createSchemaValidator();
  const questionnaire = catalog.questionnaires[0];

  timeSync('evaluate (engine only)', 2000, () => evaluator.evaluate(example));
  timeSync('schema validation (ajv)', 5000, () => schema.validate(example));
  timeSync('validate against Questionnaire', 5000, () => validateResponse(example, questionnaire, { valueSets: catalog.valueSets }));

  const store = createSqliteStore({ filename: ':memory:', indexer: indexResource });
  await seedStore(store, catalog);
  const app = createApp({ config: testConfig(), store, evaluator, logger: pino({ level: 'silent' }), now: () => new Date() }, { catalog });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address();
  await timeAsync('HTTP POST $evaluate', 500, () => request(port, 'POST', '/fhir/QuestionnaireResponse/$evaluate', example));
  await timeAsync('HTTP POST QuestionnaireResponse (stores 3)', 500, () => request(port, 'POST', '/fhir/QuestionnaireResponse', example));
  await timeAsync('HTTP GET RiskAssessment?patient (500 stored)', 300, () => request(port, 'GET', '/fhir/RiskAssessment?patient=Patient/example&_count=1&_sort=-date'));
  server.close();
  await store.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
