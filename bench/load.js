/**
 * Load for the benchmarks: one autocannon run of POSTs, and single-use ES384 client tokens signed
 * beforehand (the CDS Hooks sandbox's way), so signing costs nothing during a run.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const autocannon = require('autocannon');
const { ROOT } = require('./bodies');

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WARMUP_SECONDS = 2;

/** Single-use tokens for one service run, warm-up included, at up to 3,000 req/s. */
const tokensForRun = () => Math.ceil((SECONDS + WARMUP_SECONDS) * 3000);

/**
 * One autocannon run: POST bodies from `bodies` in turn, with per-request headers from `headersFor`
 * (e.g. a fresh token). Returns req/s, p50 and p99 latency in ms, and how many answers were not 2xx.
 */
async function load(targetPort, urlPath, bodies, { seconds = SECONDS, headersFor } = {}) {
  let i = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${targetPort}${urlPath}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: urlPath,
        setupRequest: (req) => {
          const body = bodies[i++ % bodies.length];
          return { ...req, body, headers: { ...req.headers, 'content-type': 'application/json', ...(headersFor ? headersFor() : {}) } };
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** `count` single-use ES384 client tokens for `audience`, signed with the development client's key. */
async function signTokens(count, audience) {
  const { importPKCS8, SignJWT } = await import('jose');
  const key = await importPKCS8(fs.readFileSync(path.join(ROOT, 'config', 'dev-keys', 'dev-client-es384.private.pem'), 'utf8'), 'ES384');
  const now = Math.floor(Date.now() / 1000);
  const tokens = [];
  const batch = 256;
  for (let i = 0; i < count; i += batch) {
    const signed = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: 'dev-client-es384-1' })
          .setIssuer('https://dev-client.calf-pain.example')
          .setSubject('bench')
          .setAudience(audience)
          .setIssuedAt(now)
          .setExpirationTime(now + 1800)
          .setJti(randomUUID())
          .sign(key),
      ),
    );
    tokens.push(...signed);
  }
  return tokens;
}

module.exports = { load, signTokens, tokensForRun, SECONDS, CONNECTIONS, WARMUP_SECONDS };
