/**
 * What can be checked of the container deployment without a Docker engine: docker-compose.yml parses,
 * names only services, files and volumes that exist, runs two app replicas behind the load balancer;
 * the Dockerfile is multi-stage, non-root, with a HEALTHCHECK on /readyz; HAProxy accepts its config.
 * (The same topology runs for real, without containers, in ops-replicas.test.ts.)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { haproxyBinary } from './support/load-balancer';

const ROOT = path.join(__dirname, '..');

interface ComposeService {
  build?: string;
  image?: string;
  depends_on?: string[] | Record<string, unknown>;
  deploy?: { replicas?: number };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: unknown;
}

const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
/** Bind-mounted files the operator provides (their example is in the repository). */
const OPERATOR_FILES: Record<string, string> = { './config/trusted-clients.json': 'config/trusted-clients.example.json' };

describe('docker-compose.yml', () => {
  it('runs two app replicas on PostgreSQL and Redis behind the load balancer, which alone publishes a port', () => {
    const { app, lb, db, redis } = compose.services;
    expect(app.deploy?.replicas).toBe(2);
    expect(app.ports).toBeUndefined();
    expect(lb.ports).toEqual(['8080:8080']);
    expect(app.environment?.DATABASE_URL).toMatch(/^postgres:\/\/.*@db:5432\//);
    expect(app.environment?.RATE_LIMIT_STORE).toBe('redis://redis:6379');
    expect(app.environment?.NODE_ENV).toBe('production');
    expect(app.environment?.METRICS_PORT).toBeDefined();
    expect(db.volumes).toEqual(['db-data:/var/lib/postgresql/data']);
    expect(redis.image).toMatch(/^redis:/);
  });

  it('references only services, volumes and files that exist', () => {
    const names = new Set(Object.keys(compose.services));
    for (const [name, service] of Object.entries(compose.services)) {
      const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const dep of deps) expect(`${name} -> ${dep}: ${names.has(dep)}`).toBe(`${name} -> ${dep}: true`);
      if (service.build) expect(fs.existsSync(path.join(ROOT, service.build, 'Dockerfile'))).toBe(true);
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('.')) {
          const file = OPERATOR_FILES[source] ?? source;
          expect(`${source}: ${fs.existsSync(path.join(ROOT, file))}`).toBe(`${source}: true`);
        } else {
          expect(Object.keys(compose.volumes)).toContain(source);
        }
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

  it('builds in two stages, runs as a non-root user and checks readiness on /readyz', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK [^\n]*\\\n[^\n]*\/readyz/m);
  });

  it('copies only what exists', () => {
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of m[1].split(' ')) expect(`${source}: ${fs.existsSync(path.join(ROOT, source))}`).toBe(`${source}: true`);
    }
  });
});

describe('deploy/haproxy.cfg', () => {
  it('is accepted by HAProxy', () => {
    const out = execFileSync(haproxyBinary(), ['-c', '-f', path.join(ROOT, 'deploy', 'haproxy.cfg')], { encoding: 'utf8', stdio: 'pipe' });
    expect(out).toMatch(/valid/i);
  });
});
