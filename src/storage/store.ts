import type { Resource } from 'fhir/r4';

/**
 * Storage for versioned FHIR resources plus the small amount of non-FHIR state the service keeps
 * (CDS Hooks feedback, JWT ids seen). One interface, two implementations (SQLite embedded,
 * PostgreSQL for production) that pass one shared test suite (tests/store.test.ts).
 *
 * Every resource returned carries meta.versionId (string of an integer, "1", "2", ...) and
 * meta.lastUpdated (ISO instant). Resources are returned as fresh objects: callers may mutate them.
 */
export interface Store {
  /** Stores a new resource. Uses resource.id when given (must not exist yet: conflict 409), else a new UUID. */
  create<T extends Resource>(resource: T): Promise<T>;
  /** Current version; throws OperationOutcomeError 404 (unknown) or 410 (deleted). */
  read<T extends Resource>(resourceType: T['resourceType'], id: string): Promise<T>;
  /** A given version (a plain versionId); 404 when the id or version does not exist. */
  vread<T extends Resource>(resourceType: T['resourceType'], id: string, versionId: string): Promise<T>;
  /**
   * New version of resource (resource.id required). If options.ifMatch is given and differs from the
   * current versionId: 412. Creates the resource when it does not exist yet (update-as-create) unless
   * options.mustExist (then 404).
   * ifMatch is a plain versionId (`3`): the HTTP layer parses an If-Match header (`W/"3"`) before
   * calling. ifMatch on a resource that does not exist is 412.
   */
  update<T extends Resource>(resource: T, options?: { ifMatch?: string; mustExist?: boolean }): Promise<T>;
  /** Versions of one resource, newest first. 404 when unknown. */
  history(resourceType: string, id: string, options?: { count?: number; offset?: number }): Promise<SearchResult>;
  /**
   * Versions across resources (type and system history, and instance history with _since/_at),
   * newest first. An empty resourceTypes list matches nothing.
   */
  historyOf(query: HistoryQuery): Promise<SearchResult>;
  search(request: SearchRequest): Promise<SearchResult>;
  /**
   * Runs fn atomically: every write made through `tx` commits together or not at all (fn throws ->
   * rollback, error rethrown). Transactions are serialised; reads through `tx` see its own writes.
   * Writes (with SQLite, reads too) through the store itself rather than `tx` wait until the open
   * transaction ends, so inside fn use only `tx`: awaiting such a call from fn never completes. `tx.transaction(g)` simply
   * runs g(tx) inside the same transaction.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;

  /**
   * Records a JWT id; false when it was already recorded and has not expired (replay). Atomic across
   * processes sharing the database; an expired entry is replaced. Expired entries are purged now and then.
   */
  recordJti(issuer: string, jti: string, expiresAt: Date): Promise<boolean>;
  /**
   * Remembers which kind of card a card uuid was, so feedback can be counted per card kind. Outside a
   * transaction the records are written behind (batched within CARD_WRITE_DELAY_MS, flushed on close):
   * bookkeeping for feedback, not clinical data, so a hook call does not wait for a disk sync.
   * cardKind() sees them at once.
   */
  recordCards(cards: IssuedCard[]): Promise<void>;
  cardKind(uuid: string): Promise<string | undefined>;
  addFeedback(entry: FeedbackRecord): Promise<void>;
  listFeedback(serviceId?: string): Promise<FeedbackRecord[]>;

  close(): Promise<void>;
}

/**
 * One value a resource exposes for a search parameter. Computed by the FHIR layer's indexer
 * (src/storage/search-parameters.ts) and handed to the store, which keeps them in indexed columns.
 * - token: one entry "code" and one "system|code" per coding; boolean as "true"/"false"
 * - reference: "Patient/123" (relative)
 * - uri / string: the value (strings lower-cased by the indexer)
 * - date: lo = start instant (inclusive), hi = end instant (exclusive), both ISO UTC
 *   "YYYY-MM-DDTHH:mm:ss.sssZ", so they compare as text. `value` is lo.
 */
export interface IndexEntry {
  param: string;
  value: string;
  lo?: string;
  hi?: string;
}

export type Indexer = (resource: Resource) => IndexEntry[];

export type DatePrefix = 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge' | 'sa' | 'eb';

export type SearchCriterion =
  /** Matches when the resource has an index entry for param whose value equals any of values (OR). */
  | { param: string; kind: 'exact'; values: string[] }
  /**
   * Date comparison of the resource's [lo, hi) against the search range [lo, hi):
   *   eq: r.lo >= s.lo and r.hi <= s.hi      ne: not eq
   *   gt: r.hi > s.hi     lt: r.lo < s.lo     ge: r.hi > s.lo     le: r.lo < s.hi
   *   sa: r.lo >= s.hi    eb: r.hi <= s.lo
   */
  | { param: string; kind: 'date'; prefix: DatePrefix; lo: string; hi: string };

export interface SortRule {
  /**
   * `_lastUpdated`, `_id`, or an indexed param: ascending by its smallest lo ?? value, descending by its
   * largest (FHIR's rule for multi-valued params). Resources without the param come last either way;
   * ties are broken by id ascending, so paging is stable.
   */
  param: string;
  descending: boolean;
}

export interface SearchRequest {
  resourceType: string;
  /**
   * All criteria must hold (AND). `_id` is matched with { param: '_id', kind: 'exact' }; `_lastUpdated`
   * is a built-in date param (the instant as the range [t, t + 1 ms)). Param names must match
   * [A-Za-z_][A-Za-z0-9_-]* (else 400); date lo/hi must be instants with a zone (else 400).
   */
  criteria: SearchCriterion[];
  sort: SortRule[];
  count: number;
  offset: number;
}

export interface HistoryQuery {
  /** The types whose versions are listed (one for type and instance history). */
  resourceTypes: string[];
  /** Only the versions of this resource. */
  id?: string;
  /** Only versions written at or after this instant (`_since`). */
  since?: string;
  /** Only versions that were current at some time in [lo, hi) (`_at`). */
  at?: { lo: string; hi: string };
  count: number;
  offset: number;
}

export interface SearchResult {
  resources: Resource[];
  /** Number of matches ignoring count/offset. */
  total: number;
}

export interface FeedbackRecord {
  serviceId: string;
  card: string;
  outcome: 'accepted' | 'overridden';
  acceptedSuggestions?: { id: string }[];
  overrideReason?: { reason?: { code?: string; system?: string; display?: string }; userComment?: string };
  outcomeTimestamp: string;
  /** Card kind (e.g. 'pe-red-flag', 'dvt-likely'), resolved from the card uuid when known. */
  cardKind?: string;
  receivedAt?: string;
}

export interface IssuedCard {
  uuid: string;
  serviceId: string;
  kind: string;
  issuedAt: string;
}

/** Card records (Store.recordCards) wait at most this long before they are written together. */
export const CARD_WRITE_DELAY_MS = 100;
