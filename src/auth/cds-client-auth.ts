/**
 * CDS Hooks 2.0 client authentication: every call to /cds-services (discovery included) carries
 * `Authorization: Bearer <JWT>` signed by a trusted CDS client, with `aud` = the exact URL called.
 * Failure: 401 with a WWW-Authenticate challenge and `{ error, message }` naming the problem in terms a
 * CDS client's developer can act on (e.g. the `aud` this URL expects), never the token or a key; the
 * reason is logged at warn.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import type { Store } from '../storage/store';
import { bearerToken, JwtRejected, verifyClientJwt } from './jwt';
import type { TrustedClients } from './trusted-clients';

/** What the CDS routes may know about the verified caller: `res.locals.cdsClient`. */
export interface CdsClientIdentity {
  issuer: string;
  subject?: string;
  tenant?: string;
}

export interface CdsClientAuthOptions {
  config: Config;
  store: Store;
  trustedClients: TrustedClients;
  now?: () => Date;
  /** Rejection reasons go to warn level (never the token). */
  logger?: Logger;
}

/** `aud` a CDS client must use for this request: BASE_URL + the path called, without the query. */
export function endpointUrl(baseUrl: string, req: Request): string {
  const path = req.originalUrl.split('?')[0];
  return `${baseUrl}${path}`;
}

export function createCdsClientAuth({
  config,
  store,
  trustedClients,
  now = () => new Date(),
  logger,
}: CdsClientAuthOptions): RequestHandler {
  if (config.auth.mode === 'off') return (_req, _res, next) => next();

  return async (req: Request, res: Response, next: NextFunction) => {
    // Preflight requests carry no credentials (the browser sends them before the real call).
    if (req.method === 'OPTIONS') return next();
    const token = bearerToken(req.get('authorization'));
    if (!token) {
      logger?.warn({ path: req.path, reason: 'no bearer token' }, 'CDS client JWT missing');
      return refuse(res, false, 'CDS Hooks calls need Authorization: Bearer <JWT> signed by a trusted CDS client');
    }
    const audience = endpointUrl(config.baseUrl, req);
    try {
      const { client, payload } = await verifyClientJwt(token, trustedClients, {
        audience,
        purpose: 'cds',
        now: now(),
        cdsRules: true,
        store,
      });
      const identity: CdsClientIdentity = {
        issuer: client.iss,
        ...(typeof payload.sub === 'string' ? { subject: payload.sub } : {}),
        ...(typeof payload.tenant === 'string' ? { tenant: payload.tenant } : {}),
      };
      res.locals.cdsClient = identity;
      next();
    } catch (e) {
      if (!(e instanceof JwtRejected)) return next(e);
      logger?.warn({ reason: e.message, path: req.path }, 'CDS client JWT rejected');
      refuse(res, true, explainRejection(e.message, audience));
    }
  };
}

/**
 * The refusal in words for the client's developer. Reasons come from jwt.ts (fixed phrases and jose's
 * claim-check messages); none carries the token, a key or a secret. `audience` is this service's own URL.
 */
export function explainRejection(reason: string, audience: string): string {
  if (/"aud"/.test(reason))
    return `The JWT's aud does not match this service's URL: aud must be exactly ${audience} (BASE_URL plus the path called)`;
  if (/ERR_JWT_EXPIRED/.test(reason)) return "The JWT has expired (exp is in the past; check the client's clock)";
  if (/"nbf"|iat in the future/.test(reason)) return "The JWT is not valid yet (nbf or iat is in the future; check the client's clock)";
  if (/ERR_JWS_SIGNATURE_VERIFICATION_FAILED|ERR_JWKS_NO_MATCHING_KEY/.test(reason))
    return "The JWT's signature does not verify with the keys registered for its issuer";
  if (reason === 'untrusted iss' || reason === 'missing iss')
    return "The JWT's iss is not a CDS client this service trusts (TRUSTED_CLIENTS_FILE)";
  if (reason === 'replayed jti') return "The JWT's jti was already used: sign a new JWT (new jti) for every call";
  if (reason === 'jku not allow-listed') return "The JWT's jku is not allow-listed for its issuer";
  if (reason === 'not a compact JWS' || reason === 'undecodable header or payload') return 'The bearer token is not a signed JWT';
  return `The JWT was refused: ${reason.replace(/^ERR_[A-Z_]+: /, '')}`;
}

function refuse(res: Response, tokenGiven: boolean, message: string): void {
  res
    .status(401)
    .set('WWW-Authenticate', tokenGiven ? 'Bearer realm="cds-services", error="invalid_token"' : 'Bearer realm="cds-services"')
    .set('Cache-Control', 'no-store')
    .json({ error: tokenGiven ? 'invalid_token' : 'unauthorized', message });
}
