import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Observation, Patient, Resource } from 'fhir/r4';
import { Client } from 'pg';
import { OperationOutcomeError } from '../src/core/outcome';
import { openStore } from '../src/storage/open-store';
import { POSTGRES_DIALECT, schemaMigrations } from '../src/storage/migrations';
import { createPostgresStore } from '../src/storage/postgres/postgres-store';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store';
import {
  CHECKPOINT_INTERVAL_MS,
  CHECKPOINTER_START_DELAY_MS,
  startCheckpointer,
  WAL_PAGES_BEFORE_OWN_CHECKPOINT,
} from '../src/storage/sqlite/checkpointer';
import type { DatePrefix, IndexEntry, Indexer, SearchRequest, Store, FeedbackRecord } from '../src/storage/store';
import { postgresUrl, TestSchemas } from './support/postgres';

/**
 * The one suite every Store implementation must pass. A tiny indexer stands in for the FHIR
 * layer's: Observation subject (reference), status and code (tokens), effectivePeriod (date).
 */
const indexer: Indexer = (indexed) => {
  const entries: IndexEntry[] = [];
  if (indexed.resourceType !== 'Observation') return entries;
  const resource = indexed as Observation;
  if (resource.subject?.reference) entries.push({ param: 'subject', value: resource.subject.reference });
  entries.push({ param: 'status', value: resource.status });
  for (const coding of resource.code.coding ?? []) {
    if (!coding.code) continue;
    entries.push({ param: 'code', value: coding.code });
    if (coding.system) entries.push({ param: 'code', value: `${coding.system}|${coding.code}` });
  }
  const period = resource.effectivePeriod;
  if (period?.start && period.end) entries.push({ param: 'date', value: period.start, lo: period.start, hi: period.end });
  return entries;
};

const LOINC = 'http://loinc.org';

function observation(fields: Partial<Observation> & { codes?: string[]; start?: string; end?: string } = {}): Observation {
  const { codes = ['8310-5'], start, end, ...rest } = fields;
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: codes.map((code) => ({ system: LOINC, code })) },
    subject: { reference: 'Patient/p1' },
    ...(start && end ? { effectivePeriod: { start, end } } : {}),
    ...rest,
  };
}

/** A clock the tests move by hand, so lastUpdated values are known. */
class TestClock {
  private time = Date.parse('2024-05-01T10:00:00.000Z');
  readonly now = () => new Date(this.time);
  advance(ms: number): string {
    this.time += ms;
    return new Date(this.time).toISOString();
  }
  iso(): string {
    return new Date(this.time).toISOString();
  }
}

interface Backend {
  name: string;
  /** Runs once before the backend's tests; fails them all when the database is unreachable. */
  setup(): Promise<void>;
  /** Opens a store on a fresh database, or reopens `location` when given. */
  open(clock: TestClock, location?: string): Promise<{ store: Store; location: string }>;
  teardown(): Promise<void>;
}

function sqliteMemory(): Backend {
  return {
    name: 'SQLite in memory',
    setup: async () => undefined,
    open: async (clock) => ({
      store: createSqliteStore({ filename: ':memory:', indexer, now: clock.now }),
      location: ':memory:',
    }),
    teardown: async () => undefined,
  };
}

function sqliteFile(): Backend {
  let dir = '';
  let n = 0;
  return {
    name: 'SQLite file',
    setup: async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-test-'));
    },
    open: async (clock, location) => {
      // A directory that does not exist yet: the store must create it.
      const filename = location ?? path.join(dir, `db-${++n}`, 'nested', 'store.db');
      return { store: createSqliteStore({ filename, indexer, now: clock.now }), location: filename };
    },
    teardown: async () => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgres(): Backend {
  const schemas = new TestSchemas();
  let url = '';
  return {
    name: 'PostgreSQL',
    setup: async () => {
      url = await postgresUrl();
    },
    open: async (clock, location) => {
      const schema = location ?? schemas.newName('store');
      return { store: await createPostgresStore({ connectionString: url, schema, indexer, now: clock.now }), location: schema };
    },
    teardown: () => schemas.dropAll(),
  };
}

async function expectStatus(promise: Promise<unknown>, status: number): Promise<OperationOutcomeError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(OperationOutcomeError);
  expect((error as OperationOutcomeError).status).toBe(status);
  expect((error as OperationOutcomeError).outcome.resourceType).toBe('OperationOutcome');
  return error as OperationOutcomeError;
}

const ids = (resources: Resource[]) => resources.map((r) => r.id);
const sorted = (values: (string | undefined)[]) => [...values].sort();

function searchOf(criteria: SearchRequest['criteria'], extra: Partial<SearchRequest> = {}): SearchRequest {
  return { resourceType: 'Observation', criteria, sort: [], count: 100, offset: 0, ...extra };
}

