/**
 * CDS Hooks 2.0 client authentication: every call to /cds-services (discovery included) carries
 * `Authorization: Bearer <JWT>` signed by a trusted CDS client, with `aud` = the exact URL called.
 * Failure: 401, empty JSON body and a WWW-Authenticate challenge — no detail, per the spec.
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
  /** Rejection reasons go to debug level (never the token). */
  logger?: Logger;
}

/** `aud` a CDS client must use for this request: BASE_URL + the path called, without the query. */
export function endpointUrl(baseUrl: string, req: Request): string {
  const path = req.originalUrl.split('?')[0];
  return `${baseUrl}${path}`;
}

export function createCdsClientAuth({ config, store, trustedClients, now = () => new Date(), logger }: CdsClientAuthOptions): RequestHandler {
  if (config.auth.mode === 'off') return (_req, _res, next) => next();

  return async (req: Request, res: Response, next: NextFunction) => {
    // Preflight requests carry no credentials (the browser sends them before the real call).
    if (req.method === 'OPTIONS') return next();
    const token = bearerToken(req.get('authorization'));
    if (!token) return refuse(res, false);
    try {
      const { client, payload } = await verifyClientJwt(token, trustedClients, {
        audience: endpointUrl(config.baseUrl, req),
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
      logger?.debug({ reason: e.message, path: req.path }, 'CDS client JWT rejected');
      refuse(res, true);
    }
  };
}

function refuse(res: Response, tokenGiven: boolean): void {
  res
    .status(401)
    .set('WWW-Authenticate', tokenGiven ? 'Bearer realm="cds-services", error="invalid_token"' : 'Bearer realm="cds-services"')
    .set('Cache-Control', 'no-store')
    .json({});
}
