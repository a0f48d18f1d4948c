/** Input hardening: JSON limits and pollution guards, rate limits, security headers, request ids, log redaction. */
import { Writable } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import pino from 'pino';
import request from 'supertest';
import { OperationOutcomeError } from '../src/core/outcome';
import {
  createJsonBodyParser,
  createRateLimit,
  createSecurityHeaders,
  logRedaction,
  parseJsonSafely,
  requestId,
  requestIdFor,
} from '../src/http/middleware/hardening';
import { outcomeStatusOf } from './support/outcome-errors';

const statusOf = (fn: () => unknown): number | 'ok' => outcomeStatusOf(fn, 'ok' as const);

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const nestedObjects = (depth: number) => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

describe('parseJsonSafely', () => {
  it.each<[string, string, number | 'ok']>([
    ['a FHIR-shaped resource', '{"resourceType":"QuestionnaireResponse","item":[{"linkId":"a","answer":[{"valueBoolean":true}]}]}', 'ok'],
    ['arrays nested 64 deep', nested(64), 'ok'],
    ['arrays nested 65 deep', nested(65), 400],
    ['objects nested 65 deep', nestedObjects(65), 400],
    ['a 1 MB bracket bomb', nested(500_000), 400],
    ['brackets inside strings (not nesting)', JSON.stringify({ text: '['.repeat(200) }), 'ok'],
    ['escaped quotes inside strings', JSON.stringify({ text: '\\"[[[' + '['.repeat(100) }), 'ok'],
    ['an array of 10 000 items', JSON.stringify(new Array(10_000).fill(0)), 'ok'],
    ['an array of 10 001 items', JSON.stringify(new Array(10_001).fill(0)), 413],
    ['a long array nested inside objects', JSON.stringify({ a: { b: [{ c: new Array(10_001).fill('x') }] } }), 413],
    ['a __proto__ key', '{"resourceType":"Patient","__proto__":{"admin":true}}', 400],
    ['a nested __proto__ key', '{"item":[{"answer":[{"__proto__":{"polluted":true}}]}]}', 400],
    ['a __proto__ key spelled with escapes', '{"\\u005f_proto__":{"polluted":true}}', 400],
    ['a constructor key', '{"constructor":{"prototype":{"polluted":true}}}', 400],
    ['a prototype key', '{"a":{"prototype":1}}', 400],
    ['a key merely containing proto', '{"__proto__x":1,"my_constructor":2}', 'ok'],
    ['invalid JSON', '{"a":', 400],
    ['a UTF-8 byte order mark', '\uFEFF{"a":1}', 'ok'],
    ['a duplicated resourceType', '{"resourceType":"Patient","resourceType":"QuestionnaireResponse"}', 400],
    ['a duplicated key spelled with an escape', '{"status":"completed","st\\u0061tus":"in-progress"}', 400],
    ['a duplicated key in a nested object', '{"item":[{"linkId":"a","linkId":"b"}]}', 400],
    ['the same key in sibling objects', '{"item":[{"linkId":"a"},{"linkId":"b"}],"x":{"linkId":"c"}}', 'ok'],
    ['a key repeated as a string value', '{"a":"a","b":["a","a"]}', 'ok'],
  ])('%s', (_name, text, expected) => {
    expect(statusOf(() => parseJsonSafely(text))).toBe(expected);
  });

  it('never lets a body touch Object.prototype', () => {
    for (const text of ['{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}'])
      statusOf(() => parseJsonSafely(text));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('honours custom limits', () => {
    expect(statusOf(() => parseJsonSafely(nested(5), { maxDepth: 4, maxArrayLength: 10 }))).toBe(400);
    expect(statusOf(() => parseJsonSafely('[1,2,3]', { maxDepth: 4, maxArrayLength: 2 }))).toBe(413);
  });
});

function errorHandler(err: unknown, _req: Request, res: Response, _next: NextFunction) {
  if (err instanceof OperationOutcomeError) res.status(err.status).json(err.outcome);
  else res.status(500).json({ unexpected: String(err) });
}

describe('createJsonBodyParser', () => {
  const app = express();
  app.use(createJsonBodyParser({ maxBytes: 2048 }));
  app.all('/echo', (req, res) => res.json({ body: req.body ?? null }));
  app.use(errorHandler);

  const post = (body: string, type?: string) => {
    const r = request(app).post('/echo');
    return (type ? r.set('Content-Type', type) : r).send(body);
  };

  it.each(['application/fhir+json', 'application/json', 'application/json; charset=utf-8', 'application/json+fhir'])(
    'parses %s',
    async (type) => {
      const res = await post('{"resourceType":"Patient"}', type);
      expect(res.status).toBe(200);
      expect(res.body.body).toEqual({ resourceType: 'Patient' });
    },
  );

  it.each<[string, string, string | undefined, number]>([
    ['plain text', '{}', 'text/plain', 415],
    ['a form', 'a=1', 'application/x-www-form-urlencoded', 415],
    ['XML', '<Patient/>', 'application/fhir+xml', 415],
    ['an unsupported charset', '{}', 'application/json; charset=klingon-8', 415],
    ['a charset other than UTF-8', '{}', 'application/json; charset=latin1', 415],
    ['a body over maxBytes', JSON.stringify({ text: 'x'.repeat(3000) }), 'application/json', 413],
    ['a JSON array', '[]', 'application/json', 400],
    ['a JSON string', '"x"', 'application/json', 400],
    ['null', 'null', 'application/json', 400],
    ['invalid JSON', '{"a"', 'application/json', 400],
    ['a pollution attempt', '{"__proto__":{"isAdmin":true}}', 'application/json', 400],
    ['deep nesting', nestedObjects(100), 'application/json', 400],
  ])('refuses %s with an OperationOutcome', async (_name, body, type, status) => {
    const res = await post(body, type);
    expect(res.status).toBe(status);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js|node_modules/);
  });

  it('leaves req.body undefined for an empty body and for GET', async () => {
    expect((await request(app).post('/echo').set('Content-Type', 'application/json')).body).toEqual({ body: null });
    expect((await request(app).get('/echo')).body).toEqual({ body: null });
  });
});

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

describe('security headers and request ids', () => {
  const app = express();
  app.use(requestId(), createSecurityHeaders());
  app.get('/x', (_req, res) => res.json({ id: res.locals.requestId }));

  it('sets API security headers and hides the framework', async () => {
    const res = await request(app).get('/x');
    expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=31536000/);
    expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('echoes a well-formed X-Request-Id and replaces anything else', async () => {
    const echoed = await request(app).get('/x').set('X-Request-Id', 'abc-123.x');
    expect(echoed.headers['x-request-id']).toBe('abc-123.x');
    expect(echoed.body.id).toBe('abc-123.x');
    const replaced = await request(app).get('/x').set('X-Request-Id', 'evil"} {"level":60');
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const fresh = await request(app).get('/x');
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('requestIdFor refuses over-long ids', () => {
    expect(requestIdFor('a'.repeat(129))).not.toBe('a'.repeat(129));
    expect(requestIdFor(['first', 'second'])).toBe('first');
  });
});

describe('log redaction', () => {
  it('keeps authorization headers and access tokens out of the logs', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ ...logRedaction() }, sink);
    logger.info(
      { req: { headers: { authorization: 'Bearer SECRET-JWT', cookie: 'sid=SECRET-COOKIE', accept: 'application/json' } } },
      'request',
    );
    logger.info({ body: { hook: 'patient-view', fhirAuthorization: { access_token: 'SECRET-AT', scope: 'x' } } }, 'cds');
    logger.info({ fhirAuthorization: { access_token: 'SECRET-AT2' } }, 'cds');
    logger.info({ access_token: 'SECRET-AT3', nested: { deeper: { access_token: 'SECRET-AT4' } } }, 'token');
    const out = lines.join('');
    expect(out).not.toMatch(/SECRET/);
    expect(out).toContain('application/json');
    expect(out).toContain('patient-view');
  });
});
