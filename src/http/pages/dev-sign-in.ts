/**
 * Development sign-in for the web pages: mints short-lived tokens with the development key
 * (config/dev-keys/, trusted by config/trusted-clients.dev.json only), so the portal and clinician
 * pages work with authentication on. Never mounted in production: there the route is a 404 and the
 * pages take their tokens from the embedding application.
 *
 *   POST /dev/sign-in  {"role": "patient", "patient": "<id>"}   -> a patient-scoped FHIR API token
 *   POST /dev/sign-in  {"role": "clinician"}                     -> a clinician (user-level) FHIR API token
 *   POST /dev/cds-token {"endpoint": "calf-pain-dvt" | "calf-pain-dvt/feedback"} -> one single-use CDS Hooks JWT
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { Router, type Request, type Response } from 'express';
import { importPKCS8, SignJWT, type KeyLike } from 'jose';
import type { Config } from '../../config/config';
import { PROJECT_ROOT } from '../../core/project-root';
import { isFhirId } from '../../core/ids';
import { isObject } from '../../core/json';
import { findService } from '../cds-hooks/discovery';

export const DEV_ISSUER = 'https://dev-client.calf-pain.example';
const DEV_KID = 'dev-client-es384-1';
const DEV_KEY_FILE = path.join(PROJECT_ROOT, 'config', 'dev-keys', 'dev-client-es384.private.pem');

/** A portal or clinician session lasts 15 minutes; a CDS Hooks JWT authenticates one call. */
export const SESSION_TOKEN_SECONDS = 15 * 60;
export const CDS_TOKEN_SECONDS = 60;

/** SMART v2 scopes of each page session: the portal reaches one patient's compartment only. */
export const SESSION_SCOPES = {
  patient: 'patient/QuestionnaireResponse.crs patient/RiskAssessment.rs',
  clinician: 'user/QuestionnaireResponse.rs user/RiskAssessment.rs',
} as const;

export interface DevSignInOptions {
  config: Config;
  now: () => Date;
}

interface Minted {
  token: string;
  expiresIn: number;
}

/** The route's answers are JSON with `error` and `message` (like the CDS surface), never a stack. */
function refuse(res: Response, status: number, message: string): void {
  res
    .status(status)
    .set('Cache-Control', 'no-store')
    .json({ error: status === 400 ? 'invalid_request' : 'error', message });
}

/** Undefined in production: the caller then mounts nothing, so the path answers 404. */
export function createDevSignInRouter({ config, now }: DevSignInOptions): Router | undefined {
  if (config.production) return undefined;
  let key: Promise<KeyLike> | undefined;
  const signingKey = () => (key ??= importPKCS8(readFileSync(DEV_KEY_FILE, 'utf8'), 'ES384'));

  async function mint(claims: Record<string, string>, subject: string, audience: string, lifetime: number): Promise<Minted> {
    const issuedAt = Math.floor(now().getTime() / 1000);
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: DEV_KID })
      .setIssuer(DEV_ISSUER)
      .setSubject(subject)
      .setAudience(audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + lifetime)
      .setJti(randomUUID())
      .sign(await signingKey());
    return { token, expiresIn: lifetime };
  }

  const router = Router();
  router.use(express.json({ limit: 1024, type: 'application/json' }));
  router.use((req, res, next) => {
    if (req.method !== 'POST') {
      res.set('Allow', 'POST');
      return refuse(res, 405, 'Use POST');
    }
    // A JSON body needs a CORS preflight from another origin, and this router answers none: only
    // the service's own pages can obtain a token.
    if (!req.is('application/json')) return refuse(res, 415, 'The body must be application/json');
    if (!isObject(req.body)) return refuse(res, 400, 'The body must be a JSON object');
    next();
  });

  router.post('/sign-in', async (req: Request, res: Response) => {
    const body = req.body as Record<string, unknown>;
    const fhirAudience = `${config.baseUrl}/fhir`;
    if (body.role === 'patient') {
      if (!isFhirId(body.patient)) return refuse(res, 400, 'patient must be a FHIR id');
      const minted = await mint(
        { scope: SESSION_SCOPES.patient, patient: body.patient },
        `dev-patient-${body.patient}`,
        fhirAudience,
        SESSION_TOKEN_SECONDS,
      );
      return res.set('Cache-Control', 'no-store').json({ ...minted, role: 'patient', patient: body.patient });
    }
    if (body.role === 'clinician') {
      const minted = await mint({ scope: SESSION_SCOPES.clinician }, 'dev-clinician', fhirAudience, SESSION_TOKEN_SECONDS);
      return res.set('Cache-Control', 'no-store').json({ ...minted, role: 'clinician', practitioner: 'Practitioner/dev-clinician' });
    }
    refuse(res, 400, 'role must be "patient" or "clinician"');
  });

  router.post('/cds-token', async (req: Request, res: Response) => {
    const endpoint = (req.body as Record<string, unknown>).endpoint;
    const m = typeof endpoint === 'string' ? /^([a-z0-9-]{1,64})(\/feedback)?$/.exec(endpoint) : null;
    if (!m || !findService(m[1])) return refuse(res, 400, 'endpoint must be a CDS service id, optionally followed by /feedback');
    const minted = await mint({}, 'dev-clinician', `${config.baseUrl}/cds-services/${endpoint as string}`, CDS_TOKEN_SECONDS);
    res.set('Cache-Control', 'no-store').json(minted);
  });

  router.use((_req, res) => refuse(res, 404, 'No such development sign-in endpoint'));
  return router;
}
