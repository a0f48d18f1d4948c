#!/usr/bin/env node
// Prints audit records (JSON Lines) from AUDIT_LOG_DIR (default data/audit), filtered:
//   npm run audit -- --patient pat-1 [--who <subject|issuer>] [--since 2026-11-01] [--until 2026-12-01] [--dir data/audit]
'use strict';
const path = require('node:path');
const { queryAudit } = require('../dist/src/ops/audit-query');

const args = process.argv.slice(2);
const query = {};
let dir = process.env.AUDIT_LOG_DIR || path.resolve('data', 'audit');
for (let i = 0; i < args.length; i += 2) {
  const [flag, value] = [args[i], args[i + 1]];
  if (value === undefined) {
    process.stderr.write(`${flag} needs a value\n`);
    process.exit(2);
  }
  if (flag === '--dir') dir = path.resolve(value);
  else if (['--patient', '--who', '--since', '--until'].includes(flag)) query[flag.slice(2)] = value;
  else {
    process.stderr.write(`Unknown option ${flag}. Use --patient, --who, --since, --until, --dir\n`);
    process.exit(2);
  }
}
queryAudit(dir, query).then(
  (records) => {
    for (const r of records) process.stdout.write(`${JSON.stringify(r)}\n`);
  },
  (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);
