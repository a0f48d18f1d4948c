#!/usr/bin/env node
/**
 * Builds dist/ (tsc) only when it is missing or older than what it is built from: the TypeScript
 * sources, package.json, package-lock.json and tsconfig.json (`--force`: always, as `npm run build`).
 * `npm start` runs it first, so a start with an up-to-date dist/ does not recompile. A build starts
 * from an empty dist/.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const STAMP = path.join(ROOT, 'dist', '.build-stamp');

function newestMtime(entry) {
  const stat = fs.statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const name of fs.readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)));
  return newest;
}

// Installing before the sources are there (a container build copies package files first): nothing to build yet.
if (!fs.existsSync(path.join(ROOT, 'src'))) process.exit(0);

const inputs = ['src', 'package.json', 'package-lock.json', 'tsconfig.json'].map((p) => path.join(ROOT, p)).filter((p) => fs.existsSync(p));
const built = fs.existsSync(STAMP) ? fs.statSync(STAMP).mtimeMs : -1;
const changed = Math.max(...inputs.map(newestMtime));

const force = process.argv.includes('--force');
if (!force && built >= changed && fs.existsSync(path.join(ROOT, 'dist', 'src', 'server.js'))) process.exit(0);

let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  console.error(
    'dist/ is missing or out of date and TypeScript is not installed: run `npm ci` (with dev dependencies), then `npm run build`.',
  );
  process.exit(1);
}
// A fresh dist/: a module left behind by an earlier build (a file since moved or deleted) must not load.
fs.rmSync(path.join(ROOT, 'dist'), { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.json')], { stdio: 'inherit', cwd: ROOT });
if (result.status !== 0) process.exit(result.status ?? 1);
fs.writeFileSync(STAMP, `${new Date().toISOString()}\n`);
