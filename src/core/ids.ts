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
 * The id of a resource the server creates: a version 7 UUID (RFC 9562), time-ordered with 74 random
 * bits. New rows then land at the end of every index keyed by id instead of on a random page of it,
 * so a create writes a few index pages rather than one per index (SQLite writes each changed page to
 * its log at commit). What the id reveals, the creation time, meta.lastUpdated already states.
 */
export function newResourceId(): string {
  return uuidv7();
}

/**
 * The uuid of a card this service issues: a version 7 UUID too, for the same reason. Issued cards are
 * recorded (issued_cards, keyed by uuid) so feedback can be counted per card kind; time-ordered keys
 * make each batch of records an append to that index.
 */
export function newCardUuid(): string {
  return uuidv7();
}
