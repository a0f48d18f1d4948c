import type { Resource } from 'fhir/r4';
import { badRequest } from '../core/outcome';
import { FHIR_ID, FHIR_ID_SOURCE } from '../core/ids';
import type { DatePrefix, IndexEntry, SearchCriterion, SearchRequest, SortRule } from './store';

/*
 * Pieces shared by the SQLite and PostgreSQL stores: a tagged template that keeps every value a
 * bound parameter, the search WHERE / ORDER BY builder, time helpers and row mapping.
 */

export type SqlValue = string | number | null;

/**
 * A piece of SQL whose text comes only from template literals in this code base and whose values
 * are always bound parameters. There is deliberately no way to splice a runtime string into the text.
 *
 * A fragment keeps its template's strings and its parts (values and nested fragments) as they were
 * given: nothing is concatenated until render() writes the whole statement once. Search statements
 * are built from a dozen fragments on every call, so building allocates little.
 */
export class Sql {
  private constructor(
    private readonly strings: readonly string[],
    private readonly parts: readonly (SqlValue | Sql)[],
  ) {}

  /** Builds a fragment; interpolated Sql fragments are inlined, anything else becomes a parameter. */
  static of(strings: TemplateStringsArray, ...parts: (SqlValue | Sql)[]): Sql {
    return new Sql(strings, parts);
  }

  /**
   * A non-negative safe integer written into the text rather than bound: SQLite plans `LIMIT 10` as a
   * small top-N sort but `LIMIT ?` as an unbounded one (over ten times slower for a page of a search).
   * Anything else throws, so no runtime string can reach the text this way.
   */
  static integer(value: number): Sql {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`Not a non-negative integer: ${value}`);
    return new Sql([String(value)], []);
  }

  static join(parts: readonly Sql[], separator: Sql): Sql {
    if (parts.length === 0) return new Sql([''], []);
    const joined: Sql[] = [parts[0]];
    for (let i = 1; i < parts.length; i++) joined.push(separator, parts[i]);
    return new Sql(new Array<string>(joined.length + 1).fill(''), joined);
  }

  /** Text with placeholders in the driver's style (`?` for SQLite, `$1` for PostgreSQL) and the values in order. */
  render(placeholder: (position: number) => string): { text: string; values: SqlValue[] } {
    const text: string[] = [];
    const values: SqlValue[] = [];
    this.write(text, values, placeholder);
    return { text: text.join(''), values };
  }

  private write(text: string[], values: SqlValue[], placeholder: (position: number) => string): void {
    text.push(this.strings[0]);
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i];
      if (part instanceof Sql) part.write(text, values, placeholder);
      else {
        values.push(part);
        text.push(placeholder(values.length));
      }
      text.push(this.strings[i + 1]);
    }
  }
}

export const sql = (strings: TemplateStringsArray, ...parts: (SqlValue | Sql)[]): Sql => Sql.of(strings, ...parts);

/**
 * One connection's worth of statements. `query` returns rows, `execute` the number of rows changed.
 * Implementations render Sql with their placeholder style.
 */
export interface SqlSession {
  query<R = Record<string, unknown>>(statement: Sql): Promise<R[]>;
  execute(statement: Sql): Promise<number>;
  /**
   * Queues a version of a resource not yet stored (its row, history row and index rows; nobody reads the
   * result), where the session offers it: a PostgreSQL write transaction. Queued versions are written
   * before the session's next statement, and before the transaction commits, all in one statement.
   */
  insertVersion?(version: NewVersion): void;
}

/** A resource version that no earlier version precedes in the store, as written to `resources`, `resource_history` and `search_index`. */
export interface NewVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  /** The stored resource's JSON text. */
  content: string;
  index: IndexRow[];
}

// ---------------------------------------------------------------------------------------------
// Names and times

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** Search parameter names come from callers: only this shape is accepted (and then still bound as a value). */
export function checkParamName(param: string): string {
  if (!PARAM_NAME.test(param)) throw badRequest(`Invalid search parameter name "${param}"`);
  return param;
}

export function checkResourceType(resourceType: string): string {
  if (typeof resourceType !== 'string' || !RESOURCE_TYPE.test(resourceType)) {
    throw badRequest(`Invalid resource type "${resourceType}"`);
  }
  return resourceType;
}

export function checkResourceId(id: string): string {
  if (typeof id !== 'string' || !FHIR_ID.test(id)) throw badRequest(`Invalid resource id "${id}"`, 'id');
  return id;
}

/** ISO instant with milliseconds in UTC ("YYYY-MM-DDTHH:mm:ss.sssZ"), the only form stored, so text order is time order. */
export function isoInstant(date: Date): string {
  return date.toISOString();
}

/**
 * Normalises an instant to isoInstant form. Only explicit-zone instants are accepted: a string
 * without a zone would otherwise be read in the server's local time.
 */
