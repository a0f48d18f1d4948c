/** The JSON body parser: JSON limits and pollution guards, media type, size and shape of the body. */
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { OperationOutcomeError } from '../src/core/outcome';
import { createJsonBodyParser, parseJsonSafely } from '../src/http/middleware/json-body';
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
    ['a key repeated after a nested object closed', '{"a":{"b":1,"c":{"d":2}},"e":[{"a":3}],"a":4}', 400],
    ['an outer key reused inside nested objects', '{"a":{"a":{"a":1}},"b":[{"a":2,"b":3}]}', 'ok'],
    [
      'a duplicate among many keys',
      JSON.stringify(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]))).replace('}', ',"k7":0}'),
      400,
    ],
    ['many distinct keys', JSON.stringify(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, { [`k${i}`]: i }]))), 'ok'],
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
