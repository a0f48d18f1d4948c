/**
 * SMART App Launch v2 scopes: `<level>/<resourceType|*>.<cruds>`, e.g. `patient/QuestionnaireResponse.c`,
 * `user/RiskAssessment.rs`, `system/*.rs`. SMART v1 suffixes are accepted as aliases:
 * `.read` = `.rs`, `.write` = `.cud`, `.*` = `.cruds`.
 *
 * Scopes with a query (`patient/Observation.rs?category=...`, SMART v2 fine-grained scopes) are not
 * understood by this service and grant nothing: ignoring them fails closed.
 * https://build.fhir.org/ig/HL7/smart-app-launch/scopes-and-launch-context.html
 */
/** SMART v2 interactions: c create, r read/vread/history-instance, u update, d delete, s search. */
export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';

export type ScopeLevel = 'patient' | 'user' | 'system';

export interface ResourceScope {
  level: ScopeLevel;
  /** A FHIR resource type, or `*` for every type. */
  resourceType: string;
  interactions: ReadonlySet<Interaction>;
}

const ORDER: Interaction[] = ['c', 'r', 'u', 'd', 's'];
const V1_ALIASES: Record<string, Interaction[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ORDER };
const SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]+)$/;

/** Parses one scope; undefined when it is not a resource scope this service understands. */
export function parseScope(scope: string): ResourceScope | undefined {
  const m = SCOPE.exec(scope);
  if (!m) return undefined;
  const [, level, resourceType, perms] = m;
  const alias = V1_ALIASES[perms];
  if (alias) return { level: level as ScopeLevel, resourceType, interactions: new Set(alias) };
  // SMART v2: a non-empty subset of c r u d s, in that order, each at most once.
  let last = -1;
  const interactions = new Set<Interaction>();
  for (const ch of perms) {
    const index = ORDER.indexOf(ch as Interaction);
    if (index <= last) return undefined;
    last = index;
    interactions.add(ch as Interaction);
  }
  return { level: level as ScopeLevel, resourceType, interactions };
}

/** Splits a `scope` claim (space-separated string, RFC 9068) or `scp` array into scope strings. */
export function scopesFromClaims(claims: { scope?: unknown; scp?: unknown }): string[] {
  const out: string[] = [];
  if (typeof claims.scope === 'string') out.push(...claims.scope.split(/\s+/));
  if (Array.isArray(claims.scp)) out.push(...claims.scp.filter((s): s is string => typeof s === 'string'));
  return [...new Set(out.filter((s) => s.length > 0 && s.length <= 256))];
}

/** True when `granted` covers `requested`: same level, same or wildcard type, a superset of interactions. */
export function scopeCovers(granted: ResourceScope, requested: ResourceScope): boolean {
  if (granted.level !== requested.level) return false;
  if (granted.resourceType !== '*' && granted.resourceType !== requested.resourceType) return false;
  for (const i of requested.interactions) if (!granted.interactions.has(i)) return false;
  return true;
}

/**
 * The token's scopes a client may actually use: each requested scope is kept only when one of the
 * client's allowed scopes covers it. A token cannot grant itself more than its issuer is trusted for.
 */
export function grantableScopes(requested: string[], allowed: string[]): string[] {
  const allowedParsed = allowed.map(parseScope).filter((s): s is ResourceScope => s !== undefined);
  return requested.filter((scope) => {
    const parsed = parseScope(scope);
    return parsed !== undefined && allowedParsed.some((a) => scopeCovers(a, parsed));
  });
}
