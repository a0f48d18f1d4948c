/**
 * Fuzz: several hundred generated malformed bodies, Authorization headers and search parameters
 * against the real app with AUTH_MODE=on. Every answer must be a 4xx — an OperationOutcome on /fhir,
 * the bare 401 on /cds-services — with no stack trace, nothing may be stored, and the app keeps
 * serving. Generation is seeded, so a failure names a reproducible case.
 */
import request from 'supertest';
import { createAuthTestApp, type TestApp } from './support/app';
import { buildResponse } from './support/build-response';
import { generateClient, signClientJwt, trustedEntry, writeTrustedClientsFile, type TrustedClientsFile } from './support/generated-client';
import { writtenCounts } from './support/store-counts';

const BASE = 'https://cds.calf-pain.example';
const ISS = 'https://ehr.example.org';
const NOW = new Date('2025-03-14T10:00:00Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const FHIR = 'application/fhir+json';

/** mulberry32: small, seeded, good enough to spread cases. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)];
  const chars = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[int(0, alphabet.length - 1)]).join('');
  return { next, int, pick, chars };
}

const PRINTABLE = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const answers = {
  'affected-side': 'left',
  'recent-injury': false,
  'calf-swelling-reported': true,
  'wells-active-cancer': false,
  'wells-bedridden-or-surgery': true,
  'wells-tenderness-deep-veins': true,
};

interface Case {
  name: string;
  method: 'get' | 'post';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

let trusted: TrustedClientsFile;
let writer: string;
let reader: string;

beforeAll(async () => {
  const client = await generateClient(ISS);
  trusted = writeTrustedClientsFile('security-fuzz-', 'trusted-clients.json', [trustedEntry(client, ['user/*.cruds'])]);
  // Reusable (no jti) and valid for an hour: the fuzz run sends hundreds of requests with each.
  const sign = (scope: string) =>
    signClientJwt(client, { iss: ISS, aud: `${BASE}/fhir`, iat: NOW_S, exp: NOW_S + 3600, sub: 'fuzzer', scope });
  writer = await sign('user/QuestionnaireResponse.c');
  reader = await sign('user/*.rs');
});

afterAll(() => trusted.remove());

function bodyCases(r: ReturnType<typeof prng>): Case[] {
  const valid = buildResponse(answers, { subject: 'Patient/fuzz' }) as unknown as Record<string, unknown>;
  const validText = JSON.stringify(valid);
  const auth = { Authorization: `Bearer ${writer}`, 'Content-Type': FHIR };
  const post = (name: string, body: string, headers: Record<string, string> = auth): Case => ({
    name,
    method: 'post',
    url: '/fhir/QuestionnaireResponse',
    headers,
    body,
  });
  const cases: Case[] = [];

  for (let i = 0; i < 40; i++) cases.push(post(`truncated JSON #${i}`, validText.slice(0, r.int(1, validText.length - 1))));
  for (let i = 0; i < 30; i++) cases.push(post(`garbage #${i}`, `#${r.chars(PRINTABLE, r.int(0, 300))}`));
  for (let i = 0; i < 20; i++) {
    const depth = r.int(65, 3000);
    cases.push(
      post(`nesting ${depth}`, r.next() < 0.5 ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)),
    );
  }
  for (let i = 0; i < 15; i++) {
    const n = r.int(10_001, 30_000);
    cases.push(post(`array of ${n}`, JSON.stringify({ ...valid, item: new Array(n).fill(0) })));
  }
  for (let i = 0; i < 30; i++) {
    const forbidden = r.pick(['__proto__', 'constructor', 'prototype', '\\u005f_proto__']);
    const where = r.int(0, 2);
    const injected = `"${forbidden}":{"polluted":true}`;
    const text =
      where === 0
        ? validText.replace('{', `{${injected},`)
        : where === 1
          ? validText.replace('"item":[{', `"item":[{${injected},`)
          : validText.replace('"subject":{', `"subject":{${injected},`);
    cases.push(post(`forbidden key ${forbidden} at ${where}`, text));
  }
  const wrongValues: unknown[] = [null, 42, -1.5, true, '', 'x'.repeat(r.int(1, 50)), [], [1, 2], {}, { a: 1 }];
  const fields = ['resourceType', 'status', 'item', 'subject', 'questionnaire', 'authored'];
  for (let i = 0; i < 50; i++) {
    const field = r.pick(fields);
    let value = r.pick(wrongValues);
    // Strings are valid for questionnaire/authored in some forms; keep only values surely wrong there.
    if (['questionnaire', 'authored'].includes(field) && typeof value === 'string') value = 7;
    cases.push(post(`${field} = ${JSON.stringify(value)}`, JSON.stringify({ ...valid, [field]: value })));
  }
  for (const scalar of ['1', '"text"', 'null', 'true', '[]', `[${validText}]`])
    cases.push(post(`top-level ${scalar.slice(0, 12)}`, scalar));
  for (const type of [
    'text/plain',
    'application/xml',
    'application/fhir+xml',
    'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded',
    'image/png',
  ]) {
    cases.push(post(`content type ${type}`, validText, { Authorization: `Bearer ${writer}`, 'Content-Type': type }));
  }
  for (const charset of ['klingon', 'utf-32x', 'none']) {
    cases.push(post(`charset ${charset}`, validText, { Authorization: `Bearer ${writer}`, 'Content-Type': `${FHIR}; charset=${charset}` }));
  }
  for (let i = 0; i < 10; i++)
    cases.push(post(`oversized #${i}`, JSON.stringify({ ...valid, text: 'x'.repeat(1_000_001 + r.int(0, 10_000)) })));
  return cases;
}

function headerCases(r: ReturnType<typeof prng>): Case[] {
  const cases: Case[] = [];
  const [h, p, s] = reader.split('.');
  const flip = (part: string) => {
    const i = r.int(0, part.length - 1);
    const c = part[i] === 'A' ? 'B' : 'A';
    return part.slice(0, i) + c + part.slice(i + 1);
  };
  const values: (() => string)[] = [
    () => `Bearer ${r.chars(B64URL, r.int(1, 60))}.${r.chars(B64URL, r.int(1, 200))}.${r.chars(B64URL, r.int(1, 100))}`,
    () => `Bearer ${r.chars(PRINTABLE.replace(' ', ''), r.int(1, 200))}`,
    () => `${r.pick(['Basic', 'Digest', 'Token', 'bearer-ish', 'Negotiate'])} ${r.chars(B64URL, r.int(1, 80))}`,
    () => `Bearer ${flip(h)}.${p}.${s}`,
    () => `Bearer ${h}.${flip(p)}.${s}`,
    () => `Bearer ${h}.${p}.${flip(s)}`,
    () => `Bearer ${h}.${p}.`,
    () =>
      `Bearer ${Buffer.from(JSON.stringify({ alg: r.pick(['none', 'HS256', 'HS384', 'RS256', 'ES256', 'XX']), kid: 'k1' })).toString('base64url')}.${p}.${s}`,
    () => `Bearer ${h}.${p}.${s}.${r.chars(B64URL, 5)}`,
    () => `Bearer ${'A'.repeat(r.int(8200, 12_000))}.${p}.${s}`,
    () => `Bearer`,
    () => r.chars(PRINTABLE, r.int(1, 100)).trim() || 'x',
  ];
  for (let i = 0; i < 120; i++) {
    const value = r.pick(values)();
    cases.push({
      name: `fhir Authorization #${i}: ${value.slice(0, 40)}`,
      method: 'get',
      url: r.pick(['/fhir/RiskAssessment', '/fhir/QuestionnaireResponse', '/fhir/Provenance']),
      headers: { Authorization: value },
    });
  }
  for (let i = 0; i < 60; i++) {
    const value = r.pick(values)();
    cases.push({
      name: `cds Authorization #${i}: ${value.slice(0, 40)}`,
      method: r.pick(['get', 'post'] as const),
      url: r.pick(['/cds-services', '/cds-services/calf-pain', '/cds-services/calf-pain/feedback']),
      headers: { Authorization: value, 'Content-Type': 'application/json' },
      body: '{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{}}',
    });
  }
  return cases;
}

function parameterCases(r: ReturnType<typeof prng>): Case[] {
  const cases: Case[] = [];
  const auth = { Authorization: `Bearer ${reader}` };
  const types = ['RiskAssessment', 'QuestionnaireResponse', 'Provenance'];
  const junk = () => encodeURIComponent(r.chars(PRINTABLE, r.int(1, 30)));
  const generators: (() => string)[] = [
    () => `zz${r.chars('abcdefghij', 5)}=${junk()}`,
    () => `_count=${r.pick(['-1', 'abc', '1e9', '1.5', '9'.repeat(16), ''])}`, // above the cap is clamped, not refused
    () => `_offset=${r.pick(['-5', 'x', '99999999999'])}`,
    () => `_sort=${r.pick(['zzz', '-', '-nope', ',,'])}`,
    () => `subject=${r.pick(['', 'Patient/', '/x', 'Patient/a/b/c', 'Patient/a b'])}`,
    () => `patient=${r.pick(['', 'Patient/', 'Patient/!', '/p1'])}`,
    () => `${r.pick(['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', '__proto__[x]'])}=1`,
    () => `date=${r.pick(['yesterday', 'zz2025', '2025-13-45', 'gt', 'xx2025-01-01'])}`,
    () => `_id=${r.pick(['a!b', '%00', 'x'.repeat(65), ''])}`,
    () => `status:${r.pick(['contains', 'exact', 'zz'])}=final`,
    () => `${r.chars('abc', 3)}:${r.chars('xyz', 3)}=1`,
  ];
  for (let i = 0; i < 120; i++) {
    const query = r.pick(generators)();
    cases.push({ name: `search ?${query}`, method: 'get', url: `/fhir/${r.pick(types)}?${query}`, headers: auth });
  }
  for (let i = 0; i < 30; i++) {
    const id = r.pick([
      `${r.chars('abc', 3)}!${r.chars('abc', 3)}`,
      'x'.repeat(r.int(65, 200)),
      `${r.chars('abc', 2)}%20${r.chars('abc', 2)}`,
      '%00',
      `a$b${r.int(0, 9)}`,
    ]);
    cases.push({ name: `read id ${id.slice(0, 30)}`, method: 'get', url: `/fhir/${r.pick(types)}/${id}`, headers: auth });
  }
  for (let i = 0; i < 20; i++) {
    const type = r.pick(['Patientx', 'riskassessment', 'Questionnaires', `Z${r.chars('abc', 6)}`, '..']);
    cases.push({ name: `unknown type ${type}`, method: 'get', url: `/fhir/${type}`, headers: auth });
  }
  return cases;
}

describe('fuzzed requests (AUTH_MODE=on)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createAuthTestApp({ now: NOW, baseUrl: BASE, trustedClientsFile: trusted.file, devClients: false });
  });
  afterAll(async () => {
    await t.store.close();
  });

  const counts = () => writtenCounts(t.store);

  it('answers every malformed request with a 4xx, stores nothing and keeps serving', async () => {
    const r = prng(20250314);
    const cases = [...bodyCases(r), ...headerCases(r), ...parameterCases(r)];
    expect(cases.length).toBeGreaterThanOrEqual(500);
    const before = await counts();
    const failures: string[] = [];

    for (const c of cases) {
      let req = c.method === 'get' ? request(t.app).get(c.url) : request(t.app).post(c.url);
      for (const [k, v] of Object.entries(c.headers)) req = req.set(k, v);
      const res = c.body !== undefined ? await req.send(c.body) : await req;
      const text = res.text ?? '';
      const problems: string[] = [];
      if (res.status < 400 || res.status > 499) problems.push(`status ${res.status}`);
      if (c.url.startsWith('/fhir') && res.body?.resourceType !== 'OperationOutcome') problems.push('not an OperationOutcome');
      // CDS refusals name the problem ({ error, message }) and never echo the credential sent.
      const credential = (c.headers.Authorization ?? c.headers.authorization ?? '').replace(/^\S+\s*/, '');
      const cdsBody = res.body as { error?: unknown; message?: unknown } | undefined;
      if (
        c.url.startsWith('/cds-services') &&
        (res.status !== 401 ||
          typeof cdsBody?.error !== 'string' ||
          typeof cdsBody?.message !== 'string' ||
          (credential.length > 3 && text.includes(credential)))
      ) {
        problems.push(`cds answer ${res.status} ${text.slice(0, 60)}`);
      }
      if (/\n\s+at |node_modules|\.ts:\d+/.test(text)) problems.push('stack trace in body');
      if (problems.length) failures.push(`${c.name}: ${problems.join(', ')}`);
    }

    expect(failures).toEqual([]);
    expect(await counts()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await request(t.app).get('/fhir/metadata').expect(200);
    await request(t.app).get('/fhir/RiskAssessment').set('Authorization', `Bearer ${reader}`).expect(200);
  });

  // Names that exist on every object (Object.prototype) must not be mistaken for supported types.
  it.each(['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf'])(
    'answers 4xx OperationOutcome for resource type "%s"',
    async (type) => {
      for (const url of [`/fhir/${type}`, `/fhir/${type}/1`, `/fhir/${type}/1/_history`, `/fhir/${type}/1/_history/1`]) {
        const res = await request(t.app).get(url).set('Authorization', `Bearer ${reader}`);
        expect({ url, status: res.status, resourceType: res.body?.resourceType }).toEqual({
          url,
          status: expect.any(Number),
          resourceType: 'OperationOutcome',
        });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
      }
    },
  );
});
