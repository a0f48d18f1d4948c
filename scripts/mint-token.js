#!/usr/bin/env node
/**
 * Mints a signed JWT with the DEVELOPMENT-ONLY key in config/dev-keys/ and prints it on stdout.
 * The issuer it signs for is trusted by config/trusted-clients.dev.json only.
 *
 *   npm run -s token -- --aud http://localhost:8080/cds-services
 *   npm run -s token -- --aud http://localhost:8080/fhir --scope "patient/QuestionnaireResponse.cr" --patient example
 *
 * CDS Hooks tokens are single-use (their jti is remembered until they expire): mint one per call.
 */
'use strict';
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { randomUUID } = require('node:crypto');

const DEFAULTS = {
  iss: 'https://dev-client.calf-pain.example',
  kid: 'dev-client-es384-1',
  key: path.join(__dirname, '..', 'config', 'dev-keys', 'dev-client-es384.private.pem'),
  aud: `${(process.env.BASE_URL || `http://localhost:${process.env.PORT || 8080}`).replace(/\/+$/, '')}/cds-services`,
  sub: 'dev-user',
  exp: '300',
};
const OPTIONS = ['aud', 'scope', 'patient', 'iss', 'sub', 'kid', 'key', 'exp', 'tenant', 'jku'];

const USAGE = `Usage: node scripts/mint-token.js [--aud URL] [--scope "s1 s2"] [--patient ID] [--iss ISS]
       [--sub SUB] [--tenant T] [--exp SECONDS] [--kid KID] [--key PEM_FILE] [--jku URL]
Defaults: --aud ${DEFAULTS.aud} --iss ${DEFAULTS.iss} --sub ${DEFAULTS.sub} --exp ${DEFAULTS.exp}
  CDS Hooks: --aud must be the exact endpoint URL called (e.g. ${DEFAULTS.aud}/calf-pain).
  FHIR API:  --aud <BASE_URL>/fhir with --scope (SMART v2, e.g. "system/*.rs") and --patient for patient scopes.`;

function parseArgs(argv) {
  const args = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return { help: true };
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!m || !OPTIONS.includes(m[1])) throw new Error(`unknown argument "${arg}"`);
    const value = m[2] !== undefined ? m[2] : argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    args[m[1]] = value;
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const lifetime = Number(args.exp);
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > 86400) throw new Error('--exp must be 1..86400 seconds');
  const { importPKCS8, SignJWT } = await import('jose');
  const key = await importPKCS8(readFileSync(args.key, 'utf8'), 'ES384');
  const claims = {};
  if (args.scope) claims.scope = args.scope;
  if (args.patient) claims.patient = args.patient;
  if (args.tenant) claims.tenant = args.tenant;
  const header = { alg: 'ES384', typ: 'JWT', kid: args.kid };
  if (args.jku) header.jku = args.jku;
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT(claims)
    .setProtectedHeader(header)
    .setIssuer(args.iss)
    .setSubject(args.sub)
    .setAudience(args.aud)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .setJti(randomUUID())
    .sign(key);
  process.stdout.write(`${jwt}\n`);
}

main().catch((e) => {
  console.error(`mint-token: ${e.message}\n${USAGE}`);
  process.exit(1);
});