/** Lets every pending promise callback and I/O callback run once, without waiting on a clock. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe.each([sqliteMemory(), sqliteFile(), postgres()])('Store on $name', (backend) => {
  let clock: TestClock;
  let store: Store;
  let location: string;
  const opened: Store[] = [];

  const open = async (at?: string) => {
    const result = await backend.open(clock, at);
    opened.push(result.store);
    return result;
  };

  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());

  beforeEach(async () => {
    clock = new TestClock();
    ({ store, location } = await open());
  });

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });

  describe('create and read', () => {
    it('assigns an id, version 1 and lastUpdated, and leaves the input untouched', async () => {
      const input = observation();
      const created = await store.create(input);
      expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.meta).toEqual({ versionId: '1', lastUpdated: '2024-05-01T10:00:00.000Z' });
      expect(input.id).toBeUndefined();
      expect(input.meta).toBeUndefined();
      expect(await store.read('Observation', created.id!)).toEqual(created);
    });

    it('assigns time-ordered ids (UUID version 7): each new resource sorts after the ones before it', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) ids.push((await store.create(observation())).id!);
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect([...ids].sort()).toEqual(ids);
      expect(new Set(ids).size).toBe(50);
    });

    it('keeps a caller-given id and rejects a second create with it as 409', async () => {
      const created = await store.create<Patient>({ resourceType: 'Patient', id: 'p1', active: true });
      expect(created.id).toBe('p1');
      await expectStatus(store.create<Patient>({ resourceType: 'Patient', id: 'p1' }), 409);
      expect((await store.read<Patient>('Patient', 'p1')).active).toBe(true);
    });

    it('keeps existing meta fields other than versionId and lastUpdated', async () => {
      const created = await store.create(observation({ meta: { versionId: '99', tag: [{ code: 'x' }] } }));
      expect(created.meta).toEqual({ versionId: '1', lastUpdated: clock.iso(), tag: [{ code: 'x' }] });
    });

    it('returns fresh objects that callers may mutate', async () => {
      const created = await store.create(observation({ id: 'o1' }));
      created.status = 'cancelled';
      const first = await store.read<Observation>('Observation', 'o1');
      first.status = 'amended';
      expect((await store.read<Observation>('Observation', 'o1')).status).toBe('final');
    });

    it('throws 404 for an unknown id, an unknown version and the history of an unknown id', async () => {
      await store.create(observation({ id: 'o1' }));
      await expectStatus(store.read('Observation', 'nope'), 404);
      await expectStatus(store.read('Patient', 'o1'), 404);
      await expectStatus(store.vread('Observation', 'o1', '2'), 404);
      await expectStatus(store.vread('Observation', 'o1', 'x'), 404);
      await expectStatus(store.vread('Observation', 'nope', '1'), 404);
      await expectStatus(store.history('Observation', 'nope'), 404);
    });

    it('rejects malformed resource types and ids with 400', async () => {
      await expectStatus(store.create({ resourceType: 'bad type' } as unknown as Patient), 400);
      await expectStatus(store.create<Patient>({ resourceType: 'Patient', id: 'has space' }), 400);
      await expectStatus(store.update<Patient>({ resourceType: 'Patient' }), 400);
    });
  });

  describe('update, versions and history', () => {
    it('numbers versions 1, 2, 3 and keeps every version readable', async () => {
      const v1 = await store.create(observation({ id: 'o1', status: 'preliminary' }));
      clock.advance(1000);
      const v2 = await store.update({ ...v1, status: 'final' });
      clock.advance(1000);
      const v3 = await store.update({ ...v2, status: 'amended' });
      expect([v1, v2, v3].map((v) => v.meta?.versionId)).toEqual(['1', '2', '3']);
      expect(v3.meta?.lastUpdated).toBe('2024-05-01T10:00:02.000Z');
      expect((await store.vread<Observation>('Observation', 'o1', '1')).status).toBe('preliminary');
      expect((await store.vread<Observation>('Observation', 'o1', '2')).status).toBe('final');
      expect(await store.read('Observation', 'o1')).toEqual(v3);
    });

    it('lists history newest first with a total, and pages it', async () => {
      let current = await store.create(observation({ id: 'o1' }));
      for (let i = 0; i < 4; i++) current = await store.update(current);
      const all = await store.history('Observation', 'o1');
      expect(all.total).toBe(5);
      expect(all.resources.map((r) => r.meta?.versionId)).toEqual(['5', '4', '3', '2', '1']);
      const page = await store.history('Observation', 'o1', { count: 2, offset: 2 });
      expect(page.total).toBe(5);
      expect(page.resources.map((r) => r.meta?.versionId)).toEqual(['3', '2']);
    });

    it('lists versions across resources and types (historyOf), with since, at and paging', async () => {
      const o1 = await store.create(observation({ id: 'o1' })); // 10:00:00
      clock.advance(1000);
      await store.create(observation({ id: 'o2' })); // 10:00:01
      clock.advance(1000);
      await store.update(o1); // 10:00:02: o1 v2
      const all = await store.historyOf({ resourceTypes: ['Observation'], count: 10, offset: 0 });
      expect(all.resources.map((r) => `${r.id}/${r.meta?.versionId}`)).toEqual(['o1/2', 'o2/1', 'o1/1']);
      const since = await store.historyOf({ resourceTypes: ['Observation'], since: '2024-05-01T10:00:01.000Z', count: 10, offset: 0 });
      expect(since.resources.map((r) => `${r.id}/${r.meta?.versionId}`)).toEqual(['o1/2', 'o2/1']);
      // Current at 10:00:01.5: o1 version 1 (replaced at :02) and o2 version 1.
      const at = await store.historyOf({
        resourceTypes: ['Observation'],
        at: { lo: '2024-05-01T10:00:01.500Z', hi: '2024-05-01T10:00:01.501Z' },
        count: 10,
        offset: 0,
      });
      expect(at.resources.map((r) => `${r.id}/${r.meta?.versionId}`)).toEqual(['o2/1', 'o1/1']);
      const one = await store.historyOf({ resourceTypes: ['Observation'], id: 'o1', count: 1, offset: 1 });
      expect({ total: one.total, ids: one.resources.map((r) => `${r.id}/${r.meta?.versionId}`) }).toEqual({ total: 2, ids: ['o1/1'] });
      expect((await store.historyOf({ resourceTypes: [], count: 10, offset: 0 })).total).toBe(0);
      expect((await store.historyOf({ resourceTypes: ['Patient'], count: 10, offset: 0 })).total).toBe(0);
      await expectStatus(store.historyOf({ resourceTypes: ['Observation'], since: 'yesterday', count: 10, offset: 0 }), 400);
    });

    it('accepts a matching ifMatch and refuses a stale one with 412', async () => {
      const v1 = await store.create(observation({ id: 'o1' }));
      const v2 = await store.update(v1, { ifMatch: '1' });
      await store.update(v2, { ifMatch: '2' });
      await expectStatus(store.update(v1, { ifMatch: '1' }), 412);
      expect((await store.read('Observation', 'o1')).meta?.versionId).toBe('3');
    });

    it('takes ifMatch as a plain versionId (the HTTP layer parses ETags)', async () => {
      const v1 = await store.create(observation({ id: 'o1' }));
      await expectStatus(store.update(v1, { ifMatch: 'W/"1"' }), 412);
      expect((await store.read('Observation', 'o1')).meta?.versionId).toBe('1');
    });

    it('refuses ifMatch for a resource that does not exist with 412', async () => {
      await expectStatus(store.update(observation({ id: 'ghost' }), { ifMatch: '1' }), 412);
      await expectStatus(store.read('Observation', 'ghost'), 404);
    });

    it('creates on update when the resource is missing, unless mustExist (404)', async () => {
      const created = await store.update(observation({ id: 'new-one' }));
      expect(created.meta?.versionId).toBe('1');
      await expectStatus(store.update(observation({ id: 'other' }), { mustExist: true }), 404);
      await expectStatus(store.read('Observation', 'other'), 404);
    });

    it('replaces the index rows of a resource on update', async () => {
      const v1 = await store.create(observation({ id: 'o1', status: 'preliminary' }));
      await store.update({ ...v1, status: 'final' });
      const status = (value: string) => store.search(searchOf([{ param: 'status', kind: 'exact', values: [value] }]));
      expect((await status('preliminary')).total).toBe(0);
      expect(ids((await status('final')).resources)).toEqual(['o1']);
    });
  });

  describe('search', () => {
    beforeEach(async () => {
      await store.create(observation({ id: 'a', status: 'final', subject: { reference: 'Patient/p1' }, codes: ['x1'] }));
      await store.create(observation({ id: 'b', status: 'preliminary', subject: { reference: 'Patient/p1' }, codes: ['x2'] }));
      await store.create(observation({ id: 'c', status: 'final', subject: { reference: 'Patient/p2' }, codes: ['x1', 'x3'] }));
      await store.create(observation({ id: 'd', status: 'amended', subject: { reference: 'Patient/p2' }, codes: ['x2'] }));
      await store.create<Patient>({ resourceType: 'Patient', id: 'a' });
    });

    it('ORs the values of one criterion', async () => {
      const result = await store.search(searchOf([{ param: 'status', kind: 'exact', values: ['final', 'amended'] }]));
      expect(sorted(ids(result.resources))).toEqual(['a', 'c', 'd']);
      expect(result.total).toBe(3);
    });

    it('ANDs criteria', async () => {
      const result = await store.search(
        searchOf([
          { param: 'status', kind: 'exact', values: ['final', 'amended'] },
          { param: 'subject', kind: 'exact', values: ['Patient/p2'] },
          { param: 'code', kind: 'exact', values: [`${LOINC}|x3`, 'nothing'] },
        ]),
      );
      expect(ids(result.resources)).toEqual(['c']);
    });

    it('matches nothing for an empty value list or an unknown value', async () => {
      expect((await store.search(searchOf([{ param: 'status', kind: 'exact', values: [] }]))).total).toBe(0);
      expect((await store.search(searchOf([{ param: 'status', kind: 'exact', values: ['unknown'] }]))).total).toBe(0);
      expect((await store.search(searchOf([{ param: 'nosuchparam', kind: 'exact', values: ['final'] }]))).total).toBe(0);
    });

    it('searches by _id and only within the resource type', async () => {
      const result = await store.search(searchOf([{ param: '_id', kind: 'exact', values: ['a', 'b', 'zz'] }]));
      expect(ids(result.resources)).toEqual(['a', 'b']);
      expect(result.resources.every((r) => r.resourceType === 'Observation')).toBe(true);
      const patients = await store.search({ ...searchOf([]), resourceType: 'Patient' });
      expect(ids(patients.resources)).toEqual(['a']);
      expect((await store.search({ ...searchOf([]), resourceType: 'Encounter' })).total).toBe(0);
    });

    it('pages with a total, ordered by id when no sort is given', async () => {
      const page = (offset: number) => store.search(searchOf([], { count: 3, offset }));
      const first = await page(0);
      const second = await page(3);
      expect(first.total).toBe(4);
      expect(second.total).toBe(4);
      expect(ids(first.resources)).toEqual(['a', 'b', 'c']);
      expect(ids(second.resources)).toEqual(['d']);
      expect((await page(10)).resources).toEqual([]);
      const countOnly = await store.search(searchOf([], { count: 0 }));
      expect(countOnly).toEqual({ resources: [], total: 4 });
    });

    it('sorts by a token param: lowest value ascending, highest descending, ties by id', async () => {
      // codes: a [x1], b [x2], c [x1, x3], d [x2]
      const asc = await store.search(searchOf([], { sort: [{ param: 'code', descending: false }] }));
      // Each coding indexes "x1" and "http://loinc.org|x1": ascending uses the lowest ("http...|x1"),
      // descending the highest ("x3" for c).
      expect(ids(asc.resources)).toEqual(['a', 'c', 'b', 'd']);
      const desc = await store.search(searchOf([], { sort: [{ param: 'code', descending: true }] }));
      expect(ids(desc.resources)).toEqual(['c', 'b', 'd', 'a']);
    });

    it('sorts resources without the param last in both directions', async () => {
      await store.create(observation({ id: 'e', subject: undefined }));
      const asc = await store.search(searchOf([], { sort: [{ param: 'subject', descending: false }] }));
      expect(ids(asc.resources)).toEqual(['a', 'b', 'c', 'd', 'e']);
      const desc = await store.search(searchOf([], { sort: [{ param: 'subject', descending: true }] }));
      expect(ids(desc.resources)).toEqual(['c', 'd', 'a', 'b', 'e']);
    });

    it('applies several sort rules in order', async () => {
      const result = await store.search(
        searchOf([], {
          sort: [
            { param: 'subject', descending: true },
            { param: 'status', descending: false },
          ],
        }),
      );
      expect(ids(result.resources)).toEqual(['d', 'c', 'a', 'b']);
      const byId = await store.search(searchOf([], { sort: [{ param: '_id', descending: true }] }));
      expect(ids(byId.resources)).toEqual(['d', 'c', 'b', 'a']);
    });

    it('rejects search and sort parameter names outside [A-Za-z_][A-Za-z0-9_-]* with 400', async () => {
      await expectStatus(store.search(searchOf([{ param: "status' OR '1'='1", kind: 'exact', values: ['x'] }])), 400);
      await expectStatus(store.search(searchOf([], { sort: [{ param: 'status; DROP TABLE resources', descending: false }] })), 400);
      await expectStatus(store.search({ ...searchOf([]), resourceType: "Observation' --" }), 400);
      expect((await store.search(searchOf([]))).total).toBe(4);
    });
  });

  describe('date search', () => {
    // The search range is the day 2024-01-01: [2024-01-01T00:00Z, 2024-01-02T00:00Z).
    const day = { lo: '2024-01-01T00:00:00.000Z', hi: '2024-01-02T00:00:00.000Z' };

    beforeEach(async () => {
      // Each resource touches an edge of the search range.
      await store.create(observation({ id: 'same-day', start: day.lo, end: day.hi }));
      await store.create(observation({ id: 'next-day', start: day.hi, end: '2024-01-03T00:00:00.000Z' }));
      await store.create(observation({ id: 'inside', start: '2024-01-01T12:00:00.000Z', end: '2024-01-01T13:00:00.000Z' }));
      await store.create(observation({ id: 'spanning', start: '2023-12-31T00:00:00.000Z', end: '2024-01-05T00:00:00.000Z' }));
      await store.create(observation({ id: 'prev-day', start: '2023-12-31T00:00:00.000Z', end: day.lo }));
      await store.create(observation({ id: 'undated' }));
    });

    const cases: [DatePrefix, string[]][] = [
      ['eq', ['inside', 'same-day']],
      ['ne', ['next-day', 'prev-day', 'spanning']],
      ['gt', ['next-day', 'spanning']],
      ['lt', ['prev-day', 'spanning']],
      ['ge', ['inside', 'next-day', 'same-day', 'spanning']],
      ['le', ['inside', 'prev-day', 'same-day', 'spanning']],
      ['sa', ['next-day']],
      ['eb', ['prev-day']],
    ];

    it.each(cases)('%s matches %j', async (prefix, expected) => {
      const result = await store.search(searchOf([{ param: 'date', kind: 'date', prefix, ...day }]));
      expect(sorted(ids(result.resources))).toEqual(expected);
      expect(result.total).toBe(expected.length);
    });

    it('accepts instants with an offset and compares them in UTC', async () => {
      const result = await store.search(
        searchOf([{ param: 'date', kind: 'date', prefix: 'eq', lo: '2024-01-01T01:00:00+01:00', hi: '2024-01-02T01:00:00+01:00' }]),
      );
      expect(sorted(ids(result.resources))).toEqual(['inside', 'same-day']);
    });

    it('rejects a date criterion that is not an instant with 400', async () => {
      await expectStatus(store.search(searchOf([{ param: 'date', kind: 'date', prefix: 'eq', lo: "2024' OR 1=1", hi: day.hi }])), 400);
    });

    it('sorts by the start of the date range, undated last', async () => {
      const asc = await store.search(searchOf([], { sort: [{ param: 'date', descending: false }] }));
      expect(ids(asc.resources)).toEqual(['prev-day', 'spanning', 'same-day', 'inside', 'next-day', 'undated']);
      const desc = await store.search(searchOf([], { sort: [{ param: 'date', descending: true }] }));
      expect(ids(desc.resources)).toEqual(['next-day', 'inside', 'same-day', 'prev-day', 'spanning', 'undated']);
    });
  });

  describe('_lastUpdated', () => {
    let times: string[];

    beforeEach(async () => {
      times = [];
      for (const id of ['r3', 'r1', 'r2']) {
        await store.create(observation({ id }));
        times.push(clock.iso());
        clock.advance(1000);
      }
    });

    it('works as a date criterion at the millisecond edges', async () => {
      const [t1, t2] = times;
      const at = (prefix: DatePrefix, lo: string, hi: string) =>
        store.search(searchOf([{ param: '_lastUpdated', kind: 'date', prefix, lo, hi }])).then((r) => sorted(ids(r.resources)));
      const justAfter = (t: string) => new Date(Date.parse(t) + 1).toISOString();
      expect(await at('eq', t2, justAfter(t2))).toEqual(['r1']);
      expect(await at('ge', t2, justAfter(t2))).toEqual(['r1', 'r2']);
      expect(await at('gt', t2, justAfter(t2))).toEqual(['r2']);
      expect(await at('lt', t2, justAfter(t2))).toEqual(['r3']);
      expect(await at('le', t2, justAfter(t2))).toEqual(['r1', 'r3']);
      expect(await at('sa', t1, t2)).toEqual(['r1', 'r2']);
      expect(await at('eb', t2, t2)).toEqual(['r3']);
    });

    it('sorts by _lastUpdated ascending and descending', async () => {
      const asc = await store.search(searchOf([], { sort: [{ param: '_lastUpdated', descending: false }] }));
      expect(ids(asc.resources)).toEqual(['r3', 'r1', 'r2']);
      const desc = await store.search(searchOf([], { sort: [{ param: '_lastUpdated', descending: true }] }));
      expect(ids(desc.resources)).toEqual(['r2', 'r1', 'r3']);
    });

    it('moves a resource when it is updated', async () => {
      await store.update(await store.read('Observation', 'r3'));
      const asc = await store.search(searchOf([], { sort: [{ param: '_lastUpdated', descending: false }] }));
      expect(ids(asc.resources)).toEqual(['r1', 'r2', 'r3']);
    });
  });

  describe('grouped commits', () => {
    it('commits many concurrent writes, failing only the one that conflicts, and keeps them all', async () => {
      await store.create(observation({ id: 'taken', status: 'preliminary' }));
      const writes = Array.from({ length: 120 }, (_, i) => store.create(observation({ id: `g${i}`, status: 'final' })));
      const conflicting = store.create(observation({ id: 'taken' }));
      const failing = store.transaction(async (tx) => {
        await tx.create(observation({ id: 'rolled-back' }));
        throw new Error('boom');
      });
      const small = Array.from({ length: 20 }, (_, i) =>
        store.recordJti('https://issuer', `jti-${i}`, new Date(clock.now().getTime() + 60_000)),
      );
      await expectStatus(conflicting, 409);
      await expect(failing).rejects.toThrow('boom');
      expect((await Promise.all(writes)).map((r) => r.id)).toEqual(Array.from({ length: 120 }, (_, i) => `g${i}`));
      expect(await Promise.all(small)).toEqual(Array(20).fill(true));
      await expectStatus(store.read('Observation', 'rolled-back'), 404);
      // Reopened from the database, where it has one to reopen (in-memory SQLite keeps nothing).
      const reader = location === ':memory:' ? store : (await open(location)).store;
      expect((await reader.search(searchOf([{ param: 'status', kind: 'exact', values: ['final'] }]))).total).toBe(120);
    });

    it('commits concurrent creates with new ids together, without a transaction that failed after creating one', async () => {
      const writes = Array.from({ length: 60 }, (_, i) => store.create(observation({ status: 'registered', valueInteger: i })));
      const failing = store.transaction(async (tx) => {
        await tx.create(observation({ status: 'registered', valueInteger: -1 }));
        throw new Error('boom');
      });
      const later = store.transaction(async (tx) => {
        const created = await tx.create(observation({ status: 'registered', valueInteger: 60 }));
        // A read in the same transaction sees the create queued before it.
        return tx.read<Observation>('Observation', created.id!);
      });
      await expect(failing).rejects.toThrow('boom');
      const created = [...(await Promise.all(writes)), await later];
      expect(new Set(created.map((r) => r.id)).size).toBe(61);
      const registered = await store.search(searchOf([{ param: 'status', kind: 'exact', values: ['registered'] }], { count: 100 }));
      expect(registered.total).toBe(61);
      expect(sorted(registered.resources.map((r) => String((r as Observation).valueInteger)))).toEqual(
        sorted(Array.from({ length: 61 }, (_, i) => String(i))),
      );
      for (const resource of created) expect(await store.read('Observation', resource.id!)).toEqual(resource);
    });

    it('refuses a replayed jti within one group', async () => {
      const until = new Date(clock.now().getTime() + 60_000);
      const results = await Promise.all([
        store.recordJti('iss', 'same', until),
        store.recordJti('iss', 'same', until),
        store.recordJti('iss', 'other', until),
      ]);
      expect(results.filter(Boolean)).toHaveLength(2);
      expect(results[2]).toBe(true);
    });
  });

  describe('transactions', () => {
    it('commits every write together and sees its own writes', async () => {
      const result = await store.transaction(async (tx) => {
        const patient = await tx.create<Patient>({ resourceType: 'Patient', id: 'p1' });
        await tx.create(observation({ id: 'o1', subject: { reference: `Patient/${patient.id}` } }));
        expect((await tx.read('Observation', 'o1')).id).toBe('o1');
        expect((await tx.search(searchOf([{ param: 'subject', kind: 'exact', values: ['Patient/p1'] }]))).total).toBe(1);
        return 'done';
      });
      expect(result).toBe('done');
      expect((await store.read('Patient', 'p1')).id).toBe('p1');
      expect((await store.search(searchOf([{ param: 'subject', kind: 'exact', values: ['Patient/p1'] }]))).total).toBe(1);
    });

    it('rolls back every write, index rows included, when the callback throws', async () => {
      const before = await store.create(observation({ id: 'kept', status: 'final' }));
      const failure = new Error('boom');
      await expect(
        store.transaction(async (tx) => {
          await tx.create(observation({ id: 'o1', status: 'preliminary' }));
          await tx.update({ ...before, status: 'amended' });
          await tx.recordCards([{ uuid: 'card-1', serviceId: 's', kind: 'k', issuedAt: clock.iso() }]);
          throw failure;
        }),
      ).rejects.toBe(failure);
      await expectStatus(store.read('Observation', 'o1'), 404);
      expect(await store.read('Observation', 'kept')).toEqual(before);
      expect((await store.history('Observation', 'kept')).total).toBe(1);
      expect(await store.cardKind('card-1')).toBeUndefined();
      const status = (value: string) => store.search(searchOf([{ param: 'status', kind: 'exact', values: [value] }]));
      expect((await status('preliminary')).total).toBe(0);
      expect((await status('amended')).total).toBe(0);
      expect(ids((await status('final')).resources)).toEqual(['kept']);
    });

    it('rolls back when a store error (409) is thrown inside, and the store stays usable', async () => {
      await store.create(observation({ id: 'exists' }));
      await expectStatus(
        store.transaction(async (tx) => {
          await tx.create(observation({ id: 'fresh' }));
          await tx.create(observation({ id: 'exists' }));
        }),
        409,
      );
      await expectStatus(store.read('Observation', 'fresh'), 404);
      await store.create(observation({ id: 'after' }));
      expect((await store.search(searchOf([]))).total).toBe(2);
    });

    it('runs a nested transaction inside the outer one', async () => {
      await expect(
        store.transaction(async (tx) => {
          await tx.transaction((inner) => inner.create(observation({ id: 'nested' })));
          expect((await tx.read('Observation', 'nested')).id).toBe('nested');
          throw new Error('outer fails');
        }),
      ).rejects.toThrow('outer fails');
      await expectStatus(store.read('Observation', 'nested'), 404);
    });

    it('serialises concurrent transactions: read-then-update loses no increment', async () => {
      await store.create(observation({ id: 'counter', valueInteger: 0 }));
      const increment = () =>
        store.transaction(async (tx) => {
          const current = await tx.read<Observation>('Observation', 'counter');
          await settle(); // give the other transactions every chance to interleave
          return tx.update({ ...current, valueInteger: current.valueInteger! + 1 }, { ifMatch: current.meta!.versionId });
        });
      const results = await Promise.all(Array.from({ length: 6 }, increment));
      expect(results.map((r) => r.meta?.versionId).sort()).toEqual(['2', '3', '4', '5', '6', '7']);
      const final = await store.read<Observation>('Observation', 'counter');
      expect(final.valueInteger).toBe(6);
      const history = await store.history('Observation', 'counter');
      expect(history.resources.map((r) => (r as Observation).valueInteger)).toEqual([6, 5, 4, 3, 2, 1, 0]);
    });

    it('makes a write outside an open transaction wait, so a rollback does not take it along', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let outsideSeenInside: boolean | undefined;
      const tx = store.transaction(async (t) => {
        await t.create(observation({ id: 'inside' }));
        await gate;
        outsideSeenInside = (await t.search(searchOf([{ param: '_id', kind: 'exact', values: ['outside'] }]))).total > 0;
        throw new Error('rolled back');
      });
      await settle();
      const outside = store.create(observation({ id: 'outside' }));
      await settle();
      release();
      await expect(tx).rejects.toThrow('rolled back');
      await outside;
      expect(outsideSeenInside).toBe(false);
      expect((await store.read('Observation', 'outside')).id).toBe('outside');
      await expectStatus(store.read('Observation', 'inside'), 404);
    });

    it('keeps reads and small writes outside an open transaction out of it', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const tx = store.transaction(async (t) => {
        await t.create(observation({ id: 'uncommitted' }));
        await gate;
        throw new Error('rolled back');
      });
      await settle();
      const read = store.search(searchOf([{ param: '_id', kind: 'exact', values: ['uncommitted'] }]));
      const card = store.recordCards([{ uuid: 'outside-card', serviceId: 's', kind: 'k', issuedAt: clock.iso() }]);
      const feedback = store.addFeedback({ serviceId: 's', card: 'outside-card', outcome: 'accepted', outcomeTimestamp: clock.iso() });
      const jti = store.recordJti('iss', 'outside-jti', new Date(Date.parse(clock.iso()) + 60_000));
      await settle();
      release();
      await expect(tx).rejects.toThrow('rolled back');
      expect((await read).total).toBe(0);
      await Promise.all([card, feedback]);
      expect(await jti).toBe(true);
      expect(await store.cardKind('outside-card')).toBe('k');
      expect(await store.listFeedback('s')).toHaveLength(1);
      expect(await store.recordJti('iss', 'outside-jti', new Date(Date.parse(clock.iso()) + 60_000))).toBe(false);
    });
  });

  describe('JWT ids', () => {
    it('records a jti once and reports a replay until it expires', async () => {
      const expires = new Date(Date.parse(clock.iso()) + 5 * 60_000);
      expect(await store.recordJti('https://ehr.example', 'j1', expires)).toBe(true);
      expect(await store.recordJti('https://ehr.example', 'j1', expires)).toBe(false);
      expect(await store.recordJti('https://other.example', 'j1', expires)).toBe(true);
      expect(await store.recordJti('https://ehr.example', 'j2', expires)).toBe(true);
      clock.advance(5 * 60_000 - 1);
      expect(await store.recordJti('https://ehr.example', 'j1', expires)).toBe(false);
      clock.advance(1);
      const later = new Date(Date.parse(clock.iso()) + 5 * 60_000);
      expect(await store.recordJti('https://ehr.example', 'j1', later)).toBe(true);
      expect(await store.recordJti('https://ehr.example', 'j1', later)).toBe(false);
    });

    it('lets only one of many concurrent recordings of the same jti succeed', async () => {
      const expires = new Date(Date.parse(clock.iso()) + 60_000);
      const results = await Promise.all(Array.from({ length: 8 }, () => store.recordJti('iss', 'same', expires)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('keeps answering correctly across the periodic purge of expired ids', async () => {
      const soon = new Date(Date.parse(clock.iso()) + 1000);
      for (let i = 0; i < 120; i++) expect(await store.recordJti('iss', `old-${i}`, soon)).toBe(true);
      const live = new Date(Date.parse(clock.iso()) + 3_600_000);
      expect(await store.recordJti('iss', 'live', live)).toBe(true);
      clock.advance(2000);
      for (let i = 0; i < 120; i++) expect(await store.recordJti('iss', `new-${i}`, live)).toBe(true);
      expect(await store.recordJti('iss', 'live', live)).toBe(false);
      expect(await store.recordJti('iss', 'old-5', live)).toBe(true);
    });
  });

  describe('cards and feedback', () => {
    it('writes card records behind the call, and all of them by close', async () => {
      await store.recordCards(
        Array.from({ length: 30 }, (_, i) => ({ uuid: `wb-${i}`, serviceId: 's', kind: `k${i}`, issuedAt: clock.iso() })),
      );
      expect(await store.cardKind('wb-7')).toBe('k7');
      if (location === ':memory:') return;
      await store.close();
      const reopened = (await open(location)).store;
      expect(await reopened.cardKind('wb-29')).toBe('k29');
    });

    it('writes a batch of any size: full multi-row statements and the rest one by one', async () => {
      // 50 rows per statement: 123 = two full statements and 23 single rows, in one transaction.
      const cards = Array.from({ length: 123 }, (_, i) => ({
        uuid: `batch-${i}`,
        serviceId: 's',
        kind: `k${i % 7}`,
        issuedAt: clock.iso(),
      }));
      await store.transaction((tx) => tx.recordCards(cards));
      for (const i of [0, 49, 50, 99, 100, 122]) expect(await store.cardKind(`batch-${i}`)).toBe(`k${i % 7}`);
      // The same uuids again: recorded once (ON CONFLICT DO NOTHING), in full and single-row statements alike.
      await store.transaction((tx) => tx.recordCards(cards.map((c) => ({ ...c, kind: 'other' }))));
      expect(await store.cardKind('batch-0')).toBe('k0');
      expect(await store.cardKind('batch-122')).toBe(`k${122 % 7}`);
    });

    it('remembers card kinds and resolves them for feedback', async () => {
      await store.recordCards([
        { uuid: 'c1', serviceId: 'calf-pain', kind: 'dvt-likely', issuedAt: clock.iso() },
        { uuid: 'c2', serviceId: 'calf-pain', kind: 'pe-red-flag', issuedAt: clock.iso() },
      ]);
      await store.recordCards([]);
      expect(await store.cardKind('c1')).toBe('dvt-likely');
      expect(await store.cardKind('c2')).toBe('pe-red-flag');
      expect(await store.cardKind('unknown')).toBeUndefined();

      const c1: FeedbackRecord = {
        serviceId: 'calf-pain',
        card: 'c1',
        outcome: 'accepted',
        acceptedSuggestions: [{ id: 's1' }],
        outcomeTimestamp: '2024-05-01T10:00:00Z',
      };
      const c2: FeedbackRecord = {
        serviceId: 'calf-pain',
        card: 'c2',
        outcome: 'overridden',
        overrideReason: { reason: { code: 'not-relevant', system: 'http://example.org' }, userComment: "it's fine" },
        outcomeTimestamp: '2024-05-01T10:00:01Z',
        cardKind: 'explicit-kind',
        receivedAt: '2024-05-01T09:00:00.000Z',
      };
      await store.addFeedback(c1);
      clock.advance(1000);
      await store.addFeedback(c2);
      await store.addFeedback({ serviceId: 'other', card: 'c9', outcome: 'accepted', outcomeTimestamp: '2024-05-01T10:00:02Z' });

      expect(await store.listFeedback('calf-pain')).toEqual([
        { ...c1, cardKind: 'dvt-likely', receivedAt: '2024-05-01T10:00:00.000Z' },
        c2,
      ]);
      const all = await store.listFeedback();
      expect(all.map((f) => f.card)).toEqual(['c1', 'c2', 'c9']);
      expect(all[2].cardKind).toBeUndefined();
    });
  });

  describe('hostile values', () => {
    const nasty = ["x' OR '1'='1", "Patient/1'); DROP TABLE resources; --", 'Robert"; DELETE FROM search_index; --', '%_\\ ? $1 :name @p'];

    it('stores and searches SQL-looking values literally', async () => {
      await store.create(observation({ id: 'plain', status: 'final', subject: { reference: 'Patient/1' } }));
      for (const [i, value] of nasty.entries()) {
        await store.create(observation({ id: `n${i}`, subject: { reference: value }, note: [{ text: value }] }));
      }
      for (const [i, value] of nasty.entries()) {
        const result = await store.search(searchOf([{ param: 'subject', kind: 'exact', values: [value] }]));
        expect(ids(result.resources)).toEqual([`n${i}`]);
        expect((result.resources[0] as Observation).note?.[0].text).toBe(value);
      }
      expect((await store.search(searchOf([{ param: 'subject', kind: 'exact', values: ['%'] }]))).total).toBe(0);
      expect((await store.search(searchOf([]))).total).toBe(nasty.length + 1);
      expect((await store.read<Observation>('Observation', 'plain')).subject?.reference).toBe('Patient/1');
    });

    it('treats hostile jti, card and feedback values as data', async () => {
      const value = "'); DROP TABLE jti; --";
      const expires = new Date(Date.parse(clock.iso()) + 60_000);
      expect(await store.recordJti(value, value, expires)).toBe(true);
      expect(await store.recordJti(value, value, expires)).toBe(false);
      await store.recordCards([{ uuid: value, serviceId: value, kind: value, issuedAt: clock.iso() }]);
      expect(await store.cardKind(value)).toBe(value);
      await store.addFeedback({ serviceId: value, card: value, outcome: 'accepted', outcomeTimestamp: clock.iso() });
      expect((await store.listFeedback(value))[0].cardKind).toBe(value);
    });
  });

  describe('reopening', () => {
    it('keeps the data and re-running migrations changes nothing', async () => {
      if (location === ':memory:') {
        // An in-memory database lives only as long as its connection: a new one starts empty.
        await store.create(observation({ id: 'o1' }));
        const other = (await open()).store;
        expect((await other.search(searchOf([]))).total).toBe(0);
        return;
      }
      const v1 = await store.create(observation({ id: 'o1', status: 'preliminary' }));
      const v2 = await store.update({ ...v1, status: 'final' });
      await store.recordJti('iss', 'j', new Date(Date.parse(clock.iso()) + 60_000));
      await store.close();
      opened.splice(opened.indexOf(store), 1);

      for (let i = 0; i < 2; i++) {
        const reopened = (await open(location)).store;
        expect(await reopened.read('Observation', 'o1')).toEqual(v2);
        expect((await reopened.history('Observation', 'o1')).total).toBe(2);
        expect(ids((await reopened.search(searchOf([{ param: 'status', kind: 'exact', values: ['final'] }]))).resources)).toEqual(['o1']);
        expect(await reopened.recordJti('iss', 'j', new Date(Date.parse(clock.iso()) + 60_000))).toBe(false);
        await reopened.close();
        opened.splice(opened.indexOf(reopened), 1);
      }
    });

    it('refuses operations after close', async () => {
      await store.close();
      opened.splice(opened.indexOf(store), 1);
      await expect(store.read('Observation', 'x')).rejects.toThrow('closed');
    });
  });
});

describe('PostgreSQL across store instances', () => {
  const schemas = new TestSchemas();
  afterAll(() => schemas.dropAll());

  it('fails only the create the database refuses, among creates with new ids written together', async () => {
    const schema = schemas.newName('refused');
    const clock = new TestClock();
    const store = await createPostgresStore({ connectionString: await postgresUrl(), schema, indexer, now: clock.now });
    try {
      // jsonb cannot hold U+0000: the statement writing this group's new versions fails on it.
      const writes = Array.from({ length: 30 }, (_, i) => store.create(observation({ status: 'registered', valueInteger: i })));
      const refused = store.create(observation({ status: 'registered', valueString: 'nul \u0000 here' }));
      await expect(refused).rejects.toThrow();
      const created = await Promise.all(writes);
      const registered = await store.search(searchOf([{ param: 'status', kind: 'exact', values: ['registered'] }]));
      expect(registered.total).toBe(30);
      expect(sorted(ids(registered.resources))).toEqual(sorted(ids(created)));
    } finally {
      await store.close();
    }
  });

  it('serialises transactions of two stores on one schema and migrates it once', async () => {
    const url = await postgresUrl();
    const schema = schemas.newName('shared');
    const clock = new TestClock();
    const [first, second] = await Promise.all([
      createPostgresStore({ connectionString: url, schema, indexer, now: clock.now }),
      createPostgresStore({ connectionString: url, schema, indexer, now: clock.now }),
    ]);
    try {
      await first.create(observation({ id: 'counter', valueInteger: 0 }));
      const increment = (s: Store) =>
        s.transaction(async (tx) => {
          const current = await tx.read<Observation>('Observation', 'counter');
          await settle();
          return tx.update({ ...current, valueInteger: current.valueInteger! + 1 });
        });
      await Promise.all([first, second, first, second, first, second].map(increment));
      expect((await second.read<Observation>('Observation', 'counter')).valueInteger).toBe(6);

      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        const rows = await client.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
        expect(rows.rows).toEqual(schemaMigrations(POSTGRES_DIALECT).map((m) => ({ version: m.version })));
      } finally {
        await client.end();
      }
    } finally {
      await first.close();
      await second.close();
    }
  });
});

describe('openStore', () => {
  const schemas = new TestSchemas();
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'open-store-'));
  });
  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await schemas.dropAll();
  });

  async function roundTrip(store: Store): Promise<void> {
    try {
      const created = await store.create<Patient>({ resourceType: 'Patient', id: 'p' });
      expect(await store.read('Patient', 'p')).toEqual(created);
    } finally {
      await store.close();
    }
  }

  it('opens in-memory SQLite for sqlite::memory:', async () => {
    await roundTrip(await openStore('sqlite::memory:', indexer));
  });

  it('opens a SQLite file for sqlite:///abs/path, creating its directory', async () => {
    const file = path.join(dir, 'sub', 'calf.db');
    await roundTrip(await openStore(`sqlite://${file}`, indexer));
    expect(fs.existsSync(file)).toBe(true);
  });

  it('opens PostgreSQL for postgres:// and postgresql:// URLs, with the schema from ?schema=', async () => {
    const url = new URL(await postgresUrl());
    for (const protocol of ['postgres:', 'postgresql:']) {
      const schema = schemas.newName('open');
      const withSchema = new URL(url.toString());
      withSchema.protocol = protocol;
      withSchema.searchParams.set('schema', schema);
      await roundTrip(await openStore(withSchema.toString(), indexer));
      const client = new Client({ connectionString: url.toString() });
      await client.connect();
      try {
        const rows = await client.query(`SELECT id FROM "${schema}".resources`);
        expect(rows.rows).toEqual([{ id: 'p' }]);
      } finally {
        await client.end();
      }
    }
  });

  it('rejects other URLs', async () => {
    await expect(openStore('mysql://localhost/db', indexer)).rejects.toThrow('DATABASE_URL');
    await expect(openStore('sqlite://relative.db', indexer)).rejects.toThrow('absolute');
  });
});

/** What `promise` resolves to, or `late` when it has not settled within 5 s (a hang fails the test, with a name). */
async function settledWithin<T>(promise: Promise<T>, late: string): Promise<T | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<string>((resolve) => (timer = setTimeout(() => resolve(late), 5000)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens a named pipe for writing and closes it, which frees the reader waiting in open(); retried until that reader is there. */
async function openForWriting(fifo: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO' || attempt >= 200) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

describe('SQLite checkpoints', () => {
  it('copies committed pages into the database file on a thread of its own, long before the service connection would', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkpoint-test-'));
    const filename = path.join(dir, 'store.db');
    const clock = new TestClock();
    const store = createSqliteStore({ filename, indexer, now: clock.now });
    try {
      // The database file changes only when a checkpoint copies pages into it. Settle first (the thread
      // starts, copies the schema's pages).
      await new Promise((resolve) => setTimeout(resolve, CHECKPOINTER_START_DELAY_MS + 5 * CHECKPOINT_INTERVAL_MS));
      const before = fs.statSync(filename).size;
      const created = await Promise.all(Array.from({ length: 50 }, (_, i) => store.create(observation({ valueInteger: i }))));
      // Far fewer pages than the service connection's own checkpoint waits for: only the thread copies them.
      expect(fs.statSync(`${filename}-wal`).size).toBeLessThan(WAL_PAGES_BEFORE_OWN_CHECKPOINT * 4096);
      const deadline = Date.now() + 5000;
      while (fs.statSync(filename).size === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(fs.statSync(filename).size).toBeGreaterThan(before);
      for (const resource of created) expect(await store.read('Observation', resource.id!)).toEqual(resource);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('syncs the WAL on that thread, so an acknowledged write does not wait for a busy libuv thread pool', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-sync-test-'));
    const filename = path.join(dir, 'store.db');
    const store = createSqliteStore({ filename, indexer, now: new TestClock().now });
    // Every thread of the pool is held by an open() of a named pipe that has no writer yet (as JWT
    // signature checks hold it under load); the pipes are opened for writing at the end to free them.
    const fifos = Array.from({ length: Number(process.env.UV_THREADPOOL_SIZE ?? 4) }, (_, i) => path.join(dir, `fifo-${i}`));
    for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
    let held: Promise<unknown>[] = [];
    try {
      await new Promise((resolve) => setTimeout(resolve, CHECKPOINTER_START_DELAY_MS + 2 * CHECKPOINT_INTERVAL_MS));
      held = fifos.map((fifo) => fs.promises.open(fifo, 'r').then((handle) => handle.close()));
      const outcome = await settledWithin(
        store.create(observation({ valueInteger: 1 })).then((created) => created.id),
        'still waiting',
      );
      expect(outcome).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await Promise.all(fifos.map(openForWriting));
      await Promise.all(held);
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers every sync when the thread stops: those it left unanswered are synced in the thread pool', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-sync-test-'));
    // No database file: the thread fails as it opens it, after it was asked for syncs it never answers.
    const filename = path.join(dir, 'missing.db');
    fs.writeFileSync(`${filename}-wal`, 'committed bytes');
    const errors: string[] = [];
    const checkpointer = startCheckpointer(filename, (message) => errors.push(message));
    try {
      await new Promise((resolve) => setTimeout(resolve, CHECKPOINTER_START_DELAY_MS - 100));
      const syncs: Promise<void>[] = [];
      for (const until = Date.now() + 600; Date.now() < until; ) {
        syncs.push(checkpointer.sync());
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const outcome = await settledWithin(
        Promise.all(syncs).then(() => 'all synced'),
        'a sync never answered',
      );
      expect(outcome).toBe('all synced');
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      await checkpointer.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
