#!/usr/bin/env node
// Online backup of the SQLite database named by DATABASE_URL (default data/calf-pain.db), safe while
// the service runs:  npm run backup [-- <destination file>]
// Default destination: data/backups/calf-pain-<UTC timestamp>.db. PostgreSQL: use pg_dump (README).
'use strict';
const path = require('node:path');
const { backupSqlite, sqliteFileOf } = require('../dist/src/ops/backup');

const databaseUrl = process.env.DATABASE_URL || `sqlite://${path.resolve('data', 'calf-pain.db')}`;
const source = sqliteFileOf(databaseUrl);
if (!source) {
  process.stderr.write('npm run backup copies a SQLite database. For PostgreSQL use pg_dump (see the README, "Backups").\n');
  process.exit(2);
}
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const destination = path.resolve(process.argv[2] || path.join('data', 'backups', `calf-pain-${stamp}.db`));
backupSqlite(source, destination).then(
  ({ file, totalPages }) => process.stdout.write(`Backed up ${source} to ${file} (${totalPages} pages)\n`),
  (err) => {
    process.stderr.write(`Backup failed: ${err.message}\n`);
    process.exit(1);
  },
);
