import type { AppDeps } from '../../deps';
import type { CardRules } from '../../../clinical/card-rules';
import { chartReview, dvtCard, peCard, riskAssessmentAction, type CardInput } from '../../../clinical/cards';
import { findChartEvidence } from '../../../clinical/chart';
import { gatherPatientData } from '../patient-data';
import type { HookRequest, IssuedCardDraft, Action } from '../../../core/cds-hooks';
import { assessMostRecent } from './assess';

export interface ServiceResult {
  drafts: IssuedCardDraft[];
  systemActions?: Action[];
}

/**
 * patient-view `calf-pain-dvt`: the most recent calf-pain response inside the window, evaluated by the
 * engine, becomes a PE card (critical) and one DVT card (likely: warning; unlikely: info; preliminary:
 * info naming the missing examination items). No recent response: no card (alert fatigue).
 */
export async function calfPainDvt(deps: AppDeps, rules: CardRules, request: HookRequest): Promise<ServiceResult> {
  const data = await gatherPatientData(deps, request, { chart: true });
  const assessed = assessMostRecent(deps, data.responses);
  if (!assessed) return { drafts: [] };

  const now = deps.now();
  const input: CardInput = {
    rules,
    evaluator: deps.evaluator,
    baseUrl: deps.config.baseUrl,
    patientId: request.context.patientId,
    ...(request.context.encounterId ? { encounterId: request.context.encounterId } : {}),
    now,
    found: assessed.found,
    evaluation: assessed.evaluation,
  };
  const review = chartReview(findChartEvidence(rules, data.chart, now), data.chart, input);
  const drafts: IssuedCardDraft[] = [];
  const pe = peCard(input);
  if (pe) drafts.push(pe);
  drafts.push(dvtCard(input, review));

  return {
    drafts,
    ...(deps.config.cdsHooks.systemActions ? { systemActions: [riskAssessmentAction(input)] } : {}),
  };
}
