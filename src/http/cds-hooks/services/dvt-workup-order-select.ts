import type { Resource, ServiceRequest } from 'fhir/r4';
import type { CardRules } from '../../../clinical/card-rules';
import { issueCards, type SelectedOrders } from '../../../clinical/cards';
import type { HookRequest, ServiceDefinition } from '../../../core/cds-hooks';
import { assessMostRecent } from '../assess';
import { gatherPatientData } from '../patient-data';
import { CALF_PAIN_PREFETCH, CALF_PAIN_USAGE } from '../queries';
import type { ServiceHandler } from '../service';

export const definition: ServiceDefinition = {
  hook: 'order-select',
  id: 'dvt-workup-order-select',
  title: 'DVT work-up: D-dimer or leg vein ultrasound first',
  description:
    'When a D-dimer (LOINC 48065-7 / 48066-5) or a leg vein ultrasound is selected, checks it against the two-level ' +
    'Wells score (NICE NG158): DVT likely needs an ultrasound (a D-dimer alone cannot rule DVT out); DVT unlikely ' +
    'starts with a D-dimer. Offers the calf-pain questionnaire when no recent assessment exists. Silent for other orders.',
  prefetch: CALF_PAIN_PREFETCH,
  usageRequirements: CALF_PAIN_USAGE,
};

/** The selected draft ServiceRequests that are a D-dimer or a leg vein ultrasound. */
export function selectedOrders(rules: CardRules, request: HookRequest): SelectedOrders {
  const selections = request.context.selections;
  const resources = (request.context.draftOrders?.entry ?? [])
    .map((e) => e?.resource)
    .filter((r): r is Resource => !!r && typeof r === 'object' && r.resourceType === 'ServiceRequest');
  // Only what the user has just selected, when the client says (order-select `selections`).
  const chosen = selections?.length ? resources.filter((r) => r.id && selections.includes(`ServiceRequest/${r.id}`)) : resources;
  return {
    dDimer: chosen.filter((r) => rules.isDDimer(r)) as ServiceRequest[],
    ultrasound: chosen.filter((r) => rules.isLegVeinUltrasound(r)) as ServiceRequest[],
  };
}

/**
 * order-select `dvt-workup-order-select`: a D-dimer or leg vein ultrasound among the selected orders is
 * checked against the two-level Wells category (NICE NG158 1.1.3-1.1.4); the order-select cards of
 * PlanDefinition/cds-calf-pain-cards whose conditions hold. Other orders: no cards and no data fetched.
 */
export const handler: ServiceHandler = async (deps, rules, request) => {
  const orders = selectedOrders(rules, request);
  if (!orders.dDimer.length && !orders.ultrasound.length) return { drafts: [] };

  const data = await gatherPatientData(deps, rules, request, { chart: false });
  const assessed = assessMostRecent(deps, data.responses);
  return {
    drafts: issueCards(definition.hook, {
      rules,
      evaluator: deps.evaluator,
      baseUrl: deps.config.baseUrl,
      patientId: request.context.patientId,
      ...(request.context.encounterId ? { encounterId: request.context.encounterId } : {}),
      now: deps.now(),
      windowDays: deps.config.cdsHooks.responseWindowDays,
      orders,
      ...assessed,
    }),
  };
};
