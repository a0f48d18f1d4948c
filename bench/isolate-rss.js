#!/usr/bin/env node
/**
 * For bench/bounds.js: what a second V8 isolate with the evaluation stack costs in resident memory. This
 * process loads the stack (FHIRPath and its R4 model, the rules, the schema validators) and evaluates
 * 3,000 responses; then a worker thread does the same. Prints one JSON line: RSS in MB before and after.
 */
'use strict';
const { Worker, isMainThread, parentPort } = require('node:worker_threads');
const { response } = require('./bodies');
const { evaluationStack } = require('./evaluation');

function loadAndEvaluate() {
  const evaluateOne = evaluationStack();
  for (let i = 0; i < 3000; i++) evaluateOne(response(`p${i}`, i % 64));
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
