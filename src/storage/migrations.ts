import { Sql, sql, type Migration } from './sql-common';

/**
 * How each database spells the column types of the schema. PostgreSQL text columns that are compared
 * or sorted use the "C" collation, so ids and ISO instants sort by code point exactly as in SQLite,
 * whatever the database's locale.
 */
export interface SchemaDialect {
  /** Text that is compared or sorted (ids, instants, keys). */
  key: Sql;
  /** A FHIR resource or another JSON document. */
  json: Sql;
  /** The `deleted` flag, NOT NULL, false by default. */
  deletedFlag: Sql;
  /** An ever-growing integer primary key, in insertion order. */
  sequence: Sql;
  /** Statements that make the stored contents cheaper to compress (none where the database does not compress them). */
  fastContentCompression: Sql[];
}

export const SQLITE_DIALECT: SchemaDialect = {
  key: sql`TEXT`,
  json: sql`TEXT`,
  deletedFlag: sql`INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))`,
  sequence: sql`INTEGER PRIMARY KEY AUTOINCREMENT`,
  fastContentCompression: [],
};

export const POSTGRES_DIALECT: SchemaDialect = {
  key: sql`TEXT COLLATE "C"`,
  json: sql`JSONB`,
  deletedFlag: sql`BOOLEAN NOT NULL DEFAULT FALSE`,
  sequence: sql`BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY`,
  // A resource's content (several KB) is compressed as it is stored (TOAST). The default, pglz, was an
  // eighth of the server's work per create; lz4 compresses several times faster. Servers built without
  // lz4 keep pglz (the column setting only applies to values written after it).
  fastContentCompression: [
    sql`DO $$ BEGIN
          IF 'lz4' = ANY ((SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression')::text[]) THEN
            ALTER TABLE resource_history ALTER COLUMN content SET COMPRESSION lz4;
          END IF;
        END $$`,
  ],
};

/**
 * The schema, one entry per version, for both databases (same tables and columns). Never edit an
 * applied migration: add the next one. Times are ISO instants with milliseconds in UTC, so text
 * order is time order.
 */
export function schemaMigrations(d: SchemaDialect): Migration[] {
  // A stored version: the current one in `resources`, every one in `resource_history` (since version 3
  // the content is kept there only).
  const version = sql`resource_type ${d.key} NOT NULL,
        id ${d.key} NOT NULL,
        version_id INTEGER NOT NULL,
        last_updated ${d.key} NOT NULL,
        deleted ${d.deletedFlag},
        content ${d.json} NOT NULL`;
  return [
    {
      version: 1,
      name: 'resources, history, search index, jti, cards, feedback',
      statements: [
        sql`CREATE TABLE resources (
        ${version},
        PRIMARY KEY (resource_type, id)
      )`,
        sql`CREATE INDEX resources_last_updated ON resources (resource_type, last_updated)`,
        sql`CREATE TABLE resource_history (
        ${version},
        PRIMARY KEY (resource_type, id, version_id),
        FOREIGN KEY (resource_type, id) REFERENCES resources (resource_type, id) ON DELETE CASCADE
      )`,
        sql`CREATE TABLE search_index (
        resource_type ${d.key} NOT NULL,
        id ${d.key} NOT NULL,
        param ${d.key} NOT NULL,
        value ${d.key} NOT NULL,
        lo ${d.key},
        hi ${d.key},
        FOREIGN KEY (resource_type, id) REFERENCES resources (resource_type, id) ON DELETE CASCADE
      )`,
        sql`CREATE INDEX search_index_value ON search_index (resource_type, param, value, id)`,
        sql`CREATE INDEX search_index_range ON search_index (resource_type, param, lo, hi, id)`,
        sql`CREATE INDEX search_index_resource ON search_index (resource_type, id, param)`,
        sql`CREATE TABLE jti (
        issuer ${d.key} NOT NULL,
        jti ${d.key} NOT NULL,
        expires_at ${d.key} NOT NULL,
        PRIMARY KEY (issuer, jti)
      )`,
        sql`CREATE INDEX jti_expires_at ON jti (expires_at)`,
        sql`CREATE TABLE issued_cards (
        uuid ${d.key} PRIMARY KEY,
        service_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        issued_at ${d.key} NOT NULL
      )`,
        sql`CREATE TABLE feedback (
        seq ${d.sequence},
        service_id ${d.key} NOT NULL,
        card ${d.key} NOT NULL,
        outcome TEXT NOT NULL,
        payload ${d.json} NOT NULL,
        card_kind TEXT,
        received_at ${d.key} NOT NULL
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
    {
      version: 3,
      name: 'resource content kept once, in resource_history',
      statements: [
        // Every version, the current one included, has always been written to resource_history: the copy
        // in `resources` doubled what each write stored. Reads join the current version's history row.
        sql`ALTER TABLE resources DROP COLUMN content`,
      ],
    },
    {
      version: 4,
      name: 'faster compression of stored contents',
      statements: d.fastContentCompression,
    },
  ];
}
