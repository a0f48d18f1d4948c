/**
 * series() (src/http/middleware/series.ts): middleware run one after another as one Express layer, with
 * Express 5's error rules (next(err), a throw, a rejected promise).
 */
import express, { type RequestHandler } from 'express';
import type { AddressInfo } from 'node:net';
import { series } from '../src/http/middleware/series';

async function call(handler: RequestHandler): Promise<{ status: number; body: string }> {
  const app = express();
  app.use('/mount', handler, (_req, res) => void res.status(200).send('after the series'));
  app.use(
    (err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) =>
      void res.status(500).send(`error: ${err.message}`),
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mount/x?q=1`);
    return { status: res.status, body: await res.text() };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('series', () => {
  it('runs each middleware in order under the mount, then the next layer', async () => {
    const seen: string[] = [];
    const step =
      (name: string): RequestHandler =>
      (req, _res, next) => {
        seen.push(`${name} ${req.baseUrl} ${req.url}`);
        next();
      };
    expect(await call(series(step('a'), step('b'), step('c')))).toEqual({ status: 200, body: 'after the series' });
    expect(seen).toEqual(['a /mount /x?q=1', 'b /mount /x?q=1', 'c /mount /x?q=1']);
  });

  it('a middleware that answers ends the request there', async () => {
    let reached = false;
    const answer: RequestHandler = (_req, res) => void res.status(401).send('no token');
    const later: RequestHandler = (_req, _res, next) => {
      reached = true;
      next();
    };
    expect(await call(series(answer, later))).toEqual({ status: 401, body: 'no token' });
    expect(reached).toBe(false);
  });

  it.each([
    ['next(err)', ((_req, _res, next) => next(new Error('passed on'))) as RequestHandler, 'passed on'],
    [
      'a throw',
      (() => {
        throw new Error('thrown');
      }) as RequestHandler,
      'thrown',
    ],
    ['a rejected promise', (async () => Promise.reject(new Error('rejected'))) as RequestHandler, 'rejected'],
  ])('%s skips the rest and reaches the error handler', async (_name, failing, message) => {
    let reached = false;
    const later: RequestHandler = (_req, _res, next) => {
      reached = true;
      next();
    };
    expect(await call(series(failing, later))).toEqual({ status: 500, body: `error: ${message}` });
    expect(reached).toBe(false);
  });
});
