/**
 * Online backup of the embedded SQLite database, consistent while the service keeps serving: SQLite's
 * backup API copies pages under its own locking, restarting when a writer changes a copied page, so
 * the copy is one committed state. PostgreSQL is backed up with pg_dump (README, "Backups").
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export interface BackupResult {
  file: string;
  totalPages: number;
}

/** Copies the SQLite database at `source` into `destination` (a new file; its directory is created). */
export async function backupSqlite(source: string, destination: string): Promise<BackupResult> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  mkdirSync(path.dirname(destination), { recursive: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    const { totalPages } = await db.backup(destination);
    return { file: destination, totalPages };
  } finally {
    db.close();
  }
}

/** The SQLite file of a DATABASE_URL, or undefined for PostgreSQL and in-memory databases. */
export function sqliteFileOf(databaseUrl: string): string | undefined {
  if (!databaseUrl.startsWith('sqlite:///')) return undefined;
  return decodeURIComponent(databaseUrl.slice('sqlite://'.length));
}
