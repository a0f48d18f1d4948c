/**
 * FHIR API authentication: a bearer JWT from a trusted issuer (same trusted-clients file as CDS
 * clients, `apiScopes` set), `aud` = BASE_URL + '/fhir' (the FHIR base URL, as SMART's `aud`), SMART
 * v2 scopes in `scope` (space-separated) or `scp`, `patient` claim for patient-level tokens.
 * Sets `res.locals.access` (AccessContext). Tokens are bearer access tokens used many times, so no jti
 * replay check here (unlike CDS Hooks JWTs, which are per call).
 *
 * Public without a token: GET/HEAD /fhir/metadata and Questionnaire, SearchParameter and
 * OperationDefinition read, vread, history and search (published definitions, not patient data).
 * A token that is sent is verified even there (an invalid one is a 401).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { unauthorized } from '../core/outcome';
import { FHIR_ID_SOURCE, isFhirId } from '../core/ids';
import type { AccessContext } from './access';
import { bearerToken, JwtRejected, verifyClientJwt } from './jwt';
import { grantableScopes, scopesFromClaims } from './scopes';
import type { TrustedClients } from './trusted-clients';

export interface ApiAuthOptions {
  config: Config;
  trustedClients: TrustedClients;
  now?: () => Date;
  logger?: Logger;
  /** Where the FHIR API is mounted; default '/fhir'. */
  basePath?: string;
}

const ID = FHIR_ID_SOURCE;
/** What anyone may read without a token, below the FHIR base: the CapabilityStatement and the published artefacts. */
const PUBLIC_PATH = new RegExp(
  `^/(metadata|(Questionnaire|SearchParameter|OperationDefinition)(/${ID}(/_history(/${ID})?)?|/_history)?)/?$`,
);

/** True for requests anyone may make without a token. */
export function isPublicFhirRequest(req: Request, basePath = '/fhir'): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = req.originalUrl.split('?')[0];
  if (!path.startsWith(basePath)) return false;
  const rest = path.slice(basePath.length);
  return PUBLIC_PATH.test(rest);
}

export function apiAudience(config: Config, basePath = '/fhir'): string {
  return `${config.baseUrl}${basePath}`;
}

export function createApiAuth({
  config,
  trustedClients,
  now = () => new Date(),
  logger,
  basePath = '/fhir',
}: ApiAuthOptions): RequestHandler {
  if (config.auth.mode === 'off') return (_req, _res, next) => next();
  const audience = apiAudience(config, basePath);

  return async (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'OPTIONS') return next();
    const header = req.get('authorization');
    const token = bearerToken(header);
    if (!header && isPublicFhirRequest(req, basePath)) return next();
    if (!token) return refuse(res, next, false);
    try {
      const { client, payload } = await verifyClientJwt(token, trustedClients, { audience, purpose: 'api', now: now(), cdsRules: false });
      const scopes = grantableScopes(scopesFromClaims(payload as { scope?: unknown; scp?: unknown }), client.apiScopes ?? []);
      const patient = isFhirId(payload.patient) ? payload.patient : undefined;
      const access: AccessContext = {
        issuer: client.iss,
        ...(typeof payload.sub === 'string' ? { subject: payload.sub } : {}),
        scopes,
        ...(patient ? { patient } : {}),
      };
      res.locals.access = access;
      next();
    } catch (e) {
      if (!(e instanceof JwtRejected)) return next(e);
      logger?.warn({ reason: e.message, path: req.path }, 'API bearer token rejected');
      refuse(res, next, true);
    }
  };
}

function refuse(res: Response, next: NextFunction, tokenGiven: boolean): void {
  res.set('WWW-Authenticate', tokenGiven ? 'Bearer realm="fhir", error="invalid_token"' : 'Bearer realm="fhir"');
  next(unauthorized());
}
