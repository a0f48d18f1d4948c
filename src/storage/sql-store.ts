import { timeOrderedUuid } from '../core/ids';
import type { Resource } from 'fhir/r4';
import { badRequest, conflict, gone, notFound, preconditionFailed } from '../core/outcome';
import {
  checkPaging,
  checkResourceId,
  checkResourceType,
  indexRows,
  isoInstant,
  normaliseInstant,
  rowToResource,
  searchOrder,
  searchWhere,
  Sql,
  sql,
  toCount,
  type IndexRow,
  type SqlSession,
} from './sql-common';
import {
  CARD_WRITE_DELAY_MS,
  type FeedbackRecord,
  type HistoryQuery,
  type Indexer,
  type IssuedCard,
  type SearchRequest,
  type SearchResult,
  type Store,
} from './store';

/**
 * How a SQL store reaches its database. The SQLite and PostgreSQL stores differ only here (and in
 * their DDL); everything a Store does is written once, below, against a SqlSession.
 */
export interface SqlRunner {
  /** Runs fn outside an explicit transaction: each statement is atomic and sees committed data. */
  autocommit<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /** Runs fn in a write transaction, serialised with every other one; rollback when fn throws. */
  transaction<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /**
   * Runs a small write (jti, cards, feedback) atomically and durably; the runner may commit it together
   * with other writes (SQLite group commit). Defaults to autocommit.
   */
  write?<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface SqlStoreOptions {
  indexer: Indexer;
  /** Clock for meta.lastUpdated and jti expiry; defaults to the system clock. */
  now?: () => Date;
}

/** Runs queued tasks one after the other; a failed task does not stop the ones after it. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(() => task());
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** A connection a CommitGroup runs one group on. */
export interface GroupConnection {
  session: SqlSession;
  /** Opens the group's transaction (and whatever the store takes with it, e.g. a lock shared with other processes). */
  begin(): Promise<void>;
  /** Sends the writes the session queued (SqlSession.insertVersion); a failure is the failure of the writes that queued them. */
  flush?(): Promise<void>;
  /**
   * Commits, durably: where COMMIT itself does not wait for the disk (SQLite: the WAL file's data is
   * synced off the event loop), this includes that wait. It runs before anyone hears of success, with the
   * group still holding the queue, so no read sees a write that could still be lost.
   */
  commit(): Promise<void>;
  /** Rolls the whole transaction back, queued writes included. */
  rollback(): Promise<void>;
  /** Runs a savepoint statement (SAVEPOINT, RELEASE SAVEPOINT, ROLLBACK TO SAVEPOINT). */
  exec(statement: string): Promise<void>;
  /** Drops the queued writes of a write that failed: they are rolled back, never sent. */
  discard?(): void;
  /** False once the database has rolled the whole transaction back by itself (e.g. disk full, lost connection). */
  inTransaction(): boolean;
  /** Hands the connection back (broken: it must not be reused). */
  release(broken?: Error): void;
}

interface PendingWrite {
  fn: (s: SqlSession) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Most writes committed together. */
const GROUP_LIMIT = 256;

/**
 * Group commit: the write transactions that arrive while one group commits run together as the next
 * group, in one database transaction, and one COMMIT (one log flush) makes them all durable. Nobody
 * hears of success before that COMMIT; when it fails, every write in the group fails. A write that fails
 * is rolled back alone: the group first runs without savepoints (two statements fewer per write, two
 * round trips on PostgreSQL), and only when one of its writes fails is it rolled back and run again with
 * each write in its own savepoint. So a write function may run twice: it must act only through the
 * session it is given (every caller's does: a store transaction's callback). Groups run one at a time as
 * tasks of `queue`, so the writes stay serialised as before, in arrival order.
 */
export class CommitGroup {
  private pending: PendingWrite[] = [];

  constructor(
    private readonly queue: SerialQueue,
    private readonly connect: () => Promise<GroupConnection>,
  ) {}

