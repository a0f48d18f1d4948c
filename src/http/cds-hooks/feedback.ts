import type { Problem } from '../../core/outcome';
import { UUID } from '../../core/ids';
import { isObject } from '../../core/json';
import { CARD_WRITE_DELAY_MS, type FeedbackRecord, type Store } from '../../storage/store';
import type { CdsMetrics } from './metrics';
import { invalidRequest } from './request';

/** outcomeTimestamp: an instant with a time zone (the spec asks for UTC; offsets are normalised). */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function isInstant(value: unknown): boolean {
  return typeof value === 'string' && INSTANT.test(value) && !Number.isNaN(Date.parse(value));
}

/** acceptedSuggestions: a non-empty array of {id}. */
function isSuggestionList(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0 && value.every((s) => isObject(s) && typeof s.id === 'string' && s.id !== '');
}

export const UNKNOWN_KIND = 'unknown';

/**
 * Checks a feedback body (CDS Hooks 2.0 "Feedback"): {feedback: [{card, outcome, acceptedSuggestions?,
 * overrideReason?, outcomeTimestamp}]}. acceptedSuggestions only with accepted, overrideReason only
 * with overridden. Throws 400 naming every problem.
 */
export function parseFeedback(body: unknown, serviceId: string, receivedAt: Date): FeedbackRecord[] {
  if (!isObject(body) || !Array.isArray(body.feedback) || body.feedback.length === 0) {
    throw invalidRequest([{ expression: 'feedback', message: 'The body must be {"feedback": [ ... ]} with at least one entry' }]);
  }
  const problems: Problem[] = [];
  const records: FeedbackRecord[] = [];
  body.feedback.forEach((entry: unknown, i: number) => {
    const at = `feedback[${i}]`;
    const before = problems.length;
    if (!isObject(entry)) {
      problems.push({ expression: at, message: 'must be an object' });
      return;
    }
    const problem = (field: string, message: string) => problems.push({ expression: `${at}.${field}`, message });
    if (typeof entry.card !== 'string' || !UUID.test(entry.card)) problem('card', 'card must be the uuid of a card');
    if (entry.outcome !== 'accepted' && entry.outcome !== 'overridden') problem('outcome', 'outcome must be accepted or overridden');
    if (!isInstant(entry.outcomeTimestamp)) {
      problem('outcomeTimestamp', 'outcomeTimestamp must be an ISO 8601 instant, e.g. 2026-11-26T10:15:00Z');
    }
    const accepted = entry.acceptedSuggestions;
    if (accepted !== undefined) {
      if (entry.outcome !== 'accepted') problem('acceptedSuggestions', 'acceptedSuggestions is only allowed with outcome accepted');
      if (!isSuggestionList(accepted)) {
        problem('acceptedSuggestions', 'acceptedSuggestions must be a non-empty array of {"id": "<suggestion uuid>"}');
      }
    }
    const override = entry.overrideReason;
    if (override !== undefined) {
      if (entry.outcome !== 'overridden') problem('overrideReason', 'overrideReason is only allowed with outcome overridden');
      if (!isObject(override)) problem('overrideReason', 'overrideReason must be an object');
      else {
        if (override.reason !== undefined && (!isObject(override.reason) || typeof override.reason.code !== 'string')) {
          problem('overrideReason.reason', 'overrideReason.reason must be a Coding with a code');
        }
        if (override.userComment !== undefined && typeof override.userComment !== 'string') {
          problem('overrideReason.userComment', 'userComment must be a string');
        }
      }
    }
    if (problems.length > before) return;
    const reason = isObject(override) && isObject(override.reason) ? override.reason : undefined;
    records.push({
      serviceId,
      card: (entry.card as string).toLowerCase(),
      outcome: entry.outcome as FeedbackRecord['outcome'],
      ...(Array.isArray(accepted) ? { acceptedSuggestions: accepted.map((s) => ({ id: (s as { id: string }).id })) } : {}),
      ...(isObject(override)
        ? {
            overrideReason: {
              ...(reason
                ? {
                    reason: {
                      code: reason.code as string,
                      ...(typeof reason.system === 'string' ? { system: reason.system } : {}),
                      ...(typeof reason.display === 'string' ? { display: reason.display } : {}),
                    },
                  }
                : {}),
              ...(typeof override.userComment === 'string' && override.userComment !== '' ? { userComment: override.userComment } : {}),
            },
          }
        : {}),
      outcomeTimestamp: new Date(entry.outcomeTimestamp as string).toISOString(),
      receivedAt: receivedAt.toISOString(),
    });
  });
  if (problems.length) throw invalidRequest(problems);
  return records;
}

/**
 * The kind a card was issued as. Card records are written behind the hook call (Store.recordCards): feedback
 * that reaches another replica within that delay finds nothing at first, so an unknown card is looked up
 * once more after the delay has passed.
 */
async function cardKindOf(store: Store, card: string): Promise<string | undefined> {
  const kind = await store.cardKind(card);
  if (kind !== undefined) return kind;
  await new Promise((resolve) => setTimeout(resolve, 2 * CARD_WRITE_DELAY_MS));
  return store.cardKind(card);
}

/** Stores every entry (a card reported twice is kept twice) with the kind the card was issued as. */
export async function recordFeedback(store: Store, metrics: CdsMetrics, records: FeedbackRecord[]): Promise<void> {
  for (const record of records) {
    const cardKind = (await cardKindOf(store, record.card)) ?? UNKNOWN_KIND;
    await store.addFeedback({ ...record, cardKind });
    metrics.feedback.inc({ service: record.serviceId, kind: cardKind, outcome: record.outcome });
  }
}

export interface FeedbackSummary {
  generatedAt: string;
  total: number;
  byKind?: {
    serviceId: string;
    kind: string;
    accepted: number;
    overridden: number;
    overrideReasons?: { code: string; display?: string; count: number }[];
  }[];
}

/** Acceptance and override counts per service and card kind, from the stored feedback. */
export async function summariseFeedback(store: Store, now: Date): Promise<FeedbackSummary> {
  const records = await store.listFeedback();
  const groups = new Map<
    string,
    NonNullable<FeedbackSummary['byKind']>[number] & { reasons: Map<string, { code: string; display?: string; count: number }> }
  >();
  for (const r of records) {
    const kind = r.cardKind ?? UNKNOWN_KIND;
    const key = `${r.serviceId}\u0000${kind}`;
    let group = groups.get(key);
    if (!group) {
      group = { serviceId: r.serviceId, kind, accepted: 0, overridden: 0, reasons: new Map() };
      groups.set(key, group);
    }
    group[r.outcome] += 1;
    const code = r.overrideReason?.reason?.code;
    if (code) {
      const reason = group.reasons.get(code) ?? {
        code,
        ...(r.overrideReason?.reason?.display ? { display: r.overrideReason.reason.display } : {}),
        count: 0,
      };
      reason.count += 1;
      group.reasons.set(code, reason);
    }
  }
  const byKind = [...groups.values()]
    .sort((a, b) => a.serviceId.localeCompare(b.serviceId) || a.kind.localeCompare(b.kind))
    .map(({ reasons, ...rest }) => ({ ...rest, ...(reasons.size ? { overrideReasons: [...reasons.values()] } : {}) }));
  return { generatedAt: now.toISOString(), total: records.length, ...(byKind.length ? { byKind } : {}) };
}
