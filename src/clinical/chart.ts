import type { CodeableConcept, Condition, Procedure } from 'fhir/r4';
import type { CardRules, ChartRule } from './card-rules';
import type { ChartData, Origin } from './patient-data';

/** Something in the EHR chart that bears on a Wells criterion. */
export interface ChartFinding {
  rule: ChartRule;
  resourceType: 'Condition' | 'Procedure';
  id?: string;
  label: string;
  date?: string;
  origin: Origin;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The label of a concept from the EHR (fields of the wrong JSON type are ignored, never trusted). */
function conceptLabel(concept: CodeableConcept | undefined): string {
  const codings = Array.isArray(concept?.coding) ? concept.coding.filter((c) => typeof c === 'object' && c !== null) : [];
  const coding = codings.find((c) => str(c.display)) ?? codings.find((c) => str(c.code));
  return (
    str(concept?.text) ??
    str(coding?.display) ??
    (coding && str(coding.code) ? `${str(coding.system) ?? ''}|${coding.code}` : 'unnamed entry')
  );
}

function entryDate(resource: Condition | Procedure): string | undefined {
  if (resource.resourceType === 'Condition') return str(resource.onsetDateTime) ?? str(resource.recordedDate);
  const period = typeof resource.performedPeriod === 'object' && resource.performedPeriod !== null ? resource.performedPeriod : undefined;
  return str(resource.performedDateTime) ?? str(period?.end) ?? str(period?.start);
}

/**
 * Runs the chart rules over the Conditions and Procedures the EHR gave us. Which entries count is
 * decided by the Questionnaire's population expressions (the $populate logic), once per rule.
 */
export function findChartEvidence(rules: CardRules, chart: ChartData, now: Date): ChartFinding[] {
  const context = {
    collections: {
      ...(chart.conditions ? { conditions: chart.conditions.resources } : {}),
      ...(chart.procedures ? { procedures: chart.procedures.resources } : {}),
    },
  };
  const findings: ChartFinding[] = [];
  for (const rule of rules.chartRules) {
    for (const resource of rules.population.evidenceFor(rule.linkId, context, now) as (Condition | Procedure)[]) {
      const source = resource.resourceType === 'Condition' ? chart.conditions : chart.procedures;
      if (!source) continue;
      const date = entryDate(resource);
      findings.push({
        rule,
        resourceType: resource.resourceType,
        id: resource.id,
        label: conceptLabel(resource.code),
        ...(date ? { date } : {}),
        origin: source.origin,
      });
    }
  }
  return findings;
}
