import { sql, type Migration } from '../sql-common';

/**
 * SQLite schema, one entry per version. Never edit an applied migration: add the next one.
 * Kept parallel to ../postgres/migrations.ts (same tables and columns; TEXT for JSON, 0/1 for booleans).
 * Times are ISO instants with milliseconds in UTC, so text order is time order.
 */
export const sqliteMigrations: Migration[] = [
  {
    version: 1,
    name: 'resources, history, search index, jti, cards, feedback',
    statements: [
      sql`CREATE TABLE resources (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version_id INTEGER NOT NULL,
        last_updated TEXT NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
        content TEXT NOT NULL,
        PRIMARY KEY (resource_type, id)
      )`,
      sql`CREATE INDEX resources_last_updated ON resources (resource_type, last_updated)`,
      sql`CREATE TABLE resource_history (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version_id INTEGER NOT NULL,
        last_updated TEXT NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
        content TEXT NOT NULL,
        PRIMARY KEY (resource_type, id, version_id),
        FOREIGN KEY (resource_type, id) REFERENCES resources (resource_type, id) ON DELETE CASCADE
      )`,
      sql`CREATE TABLE search_index (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        param TEXT NOT NULL,
        value TEXT NOT NULL,
        lo TEXT,
        hi TEXT,
        FOREIGN KEY (resource_type, id) REFERENCES resources (resource_type, id) ON DELETE CASCADE
      )`,
      sql`CREATE INDEX search_index_value ON search_index (resource_type, param, value, id)`,
      sql`CREATE INDEX search_index_range ON search_index (resource_type, param, lo, hi, id)`,
      sql`CREATE INDEX search_index_resource ON search_index (resource_type, id, param)`,
      sql`CREATE TABLE jti (
        issuer TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        PRIMARY KEY (issuer, jti)
      )`,
      sql`CREATE INDEX jti_expires_at ON jti (expires_at)`,
      sql`CREATE TABLE issued_cards (
        uuid TEXT PRIMARY KEY,
        service_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        issued_at TEXT NOT NULL
      )`,
      sql`CREATE TABLE feedback (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        service_id TEXT NOT NULL,
        card TEXT NOT NULL,
        outcome TEXT NOT NULL,
        payload TEXT NOT NULL,
        card_kind TEXT,
        received_at TEXT NOT NULL
      )`,
      sql`CREATE INDEX feedback_service ON feedback (service_id, seq)`,
    ],
  },
  {
    version: 2,
    name: 'date range index over date rows only',
    statements: [
      // Token and reference rows have no range: leaving them out of this index spares every write
      // most of its entries. Date criteria say `lo IS NOT NULL`, so they still use it.
      sql`DROP INDEX search_index_range`,
      sql`CREATE INDEX search_index_range ON search_index (resource_type, param, lo, hi, id) WHERE lo IS NOT NULL`,
    ],
  },
];
