import { createSqliteStore } from './sqlite/sqlite-store';
import type { Indexer, Store } from './store';

export interface OpenStoreOptions {
  /** Clock for meta.lastUpdated and jti expiry; defaults to the system clock. */
  now?: () => Date;
}

/**
 * Opens the store named by a database URL (see Config.databaseUrl):
 *   sqlite::memory:            in-memory SQLite (tests)
 *   sqlite:///abs/path.db      SQLite file, directory created when missing
 *   postgres://... / postgresql://...   PostgreSQL; an optional `schema` query parameter picks the schema
 */
export async function openStore(databaseUrl: string, indexer: Indexer, options: OpenStoreOptions = {}): Promise<Store> {
  if (databaseUrl === 'sqlite::memory:') return createSqliteStore({ filename: ':memory:', indexer, now: options.now });
  if (databaseUrl.startsWith('sqlite://')) {
    const filename = decodeURIComponent(databaseUrl.slice('sqlite://'.length));
    if (!filename.startsWith('/'))
      throw new Error(`SQLite database URL must hold an absolute path: sqlite:///abs/path.db (got "${databaseUrl}")`);
    return createSqliteStore({ filename, indexer, now: options.now });
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const url = new URL(databaseUrl);
    const schema = url.searchParams.get('schema') ?? undefined;
    url.searchParams.delete('schema');
    // Loaded only when used: an embedded (SQLite) start does not load the PostgreSQL driver.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createPostgresStore } = require('./postgres/postgres-store') as typeof import('./postgres/postgres-store');
    return createPostgresStore({ connectionString: url.toString(), indexer, schema, now: options.now });
  }
  throw new Error('DATABASE_URL must be sqlite:///absolute/path.db, sqlite::memory: or postgres://...');
}
