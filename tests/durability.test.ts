/**
 * Acknowledged writes survive the process being killed (SIGKILL, no shutdown): the service runs in a
 * child process on a real database, many creates are sent at once, the process is killed while they are
 * in flight, restarted, and every create that was answered 201 must be readable with its RiskAssessment.
 * SQLite runs with synchronous=FULL and PostgreSQL with synchronous_commit on, so what survives a kill
 * also survives a power cut; a kill is what a test can do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { buildResponse } from './support/build-response';
import { postgresUrl } from './support/postgres';

const ROOT = path.join(__dirname, '..');

function request(port: number, method: string, urlPath: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        headers: body ? { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function start(port: number, databaseUrl: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['-r', path.join(ROOT, 'tests', 'support', 'ts-register.js'), path.join(ROOT, 'src', 'server.ts')],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        DATABASE_URL: databaseUrl,
        AUTH_MODE: 'off',
        LOG_LEVEL: 'silent',
        RATE_LIMIT_PER_MINUTE: '1000000',
      },
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
    const ok = await request(port, 'GET', '/fhir/metadata').then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('service did not start');
}

/** Sends `total` creates, 32 at a time, and kills the service with SIGKILL after `killAfter` answers. */
async function createThenKill(port: number, child: ChildProcess, total: number, killAfter: number): Promise<string[]> {
  const acknowledged: string[] = [];
  let sent = 0;
  let answered = 0;
  const worker = async () => {
    while (sent < total && child.exitCode === null) {
      const n = sent++;
      const body = JSON.stringify(
        buildResponse(
          { 'wells-active-cancer': n % 2 === 0, 'wells-previous-dvt': true },
          { subject: `Patient/kill-${n}`, authored: new Date().toISOString() },
        ),
      );
      try {
        const res = await request(port, 'POST', '/fhir/QuestionnaireResponse', body);
        if (res.status === 201) acknowledged.push(JSON.parse(res.body).id);
      } catch {
        // The connection died with the process: not acknowledged.
      }
      if (++answered === killAfter) child.kill('SIGKILL');
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
  return acknowledged;
}

async function expectAllStored(port: number, ids: string[]): Promise<void> {
  const missing: string[] = [];
  for (const id of ids) {
    const qr = await request(port, 'GET', `/fhir/QuestionnaireResponse/${id}`);
    const ra = await request(port, 'GET', `/fhir/RiskAssessment?basis=QuestionnaireResponse/${id}`);
    const assessments = ra.status === 200 ? (JSON.parse(ra.body).total as number) : -1;
    if (qr.status !== 200 || assessments !== 1) missing.push(`${id} (read ${qr.status}, assessments ${assessments})`);
  }
  expect(missing).toEqual([]);
}

const port = () => 20000 + Math.floor(Math.random() * 20000);

/** Creates, SIGKILL while they are in flight, restart on the same database, every acknowledged one read back. */
async function survivesKill(databaseUrl: string, cleanUp: () => Promise<void>): Promise<void> {
  const p1 = port();
  const acknowledged = await createThenKill(p1, await start(p1, databaseUrl), 240, 80);
  expect(acknowledged.length).toBeGreaterThanOrEqual(50);
  const p2 = port();
  const again = await start(p2, databaseUrl);
  try {
    await expectAllStored(p2, acknowledged);
  } finally {
    again.kill('SIGKILL');
    await cleanUp();
  }
}

describe('acknowledged creates survive SIGKILL', () => {
  jest.setTimeout(180_000);

  it('on SQLite', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calf-kill-'));
    await survivesKill(`sqlite://${dir}/kill.db`, async () => fs.rmSync(dir, { recursive: true, force: true }));
  });

  it('on PostgreSQL', async () => {
    const base = await postgresUrl();
    const schema = `kill_${Date.now().toString(36)}`;
    await survivesKill(`${base}?schema=${schema}`, async () => {
      const client = new Client({ connectionString: base });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    });
  });
});
