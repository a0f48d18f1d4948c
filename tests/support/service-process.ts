/**
 * The service as a real child process (`node src/server.ts` through ts-register), plus a small HTTP
 * client that never throws on a status: for tests of what only a process shows (signals, several
 * replicas, a database going away).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

export function httpRequest(
  port: number,
  method: string,
  urlPath: string,
  options: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/fhir+json';
      headers['content-length'] = Buffer.byteLength(options.body);
    }
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          ms: Date.now() - started,
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  /** Everything the process wrote to stdout and stderr (its JSON log lines). */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

function newestMtime(entry: string): number {
  const stat = fs.statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(entry).map((name) => newestMtime(path.join(entry, name))));
}

/**
 * How to run the server: the built dist/ when it is newer than every source (npm ci builds it, so CI
 * starts fast), else straight from src/ through ts-register (slower: each file is transpiled on load).
 */
function serverCommand(): string[] {
  const stamp = path.join(ROOT, 'dist', '.build-stamp');
  const built = path.join(ROOT, 'dist', 'src', 'server.js');
  if (fs.existsSync(stamp) && fs.existsSync(built)) {
    const sources = ['src', 'package.json', 'package-lock.json', 'tsconfig.json']
      .map((p) => path.join(ROOT, p))
      .filter((p) => fs.existsSync(p));
    if (fs.statSync(stamp).mtimeMs >= Math.max(...sources.map(newestMtime))) return [built];
  }
  return ['-r', path.join(ROOT, 'tests', 'support', 'ts-register.js'), path.join(ROOT, 'src', 'server.ts')];
}

/** Starts the service and waits until /healthz answers (60 s at most: a start from src/ compiles TypeScript). */
export async function startService(port: number, env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, serverCommand(), {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'info', AUDIT_LOG_DIR: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}: ${output.slice(-2000)}`);
    const ok = await httpRequest(port, 'GET', '/healthz', { timeoutMs: 1000 }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { child, port, output: () => output, exited };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`service did not start: ${output.slice(-2000)}`);
}

/** Polls until check() is true (or throws after timeoutMs). */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function stopService(service: ServiceProcess | undefined): Promise<unknown> {
  if (!service || service.child.exitCode !== null || service.child.signalCode !== null) return Promise.resolve();
  service.child.kill('SIGKILL');
  return service.exited;
}
