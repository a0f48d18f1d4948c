import { v7 as uuidv7 } from 'uuid';

/**
 * FHIR ids (the R4 `id` datatype: 1 to 64 of A-Z, a-z, 0-9, `-` and `.`) and UUIDs, defined once for
 * every layer that checks them.
 */

/** The id pattern without anchors, to embed in larger patterns (`Patient/${FHIR_ID_SOURCE}`). */
export const FHIR_ID_SOURCE = '[A-Za-z0-9\\-.]{1,64}';

/** A whole string that is a FHIR id. */
export const FHIR_ID = new RegExp(`^${FHIR_ID_SOURCE}$`);

export function isFhirId(value: unknown): value is string {
  return typeof value === 'string' && FHIR_ID.test(value);
}

/** A UUID in its 8-4-4-4-12 hexadecimal form, either case. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * A version 7 UUID (RFC 9562), time-ordered with 74 random bits, for the keys this server makes up: the
 * ids of the resources it creates and the uuids of the cards it issues (recorded in issued_cards so
 * feedback can be counted per card kind). New rows then land at the end of every index keyed by them
 * instead of on a random page of it, so a write dirties a few index pages rather than one per index
 * (SQLite writes each changed page to its log at commit). What such a key reveals, its creation time,
 * meta.lastUpdated (or the card's issue) states already.
 */
export function timeOrderedUuid(): string {
  return uuidv7();
}
