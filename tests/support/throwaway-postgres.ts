/**
 * A PostgreSQL cluster of the test's own (initdb + pg_ctl as the `postgres` user, loopback only, in a
 * temporary folder), which the test may stop and start at will without disturbing the shared server.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ThrowawayPostgres {
  port: number;
  url: string;
  start(): void;
  /** Fast shutdown: connections are cut, as when a managed database fails over. */
  stop(): void;
  /** Stops it (if running) and deletes its folder. */
  destroy(): void;
}

/** The folder holding initdb and pg_ctl (PATH first, then Debian's versioned folders). */
function pgBin(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && fs.existsSync(path.join(dir, 'initdb'))) return dir;
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (fs.existsSync(path.join(base, v, 'bin', 'initdb'))) return path.join(base, v, 'bin');
  throw new Error('initdb not found: install PostgreSQL (Debian package postgresql)');
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL tool as the postgres user when we are root (initdb refuses root), else as ourselves. */
function run(command: string, args: string[]): void {
  const bin = path.join(pgBin(), command);
  if (asRoot) {
    const quoted = [bin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', quoted], { stdio: 'pipe', timeout: 60_000 });
  } else {
    execFileSync(bin, args, { stdio: 'pipe', timeout: 60_000 });
  }
}

export function createThrowawayPostgres(port: number): ThrowawayPostgres {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calf-pg-'));
  const data = path.join(dir, 'data');
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  fs.chmodSync(dir, 0o755);
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=50`;
  const cluster: ThrowawayPostgres = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', '-t', '30', 'start']),
    stop: () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']),
    destroy: () => {
      try {
        cluster.stop();
      } catch {
        // already stopped
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  cluster.start();
  return cluster;
}
