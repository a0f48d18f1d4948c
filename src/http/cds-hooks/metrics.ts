import { Counter, Registry } from 'prom-client';

/** Process counters for the CDS Hooks services; the app exposes the registry at /metrics. */
export interface CdsMetrics {
  registry: Registry;
  hookCalls: Counter<'service' | 'status'>;
  cardsIssued: Counter<'service' | 'kind'>;
  feedback: Counter<'service' | 'kind' | 'outcome'>;
}

function counter<T extends string>(registry: Registry, name: string, help: string, labelNames: T[]): Counter<T> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<T>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** Registers (or reuses) the CDS counters on `registry`; a fresh registry when none is given. */
export function createCdsMetrics(registry: Registry = new Registry()): CdsMetrics {
  return {
    registry,
    hookCalls: counter(registry, 'cds_hook_calls_total', 'CDS Hooks service calls by service and HTTP status', ['service', 'status']),
    cardsIssued: counter(registry, 'cds_cards_issued_total', 'CDS Hooks cards returned, by service and card kind', ['service', 'kind']),
    feedback: counter(
      registry,
      'cds_card_feedback_total',
      'CDS Hooks feedback entries received, by service, card kind and outcome (accepted | overridden)',
      ['service', 'kind', 'outcome'],
    ),
  };
}