  add<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (this.pending.length === 1) setImmediate(() => void this.queue.run(() => this.flush()));
    });
  }

  private async flush(): Promise<void> {
    const writes = this.pending.splice(0, GROUP_LIMIT);
    if (this.pending.length) setImmediate(() => void this.queue.run(() => this.flush()));
    if (!writes.length) return;
    let connection: GroupConnection;
    try {
      connection = await this.connect();
    } catch (err) {
      for (const w of writes) w.reject(err);
      return;
    }
    let broken: Error | undefined;
    try {
      const together = await this.runTogether(connection, writes);
      broken = together.settled ? together.broken : await this.runEachInSavepoint(connection, writes);
    } finally {
      connection.release(broken);
    }
  }

  /**
   * The common case, in as few statements as possible: every write in one transaction, without savepoints.
   * Settled when it committed, or when it failed for all (its one write failed, or BEGIN, COMMIT or the
   * sync did); not settled when one of several writes failed: everything was rolled back, nobody has been
   * answered, and the group runs again with savepoints. `broken`: the error that broke the connection.
   */
  private async runTogether(connection: GroupConnection, writes: PendingWrite[]): Promise<{ settled: boolean; broken?: Error }> {
    const values: unknown[] = [];
    let inWrites = false;
    try {
      await connection.begin();
      inWrites = true;
      for (const write of writes) values.push(await write.fn(connection.session));
      if (connection.flush) await connection.flush();
      inWrites = false;
      await connection.commit();
    } catch (err) {
      let broken = inWrites ? undefined : (err as Error);
      if (connection.inTransaction()) {
        await connection.rollback().catch((rollbackError: Error) => {
          broken = rollbackError;
        });
      }
      if (inWrites && writes.length > 1 && !broken) return { settled: false };
      for (const w of writes) w.reject(err);
      return { settled: true, broken };
    }
    writes.forEach((w, i) => w.resolve(values[i]));
    return { settled: true };
  }

  /** Again, each write in its own savepoint: a failing one is rolled back alone. Returns the error that broke the connection, if any. */
  private async runEachInSavepoint(connection: GroupConnection, writes: PendingWrite[]): Promise<Error | undefined> {
    let broken: Error | undefined;
    const done: { write: PendingWrite; value: unknown }[] = [];
    try {
      await connection.begin();
      for (const write of writes) {
        await connection.exec('SAVEPOINT write');
        try {
          const value = await write.fn(connection.session);
          if (connection.flush) await connection.flush();
          await connection.exec('RELEASE SAVEPOINT write');
          done.push({ write, value });
        } catch (err) {
          connection.discard?.();
          write.reject(err);
          if (connection.inTransaction()) {
            await connection.exec('ROLLBACK TO SAVEPOINT write');
            await connection.exec('RELEASE SAVEPOINT write');
          } else {
            // The database rolled the whole transaction back: the writes before this one are gone too.
            for (const d of done.splice(0)) d.write.reject(err);
            await connection.begin();
          }
        }
      }
      await connection.commit();
      for (const d of done) d.write.resolve(d.value);
    } catch (err) {
      broken = err as Error;
      if (connection.inTransaction()) await connection.rollback().catch(() => undefined);
      for (const d of done) d.write.reject(err);
      for (const w of writes) if (!done.some((d) => d.write === w)) w.reject(err);
    }
    return broken;
  }
}

/** A runner bound to one session already inside a transaction: operations on it run one at a time. */
function sessionRunner(session: SqlSession): SqlRunner {
  const queue = new SerialQueue();
  return {
    autocommit: (fn) => queue.run(() => fn(session)),
    transaction: (fn) => queue.run(() => fn(session)),
    close: async () => {
      throw new Error('close() is not available inside a transaction');
    },
  };
}

interface CurrentRow {
  version_id: number;
  deleted: unknown;
}

/**
 * The content of `resources r`'s current version: `resources` holds what searches filter and sort on,
 * `resource_history` every version's content (the current one's too), so each write stores it once.
 */
const CURRENT_CONTENT = sql`JOIN resource_history h ON h.resource_type = r.resource_type AND h.id = r.id AND h.version_id = r.version_id`;

/** Purge expired jti rows on every n-th recordJti call, so the table stays bounded without a timer. */
const JTI_PURGE_EVERY = 100;

export function createSqlStore(runner: SqlRunner, options: SqlStoreOptions): Store {
  return new SqlStore(runner, options.indexer, options.now ?? (() => new Date()), false);
}

