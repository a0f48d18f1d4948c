import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BoundedMap } from '../../core/bounded-map';
import {
  createMigrationsTable,
  isoInstant,
  pendingMigrations,
  recordMigration,
  selectAppliedMigrations,
  type Sql,
  type SqlSession,
  type SqlValue,
} from '../sql-common';
import { CommitGroup, createSqlStore, SerialQueue, type SqlRunner } from '../sql-store';
import { startCheckpointer, WAL_PAGES_BEFORE_OWN_CHECKPOINT, type Checkpointer } from './checkpointer';
import type { Indexer, Store } from '../store';
import { schemaMigrations, SQLITE_DIALECT } from '../migrations';

const sqliteMigrations = schemaMigrations(SQLITE_DIALECT);

export interface SqliteStoreOptions {
  /** ':memory:' or an absolute path; the parent directory is created when missing. */
  filename: string;
  indexer: Indexer;
  /** Clock for meta.lastUpdated and jti expiry; defaults to the system clock. */
  now?: () => Date;
}

/** SQLite's page cache per connection, in KiB (see the pragma in createSqliteStore). */
const PAGE_CACHE_KB = 4096;

/** Statements are compiled once and reused; the bound keeps ad-hoc search shapes from growing it forever. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Embedded store on one better-sqlite3 connection. Every operation, reads included, goes through
 * one queue: on a single connection a statement issued while a transaction is open would join
 * that transaction (and see or lose its uncommitted writes). The queue is held only while a
 * transaction's callback runs; plain reads and writes are synchronous underneath.
 */
export function createSqliteStore(options: SqliteStoreOptions): Store {
  const { filename } = options;
  if (filename !== ':memory:') {
    if (!path.isAbsolute(filename)) throw new Error(`SQLite filename must be absolute or ':memory:' (got "${filename}")`);
    fs.mkdirSync(path.dirname(filename), { recursive: true });
  }
  const now = options.now ?? (() => new Date());
  const db = new Database(filename);
  const statements = new StatementCache(db);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    // Durability: an acknowledged write must survive a power cut, not only a crash. With FULL, SQLite
    // would sync the WAL inside COMMIT, blocking the event loop for the disk. Instead COMMIT writes the
    // WAL (NORMAL: consistent, checkpoints still synced) and each group's commit, before anyone is
    // answered, syncs the WAL file off the event loop (checkpointer.ts: on the checkpoint thread, else in
    // libuv's thread pool): the same data on disk as FULL at the same moment, while requests go on being
    // served. A database without a WAL file (in memory) has nothing to sync. Writes are grouped to share syncs.
    db.pragma(`synchronous = ${filename === ':memory:' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    // Sorting with a LIMIT (every paged search) uses a temporary b-tree: in memory it costs microseconds,
    // as a temporary file (the default) hundreds of them for creating and deleting the file.
    db.pragma('temp_store = MEMORY');
    // better-sqlite3 builds SQLite with a 16 MB page cache per connection. Pages missing from a smaller
    // one are read back from the operating system's file cache; 4 MB holds the b-trees' upper levels and
    // recent pages, and measured no slower, while 16 MB is the largest part of the process's own heap
    // after a busy spell (about 12 MB more resident memory).
    db.pragma(`cache_size = -${PAGE_CACHE_KB}`);
    migrateNow(db, statements, isoInstant(now()));
  } catch (err) {
    db.close();
    throw err;
  }
  const session = createSession(statements);
  const queue = new SerialQueue();
  let closed = false;
  // Checkpoints run on a thread of their own (checkpointer.ts); this connection's own automatic
  // checkpoint stays as a backstop, and takes over at SQLite's default should that thread fail.
  if (filename !== ':memory:') db.pragma(`wal_autocheckpoint = ${WAL_PAGES_BEFORE_OWN_CHECKPOINT}`);
  const checkpointer: Checkpointer | undefined =
    filename === ':memory:'
      ? undefined
      : startCheckpointer(filename, () => {
          if (!closed) db.pragma('wal_autocheckpoint = 1000');
        });
  const group = new CommitGroup(queue, async () => {
    if (closed) throw closedError();
    return {
      session,
      begin: async () => void db.exec('BEGIN IMMEDIATE'),
      commit: async () => {
        db.exec('COMMIT');
        await checkpointer?.sync();
      },
      rollback: async () => void db.exec('ROLLBACK'),
      exec: async (statement: string) => void db.exec(statement),
      inTransaction: () => db.inTransaction,
      release: () => undefined,
    };
  });

  const runner: SqlRunner = {
    autocommit: (fn) => queue.run(() => (closed ? Promise.reject(closedError()) : fn(session))),
    transaction: (fn) => group.add(fn),
    write: (fn) => group.add(fn),
    close: () =>
      queue.run(async () => {
        if (closed) return;
        closed = true;
        await checkpointer?.close();
        db.close();
      }),
  };

  return createSqlStore(runner, { indexer: options.indexer, now });
}

function closedError(): Error {
  return new Error('The store has been closed');
}

/**
 * Applies pending migrations synchronously, so a broken database fails at open. BEGIN IMMEDIATE
 * keeps two processes opening the same file from migrating at once.
 */
function migrateNow(db: Database.Database, statements: StatementCache, appliedAt: string): void {
  db.transaction(() => {
    statements.run(createMigrationsTable);
    const applied = statements.all<{ version: number }>(selectAppliedMigrations).map((r) => r.version);
    for (const migration of pendingMigrations(sqliteMigrations, applied)) {
      for (const statement of migration.statements) db.exec(statement.render(() => '?').text);
      statements.run(recordMigration(migration, appliedAt));
    }
  }).immediate();
}

/** Statements are compiled once and reused (least recently used evicted past STATEMENT_CACHE_SIZE). */
class StatementCache {
  private readonly statements = new BoundedMap<string, Database.Statement>(STATEMENT_CACHE_SIZE);

  constructor(private readonly db: Database.Database) {}

  all<R>(statement: Sql): R[] {
    const { stmt, values } = this.prepare(statement);
    return stmt.all(...values) as R[];
  }

  run(statement: Sql): number {
    const { stmt, values } = this.prepare(statement);
    return stmt.run(...values).changes;
  }

  private prepare(statement: Sql): { stmt: Database.Statement; values: SqlValue[] } {
    const { text, values } = statement.render(() => '?');
    let stmt = this.statements.get(text);
    if (stmt) {
      this.statements.delete(text);
    } else {
      stmt = this.db.prepare(text);
    }
    this.statements.set(text, stmt);
    return { stmt, values };
  }
}

function createSession(statements: StatementCache): SqlSession {
  return {
    query: async <R>(statement: Sql) => statements.all<R>(statement),
    execute: async (statement: Sql) => statements.run(statement),
  };
}
