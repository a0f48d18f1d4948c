import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadCatalog } from '../src/clinical/catalog';
import { seedStore } from '../src/clinical/seed';
import { indexResource } from '../src/storage/search-parameters';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';

describe('seeding the bundled resources', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'seed-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('re-indexes a bundled resource stored before one of its search parameters existed', async () => {
    const filename = path.join(dir, 'old.db');
    const catalog = loadCatalog();
    const first = createSqliteStore({ filename, indexer: indexResource });
    await seedStore(first, catalog);
    await first.close();
    // A database written by a version without ValueSet.url indexing.
    const db = new Database(filename);
    db.prepare(`DELETE FROM search_index WHERE resource_type = 'ValueSet' AND param = 'url'`).run();
    db.close();

    const store = createSqliteStore({ filename, indexer: indexResource });
    try {
      const byUrl = () =>
        store.search({
          resourceType: 'ValueSet',
          criteria: [{ param: 'url', kind: 'exact', values: [catalog.valueSets[0].url!] }],
          sort: [],
          count: 1,
          offset: 0,
        });
      expect((await byUrl()).total).toBe(0);
      await seedStore(store, catalog);
      expect((await byUrl()).total).toBe(1);
      // Nothing else changed: a second start writes no new versions.
      const versions = async () =>
        (await store.historyOf({ resourceTypes: ['Questionnaire', 'ValueSet', 'CodeSystem', 'PlanDefinition'], count: 0, offset: 0 }))
          .total;
      const before = await versions();
      await seedStore(store, catalog);
      expect(await versions()).toBe(before);
    } finally {
      await store.close();
    }
  });
});