/** Card records are written together once this many are waiting (else after CARD_WRITE_DELAY_MS). */
const CARD_BATCH = 500;
/** Card records per multi-row INSERT. */
const CARD_ROWS_PER_STATEMENT = 50;

function insertCardRows(cards: IssuedCard[]): Sql {
  const values = Sql.join(
    cards.map((c) => sql`(${c.uuid}, ${c.serviceId}, ${c.kind}, ${normaliseInstant(c.issuedAt) ?? c.issuedAt})`),
    sql`, `,
  );
  return sql`INSERT INTO issued_cards (uuid, service_id, kind, issued_at) VALUES ${values} ON CONFLICT (uuid) DO NOTHING`;
}

class SqlStore implements Store {
  private jtiCalls = 0;
  private readonly pendingCards = new Map<string, IssuedCard>();
  private cardTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly runner: SqlRunner,
    private readonly indexer: Indexer,
    private readonly now: () => Date,
    private readonly inTransaction: boolean,
  ) {}

  // --- resources ---------------------------------------------------------------------------

  async create<T extends Resource>(resource: T): Promise<T> {
    const resourceType = checkResourceType(resource?.resourceType);
    const generated = resource.id === undefined;
    const id = resource.id === undefined ? timeOrderedUuid() : checkResourceId(resource.id);
    return this.runner.transaction(async (s) => {
      // A freshly generated UUID cannot exist yet: only a caller-given id is looked up.
      if (!generated && (await this.current(s, resourceType, id))) throw conflict(`${resourceType}/${id} already exists`);
      return this.writeVersion(s, resource, resourceType, id, 1, false);
    });
  }

  async read<T extends Resource>(resourceType: T['resourceType'], id: string): Promise<T> {
    checkResourceType(resourceType);
    return this.runner.autocommit(async (s) => {
      const rows = await s.query<CurrentRow & { content: unknown }>(
        sql`SELECT r.version_id, r.deleted, h.content FROM resources r ${CURRENT_CONTENT}
            WHERE r.resource_type = ${resourceType} AND r.id = ${id}`,
      );
      if (rows.length === 0) throw notFound(`${resourceType}/${id} not found`);
      if (isTrue(rows[0].deleted)) throw gone(`${resourceType}/${id} has been deleted`);
      return rowToResource<T>(rows[0].content);
    });
  }

  async vread<T extends Resource>(resourceType: T['resourceType'], id: string, versionId: string): Promise<T> {
    checkResourceType(resourceType);
    const version = String(versionId);
    if (!/^[1-9]\d{0,8}$/.test(version)) throw notFound(`${resourceType}/${id} has no version "${versionId}"`);
    return this.runner.autocommit(async (s) => {
      const rows = await s.query<{ content: unknown }>(
        sql`SELECT content FROM resource_history WHERE resource_type = ${resourceType} AND id = ${id} AND version_id = ${Number(version)}`,
      );
      if (rows.length === 0) throw notFound(`${resourceType}/${id} has no version "${versionId}"`);
      return rowToResource<T>(rows[0].content);
    });
  }

  async update<T extends Resource>(resource: T, options: { ifMatch?: string; mustExist?: boolean } = {}): Promise<T> {
    const resourceType = checkResourceType(resource?.resourceType);
    if (resource.id === undefined || resource.id === '') throw badRequest('Resource id is required for update', 'id');
    const id = checkResourceId(resource.id);
    return this.runner.transaction(async (s) => {
      const row = await this.current(s, resourceType, id);
      if (!row && options.mustExist) throw notFound(`${resourceType}/${id} not found`);
      if (options.ifMatch !== undefined) {
        if (!row || String(row.version_id) !== options.ifMatch) {
          throw preconditionFailed(`${resourceType}/${id} is at version ${row ? row.version_id : '(none)'}, not ${options.ifMatch}`);
        }
      }
      return this.writeVersion(s, resource, resourceType, id, row ? row.version_id + 1 : 1, Boolean(row));
    });
  }

  async history(resourceType: string, id: string, options: { count?: number; offset?: number } = {}): Promise<SearchResult> {
    checkResourceType(resourceType);
    const paging = checkPaging(options.count, options.offset);
    return this.runner.autocommit(async (s) => {
      const counted = await s.query<{ total: unknown }>(
        sql`SELECT COUNT(*) AS total FROM resource_history WHERE resource_type = ${resourceType} AND id = ${id}`,
      );
      const total = toCount(counted[0].total);
      if (total === 0) throw notFound(`${resourceType}/${id} not found`);
      const rows = await s.query<{ content: unknown }>(
        sql`SELECT content FROM resource_history WHERE resource_type = ${resourceType} AND id = ${id}
            ORDER BY version_id DESC LIMIT ${Sql.integer(paging.limit)} OFFSET ${Sql.integer(paging.offset)}`,
      );
      return { resources: rows.map((r) => rowToResource(r.content)), total };
    });
  }

  async historyOf(query: HistoryQuery): Promise<SearchResult> {
    const where = historyWhere(query);
    const paging = checkPaging(query.count, query.offset);
    return this.runner.autocommit(async (s) => {
      const counted = await s.query<{ total: unknown }>(sql`SELECT COUNT(*) AS total FROM resource_history h WHERE ${where}`);
      const total = toCount(counted[0].total);
      if (total === 0 || paging.limit === 0 || paging.offset >= total) return { resources: [], total };
      const rows = await s.query<{ content: unknown }>(
        sql`SELECT h.content FROM resource_history h WHERE ${where}
            ORDER BY h.last_updated DESC, h.resource_type ASC, h.id ASC, h.version_id DESC
            LIMIT ${Sql.integer(paging.limit)} OFFSET ${Sql.integer(paging.offset)}`,
      );
      return { resources: rows.map((r) => rowToResource(r.content)), total };
    });
  }

  async search(request: SearchRequest): Promise<SearchResult> {
    const where = searchWhere(request);
    const order = searchOrder(request.resourceType, request.sort ?? []);
    const paging = checkPaging(request.count, request.offset);
    const count = async (s: SqlSession) =>
      toCount((await s.query<{ total: unknown }>(sql`SELECT COUNT(*) AS total FROM resources r WHERE ${where}`))[0].total);
    return this.runner.autocommit(async (s) => {
      if (paging.limit === 0) return { resources: [], total: await count(s) };
      const rows = await s.query<{ content: unknown }>(
        sql`SELECT h.content FROM resources r ${CURRENT_CONTENT} WHERE ${where} ORDER BY ${order} LIMIT ${Sql.integer(paging.limit)}
          OFFSET ${Sql.integer(paging.offset)}`,
      );
      // A first page that is not full holds every match: its length is the total, no COUNT needed.
      const total = paging.offset === 0 && rows.length < paging.limit ? rows.length : await count(s);
      return { resources: rows.map((r) => rowToResource(r.content)), total };
    });
  }

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    return this.runner.transaction((s) => fn(new SqlStore(sessionRunner(s), this.indexer, this.now, true)));
  }

  // --- non-FHIR state ----------------------------------------------------------------------

  async recordJti(issuer: string, jti: string, expiresAt: Date): Promise<boolean> {
    const now = isoInstant(this.now());
    const expires = isoInstant(expiresAt);
    const purge = ++this.jtiCalls % JTI_PURGE_EVERY === 0;
    return this.write(async (s) => {
      if (purge) await s.execute(sql`DELETE FROM jti WHERE expires_at <= ${now}`);
      // One statement, so it is atomic across processes: inserted, or revived when the old one expired.
      const changed = await s.execute(
        sql`INSERT INTO jti (issuer, jti, expires_at) VALUES (${issuer}, ${jti}, ${expires})
            ON CONFLICT (issuer, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE jti.expires_at <= ${now}`,
      );
      return changed > 0;
    });
  }

  async recordCards(cards: IssuedCard[]): Promise<void> {
    if (cards.length === 0) return;
    if (this.inTransaction) return this.insertCards(cards);
    for (const card of cards) this.pendingCards.set(card.uuid, card);
    if (this.pendingCards.size >= CARD_BATCH) void this.flushCards();
    else this.cardTimer ??= setTimeout(() => void this.flushCards(), CARD_WRITE_DELAY_MS).unref();
  }

  /** Writes the cards recorded since the last flush. */
  private async flushCards(): Promise<void> {
    if (this.cardTimer) clearTimeout(this.cardTimer);
    this.cardTimer = undefined;
    if (this.pendingCards.size === 0) return;
    const cards = [...this.pendingCards.values()];
    try {
      await this.insertCards(cards);
    } catch (err) {
      // Nobody awaits this write: the failure is reported, the cards' feedback will count as unknown kind.
      process.emitWarning(`Issued-card records could not be written: ${(err as Error).message}`);
    } finally {
      for (const card of cards) if (this.pendingCards.get(card.uuid) === card) this.pendingCards.delete(card.uuid);
    }
  }

  private async insertCards(cards: IssuedCard[]): Promise<void> {
    await this.write(async (s) => {
      // Full statements of CARD_ROWS_PER_STATEMENT rows, then one row at a time: two statement texts in
      // all, each prepared once. A statement per batch size would be prepared anew for nearly every batch
      // (and fill the statement cache with them).
      let start = 0;
      while (start < cards.length) {
        const rows = cards.length - start >= CARD_ROWS_PER_STATEMENT ? CARD_ROWS_PER_STATEMENT : 1;
        await s.execute(insertCardRows(cards.slice(start, start + rows)));
        start += rows;
      }
    });
  }

  async cardKind(uuid: string): Promise<string | undefined> {
    const pending = this.pendingCards.get(uuid);
    if (pending) return pending.kind;
    return this.runner.autocommit(async (s) => {
      const rows = await s.query<{ kind: string }>(sql`SELECT kind FROM issued_cards WHERE uuid = ${uuid}`);
      return rows[0]?.kind;
    });
  }

  async addFeedback(entry: FeedbackRecord): Promise<void> {
    // The card's kind is read from issued_cards below: cards still waiting are written first.
    if (!this.inTransaction) await this.flushCards();
    const payload: Partial<FeedbackRecord> = { outcomeTimestamp: entry.outcomeTimestamp };
    if (entry.acceptedSuggestions !== undefined) payload.acceptedSuggestions = entry.acceptedSuggestions;
    if (entry.overrideReason !== undefined) payload.overrideReason = entry.overrideReason;
    const receivedAt = entry.receivedAt ?? isoInstant(this.now());
    await this.write((s) =>
      s.execute(
        sql`INSERT INTO feedback (service_id, card, outcome, payload, card_kind, received_at)
            VALUES (${entry.serviceId}, ${entry.card}, ${entry.outcome}, ${JSON.stringify(payload)},
                    COALESCE(${entry.cardKind ?? null}, (SELECT kind FROM issued_cards WHERE uuid = ${entry.card})),
                    ${receivedAt})`,
      ),
    );
  }

  async listFeedback(serviceId?: string): Promise<FeedbackRecord[]> {
    const filter = serviceId === undefined ? sql`` : sql`WHERE service_id = ${serviceId}`;
    return this.runner.autocommit(async (s) => {
      const rows = await s.query<FeedbackRow>(
        sql`SELECT service_id, card, outcome, payload, card_kind, received_at FROM feedback ${filter} ORDER BY seq`,
      );
      return rows.map(rowToFeedback);
    });
  }

  async close(): Promise<void> {
    await this.flushCards();
    await this.runner.close();
  }

  // --- internals ---------------------------------------------------------------------------

  /** A small durable write, grouped with others where the runner can. */
  private write<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    return this.runner.write ? this.runner.write(fn) : this.runner.autocommit(fn);
  }

  private async current(s: SqlSession, resourceType: string, id: string): Promise<CurrentRow | undefined> {
    const rows = await s.query<CurrentRow>(
      sql`SELECT version_id, deleted FROM resources WHERE resource_type = ${resourceType} AND id = ${id}`,
    );
    return rows[0];
  }

  /** Writes version `version` as the current one, appends it to history and replaces its index rows. */
  private async writeVersion<T extends Resource>(
    s: SqlSession,
    resource: T,
    resourceType: string,
    id: string,
    version: number,
    exists: boolean,
  ): Promise<T> {
    const lastUpdated = isoInstant(this.now());
    const stored = { ...resource, id, meta: { ...resource.meta, versionId: String(version), lastUpdated } };
    const content = JSON.stringify(stored);
    // Indexing only reads the resource; the copy handed back is parsed from what was stored.
    const rows = indexRows(this.indexer(stored), lastUpdated);

    if (!exists && s.insertVersion) {
      s.insertVersion({ resourceType, id, versionId: version, lastUpdated, content, index: rows });
      return JSON.parse(content) as T;
    }
    const statements = [
      exists
        ? sql`UPDATE resources SET version_id = ${version}, last_updated = ${lastUpdated}, deleted = FALSE
              WHERE resource_type = ${resourceType} AND id = ${id}`
        : sql`INSERT INTO resources (resource_type, id, version_id, last_updated, deleted)
              VALUES (${resourceType}, ${id}, ${version}, ${lastUpdated}, FALSE)`,
      sql`INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content)
          VALUES (${resourceType}, ${id}, ${version}, ${lastUpdated}, FALSE, ${content})`,
      ...(exists ? [sql`DELETE FROM search_index WHERE resource_type = ${resourceType} AND id = ${id}`] : []),
      ...indexRowInserts(resourceType, id, rows),
    ];
    for (const statement of statements) await s.execute(statement);
    return JSON.parse(content) as T;
  }
}

