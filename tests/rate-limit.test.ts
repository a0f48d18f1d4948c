/** Per-client rate limiting: 429 per surface, keyed by verified identity or IP. */
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { OperationOutcomeError } from '../src/core/outcome';
import { createRateLimit } from '../src/http/middleware/rate-limit';

function errorHandler(err: unknown, _req: Request, res: Response, _next: NextFunction) {
  if (err instanceof OperationOutcomeError) res.status(err.status).json(err.outcome);
  else res.status(500).json({ unexpected: String(err) });
}

describe('createRateLimit', () => {
  function limitedApp(surface: 'fhir' | 'cds', identity?: (req: Request) => string | undefined) {
    const app = express();
    app.use((req, res, next) => {
      const who = identity?.(req);
      if (who) res.locals.access = { issuer: 'https://auth.example.org', subject: who, scopes: [] };
      next();
    });
    app.use(createRateLimit({ limitPerMinute: 3, surface }));
    app.get('/x', (_req, res) => res.json({ ok: true }));
    app.use(errorHandler);
    return app;
  }

  it('answers the request over the limit with 429 OperationOutcome on /fhir, with Retry-After', async () => {
    const app = limitedApp('fhir');
    for (let i = 0; i < 3; i++) expect((await request(app).get('/x')).status).toBe(200);
    const res = await request(app).get('/x');
    expect(res.status).toBe(429);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('throttled');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('answers 429 with plain JSON on /cds-services', async () => {
    const app = limitedApp('cds');
    for (let i = 0; i < 3; i++) await request(app).get('/x');
    const res = await request(app).get('/x');
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ error: 'Too many requests' });
  });

  it('counts each verified token identity separately', async () => {
    const app = limitedApp('fhir', (req) => req.get('x-test-user'));
    for (let i = 0; i < 3; i++) expect((await request(app).get('/x').set('x-test-user', 'alice')).status).toBe(200);
    expect((await request(app).get('/x').set('x-test-user', 'alice')).status).toBe(429);
    expect((await request(app).get('/x').set('x-test-user', 'bob')).status).toBe(200);
    // Anonymous callers are keyed by IP: a fresh bucket here.
    expect((await request(app).get('/x')).status).toBe(200);
  });
});
