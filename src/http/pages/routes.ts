/**
 * The web pages: `/` (what the service is), `/portal?patient=` (the questionnaire in LHC-Forms for a
 * patient) and `/clinician?patient=` (the patient-view cards and risk assessments), their scripts and
 * styles from web/ and LHC-Forms from node_modules (no CDN), and the development sign-in outside
 * production. Each page sets its own CSP (csp.ts); the JSON API keeps its strict one.
 */
import path from 'node:path';
import express, { Router, type Request, type Response } from 'express';
import type { AppDeps } from '../deps';
import { defaultServices } from '../cds-hooks/discovery';
import { PROJECT_ROOT } from '../../core/project-root';
import { isFhirId } from '../../core/ids';
import { setPagePolicy } from './csp';
import { createDevSignInRouter } from './dev-sign-in';
import { chooseLanguage } from '../../clinical/localize';
import { badPatientPage, clinicianPage, landingPage, portalPage, type PageConfig, type TokenSource } from './html';

export const WEB_ROOT = path.join(PROJECT_ROOT, 'web');
export const LFORMS_DIST = path.join(PROJECT_ROOT, 'node_modules', 'lforms', 'dist');
const QUESTIONNAIRE_ID = 'calf-pain';

/** How the pages get tokens: none with AUTH_MODE=off, the development sign-in outside production, else the embedding application. */
export function tokenSourceFor(deps: AppDeps): TokenSource {
  if (deps.config.auth.mode === 'off') return 'none';
  return deps.config.production ? 'embedding-app' : 'dev-sign-in';
}

// A missing file falls through to the app's 404 (an OperationOutcome, like every other unknown path).
const STATIC_OPTIONS = { index: false, fallthrough: true, dotfiles: 'ignore', maxAge: '1h', redirect: false } as const;

/** Static files carry the strict API policy (they are never documents), and are cached briefly. */
function serveStatic(root: string): express.RequestHandler {
  return express.static(root, STATIC_OPTIONS);
}

export function createPagesRouter(deps: AppDeps): Router {
  const router = Router();
  const tokenSource = tokenSourceFor(deps);
  const configFor = (patient: string): PageConfig => ({
    patient,
    tokenSource,
    fhirBase: '/fhir',
    cdsBase: '/cds-services',
    questionnaire: QUESTIONNAIRE_ID,
    patientViewService: defaultServices().forHook('patient-view')?.definition.id ?? '',
  });

  router.use('/assets', serveStatic(WEB_ROOT));
  // Only the LHC-Forms files the portal loads: the web component and the R4 FHIR support.
  router.use('/vendor/lforms/webcomponent', serveStatic(path.join(LFORMS_DIST, 'lforms', 'webcomponent')));
  router.use('/vendor/lforms/fhir/R4', serveStatic(path.join(LFORMS_DIST, 'fhir', 'R4')));

  const devSignIn = createDevSignInRouter({ config: deps.config, now: deps.now });
  if (devSignIn) router.use('/dev', devSignIn);

  // The README, for the landing page's links to the API sections (plain text: nothing in it runs).
  router.get('/readme', (_req, res) => {
    setPagePolicy(res, 'landing');
    res.type('text/plain; charset=utf-8').sendFile(path.join(PROJECT_ROOT, 'README.md'));
  });

  router.get('/', (_req, res) => {
    setPagePolicy(res, 'landing');
    res.type('html').send(landingPage({ baseUrl: deps.config.baseUrl, tokenSource }));
  });

  const page = (kind: 'portal' | 'clinician', render: (config: PageConfig) => string) => (req: Request, res: Response) => {
    const patient = req.query.patient;
    if (!isFhirId(patient)) {
      setPagePolicy(res, 'landing');
      return res
        .status(400)
        .type('html')
        .send(badPatientPage(`/${kind}`));
    }
    setPagePolicy(res, kind, { keepOpener: tokenSource === 'embedding-app' });
    // The portal's form follows ?lang= (an explicit choice) or else Accept-Language.
    const lang = typeof req.query.lang === 'string' ? req.query.lang : undefined;
    const language = kind === 'portal' ? chooseLanguage(req.header('accept-language'), lang) : 'en';
    res.vary('Accept-Language');
    res.type('html').send(render({ ...configFor(patient), ...(language !== 'en' ? { language } : {}) }));
  };
  router.get('/portal', page('portal', portalPage));
  router.get('/clinician', page('clinician', clinicianPage));
  return router;
}
