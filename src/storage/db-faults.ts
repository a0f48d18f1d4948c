/**
 * Database faults the caller should retry: the database is down, restarting, refusing connections or
 * too slow to hand out a connection. They become 503 OperationOutcomes (`transient`) with Retry-After
 * instead of 500s, which clients and proxies read as bugs (serviceUnavailable in core/outcome.ts).
 * Imports nothing: the FHIR and CDS error handlers both ask it.
 */
/** Node socket errors meaning the database could not be reached. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * PostgreSQL SQLSTATEs of an unavailable server: class 08 (connection exception), 57P01-57P03
 * (admin/crash shutdown, cannot connect now), 53300 (too many connections), 40001/40P01 are not
 * included (serialisation failures are retried by the store, not the client).
 */
function isUnavailableSqlState(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';
}

/** SQLite result codes of a database that is busy or locked by another process for too long. */
const SQLITE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_BUSY_TIMEOUT', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_CANTOPEN']);

/** pg's own messages when a connection is lost or cannot be obtained in time. */
const PG_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/i,
  /^Client has encountered a connection error/,
  /Connection terminated due to connection timeout/,
  /^The store has been closed$/,
];

/** True for an error meaning "the database is unavailable right now", wherever it came from. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof e.code === 'string') {
    if (NETWORK_CODES.has(e.code) || SQLITE_CODES.has(e.code)) return true;
    if (/^[0-9A-Z]{5}$/.test(e.code) && isUnavailableSqlState(e.code)) return true;
  }
  if (typeof e.message === 'string' && PG_MESSAGES.some((m) => m.test(e.message as string))) return true;
  // Node's AggregateError (IPv4 and IPv6 both refused).
  if (Array.isArray(e.errors)) return e.errors.some(isDatabaseUnavailable);
  return false;
}
