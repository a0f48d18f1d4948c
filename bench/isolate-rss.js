#!/usr/bin/env node
/**
 * For bench/bounds.js: what a second V8 isolate with the evaluation stack costs in resident memory. This
 * process loads the stack (FHIRPath and its R4 model, the rules, the schema validators) and evaluates
 * 3,000 responses; then a worker thread does the same. Prints one JSON line: RSS in MB before and after.
 */
'use strict';
const path = require('node:path');
const { Worker, isMainThread, parentPort } = require('node:worker_threads');
const { response } = require('./bodies');

const DIST = path.join(__dirname, '..', 'dist', 'src');

function loadAndEvaluate() {
  const { loadEvaluator } = require(path.join(DIST, 'clinical', 'engine.js'));
  const { loadCatalog } = require(path.join(DIST, 'clinical', 'catalog.js'));
  const { createSchemaValidator } = require(path.join(DIST, 'core', 'schema-validator.js'));
  const { validateResponse } = require(path.join(DIST, 'clinical', 'validate-response.js'));
  const catalog = loadCatalog();
  const schema = createSchemaValidator();
  const evaluator = loadEvaluator();
  for (let i = 0; i < 3000; i++) {
    const qr = response(`p${i}`, i % 64);
    schema.validate(qr);
    validateResponse(qr, catalog.questionnaires[0], { valueSets: catalog.valueSets });
    void evaluator.evaluate(qr).riskAssessment;
  }
}

const rssMb = () => process.memoryUsage().rss / 2 ** 20;
const settle = () => new Promise((resolve) => setTimeout(resolve, 500));

if (isMainThread) {
  (async () => {
    loadAndEvaluate();
    await settle();
    const oneIsolate = rssMb();
    const worker = new Worker(__filename);
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await settle();
    const twoIsolates = rssMb();
    await worker.terminate();
    process.stdout.write(`${JSON.stringify({ oneIsolateMb: oneIsolate, twoIsolatesMb: twoIsolates })}\n`);
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  loadAndEvaluate();
  // Listening keeps the thread (and its heap) alive until the main thread has measured and terminates it.
  parentPort.on('message', () => undefined);
  parentPort.postMessage('loaded');
}