export function normaliseInstant(value: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (ISO_INSTANT.test(value)) return value;
  if (!ISO_WITH_ZONE.test(value)) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** The [lo, hi) range of an instant stored with millisecond precision. */
export function instantRange(instant: string): { lo: string; hi: string } {
  return { lo: instant, hi: new Date(Date.parse(instant) + 1).toISOString() };
}

// ---------------------------------------------------------------------------------------------
// Index rows

export interface IndexRow {
  param: string;
  value: string;
  lo: string | null;
  hi: string | null;
}

/**
 * Validates and normalises the indexer's entries, removes duplicates and adds the built-in
 * `_lastUpdated` entry (so it is searched like any other date).
 */
export function indexRows(entries: IndexEntry[], lastUpdated: string): IndexRow[] {
  const rows = new Map<string, IndexRow>();
  for (const entry of entries) {
    if (!PARAM_NAME.test(entry.param)) throw new Error(`Indexer produced an invalid parameter name "${entry.param}"`);
    if (entry.param === '_id' || entry.param === '_lastUpdated') continue;
    const lo = entry.lo === undefined ? null : normaliseInstant(entry.lo);
    const hi = entry.hi === undefined ? null : normaliseInstant(entry.hi);
    if (lo === undefined || hi === undefined) {
      throw new Error(`Indexer produced an invalid date range for "${entry.param}": ${entry.lo} .. ${entry.hi}`);
    }
    const row = { param: entry.param, value: String(entry.value), lo, hi };
    rows.set(JSON.stringify(row), row);
  }
  const { lo, hi } = instantRange(lastUpdated);
  rows.set('_lastUpdated', { param: '_lastUpdated', value: lo, lo, hi });
  return [...rows.values()];
}

// ---------------------------------------------------------------------------------------------
// Search

function dateCondition(prefix: DatePrefix, lo: string, hi: string): Sql {
  switch (prefix) {
    case 'eq':
      return sql`(i.lo >= ${lo} AND i.hi <= ${hi})`;
    case 'ne':
      return sql`NOT (i.lo >= ${lo} AND i.hi <= ${hi})`;
    case 'gt':
      return sql`i.hi > ${hi}`;
    case 'lt':
      return sql`i.lo < ${lo}`;
    case 'ge':
      return sql`i.hi > ${lo}`;
    case 'le':
      return sql`i.lo < ${hi}`;
    case 'sa':
      return sql`i.lo >= ${hi}`;
    case 'eb':
      return sql`i.hi <= ${lo}`;
    default:
      throw badRequest(`Unknown date prefix "${prefix as string}"`);
  }
}

/**
 * One criterion over `resources r`: as the set of `candidates` (the resources its index entries name),
 * or as a `check` of the candidate at hand (its own index entries, through search_index_resource).
 */
function criterionCondition(resourceType: string, criterion: SearchCriterion, role: 'candidates' | 'check'): Sql {
  const param = checkParamName(criterion.param);
  const matching = (condition: Sql): Sql =>
    role === 'candidates'
      ? sql`r.id IN (SELECT i.id FROM search_index i WHERE i.resource_type = ${resourceType} AND i.param = ${param} AND ${condition})`
      : sql`EXISTS (SELECT 1 FROM search_index i WHERE i.resource_type = ${resourceType} AND i.id = r.id AND i.param = ${param}
          AND ${condition})`;
  if (criterion.kind === 'exact') {
    if (criterion.values.length === 0) return sql`1 = 0`;
    const values = Sql.join(
      criterion.values.map((v) => sql`${String(v)}`),
      sql`, `,
    );
    if (param === '_id') return sql`r.id IN (${values})`;
    return matching(sql`i.value IN (${values})`);
  }
  if (criterion.kind === 'date') {
    const lo = normaliseInstant(criterion.lo);
    const hi = normaliseInstant(criterion.hi);
    if (lo === undefined || hi === undefined) throw badRequest(`Invalid date range for "${param}"`);
    const range = sql`i.lo IS NOT NULL AND i.hi IS NOT NULL AND ${dateCondition(criterion.prefix, lo, hi)}`;
    // As a check, the range is wrapped so the planner looks the candidate's own entries up (resource index)
    // instead of scanning search_index_range from the lower bound on for each candidate.
    return matching(role === 'candidates' ? range : sql`COALESCE(${range}, FALSE)`);
  }
  throw badRequest(`Unsupported search criterion kind "${(criterion as { kind: string }).kind}"`);
}

/** WHERE clause over `resources r`: not deleted, of the type, every criterion holding. */
export function searchWhere(request: Pick<SearchRequest, 'resourceType' | 'criteria'>): Sql {
  const resourceType = checkResourceType(request.resourceType);
  const conditions = [sql`r.resource_type = ${resourceType}`, sql`NOT r.deleted`];
  const [driver, ...filters] = [...request.criteria].sort((a, b) => selectivityRank(a) - selectivityRank(b));
  if (driver) conditions.push(criterionCondition(resourceType, driver, 'candidates'));
  for (const criterion of filters) conditions.push(criterionCondition(resourceType, criterion, 'check'));
  return Sql.join(conditions, sql` AND `);
}

/**
 * Which criterion narrows the search first (lowest rank): one criterion's index entries give the
 * candidate resources, and every other criterion is checked on each candidate through the per-resource
 * index, so a search costs what its most selective criterion matches, not what its broadest one does
 * (`questionnaire=<canonical>` or `status=completed` match nearly every response; `patient=Patient/1`
 * a handful). Without statistics the rank is read from the criterion's shape: ids, then references to
 * one resource (`Type/id`), then other exact values, then date ranges. Ties keep the caller's order.
 */
function selectivityRank(criterion: SearchCriterion): number {
  if (criterion.kind === 'date') return 3;
  if (criterion.param === '_id') return 0;
  return criterion.values.every((v) => RELATIVE_REFERENCE.test(v)) ? 1 : 2;
}

const RELATIVE_REFERENCE = new RegExp(`^[A-Z][A-Za-z]{0,63}/${FHIR_ID_SOURCE}$`);

/**
 * ORDER BY for `resources r`. An indexed param sorts by its lowest value ascending and its highest
 * descending (as FHIR specifies for multi-valued params); resources without it come last either
 * way. Ties are broken by id so paging is stable.
 */
export function searchOrder(resourceType: string, sort: SortRule[]): Sql {
  const terms = sort.map((rule) => {
    const direction = rule.descending ? sql`DESC` : sql`ASC`;
    const param = checkParamName(rule.param);
    // Columns are sorted as expressions (COALESCE): an index in sort order would tempt the planner to walk
    // the whole table in that order until a page of matches is found, instead of sorting the few matches.
    if (param === '_id') return sql`COALESCE(r.id, '') ${direction}`;
    if (param === '_lastUpdated') return sql`COALESCE(r.last_updated, '') ${direction}`;
    const pick = rule.descending ? sql`MAX` : sql`MIN`;
    return sql`(SELECT ${pick}(COALESCE(i.lo, i.value)) FROM search_index i WHERE i.resource_type = ${resourceType}
      AND i.id = r.id AND i.param = ${param}) ${direction} NULLS LAST`;
  });
  terms.push(sql`COALESCE(r.id, '') ASC`);
  return Sql.join(terms, sql`, `);
}

export function checkPaging(count: number | undefined, offset: number | undefined): { limit: number; offset: number } {
  const limit = count ?? 2_147_483_647;
  const skip = offset ?? 0;
  if (!Number.isInteger(limit) || limit < 0) throw badRequest(`Invalid _count "${count}"`);
  if (!Number.isInteger(skip) || skip < 0) throw badRequest(`Invalid offset "${offset}"`);
  return { limit, offset: skip };
}

// ---------------------------------------------------------------------------------------------
// Rows

/** SQLite hands back the JSON text, PostgreSQL an already parsed JSONB object: both become a fresh Resource. */
export function rowToResource<T extends Resource = Resource>(content: unknown): T {
  if (typeof content === 'string') return JSON.parse(content) as T;
  if (content && typeof content === 'object') return content as T;
  throw new Error('Stored resource content is missing');
}

/** COUNT(*) is a number in SQLite and a bigint string in PostgreSQL. */
export function toCount(value: unknown): number {
  return Number(value);
}

// ---------------------------------------------------------------------------------------------
// Migrations

/** One schema change; versions are applied in ascending order, each exactly once. */
export interface Migration {
  version: number;
  name: string;
  statements: Sql[];
}

export const createMigrationsTable = sql`CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`;
export const selectAppliedMigrations = sql`SELECT version FROM schema_migrations`;

/** Migrations not yet applied, in the order to apply them. */
export function pendingMigrations(migrations: readonly Migration[], applied: Iterable<unknown>): Migration[] {
  const done = new Set([...applied].map(Number));
  return [...migrations].sort((a, b) => a.version - b.version).filter((m) => !done.has(m.version));
}

export function recordMigration(migration: Migration, appliedAt: string): Sql {
  return sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${migration.version}, ${migration.name}, ${appliedAt})`;
}

/**
 * Applies the migrations not yet recorded in schema_migrations. Call it inside a transaction that
 * excludes other migrators (PostgreSQL: an advisory lock). SQLite runs the same steps synchronously.
 */
export async function migrate(s: SqlSession, migrations: readonly Migration[], appliedAt: string): Promise<number[]> {
  await s.execute(createMigrationsTable);
  const rows = await s.query<{ version: unknown }>(selectAppliedMigrations);
  const pending = pendingMigrations(
    migrations,
    rows.map((r) => r.version),
  );
  for (const migration of pending) {
    for (const statement of migration.statements) await s.execute(statement);
    await s.execute(recordMigration(migration, appliedAt));
  }
  return pending.map((m) => m.version);
}
