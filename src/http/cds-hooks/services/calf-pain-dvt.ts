import { chartReview, issueCards, riskAssessmentAction, type AssessedInput } from '../../../clinical/cards';
import { findChartEvidence } from '../../../clinical/chart';
import type { ServiceDefinition } from '../../../core/cds-hooks';
import { assessMostRecent } from '../assess';
import { gatherPatientData } from '../patient-data';
import { CALF_PAIN_PREFETCH, CALF_PAIN_USAGE, CONDITIONS_QUERY, PREFETCH, PROCEDURES_QUERY } from '../queries';
import type { ServiceHandler } from '../service';

export const definition: ServiceDefinition = {
  hook: 'patient-view',
  id: 'calf-pain-dvt',
  title: 'Calf pain: DVT and pulmonary embolism alert',
  description:
    "Wells DVT score from the patient's recent calf-pain questionnaire: pulmonary embolism red flags (critical), " +
    'DVT likely (ultrasound within 4 h), DVT unlikely (D-dimer), or the examination items still missing; with the ' +
    'differential of calf pain and what the chart adds (cancer, previous DVT, recent surgery). ' +
    'No card when there is no recent questionnaire.',
  prefetch: {
    ...CALF_PAIN_PREFETCH,
    [PREFETCH.conditions]: CONDITIONS_QUERY,
    [PREFETCH.procedures]: PROCEDURES_QUERY,
  },
  usageRequirements: CALF_PAIN_USAGE,
};

/**
 * patient-view `calf-pain-dvt`: the most recent calf-pain response inside the window, evaluated by the
 * engine, with what the chart adds; the patient-view cards of PlanDefinition/cds-calf-pain-cards whose
 * conditions hold (PE red flags, then one DVT card). No recent response: no card (alert fatigue).
 */
export const handler: ServiceHandler = async (deps, rules, request) => {
  const data = await gatherPatientData(deps, rules, request, { chart: true });
  const assessed = assessMostRecent(deps, data.responses);
  if (!assessed) return { drafts: [] };

  const now = deps.now();
  const input: AssessedInput = {
    rules,
    evaluator: deps.evaluator,
    baseUrl: deps.config.baseUrl,
    patientId: request.context.patientId,
    ...(request.context.encounterId ? { encounterId: request.context.encounterId } : {}),
    now,
    windowDays: deps.config.cdsHooks.responseWindowDays,
    found: assessed.found,
    evaluation: assessed.evaluation,
  };
  const review = chartReview(findChartEvidence(rules, data.chart, now), data.chart, input);
  return {
    drafts: issueCards(definition.hook, { ...input, ...(review ? { review } : {}) }),
    ...(deps.config.cdsHooks.systemActions ? { systemActions: [riskAssessmentAction(input)] } : {}),
  };
};
