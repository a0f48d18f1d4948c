import type { Resource, ServiceRequest } from 'fhir/r4';
import type { AppDeps } from '../../deps';
import type { CardRules } from '../../../clinical/card-rules';
import { orderCards, type SelectedOrders } from '../../../clinical/cards';
import { gatherPatientData } from '../patient-data';
import type { HookRequest } from '../../../core/cds-hooks';
import { assessMostRecent } from './assess';
import type { ServiceResult } from './calf-pain-dvt';

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
 * checked against the two-level Wells category (NICE NG158 1.1.3-1.1.4). Other orders: no cards and
 * no data fetched.
 */
export async function dvtWorkupOrderSelect(deps: AppDeps, rules: CardRules, request: HookRequest): Promise<ServiceResult> {
  const orders = selectedOrders(rules, request);
  if (!orders.dDimer.length && !orders.ultrasound.length) return { drafts: [] };

  const data = await gatherPatientData(deps, request, { chart: false });
  const assessed = assessMostRecent(deps, data.responses);
  const base = {
    rules,
    evaluator: deps.evaluator,
    baseUrl: deps.config.baseUrl,
    patientId: request.context.patientId,
    ...(request.context.encounterId ? { encounterId: request.context.encounterId } : {}),
    now: deps.now(),
  };
  return { drafts: orderCards(orders, assessed ? { ...base, ...assessed } : base, deps.config.cdsHooks.responseWindowDays) };
}
