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

const DAY_MS = 24 * 60 * 60 * 1000;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The label of a concept from the EHR (fields of the wrong JSON type are ignored, never trusted). */
function conceptLabel(concept: CodeableConcept | undefined): string {
  const codings = Array.isArray(concept?.coding) ? concept.coding.filter((c) => typeof c === 'object' && c !== null) : [];
  const coding = codings.find((c) => str(c.display)) ?? codings.find((c) => str(c.code));
  return str(concept?.text) ?? str(coding?.display) ?? (coding && str(coding.code) ? `${str(coding.system) ?? ''}|${coding.code}` : 'unnamed entry');
}

function procedureDate(p: Procedure): string | undefined {
  const period = typeof p.performedPeriod === 'object' && p.performedPeriod !== null ? p.performedPeriod : undefined;
  return str(p.performedDateTime) ?? str(period?.end) ?? str(period?.start);
}

/** Runs the chart rules over the Conditions and Procedures the EHR gave us. */
export function findChartEvidence(rules: CardRules, chart: ChartData, now: Date): ChartFinding[] {
  const findings: ChartFinding[] = [];
  for (const rule of rules.chartRules) {
    if (rule.resourceType === 'Condition' && chart.conditions) {
      for (const c of chart.conditions.resources as Condition[]) {
        if (!rule.matches(c)) continue;
        const date = str(c.onsetDateTime) ?? str(c.recordedDate);
        findings.push({ rule, resourceType: 'Condition', id: c.id, label: conceptLabel(c.code), ...(date ? { date } : {}), origin: chart.conditions.origin });
      }
    }
    if (rule.resourceType === 'Procedure' && chart.procedures) {
      for (const p of chart.procedures.resources as Procedure[]) {
        const date = procedureDate(p);
        const ms = date ? Date.parse(date) : NaN;
        // Without a date the 12-week window cannot be checked, so the procedure is not claimed as evidence.
        if (Number.isNaN(ms)) continue;
        if (rule.withinDays !== undefined && ms < now.getTime() - rule.withinDays * DAY_MS) continue;
        if (!rule.matches(p)) continue;
        findings.push({ rule, resourceType: 'Procedure', id: p.id, label: conceptLabel(p.code), date, origin: chart.procedures.origin });
      }
    }
  }
  return findings;
}