/** WHERE clause over `resource_history h` for a history query. */
function historyWhere(query: HistoryQuery): Sql {
  if (query.resourceTypes.length === 0) return sql`1 = 0`;
  const types = Sql.join(
    query.resourceTypes.map((t) => sql`${checkResourceType(t)}`),
    sql`, `,
  );
  const conditions = [sql`h.resource_type IN (${types})`];
  if (query.id !== undefined) conditions.push(sql`h.id = ${checkResourceId(query.id)}`);
  if (query.since !== undefined) conditions.push(sql`h.last_updated >= ${checkInstant(query.since)}`);
  if (query.at !== undefined) {
    // Current from its own lastUpdated until the next version's: that span must overlap [lo, hi).
    conditions.push(sql`h.last_updated < ${checkInstant(query.at.hi)}`);
    conditions.push(sql`NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.resource_type = h.resource_type AND n.id = h.id
                        AND n.version_id = h.version_id + 1 AND n.last_updated <= ${checkInstant(query.at.lo)})`);
  }
  return Sql.join(conditions, sql` AND `);
}

function checkInstant(value: string): string {
  const instant = normaliseInstant(value);
  if (instant === undefined) throw badRequest(`Invalid instant "${value}"`);
  return instant;
}

const INDEX_ROWS_PER_STATEMENT = 100;

