/**
 * How a search with several criteria runs on SQLite: the most selective criterion (here the patient)
 * names the candidates and the others are checked per candidate through its own index entries, so a
 * broad criterion (`questionnaire`, `status`, a date range) never costs a scan of every response.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { searchWhere } from '../src/storage/sql-common';
import { indexResource } from '../src/storage/search-parameters';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';
import type { SearchCriterion } from '../src/storage/store';

const criteria: SearchCriterion[] = [
  { param: 'questionnaire', kind: 'exact', values: ['http://calfpain.example.org/fhir/Questionnaire/calf-pain'] },
  { param: 'status', kind: 'exact', values: ['completed', 'amended'] },
  { param: 'authored', kind: 'date', prefix: 'ge', lo: '2026-11-01T00:00:00.000Z', hi: '2026-11-01T00:00:00.000Z' },
  { param: 'patient', kind: 'exact', values: ['Patient/p1'] },
];

describe('search plan (SQLite)', () => {
  let dir: string;
  let db: Database.Database;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calf-plan-'));
    const file = path.join(dir, 'plan.db');
    await createSqliteStore({ filename: file, indexer: indexResource }).close();
    db = new Database(file, { readonly: true });
  });
  afterAll(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function plan(list: SearchCriterion[]): string[] {
    const { text, values } = searchWhere({ resourceType: 'QuestionnaireResponse', criteria: list }).render(() => '?');
    return db
      .prepare(`EXPLAIN QUERY PLAN SELECT r.id FROM resources r WHERE ${text}`)
      .all(...values)
      .map((row) => (row as { detail: string }).detail);
  }

  it('takes its candidates from the patient, whatever order the criteria come in', () => {
    const steps = plan(criteria);
    const lists = steps.filter((s) =>
      /^SEARCH i USING COVERING INDEX search_index_value \(resource_type=\? AND param=\? AND value=\?\)$/.test(s),
    );
    expect(lists).toHaveLength(1);
    expect(plan([...criteria].reverse())).toEqual(steps);
  });

  it('checks every other criterion on the candidate by its id, never by scanning a range of entries', () => {
    const checks = plan(criteria).filter((s) => s.startsWith('SEARCH i EXISTS') || /SEARCH i .*id=\?/.test(s));
    expect(checks).toHaveLength(3);
    for (const step of checks) expect(step).toMatch(/\bid=\?/);
    expect(plan(criteria).join('\n')).not.toMatch(/search_index_range/);
  });

  it('still uses the date range index when the date is the only criterion', () => {
    expect(plan([criteria[2]]).join('\n')).toMatch(/search_index_range/);
  });
});
