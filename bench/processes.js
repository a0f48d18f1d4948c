/**
 * Child processes for the benchmarks: the service (built dist/) and the echo baseline, each in its own
 * process, spawned and stopped here. A process is ready when it prints or answers as documented.
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
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

const tmp = (prefix) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));
let nextPort = 18100 + Math.floor(Math.random() * 500);
const port = () => String(nextPort++);

/** The service's environment for a benchmark run: its own port and SQLite file, auth off, the rate limit out of the way. */
function serviceEnv(extra = {}) {
  const p = port();
  return {
    PORT: p,
    BASE_URL: `http://127.0.0.1:${p}`,
    AUTH_MODE: 'off',
    RATE_LIMIT_PER_MINUTE: '1000000',
    DATABASE_URL: `sqlite://${tmp('calf-bench-')}/bench.db`,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** The node options `npm start` uses (package.json scripts.start): the service is measured as it runs. */
const START_OPTIONS = (() => {
  const start = require(path.join(ROOT, 'package.json')).scripts.start;
  const m = /^node\s+(.*?)\s*dist\/src\/server\.js$/.exec(start);
  if (!m) throw new Error(`package.json scripts.start is not "node [options] dist/src/server.js": ${start}`);
  return m[1] ? m[1].split(/\s+/) : [];
})();

/**
 * Starts dist/src/server.js as `npm start` does, with env (stdout, the JSON logs, discarded); resolves
 * when /fhir/metadata answers 200. `script`: another entry point run with the same options (bounds.js).
 */
async function startService(env, { script = path.join(ROOT, 'dist', 'src', 'server.js') } = {}) {
  const port = env.PORT;
  const spawnedAt = process.hrtime.bigint();
  const child = spawn(process.execPath, [...START_OPTIONS, script], {
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

/** Starts the echo baseline (or another server of this folder that prints "listening <port>"). */
function startEcho(script = 'echo-server.js') {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, script)], {
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
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  return kb / 1024;
}

/** The process and its child processes (node:cluster workers), from /proc (Linux). */
function processTree(pid) {
  let children = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone, or no children file
  }
  return [pid, ...children.flatMap(processTree)];
}

/** Resident memory of a process and its child processes in MB (a process that has just ended counts 0). */
function treeRssMb(pid) {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      sum += rssMb(p);
    } catch {
      // ended
    }
  }
  return sum;
}

/**
 * CPU time in ms used so far by a process tree: its main threads (the event loops) and all its other
 * threads (V8's GC helpers, libuv's pool, workers), from /proc (Linux).
 */
function cpuMs(pid) {
  const tick = 10; // USER_HZ is 100 on Linux
  let main = 0;
  let other = 0;
  for (const p of processTree(pid)) {
    let tasks = [];
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const stat = fs.readFileSync(`/proc/${p}/task/${t}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const ms = (Number(fields[11]) + Number(fields[12])) * tick;
        if (Number(t) === p) main += ms;
        else other += ms;
      } catch {
        // the thread ended
      }
    }
  }
  return { main, other };
}

/** Busy and total CPU time of the whole machine so far, in ticks (/proc/stat). */
function machineTicks() {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - fields[3] - fields[4], total };
}

module.exports = {
  START_OPTIONS,
  serviceEnv,
  tmp,
  startService,
  startEcho,
  stop,
  waitFor200,
  get,
  rssMb,
  treeRssMb,
  cpuMs,
  machineTicks,
};
