import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import type { QuestionnaireResponse } from 'fhir/r4';
import { POSTGRES_DIALECT, schemaMigrations, SQLITE_DIALECT, type SchemaDialect } from '../src/storage/migrations';
import { createMigrationsTable, recordMigration } from '../src/storage/sql-common';
import { createPostgresStore } from '../src/storage/postgres/postgres-store';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';
import { indexResource } from '../src/storage/search-parameters';
import type { Store } from '../src/storage/store';
import { postgresUrl, TestSchemas } from './support/postgres';

/**
 * A database written before schema version 3 kept each current version's content twice (in `resources`
 * and in `resource_history`); version 3 drops the copy in `resources`. A store opened on such a database
 * migrates it and still reads, vreads, searches and pages the history of what was there.
 */

const response = (version: number, status: QuestionnaireResponse['status']): QuestionnaireResponse => ({
  resourceType: 'QuestionnaireResponse',
  id: 'qr-old',
  meta: { versionId: String(version), lastUpdated: `2026-01-0${version}T10:00:00.000Z` },
  status,
  subject: { reference: 'Patient/p-old' },
  questionnaire: 'http://calfpain.example.org/fhir/Questionnaire/calf-pain',
});
const V1 = response(1, 'in-progress');
const V2 = response(2, 'completed');

/** The statements that wrote V1 then `current` (V2) at schema version 2: content in both tables, `current` current. */
function writtenAtVersion2(current: QuestionnaireResponse = V2): { text: string; values: (string | number)[] }[] {
  const row = (r: QuestionnaireResponse) => [r.resourceType, r.id!, Number(r.meta!.versionId), r.meta!.lastUpdated!, JSON.stringify(r)];
  return [
    {
      text: 'INSERT INTO resources (resource_type, id, version_id, last_updated, content) VALUES ($1, $2, $3, $4, $5)',
      values: row(current),
    },
    ...[V1, current].map((r) => ({
      text: 'INSERT INTO resource_history (resource_type, id, version_id, last_updated, content) VALUES ($1, $2, $3, $4, $5)',
      values: row(r),
    })),
    {
      text: 'INSERT INTO search_index (resource_type, id, param, value) VALUES ($1, $2, $3, $4)',
      values: ['QuestionnaireResponse', 'qr-old', 'patient', 'Patient/p-old'],
    },
  ];
}

function version2Schema(dialect: SchemaDialect): string[] {
  const upTo2 = schemaMigrations(dialect).filter((m) => m.version <= 2);
  return [
    createMigrationsTable.render(() => '?').text,
    ...upTo2.flatMap((m) => m.statements.map((s) => s.render(() => '?').text)),
    ...upTo2.map((m) => {
      const { text, values } = recordMigration(m, '2026-01-01T00:00:00.000Z').render(() => '?');
      let i = 0;
      return text.replace(/\?/g, () => (typeof values[i] === 'number' ? String(values[i++]) : `'${String(values[i++])}'`));
    }),
  ];
}

async function expectMigratedContent(store: Store): Promise<void> {
  expect(await store.read('QuestionnaireResponse', 'qr-old')).toEqual(V2);
  expect(await store.vread('QuestionnaireResponse', 'qr-old', '1')).toEqual(V1);
  const found = await store.search({
    resourceType: 'QuestionnaireResponse',
    criteria: [{ param: 'patient', kind: 'exact', values: ['Patient/p-old'] }],
    sort: [],
    count: 10,
    offset: 0,
  });
  expect(found.resources).toEqual([V2]);
  expect((await store.history('QuestionnaireResponse', 'qr-old')).resources).toEqual([V2, V1]);
  // Written after the migration: stored once, read back whole.
  const updated = await store.update({ ...V2, status: 'amended' });
  expect(updated.meta?.versionId).toBe('3');
  expect(await store.read('QuestionnaireResponse', 'qr-old')).toEqual(updated);
}

describe('schema version 3: resource content kept once, in resource_history', () => {
  it('migrates a SQLite database written at version 2', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calf-migrate-'));
    const filename = path.join(dir, 'old.db');
    try {
      const db = new Database(filename);
      for (const statement of version2Schema(SQLITE_DIALECT)) db.exec(statement);
      for (const { text, values } of writtenAtVersion2()) db.prepare(text.replace(/\$\d/g, '?')).run(...values);
      db.close();

      const store = createSqliteStore({ filename, indexer: indexResource });
      try {
        await expectMigratedContent(store);
      } finally {
        await store.close();
      }
      const after = new Database(filename, { readonly: true });
      const columns = after.prepare('SELECT name FROM pragma_table_info(?)').all('resources') as { name: string }[];
      after.close();
      expect(columns.map((c) => c.name)).not.toContain('content');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('migrates a PostgreSQL schema written at version 2', async () => {
    await withPostgresAtVersion2('migrate', V2, async ({ client, schema, open }) => {
      const store = await open();
      try {
        await expectMigratedContent(store);
      } finally {
        await store.close();
      }
      const columns = await client.query(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'resources'`,
        [schema],
      );
      expect(columns.rows.map((r: { column_name: string }) => r.column_name)).not.toContain('content');
    });
  });
});

describe('schema version 4: faster compression of stored contents', () => {
  it('stores PostgreSQL contents with lz4 where the server has it, and reads an earlier pglz content back', async () => {
    // Large enough to be compressed when stored: written with the server's default (pglz) before version 4.
    const large = {
      ...V2,
      text: { status: 'generated' as const, div: `<div xmlns="http://www.w3.org/1999/xhtml">${'calf pain '.repeat(800)}</div>` },
    };
    await withPostgresAtVersion2('lz4', large, async ({ client, open }) => {
      const store = await open();
      try {
        expect(await store.read('QuestionnaireResponse', 'qr-old')).toEqual(large);
        const fresh = await store.create({ ...large, id: undefined, meta: undefined });
        expect(await store.read('QuestionnaireResponse', fresh.id!)).toEqual(fresh);
      } finally {
        await store.close();
      }
      const available = await client.query(`SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'`);
      const expected = (available.rows[0] as { enumvals: string[] }).enumvals.includes('lz4') ? 'lz4' : 'pglz';
      const methods = await client.query(`SELECT pg_column_compression(content) AS method, id FROM resource_history ORDER BY last_updated`);
      const byId = new Map(methods.rows.map((r: { method: string | null; id: string }) => [r.id, r.method]));
      expect(byId.get('qr-old')).toBe('pglz');
      expect([...byId.entries()].filter(([id]) => id !== 'qr-old').map(([, method]) => method)).toEqual([expected]);
    });
  });
});

/**
 * A fresh PostgreSQL schema written at version 2 (V1, then `current`), handed to `check` with a client on it
 * (search_path set) and a way to open the store, which migrates it; dropped afterwards.
 */
async function withPostgresAtVersion2(
  name: string,
  current: QuestionnaireResponse,
  check: (t: { client: Client; schema: string; open: () => Promise<Store> }) => Promise<void>,
): Promise<void> {
  const schemas = new TestSchemas();
  const schema = schemas.newName(name);
  const connectionString = await postgresUrl();
  const client = new Client({ connectionString });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`SET search_path TO "${schema}"`);
    for (const statement of version2Schema(POSTGRES_DIALECT)) await client.query(statement);
    for (const { text, values } of writtenAtVersion2(current)) await client.query(text, values);
    await check({ client, schema, open: () => createPostgresStore({ connectionString, indexer: indexResource, schema }) });
  } finally {
    await client.end();
    await schemas.dropAll();
  }
}
