import type { Bundle, Coding, FhirResource } from 'fhir/r4';

/** CDS Hooks 2.0 wire types (https://cds-hooks.hl7.org/2.0/). Optional fields are left out, never null. */

/**
 * A hook's name (CDS Hooks 2.0 "Hooks"): a standard one such as `patient-view` or `order-select`, or a
 * custom one, which the specification asks to be namespaced (`org.example.my-hook`).
 */
export type HookName = string;
const HOOK_NAME = /^[a-z0-9]+(?:[.-][a-z0-9]+)*$/;

export function isHookName(value: unknown): value is HookName {
  return typeof value === 'string' && HOOK_NAME.test(value);
}

/** The hooks whose context carries the draft orders (CDS Hooks library: order-select and order-sign). */
export const ORDER_HOOKS: readonly HookName[] = ['order-select', 'order-sign'];

/** A CDS service's discovery entry (CDS Hooks 2.0 "Discovery"). */
export interface ServiceDefinition {
  hook: HookName;
  id: string;
  title: string;
  description: string;
  prefetch: Record<string, string>;
  usageRequirements: string;
}

export interface FhirAuthorization {
  access_token: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
  subject?: string;
  patient?: string;
}

export interface HookContext {
  userId?: string;
  patientId: string;
  encounterId?: string;
  /** Order hooks only (ORDER_HOOKS). */
  selections?: string[];
  /** Order hooks only (ORDER_HOOKS). */
  draftOrders?: Bundle;
}

/** A validated hook request; `prefetch` values are left as sent (each shape is interpreted later). */
export interface HookRequest {
  hook: HookName;
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: FhirAuthorization;
  context: HookContext;
  prefetch?: Record<string, unknown>;
}

export type Indicator = 'info' | 'warning' | 'critical';

export interface Action {
  type: 'create' | 'update' | 'delete';
  description: string;
  resource?: FhirResource;
  resourceId?: string;
}

export interface Suggestion {
  label: string;
  uuid?: string;
  isRecommended?: boolean;
  actions?: Action[];
}

export interface Link {
  label: string;
  url: string;
  type: 'absolute' | 'smart';
  appContext?: string;
}

export interface Source {
  label: string;
  url?: string;
  icon?: string;
  topic?: Coding;
}

export interface Card {
  uuid: string;
  summary: string;
  detail?: string;
  indicator: Indicator;
  source: Source;
  suggestions?: Suggestion[];
  selectionBehavior?: 'at-most-one' | 'any';
  overrideReasons?: Coding[];
  links?: Link[];
}

export interface HookResponse {
  cards: Card[];
  systemActions?: Action[];
}

/** A card plus the kind it was issued as (kept with its uuid so feedback can be counted per kind). */
export interface IssuedCardDraft {
  kind: string;
  card: Card;
}
