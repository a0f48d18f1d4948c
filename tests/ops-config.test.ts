/** The operations settings read from the environment: defaults, choices, and clear refusals. */
import { ConfigError, loadConfig } from '../src/config/config';
import { problemsThrown } from './support/problems';

const base = { TRUSTED_CLIENTS_FILE: '/srv/clients.json' };

function problems(env: Record<string, string>): string[] {
  return problemsThrown(() => loadConfig({ ...base, ...env }, '/srv/app'), ConfigError);
}

describe('operations configuration', () => {
  it('defaults to in-process rate limits, an audit trail under data/audit, open /metrics outside production only', () => {
    const dev = loadConfig(base, '/srv/app').ops!;
    expect(dev).toEqual(
      expect.objectContaining({
        rateLimitStore: 'memory',
        auditLogDir: '/srv/app/data/audit',
        auditRetentionDays: 400,
        metricsPublic: true,
        shutdownDrainMs: 0,
        shutdownGraceMs: 10_000,
        readyTimeoutMs: 1000,
      }),
    );
    expect(loadConfig({ ...base, NODE_ENV: 'production' }, '/srv/app').ops!.metricsPublic).toBe(false);
  });

  it('reads Redis, metrics, audit and shutdown settings', () => {
    const ops = loadConfig(
      {
        ...base,
        RATE_LIMIT_STORE: 'redis://redis:6379',
        METRICS_PORT: '9464',
        METRICS_HOST: '0.0.0.0',
        AUDIT_LOG_DIR: 'off',
        SHUTDOWN_DRAIN_MS: '5000',
        AUDIT_RETENTION_DAYS: '0',
      },
      '/srv/app',
    ).ops!;
    expect(ops).toEqual(
      expect.objectContaining({
        rateLimitStore: 'redis://redis:6379',
        metricsPort: 9464,
        metricsHost: '0.0.0.0',
        auditLogDir: undefined,
        shutdownDrainMs: 5000,
        auditRetentionDays: 0,
        metricsPublic: false,
      }),
    );
    expect(loadConfig({ ...base, METRICS_TOKEN: 'x'.repeat(20) }, '/srv/app').ops!.metricsPublic).toBe(false);
    expect(loadConfig({ ...base, TRUST_PROXY: 'loopback, 10.0.0.0/8' }, '/srv/app').ops!.trustProxy).toEqual(['loopback', '10.0.0.0/8']);
    expect(loadConfig({ ...base, TRUST_PROXY: '1' }, '/srv/app').ops!.trustProxy).toBe(1);
    expect(problems({ TRUST_PROXY: 'true' })).toEqual([expect.stringContaining('TRUST_PROXY must be')]);
  });

  it('refuses a store that is neither memory nor a Redis URL (hiding its password), a short metrics token and bad numbers', () => {
    const withPassword = { RATE_LIMIT_STORE: 'memcached://user:secret@host' };
    const found = problems({ ...withPassword, METRICS_TOKEN: 'short', METRICS_PORT: 'abc', SHUTDOWN_GRACE_MS: '-1' });
    expect(found).toEqual([
      expect.stringContaining('RATE_LIMIT_STORE must be memory or a redis://host:port URL'),
      'METRICS_TOKEN must be at least 16 characters',
      expect.stringContaining('METRICS_PORT must be an integer'),
      expect.stringContaining('SHUTDOWN_GRACE_MS must be an integer'),
    ]);
    expect(found.join('\n')).not.toContain('secret');
  });
});
