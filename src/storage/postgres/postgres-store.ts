import { Pool, type PoolClient } from 'pg';
import { isoInstant, migrate, type Sql, type SqlSession } from '../sql-common';
import { CommitGroup, createSqlStore, SerialQueue, type SqlRunner } from '../sql-store';
import type { Indexer, Store } from '../store';
import { POSTGRES_DIALECT, schemaMigrations } from '../migrations';

const postgresMigrations = schemaMigrations(POSTGRES_DIALECT);

export interface PostgresStoreOptions {
  connectionString: string;
  indexer: Indexer;
  /** Schema holding the tables (created when missing); default `public`. Lower-case identifier. */
  schema?: string;
  /** Clock for meta.lastUpdated and jti expiry; defaults to the system clock. */
  now?: () => Date;
  /** Pool size; default 10. */
  maxConnections?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * PostgreSQL store. Reads and single-statement writes (jti, cards, feedback) use the pool directly.
 * Resource writes and transactions run on a dedicated client between BEGIN and COMMIT and take a
 * transaction-scoped advisory lock per schema, so writers are serialised across processes too;
 * within the process they are grouped (CommitGroup), so waiting writes share one transaction and one
 * WAL flush instead of each holding a pool connection.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new Error(`Invalid PostgreSQL schema name "${schema}"`);
  const now = options.now ?? (() => new Date());
  const lockKey = advisoryLockKey(`calf-pain-cds:${schema}`);

  const pool = new Pool({
    connectionString: options.connectionString,
    // In the startup packet, so every connection (including ones the pool opens later) uses the schema.
    options: `-c search_path=${schema}`,
    max: options.maxConnections ?? 10,
    // While the database is unreachable a request waits at most this long for a connection, then
    // fails (503 with Retry-After): no caller hangs on a dead server.
    connectionTimeoutMillis: 3000,
  });
  // An idle client losing its connection emits 'error' on the pool; the pool discards that client
  // and the next query opens a new one. Without a listener the process would crash.
  pool.on('error', () => undefined);

  const inTransaction = async <T>(fn: (client: PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [lockKey]);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  };

  try {
    await inTransaction(async (client) => {
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      // The name is validated above and quoted; identifiers cannot be bound as parameters.
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await migrate(clientSession(client), postgresMigrations, isoInstant(now()));
    });
  } catch (err) {
    await pool.end();
    throw err;
  }

  const queue = new SerialQueue();
  let closed = false;
  const poolSession = clientSession(pool);
  // Write transactions are grouped: one BEGIN, advisory lock and COMMIT (one WAL flush) for all the
  // writes that queued up while the previous group committed.
  const group = new CommitGroup(
    queue,
    async () => {
      if (closed) throw closedError();
      const client = await pool.connect();
      return {
        session: clientSession(client),
        exec: async (statement: string) => void (await client.query(statement)),
        inTransaction: () => true,
        release: (broken?: Error) => client.release(broken),
      };
    },
    async (connection) => connection.exec(`SELECT pg_advisory_xact_lock(${lockKey})`),
    'BEGIN',
  );
  const runner: SqlRunner = {
    autocommit: (fn) => (closed ? Promise.reject(closedError()) : fn(poolSession)),
    transaction: (fn) => group.add(fn),
    close: async () => {
      if (closed) return;
      // Transactions already queued finish first; anything queued after this fails.
      await queue.run(async () => {
        closed = true;
      });
      await pool.end();
    },
  };
  return createSqlStore(runner, { indexer: options.indexer, now, writableCte: true });
}

function clientSession(client: Pick<Pool, 'query'> | PoolClient): SqlSession {
  const render = (statement: Sql) => statement.render((position) => `$${position}`);
  return {
    async query<R>(statement: Sql): Promise<R[]> {
      const { text, values } = render(statement);
      return (await client.query(text, values)).rows as R[];
    },
    async execute(statement: Sql): Promise<number> {
      const { text, values } = render(statement);
      return (await client.query(text, values)).rowCount ?? 0;
    },
  };
}

function closedError(): Error {
  return new Error('The store has been closed');
}

/** Stable signed 32-bit FNV-1a hash: the advisory lock id of one schema's writers. */
function advisoryLockKey(name: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(name, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}
