/**
 * Child processes for the benchmarks: the service (built dist/) and the echo baseline, each in its own
 * process, spawned and stopped here. A process is ready when it prints or answers as documented.
 */
'use strict';
const { spawn } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const { ROOT } = require('./bodies');

function get(port, urlPath) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

async function waitFor200(port, urlPath, { deadlineMs = 30_000, exited = () => false } = {}) {
  const start = Date.now();
  while (Date.now() - start < deadlineMs) {
    if (exited()) throw new Error(`the process for :${port} exited before answering`);
    if ((await get(port, urlPath)) === 200) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no 200 from :${port}${urlPath} within ${deadlineMs} ms`);
}

/** The node options `npm start` uses (package.json scripts.start): the service is measured as it runs. */
const START_OPTIONS = (() => {
  const start = require(path.join(ROOT, 'package.json')).scripts.start;
  const m = /^node\s+(.*?)\s*dist\/src\/server\.js$/.exec(start);
  if (!m) throw new Error(`package.json scripts.start is not "node [options] dist/src/server.js": ${start}`);
  return m[1] ? m[1].split(/\s+/) : [];
})();

/** Starts dist/src/server.js as `npm start` does, with env (stdout, the JSON logs, discarded); resolves when /fhir/metadata answers 200. */
async function startService(env) {
  const port = env.PORT;
  const spawnedAt = process.hrtime.bigint();
  const child = spawn(process.execPath, [...START_OPTIONS, path.join(ROOT, 'dist', 'src', 'server.js')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let exited = false;
  child.on('exit', (code, signal) => {
    exited = true;
    if (!child.stopping) process.stderr.write(`service on :${port} exited (${code ?? signal})\n`);
  });
  await waitFor200(port, '/fhir/metadata', { exited: () => exited });
  return { child, port, readyMs: Number(process.hrtime.bigint() - spawnedAt) / 1e6 };
}

function startEcho() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'echo-server.js')], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.once('data', (chunk) => {
      const m = /listening (\d+)/.exec(String(chunk));
      if (m) resolve({ child, port: Number(m[1]) });
      else reject(new Error(`echo server said: ${chunk}`));
    });
    child.once('error', reject);
  });
}

function stop(proc) {
  if (!proc || proc.child.exitCode !== null) return Promise.resolve();
  proc.child.stopping = true;
  return new Promise((resolve) => {
    proc.child.once('exit', () => resolve());
    proc.child.kill('SIGTERM');
    setTimeout(() => proc.child.kill('SIGKILL'), 5000).unref();
  });
}

/** Resident set size of a process in MB, from /proc (Linux). */
function rssMb(pid) {
  const fs = require('node:fs');
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  return kb / 1024;
}

module.exports = { startService, startEcho, stop, waitFor200, get, rssMb };
