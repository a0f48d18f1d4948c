import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { corsPreflight } from './support/app';
import { discoveryProblems, expectConformantDiscovery, hookResponseProblems } from './support/cds-conformance';
import { patientView, response, searchset, PATIENT_ID, useCdsHarness } from './fixtures/cds/harness';
import type { Card } from '../src/core/cds-hooks';

const h = useCdsHarness();

describe('discovery', () => {
  it('lists both services with hooks, prefetch templates and usage requirements, conforming to the spec', async () => {
    const res = await request(h.app).get('/cds-services').expect(200).expect('Content-Type', /json/);
    expectConformantDiscovery(res.body);
    const byId = Object.fromEntries(res.body.services.map((s: { id: string }) => [s.id, s]));
    expect(byId['calf-pain-dvt']).toMatchObject({
      hook: 'patient-view',
      prefetch: {
        patient: 'Patient/{{context.patientId}}',
        calfPainResponse:
          'QuestionnaireResponse?patient={{context.patientId}}&questionnaire=http://calfpain.example.org/fhir/Questionnaire/calf-pain&_sort=-authored&_count=1',
        conditions: expect.stringMatching(/^Condition\?patient=\{\{context\.patientId\}\}/),
        procedures: expect.stringMatching(/^Procedure\?patient=\{\{context\.patientId\}\}/),
      },
    });
    expect(byId['dvt-workup-order-select']).toMatchObject({
      hook: 'order-select',
      prefetch: { calfPainResponse: expect.stringContaining('_sort=-authored') },
    });
    expect(typeof byId['calf-pain-dvt'].usageRequirements).toBe('string');
  });
});

