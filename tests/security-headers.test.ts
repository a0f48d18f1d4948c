/** Security headers of the JSON API (helmet). */
import express from 'express';
import request from 'supertest';
import { createSecurityHeaders } from '../src/http/middleware/security-headers';

describe('security headers', () => {
  const app = express();
  app.use(createSecurityHeaders());
  app.get('/x', (_req, res) => res.json({ ok: true }));

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
});
