/** Request ids: the caller's X-Request-Id when it is a plain token, else a fresh UUID. */
import express from 'express';
import request from 'supertest';
import { requestId, requestIdFor } from '../src/http/middleware/request-id';

describe('request ids', () => {
  const app = express();
  app.use(requestId());
  app.get('/x', (_req, res) => res.json({ id: res.locals.requestId }));

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
