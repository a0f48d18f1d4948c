/**
 * The web pages over HTTP (no browser): each page's CSP, bad patient ids, static files from the app,
 * the development sign-in (tokens the API accepts; absent in production) and the API's own strict CSP.
 */
import request from 'supertest';
import { createTestApp } from './support/app';
import { DEV_TRUSTED_CLIENTS_FILE } from './support/dev-client';
import { pagePolicy } from '../src/http/pages/csp';
import { escapeHtml, portalPage } from '../src/http/pages/html';

const BASE_URL = 'http://localhost:8080';
const authOn = { baseUrl: BASE_URL, auth: { mode: 'on' as const, trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: true } };

function directives(csp: string | undefined): Record<string, string> {
  return Object.fromEntries(
    (csp ?? '').split(';').map(
      (d) =>
        d
          .trim()
          .split(/\s+(.*)/s)
          .slice(0, 2) as [string, string],
    ),
  );
}

describe('pages', () => {
  test('the landing page links to the portal, the clinician view, the FHIR base and CDS discovery', async () => {
    const { app } = await createTestApp({ config: authOn });
    const res = await request(app)
      .get('/')
      .expect(200)
      .expect('Content-Type', /text\/html/);
    expect(res.text).toContain('href="/fhir/metadata"');
    expect(res.text).toContain('/cds-services');
    expect(res.text).toContain('action="/portal"');
    expect(res.text).toContain('action="/clinician"');
    expect(directives(res.headers['content-security-policy'])['script-src']).toBe("'none'");
    expect(res.text).toContain('href="/readme"');
    const readme = await request(app)
      .get('/readme')
      .expect(200)
      .expect('Content-Type', /text\/plain/);
    expect(readme.text).toContain('## FHIR API');
  });

  test.each(['/portal', '/clinician'])('%s needs a valid patient id: 400 page, never the id echoed unescaped', async (path) => {
    const { app } = await createTestApp({ config: authOn });
    await request(app)
      .get(path)
      .expect(400)
      .expect('Content-Type', /text\/html/);
    const res = await request(app)
      .get(`${path}?patient=${encodeURIComponent('<script>x</script>')}`)
      .expect(400);
    expect(res.text).not.toContain('<script>x');
    await request(app).get(`${path}?patient=a&patient=b`).expect(400);
    await request(app)
      .get(`${path}?patient=${'a'.repeat(65)}`)
      .expect(400);
  });

  test('the portal allows only its own origin for scripts and data; styles inline for LHC-Forms; no eval', async () => {
    const { app } = await createTestApp({ config: authOn });
    const res = await request(app).get('/portal?patient=example').expect(200);
    const csp = directives(res.headers['content-security-policy']);
    expect(csp['script-src']).toBe("'self'");
    expect(csp['connect-src']).toBe("'self'");
    expect(csp['default-src']).toBe("'none'");
    expect(csp['frame-ancestors']).toBe("'none'");
    expect(res.headers['content-security-policy']).not.toContain('unsafe-eval');
    expect(res.text).toContain('/vendor/lforms/webcomponent/main.js');
    expect(res.text).toContain('/vendor/lforms/fhir/R4/lformsFHIR.js');
    expect(res.text).not.toMatch(/src="https?:/);
    expect(res.text).toContain('"tokenSource":"dev-sign-in"');
  });

  test('the clinician page allows no inline style', async () => {
    const { app } = await createTestApp({ config: authOn });
    const res = await request(app).get('/clinician?patient=example').expect(200);
    expect(res.headers['content-security-policy']).toBe(pagePolicy('clinician'));
    expect(directives(res.headers['content-security-policy'])['style-src']).toBe("'self'");
  });

  test('the JSON API keeps its strict CSP', async () => {
    const { app } = await createTestApp({ config: authOn });
    const res = await request(app).get('/fhir/metadata').expect(200);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['content-security-policy']).not.toContain("script-src 'self'");
  });

  test('LHC-Forms and the page scripts are served by the app; nothing else from node_modules', async () => {
    const { app } = await createTestApp({ config: authOn });
    await request(app)
      .get('/vendor/lforms/webcomponent/main.js')
      .expect(200)
      .expect('Content-Type', /javascript/);
    await request(app).get('/vendor/lforms/fhir/R4/lformsFHIR.js').expect(200);
    await request(app).get('/assets/portal.js').expect(200);
    await request(app).get('/vendor/lforms/../../package.json').expect(404);
    await request(app)
      .get('/vendor/lforms/webcomponent/..%2f..%2f..%2fpackage.json')
      .expect((r) => expect([400, 403, 404]).toContain(r.status));
    await request(app).get('/assets/nope.js').expect(404);
  });

  test('the page data block cannot be closed early by a patient id', () => {
    const html = portalPage({
      patient: '</script><script>alert(1)</script>',
      tokenSource: 'none',
      fhirBase: '/fhir',
      cdsBase: '/cds-services',
      questionnaire: 'calf-pain',
      patientViewService: 'calf-pain-dvt',
    });
    expect(html).not.toContain('</script><script>alert(1)');
    expect(escapeHtml(`<a href="x">'`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;');
  });

  test('with AUTH_MODE=off the pages need no sign-in', async () => {
    const { app } = await createTestApp();
    const res = await request(app).get('/portal?patient=example').expect(200);
    expect(res.text).toContain('"tokenSource":"none"');
  });
});

describe('development sign-in', () => {
  test('a patient session token reaches that patient only, and the API accepts it', async () => {
    const { app } = await createTestApp({ config: authOn });
    const res = await request(app).post('/dev/sign-in').send({ role: 'patient', patient: 'p1' }).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.expiresIn).toBeLessThanOrEqual(900);
    const token = res.body.token as string;
    await request(app).get('/fhir/RiskAssessment?patient=p1').set('Authorization', `Bearer ${token}`).expect(200);
    await request(app)
      .get('/fhir/RiskAssessment?patient=p2')
      .set('Authorization', `Bearer ${token}`)
      .expect((r) => expect([200, 403]).toContain(r.status))
      .then((r) => {
        if (r.status === 200) expect(r.body.total ?? r.body.entry?.length ?? 0).toBe(0);
      });
  });

  test('a clinician token reads risk assessments; a CDS token is single-use for the endpoint named', async () => {
    const { app } = await createTestApp({ config: authOn });
    const clinician = await request(app).post('/dev/sign-in').send({ role: 'clinician' }).expect(200);
    await request(app).get('/fhir/RiskAssessment?patient=p1').set('Authorization', `Bearer ${clinician.body.token}`).expect(200);
    const cds = await request(app).post('/dev/cds-token').send({ endpoint: 'calf-pain-dvt' }).expect(200);
    expect(cds.body.expiresIn).toBeLessThanOrEqual(60);
    const body = {
      hook: 'patient-view',
      hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
      context: { userId: 'Practitioner/x', patientId: 'nobody' },
    };
    const first = await request(app).post('/cds-services/calf-pain-dvt').set('Authorization', `Bearer ${cds.body.token}`).send(body);
    expect(first.status).not.toBe(401);
    await request(app).post('/cds-services/calf-pain-dvt').set('Authorization', `Bearer ${cds.body.token}`).send(body).expect(401);
  });

  test.each([
    [{ role: 'patient' }, 400],
    [{ role: 'patient', patient: '../x' }, 400],
    [{ role: 'admin' }, 400],
    [{}, 400],
  ])('refuses %j with %i', async (body, status) => {
    const { app } = await createTestApp({ config: authOn });
    await request(app).post('/dev/sign-in').send(body).expect(status);
  });

  test('refuses non-JSON bodies, other methods, unknown CDS endpoints and oversized bodies', async () => {
    const { app } = await createTestApp({ config: authOn });
    await request(app).post('/dev/sign-in').type('form').send('role=clinician').expect(415);
    await request(app).get('/dev/sign-in').expect(405);
    await request(app).post('/dev/sign-in').set('Content-Type', 'application/json').send('[1]').expect(400);
    await request(app).post('/dev/cds-token').send({ endpoint: 'other-service' }).expect(400);
    await request(app).post('/dev/cds-token').send({ endpoint: 'calf-pain-dvt/../x' }).expect(400);
    await request(app)
      .post('/dev/sign-in')
      .set('Content-Type', 'application/json')
      .send('{"role":')
      .expect((r) => expect(r.status).toBeGreaterThanOrEqual(400));
    await request(app)
      .post('/dev/sign-in')
      .send({ role: 'clinician', pad: 'x'.repeat(5000) })
      .expect(413);
  });

  test('does not exist in production (404), and the pages then take tokens from the embedding application', async () => {
    const { app } = await createTestApp({
      config: { ...authOn, production: true, auth: { mode: 'on', trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: false } },
    });
    await request(app).post('/dev/sign-in').send({ role: 'clinician' }).expect(404);
    await request(app).post('/dev/cds-token').send({ endpoint: 'calf-pain-dvt' }).expect(404);
    const page = await request(app).get('/clinician?patient=example').expect(200);
    expect(page.text).toContain('"tokenSource":"embedding-app"');
    // The opener that hands out tokens must stay reachable: no same-origin opener policy on the page.
    expect(page.headers['cross-origin-opener-policy']).toBe('unsafe-none');
    const dev = await createTestApp({ config: authOn });
    expect((await request(dev.app).get('/clinician?patient=example')).headers['cross-origin-opener-policy']).toBe('same-origin');
  });
});
