/**
 * The HTML of the pages. Markup only: behaviour lives in web/*.js (served from /assets, no inline
 * script), and whatever comes from the request is escaped here or passed as a JSON data block.
 */

import { FHIR_ID_SOURCE } from '../../core/ids';

/** How a page obtains its tokens (see README "Web pages"). */
export type TokenSource = 'none' | 'dev-sign-in' | 'embedding-app';

export interface PageConfig {
  patient?: string;
  tokenSource: TokenSource;
  fhirBase: string;
  cdsBase: string;
  questionnaire: string;
  patientViewService: string;
  /** The language of the form (portal): from ?lang= or Accept-Language, among those the Questionnaire is translated into. */
  language?: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A JSON data block (not executed, so CSP allows it); `<` escaped so no `</script>` can close it early. */
function dataBlock(config: PageConfig): string {
  const json = JSON.stringify(config)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  return `<script type="application/json" id="page-config">${json}</script>`;
}

interface Layout {
  title: string;
  current: 'home' | 'portal' | 'clinician' | 'none';
  body: string;
  stylesheets?: string[];
  scripts?: string[];
  config?: PageConfig;
}

function nav(current: Layout['current'], patient?: string): string {
  const q = patient ? `?patient=${encodeURIComponent(patient)}` : '';
  const link = (key: Layout['current'], href: string, label: string) =>
    `<li><a href="${escapeHtml(href)}"${current === key ? ' aria-current="page"' : ''}>${label}</a></li>`;
  return `<nav aria-label="Main"><ul>${link('home', '/', 'Home')}${patient ? link('portal', `/portal${q}`, 'Patient questionnaire') + link('clinician', `/clinician${q}`, 'Clinician view') : ''}</ul></nav>`;
}

export function layout(page: Layout): string {
  const styles = ['/assets/pages.css', ...(page.stylesheets ?? [])].map((href) => `<link rel="stylesheet" href="${href}">`).join('\n  ');
  const scripts = (page.scripts ?? []).map((src) => `<script src="${src}"></script>`).join('\n');
  return `<!doctype html>
<html lang="${page.config?.language ?? 'en'}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(page.title)} · Calf-pain DVT decision support</title>
  <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
  ${styles}
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="site-header">
  <p class="site-name"><a href="/">Calf-pain DVT decision support</a></p>
  ${nav(page.current, page.config?.patient)}
</header>
<main id="main" tabindex="-1">
${page.body}
</main>
<footer class="site-footer"><p>Decision support, not a diagnosis: a clinician decides. If you are suddenly short of breath, have chest pain or cough up blood, call emergency services now.</p></footer>
${page.config ? dataBlock(page.config) : ''}
${scripts}
</body>
</html>
`;
}

export function landingPage(opts: { baseUrl: string; tokenSource: TokenSource }): string {
  const base = escapeHtml(opts.baseUrl);
  const signIn =
    opts.tokenSource === 'dev-sign-in'
      ? '<p>This is a development server: the pages sign in with the development key automatically (a patient session for the portal, a clinician session for the clinician view). In production they take their tokens from the application that opens them.</p>'
      : opts.tokenSource === 'none'
        ? '<p><strong>Authentication is off</strong> (<code>AUTH_MODE=off</code>): local development only, never with patient data.</p>'
        : '<p>Open the pages from your patient portal or EHR: they take their sign-in from the application that opens them.</p>';
  return layout({
    title: 'Home',
    current: 'home',
    body: `<h1>Calf-pain DVT decision support</h1>
<p class="lead">For adults with calf pain, and for the clinicians who see them. A short questionnaire gives the
<strong>Wells DVT score</strong>, checks for <strong>warning signs of a blood clot in the lungs</strong> (pulmonary embolism), ranks the
common causes of calf pain and names the next steps of the NICE NG158 pathway. It is decision support, not a diagnosis.</p>
${signIn}
<section aria-labelledby="open-heading">
  <h2 id="open-heading">Open a page for a patient</h2>
  <form class="patient-form" action="/portal" method="get">
    <label for="patient-portal">Patient id</label>
    <input id="patient-portal" name="patient" required pattern="${FHIR_ID_SOURCE}" autocomplete="off" placeholder="e.g. example">
    <button type="submit">Open the patient questionnaire</button>
  </form>
  <form class="patient-form" action="/clinician" method="get">
    <label for="patient-clinician">Patient id</label>
    <input id="patient-clinician" name="patient" required pattern="${FHIR_ID_SOURCE}" autocomplete="off" placeholder="e.g. example">
    <button type="submit">Open the clinician view</button>
  </form>
</section>
<section aria-labelledby="pages-heading">
  <h2 id="pages-heading">The pages</h2>
  <ul>
    <li><strong>Patient questionnaire</strong> (<code>/portal?patient={id}</code>): the calf-pain questionnaire, the Wells score as you answer, and what your answers mean after you submit.</li>
    <li><strong>Clinician view</strong> (<code>/clinician?patient={id}</code>): the CDS Hooks cards an EHR shows for the patient, with suggested orders, and the patient's risk assessments.</li>
  </ul>
</section>
<section aria-labelledby="api-heading">
  <h2 id="api-heading">For developers</h2>
  <ul>
    <li>FHIR R4 API base: <a href="/fhir/metadata"><code>${base}/fhir</code></a> (its CapabilityStatement is <code>/fhir/metadata</code>)</li>
    <li>The Questionnaire: <a href="/fhir/Questionnaire/calf-pain"><code>${base}/fhir/Questionnaire/calf-pain</code></a></li>
    <li>CDS Hooks discovery: <code>${base}/cds-services</code> (needs a CDS client JWT)</li>
    <li><a href="/readme">The README</a> (plain text): its sections "FHIR API", "CDS Hooks", "Web pages" and "Security" describe each surface.</li>
  </ul>
</section>`,
  });
}

export function badPatientPage(path: '/portal' | '/clinician'): string {
  return layout({
    title: 'Patient id needed',
    current: 'none',
    body: `<h1>Patient id needed</h1>
<p role="alert">This page needs a patient id in its address, for example <code>${path}?patient=example</code>: letters, digits, "-" and "." only, at most 64 characters.</p>
<form class="patient-form" action="${path}" method="get">
  <label for="patient">Patient id</label>
  <input id="patient" name="patient" required pattern="${FHIR_ID_SOURCE}" autocomplete="off">
  <button type="submit">Open</button>
</form>`,
  });
}

/** LHC-Forms 40.1.3 from node_modules, in the order it needs (see README "Web pages"). */
const LFORMS_SCRIPTS = [
  '/vendor/lforms/webcomponent/assets/lib/zone.min.js',
  '/vendor/lforms/webcomponent/runtime.js',
  '/vendor/lforms/webcomponent/polyfills.js',
  '/vendor/lforms/webcomponent/main.js',
  '/vendor/lforms/fhir/R4/lformsFHIR.js',
];

export function portalPage(config: PageConfig): string {
  const patient = escapeHtml(config.patient ?? '');
  return layout({
    title: 'Calf pain questionnaire',
    current: 'portal',
    stylesheets: ['/vendor/lforms/webcomponent/styles.css', '/assets/portal.css'],
    scripts: [...LFORMS_SCRIPTS, '/assets/page-common.js', '/assets/portal.js'],
    config,
    body: `<h1>Calf pain questionnaire</h1>
<p class="lead">Answer the questions about your calf pain; the examination part is for the clinician who examines you
(leave it blank if nobody has). Then press <strong>Submit</strong>. Patient: <span class="patient-id">${patient}</span></p>
<aside class="emergency-note" aria-label="Emergency warning">
  <p><strong>If you are suddenly short of breath, have chest pain or are coughing up blood, stop and call emergency services now.</strong></p>
</aside>
<p id="status" class="status" role="status" aria-live="polite">Loading the questionnaire…</p>
<div id="form-problems" class="problems" role="alert" hidden tabindex="-1"></div>
<div id="questionnaire-form" class="questionnaire-form"></div>
<div id="live-score" class="live-score" aria-live="polite" hidden></div>
<div class="actions"><button id="submit" type="button" class="primary" disabled>Submit</button></div>
<section id="result" class="result" hidden tabindex="-1" aria-labelledby="result-heading"></section>`,
  });
}

export function clinicianPage(config: PageConfig): string {
  const patient = escapeHtml(config.patient ?? '');
  return layout({
    title: 'Clinician view',
    current: 'clinician',
    config,
    stylesheets: ['/assets/clinician.css'],
    scripts: ['/assets/page-common.js', '/assets/markdown.js', '/assets/clinician.js'],
    body: `<h1>Clinician view <span class="patient-id">Patient/${patient}</span></h1>
<p class="lead">The cards the <code>patient-view</code> hook returns for this patient, as an EHR shows them, and the patient's calf-pain risk assessments.</p>
<p id="status" class="status" role="status" aria-live="polite">Calling the patient-view hook…</p>
<section aria-labelledby="cards-heading">
  <h2 id="cards-heading">Decision support cards</h2>
  <div id="cards" class="cards"></div>
  <button id="refresh" type="button">Call the hook again</button>
</section>
<section aria-labelledby="history-heading">
  <h2 id="history-heading">Risk assessments, newest first</h2>
  <div id="history"></div>
</section>`,
  });
}
