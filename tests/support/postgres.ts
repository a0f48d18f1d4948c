import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Client } from 'pg';

/**
 * PostgreSQL for tests: TEST_POSTGRES_URL, else postgres://127.0.0.1:5432/test as the current OS
 * user and then as `postgres`. Tests never skip when it is missing: they fail with a message
 * saying how to point them at a server.
 */
export function postgresCandidates(): string[] {
  if (process.env.TEST_POSTGRES_URL) return [process.env.TEST_POSTGRES_URL];
  const users = [...new Set([process.env.PGUSER, os.userInfo().username, 'postgres'].filter(Boolean))] as string[];
  return users.map((user) => `postgres://${encodeURIComponent(user)}@127.0.0.1:5432/test`);
}

let reachable: Promise<string> | undefined;

/** The first candidate URL that accepts a connection (resolved once per test file). */
export function postgresUrl(): Promise<string> {
  reachable ??= (async () => {
    const failures: string[] = [];
    for (const url of postgresCandidates()) {
      const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return url;
      } catch (err) {
        failures.push(`${redact(url)}: ${(err as Error).message}`);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    throw new Error(
      `PostgreSQL is required by these tests and is not reachable.\n  ${failures.join('\n  ')}\n` +
        'Start PostgreSQL or set TEST_POSTGRES_URL=postgres://user@host:port/database.',
    );
  })();
  return reachable;
}

/**
 * Hands out unique schema names (the store creates them) and drops every one it handed out.
 * One schema per test keeps tests independent and lets test files run in parallel.
 */
export class TestSchemas {
  private readonly created: string[] = [];

  newName(prefix = 'test'): string {
    const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase();
    this.created.push(name);
    return name;
  }

  async dropAll(): Promise<void> {
    if (this.created.length === 0) return;
    const client = new Client({ connectionString: await postgresUrl() });
    await client.connect();
    try {
      for (const name of this.created.splice(0)) {
        if (!/^[a-z0-9_]+$/.test(name)) continue;
        await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      }
    } finally {
      await client.end();
    }
  }
}

function redact(url: string): string {
  return url.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:***@');
}
