import { sql, type Migration } from '../sql-common';

/**
 * PostgreSQL schema, one entry per version. Never edit an applied migration: add the next one.
 * Kept parallel to ../sqlite/migrations.ts. Text columns use the "C" collation so ids and ISO
 * instants sort by code point, exactly as in SQLite, whatever the database's locale.
 */
export const postgresMigrations: Migration[] = [
  {
    version: 1,
    name: 'resources, history, search index, jti, cards, feedback',
    statements: [
      sql`CREATE TABLE resources (
        resource_type TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        version_id INTEGER NOT NULL,
        last_updated TEXT COLLATE "C" NOT NULL,
        deleted BOOLEAN NOT NULL DEFAULT FALSE,
        content JSONB NOT NULL,
        PRIMARY KEY (resource_type, id)
      )`,
      sql`CREATE INDEX resources_last_updated ON resources (resource_type, last_updated)`,
      sql`CREATE TABLE resource_history (
        resource_type TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        version_id INTEGER NOT NULL,
        last_updated TEXT COLLATE "C" NOT NULL,
        deleted BOOLEAN NOT NULL DEFAULT FALSE,
        content JSONB NOT NULL,
        PRIMARY KEY (resource_type, id, version_id),
        FOREIGN KEY (resource_type, id) REFERENCES resources (resource_type, id) ON DELETE CASCADE
      )`,
      sql`CREATE TABLE search_index (
        resource_type TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        param TEXT COLLATE "C" NOT NULL,
        value TEXT COLLATE "C" NOT NULL,
        lo TEXT COLLATE "C",
        hi TEXT COLLATE "C",
        FOREIGN KEY (resource_type, id) REFERENCES resources (resource_type, id) ON DELETE CASCADE
      )`,
      sql`CREATE INDEX search_index_value ON search_index (resource_type, param, value, id)`,
      sql`CREATE INDEX search_index_range ON search_index (resource_type, param, lo, hi, id)`,
      sql`CREATE INDEX search_index_resource ON search_index (resource_type, id, param)`,
      sql`CREATE TABLE jti (
        issuer TEXT COLLATE "C" NOT NULL,
        jti TEXT COLLATE "C" NOT NULL,
        expires_at TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (issuer, jti)
      )`,
      sql`CREATE INDEX jti_expires_at ON jti (expires_at)`,
      sql`CREATE TABLE issued_cards (
        uuid TEXT COLLATE "C" PRIMARY KEY,
        service_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        issued_at TEXT COLLATE "C" NOT NULL
      )`,
      sql`CREATE TABLE feedback (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        service_id TEXT COLLATE "C" NOT NULL,
        card TEXT COLLATE "C" NOT NULL,
        outcome TEXT NOT NULL,
        payload JSONB NOT NULL,
        card_kind TEXT,
        received_at TEXT COLLATE "C" NOT NULL
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
