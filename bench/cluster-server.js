#!/usr/bin/env node
/**
 * For bench/bounds.js: the service as `npm start` runs it, in BENCH_WORKERS processes (default: one a
 * core) sharing its port through node:cluster, so that every core of the machine serves requests.
 * A measurement of what the cores allow, not a supported way to run the service.
 */
'use strict';
const cluster = require('node:cluster');
const os = require('node:os');
const path = require('node:path');

if (cluster.isPrimary) {
  const workers = Number(process.env.BENCH_WORKERS ?? os.cpus().length);
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
    cluster.disconnect(() => process.exit(0));
  });
} else {
  require(path.join(__dirname, '..', 'dist', 'src', 'server.js'));
}
