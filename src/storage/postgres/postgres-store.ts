import { Pool, type PoolClient } from 'pg';
import { isoInstant, migrate, type NewVersion, type Sql, type SqlSession } from '../sql-common';
import { CommitGroup, createSqlStore, SerialQueue, type GroupConnection, type SqlRunner } from '../sql-store';
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
 * Resource writes and transactions are grouped (CommitGroup): the writes waiting while one group commits
 * share one dedicated client, one transaction and one WAL flush. A transaction that reads or updates takes
 * a transaction-scoped advisory lock per schema, so such writers are serialised across processes too;
 * a group of creates with fresh ids is one statement (see groupConnection).
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
  // Write transactions are grouped: the writes that queued up while the previous group committed share
  // one transaction and one WAL flush.
  const group = new CommitGroup(queue, async () => {
    if (closed) throw closedError();
    return groupConnection(await pool.connect(), lockKey);
  });
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
  return createSqlStore(runner, { indexer: options.indexer, now });
}

/**
 * Writes queued new resource versions, any number, in one statement of fixed text: the values go as
 * arrays (the contents as one JSON array), so the server parses and plans it once per connection (a
 * named prepared statement) instead of planning a statement as large as the group each time.
 */
const INSERT_VERSIONS = {
  name: 'insert-new-versions',
  text: `WITH v AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) WITH ORDINALITY AS v(resource_type, id, version_id, last_updated, n)
    ), r AS (
      INSERT INTO resources (resource_type, id, version_id, last_updated, deleted)
      SELECT resource_type, id, version_id, last_updated, FALSE FROM v
    ), h AS (
      INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content)
      SELECT v.resource_type, v.id, v.version_id, v.last_updated, FALSE, c.content
      FROM v JOIN jsonb_array_elements($5::jsonb) WITH ORDINALITY AS c(content, n) ON c.n = v.n
    )
    INSERT INTO search_index (resource_type, id, param, value, lo, hi)
    SELECT * FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])`,
};

function insertVersionsValues(versions: NewVersion[]): unknown[] {
  const types: string[] = [];
  const ids: string[] = [];
  const versionIds: number[] = [];
  const updated: string[] = [];
  const contents: string[] = [];
  const index: (string | null)[][] = [[], [], [], [], [], []];
  for (const v of versions) {
    types.push(v.resourceType);
    ids.push(v.id);
    versionIds.push(v.versionId);
    updated.push(v.lastUpdated);
    contents.push(v.content);
    for (const row of v.index) {
      index[0].push(v.resourceType);
      index[1].push(v.id);
      index[2].push(row.param);
      index[3].push(row.value);
      index[4].push(row.lo);
      index[5].push(row.hi);
    }
  }
  // Each content is JSON text already: joined, they are the JSON array the statement splits.
  return [types, ids, versionIds, updated, `[${contents.join(',')}]`, ...index];
}

/**
 * One group's connection. New resource versions (nothing reads their results) are queued by
 * insertVersion and written together by one statement (INSERT_VERSIONS): before the next statement, or
 * when the group flushes. A write that must see another's effect reads first, and any read or other
 * statement sends the queue ahead of it.
 *
 * The transaction itself is opened only when something needs it: a read, a statement that is not
 * queued, or a savepoint. Then BEGIN and the schema's advisory lock (which serialises writers across
 * processes) go in one round trip. A group of creates with fresh ids (no reads: the common case) needs
 * neither: its queued versions are one statement, atomic by itself and durable when it returns
 * (synchronous_commit), so the whole group costs one round trip. Round trips, each waiting for a turn of
 * a busy event loop, were what held create back.
 */
function groupConnection(client: PoolClient, lockKey: number): GroupConnection {
  const direct = clientSession(client);
  let queued: NewVersion[] = [];
  // none: no transaction; asked: begin() was called, nothing sent yet; open: BEGIN sent; alone: the
  // queued versions went as one statement outside a transaction (committed, or failed with nothing written).
  let state: 'none' | 'asked' | 'open' | 'alone' = 'none';
  const open = async (): Promise<void> => {
    if (state !== 'asked') return;
    state = 'open';
    await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${lockKey})`);
  };
  const flush = async (): Promise<void> => {
    const versions = queued;
    queued = [];
    if (versions.length === 0) return;
    if (state === 'asked') state = 'alone';
    await client.query({ ...INSERT_VERSIONS, values: insertVersionsValues(versions) });
  };
  const beforeStatement = async (): Promise<void> => {
    await open();
    await flush();
  };
  return {
    session: {
      query: async (statement) => (await beforeStatement(), direct.query(statement)),
      execute: async (statement) => (await beforeStatement(), direct.execute(statement)),
      insertVersion: (version) => void queued.push(version),
    },
    begin: async () => {
      queued = [];
      state = 'asked';
    },
    flush,
    commit: async () => {
      await flush();
      const wasOpen = state === 'open';
      state = 'none';
      if (wasOpen) await client.query('COMMIT');
    },
    rollback: async () => {
      queued = [];
      const wasOpen = state === 'open';
      state = 'none';
      if (wasOpen) await client.query('ROLLBACK');
    },
    exec: async (statement) => {
      await beforeStatement();
      await client.query(statement);
    },
    discard: () => {
      queued = [];
    },
    inTransaction: () => state !== 'none',
    release: (broken) => client.release(broken),
  };
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