describe('CORS for browser-based clients', () => {
  it('answers a preflight allowing Authorization and Content-Type', async () => {
    const res = await corsPreflight(h.app, '/cds-services/calf-pain-dvt', 'https://sandbox.cds-hooks.org').expect(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-headers']).toMatch(/Authorization/);
    expect(res.headers['access-control-allow-headers']).toMatch(/Content-Type/);
    expect(res.headers['access-control-allow-methods']).toMatch(/POST/);
  });

  it('sets the allow-origin header on discovery', async () => {
    const res = await request(h.app).get('/cds-services').set('Origin', 'https://sandbox.cds-hooks.org').expect(200);
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });
});

describe('errors are JSON', () => {
  const post = (path: string, body: unknown) =>
    request(h.app)
      .post(path)
      .send(body as object);

  it('404 for an unknown service', async () => {
    const res = await post('/cds-services/no-such-service', patientView()).expect(404);
    expect(res.body).toMatchObject({ error: 'unknown_service' });
  });

  it('404 for feedback to an unknown service', async () => {
    await post('/cds-services/no-such-service/feedback', { feedback: [] }).expect(404);
  });

  it.each([
    ['the hook does not match the service', { ...patientView(), hook: 'order-select' }, 'hook'],
    ['hookInstance is not a UUID', { ...patientView(), hookInstance: 'abc' }, 'hookInstance'],
    ['context is missing', { hook: 'patient-view', hookInstance: randomUUID() }, 'context'],
    ['context.patientId is missing', { ...patientView(), context: { userId: 'Practitioner/1' } }, 'context.patientId'],
    [
      'fhirAuthorization comes without fhirServer',
      { ...patientView(), fhirAuthorization: { access_token: 't', token_type: 'Bearer', expires_in: 60, scope: 's', subject: 'x' } },
      'fhirServer',
    ],
    ['fhirServer is not a URL', { ...patientView(), fhirServer: 'not a url' }, 'fhirServer'],
    [
      'the token type is not Bearer',
      { ...patientView(), fhirServer: 'https://ehr.example.org/fhir', fhirAuthorization: { access_token: 't', token_type: 'MAC' } },
      'fhirAuthorization.token_type',
    ],
    ['prefetch is not an object', { ...patientView(), prefetch: 'x' }, 'prefetch'],
  ])('400 when %s', async (_name, body, expression) => {
    const res = await post('/cds-services/calf-pain-dvt', body).expect(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.issues.map((i: { expression?: string }) => i.expression)).toContain(expression);
  });

  it('400 for order-select without draftOrders', async () => {
    const body = {
      hook: 'order-select',
      hookInstance: randomUUID(),
      context: { userId: 'Practitioner/1', patientId: PATIENT_ID, selections: [] },
    };
    const res = await post('/cds-services/dvt-workup-order-select', body).expect(400);
    expect(res.body.issues.map((i: { expression?: string }) => i.expression)).toContain('context.draftOrders');
  });

  it('400 for a body that is not JSON', async () => {
    const res = await request(h.app)
      .post('/cds-services/calf-pain-dvt')
      .set('Content-Type', 'application/json')
      .send('{"hook": ')
      .expect(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', message: expect.stringMatching(/not valid JSON/) });
  });

  it('400 for a JSON array body', async () => {
    await request(h.app).post('/cds-services/calf-pain-dvt').send([1, 2]).expect(400);
  });

  it('413 for a body over the configured limit', async () => {
    const big = { ...patientView(), prefetch: { padding: 'x'.repeat(300_000) } };
    const res = await post('/cds-services/calf-pain-dvt', big).expect(413);
    expect(res.body.error).toBe('payload_too_large');
  });

  it('405 for GET on a service', async () => {
    await request(h.app).get('/cds-services/calf-pain-dvt').expect(405);
  });
});

describe('feedback', () => {
  async function issueCards(): Promise<Card[]> {
    const res = await request(h.app)
      .post('/cds-services/calf-pain-dvt')
      .send(patientView({ prefetch: { calfPainResponse: response('pe'), conditions: searchset([]), procedures: searchset([]) } }))
      .expect(200);
    return res.body.cards;
  }

  it('stores each entry with the kind of card, keeps repeated reports, and summarises per kind', async () => {
    const [pe, dvt] = await issueCards();
    const accepted = {
      card: dvt.uuid,
      outcome: 'accepted',
      acceptedSuggestions: [{ id: dvt.suggestions![0].uuid }],
      outcomeTimestamp: '2026-11-26T12:05:00Z',
    };
    await request(h.app)
      .post('/cds-services/calf-pain-dvt/feedback')
      .send({ feedback: [accepted] })
      .expect(200);
    await request(h.app)
      .post('/cds-services/calf-pain-dvt/feedback')
      .send({ feedback: [accepted] })
      .expect(200);
    const overridden = {
      card: pe.uuid,
      outcome: 'overridden',
      overrideReason: {
        reason: {
          system: 'http://calfpain.example.org/fhir/CodeSystem/cds-override-reason',
          code: 'assessment-disagrees',
          display: 'Clinical assessment disagrees with the questionnaire',
        },
        userComment: 'Breathless from known COPD',
      },
      outcomeTimestamp: '2026-11-26T12:06:00+01:00',
    };
    await request(h.app)
      .post('/cds-services/calf-pain-dvt/feedback')
      .send({ feedback: [overridden] })
      .expect(200);

    const stored = await h.store.listFeedback('calf-pain-dvt');
    expect(stored).toHaveLength(3);
    expect(stored.filter((f) => f.card === dvt.uuid)).toHaveLength(2);
    expect(stored.find((f) => f.card === pe.uuid)).toMatchObject({
      cardKind: 'pe-red-flag',
      outcome: 'overridden',
      outcomeTimestamp: '2026-11-26T11:06:00.000Z',
      overrideReason: { userComment: 'Breathless from known COPD' },
    });

    const summary = await request(h.app).get('/cds-services/feedback-summary').expect(200);
    expect(summary.body.total).toBe(3);
    expect(summary.body.byKind).toEqual([
      { serviceId: 'calf-pain-dvt', kind: 'dvt-likely', accepted: 2, overridden: 0 },
      {
        serviceId: 'calf-pain-dvt',
        kind: 'pe-red-flag',
        accepted: 0,
        overridden: 1,
        overrideReasons: [{ code: 'assessment-disagrees', display: 'Clinical assessment disagrees with the questionnaire', count: 1 }],
      },
    ]);

    const metrics = await h.metrics();
    expect(metrics).toContain('cds_card_feedback_total{service="calf-pain-dvt",kind="dvt-likely",outcome="accepted"} 2');
    expect(metrics).toContain('cds_card_feedback_total{service="calf-pain-dvt",kind="pe-red-flag",outcome="overridden"} 1');
    expect(metrics).toContain('cds_cards_issued_total{service="calf-pain-dvt",kind="pe-red-flag"} 1');
  });

  it('keeps feedback on a card it does not know, counted as kind unknown', async () => {
    const card = randomUUID();
    await request(h.app)
      .post('/cds-services/calf-pain-dvt/feedback')
      .send({ feedback: [{ card, outcome: 'accepted', outcomeTimestamp: '2026-11-26T12:00:00Z' }] })
      .expect(200);
    expect((await h.store.listFeedback())[0]).toMatchObject({ card, cardKind: 'unknown' });
  });

  it('an empty summary has no empty arrays', async () => {
    const res = await request(h.app).get('/cds-services/feedback-summary').expect(200);
    expect(res.body).toEqual({ generatedAt: '2026-11-26T12:00:00.000Z', total: 0 });
  });

  it.each([
    ['no feedback array', {}, 'feedback'],
    [
      'a card that is not a uuid',
      { feedback: [{ card: 'x', outcome: 'accepted', outcomeTimestamp: '2026-11-26T12:00:00Z' }] },
      'feedback[0].card',
    ],
    [
      'an unknown outcome',
      { feedback: [{ card: randomUUID(), outcome: 'ignored', outcomeTimestamp: '2026-11-26T12:00:00Z' }] },
      'feedback[0].outcome',
    ],
    ['no outcomeTimestamp', { feedback: [{ card: randomUUID(), outcome: 'accepted' }] }, 'feedback[0].outcomeTimestamp'],
    [
      'a timestamp without time zone',
      { feedback: [{ card: randomUUID(), outcome: 'accepted', outcomeTimestamp: '2026-11-26T12:00:00' }] },
      'feedback[0].outcomeTimestamp',
    ],
    [
      'an override reason on an accepted card',
      {
        feedback: [
          { card: randomUUID(), outcome: 'accepted', overrideReason: { userComment: 'x' }, outcomeTimestamp: '2026-11-26T12:00:00Z' },
        ],
      },
      'feedback[0].overrideReason',
    ],
    [
      'accepted suggestions on an overridden card',
      {
        feedback: [
          { card: randomUUID(), outcome: 'overridden', acceptedSuggestions: [{ id: 'a' }], outcomeTimestamp: '2026-11-26T12:00:00Z' },
        ],
      },
      'feedback[0].acceptedSuggestions',
    ],
  ])('400 for %s, storing nothing', async (_name, body, expression) => {
    const res = await request(h.app).post('/cds-services/calf-pain-dvt/feedback').send(body).expect(400);
    expect(res.body.issues.map((i: { expression?: string }) => i.expression)).toContain(expression);
    expect(await h.store.listFeedback()).toEqual([]);
  });
});

describe('the conformance checker itself', () => {
  const goodCard: Card = { uuid: randomUUID(), summary: 'Fine', indicator: 'info', source: { label: 'Us' } };

  it('accepts a minimal response and cards: []', () => {
    expect(hookResponseProblems({ cards: [] })).toEqual([]);
    expect(hookResponseProblems({ cards: [goodCard] })).toEqual([]);
  });

  it.each([
    ['a long summary', { ...goodCard, summary: 'x'.repeat(140) }, /summary has 140/],
    ['a bad indicator', { ...goodCard, indicator: 'hard-stop' }, /indicator/],
    ['no source label', { ...goodCard, source: { url: 'https://x.org' } }, /source.label/],
    ['suggestions without selectionBehavior', { ...goodCard, suggestions: [{ label: 'Do it' }] }, /selectionBehavior/],
    ['a link type', { ...goodCard, links: [{ label: 'L', url: 'https://x.org', type: 'web' }] }, /type must be absolute or smart/],
    ['a relative link', { ...goodCard, links: [{ label: 'L', url: '/x', type: 'absolute' }] }, /absolute URL/],
    ['an empty string', { ...goodCard, detail: '' }, /is ""/],
    ['an empty array', { ...goodCard, links: [] }, /is \[\]/],
    ['a null', { ...goodCard, detail: null }, /is null/],
    [
      'an override reason without display',
      { ...goodCard, overrideReasons: [{ system: 'http://x.org', code: 'a' }] },
      /display is required/,
    ],
    [
      'an invalid resource in an action',
      {
        ...goodCard,
        selectionBehavior: 'any',
        suggestions: [
          {
            label: 'Do',
            actions: [
              {
                type: 'create',
                description: 'd',
                resource: { resourceType: 'ServiceRequest', status: 'nonsense', intent: 'order', subject: { reference: 'Patient/1' } },
              },
            ],
          },
        ],
      },
      /resource/,
    ],
  ])('flags %s', (_name, card, message) => {
    const problems = hookResponseProblems({ cards: [card] });
    expect(problems.join('\n')).toMatch(message);
  });

  it('flags discovery problems', () => {
    expect(
      discoveryProblems({
        services: [{ hook: 'patient-view', id: 'x', description: 'd', prefetch: { p: 'Patient/{{context.patient}}' } }],
      }).join('\n'),
    ).toMatch(/unknown token/);
    expect(discoveryProblems({ services: [{ id: 'x', description: 'd' }] }).join('\n')).toMatch(/hook is required/);
  });
});