function indexRowInserts(resourceType: string, id: string, rows: IndexRow[]): Sql[] {
  const statements: Sql[] = [];
  for (let start = 0; start < rows.length; start += INDEX_ROWS_PER_STATEMENT) {
    const values = Sql.join(
      rows
        .slice(start, start + INDEX_ROWS_PER_STATEMENT)
        .map((r) => sql`(${resourceType}, ${id}, ${r.param}, ${r.value}, ${r.lo}, ${r.hi})`),
      sql`, `,
    );
    statements.push(sql`INSERT INTO search_index (resource_type, id, param, value, lo, hi) VALUES ${values}`);
  }
  return statements;
}

interface FeedbackRow {
  service_id: string;
  card: string;
  outcome: FeedbackRecord['outcome'];
  payload: unknown;
  card_kind: string | null;
  received_at: string;
}

function rowToFeedback(row: FeedbackRow): FeedbackRecord {
  const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as Partial<FeedbackRecord>;
  const record: FeedbackRecord = {
    serviceId: row.service_id,
    card: row.card,
    outcome: row.outcome,
    outcomeTimestamp: payload.outcomeTimestamp ?? '',
    receivedAt: row.received_at,
  };
  if (payload.acceptedSuggestions !== undefined) record.acceptedSuggestions = payload.acceptedSuggestions;
  if (payload.overrideReason !== undefined) record.overrideReason = payload.overrideReason;
  if (row.card_kind !== null) record.cardKind = row.card_kind;
  return record;
}

/** SQLite booleans are 0/1, PostgreSQL's true/false. */
function isTrue(value: unknown): boolean {
  return value === true || value === 1;
}
