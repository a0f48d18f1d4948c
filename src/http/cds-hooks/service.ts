import type { AppDeps } from '../deps';
import type { CardRules } from '../../clinical/card-rules';
import type { Action, HookRequest, IssuedCardDraft, ServiceDefinition } from '../../core/cds-hooks';

/**
 * What one CDS service is. Each module in src/http/cds-hooks/services/ is one service and exports
 * `definition` (its CDS Hooks discovery entry) and `handler`; discovery and the router are built from
 * that folder (./discovery.ts), so adding a service is adding one module there (plus its data).
 */

export interface ServiceResult {
  drafts: IssuedCardDraft[];
  systemActions?: Action[];
}

export type ServiceHandler = (deps: AppDeps, rules: CardRules, request: HookRequest) => Promise<ServiceResult>;

export interface CdsService {
  definition: ServiceDefinition;
  handler: ServiceHandler;
}
