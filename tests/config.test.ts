import path from 'node:path';
import { ConfigError, DEV_TRUSTED_CLIENTS_FILE, loadConfig } from '../src/config/config';

describe('configuration from the environment', () => {
  it('defaults to port 8080, SQLite under ./data, auth on with the development clients', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config.port).toBe(8080);
    expect(config.baseUrl).toBe('http://localhost:8080');
    expect(config.databaseUrl).toBe(`sqlite://${path.resolve('/srv/app', 'data', 'calf-pain.db')}`);
    expect(config.auth).toEqual({ mode: 'on', trustedClientsFile: DEV_TRUSTED_CLIENTS_FILE, devClients: true });
    expect(config.production).toBe(false);
  });

  it('takes BASE_URL without its trailing slash and resolves TRUSTED_CLIENTS_FILE', () => {
    const config = loadConfig(
      { BASE_URL: 'https://cds.hospital.example/', TRUSTED_CLIENTS_FILE: 'conf/clients.json', NODE_ENV: 'production' },
      '/srv/app',
    );
    expect(config.baseUrl).toBe('https://cds.hospital.example');
    expect(config.auth).toEqual({ mode: 'on', trustedClientsFile: '/srv/app/conf/clients.json', devClients: false });
  });

  it('lists every problem at once', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        PORT: 'eighty',
        BASE_URL: 'ftp://x',
        DATABASE_URL: 'mysql://db',
        LOG_LEVEL: 'loud',
        AUTH_MODE: 'maybe',
        CDS_SYSTEM_ACTIONS: 'perhaps',
        MAX_BODY_BYTES: '10',
      });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toHaveLength(7);
    expect(error!.message).toContain('PORT must be an integer');
    expect(error!.message).toContain('DATABASE_URL must be');
  });

  it('requires a trusted-clients file in production when auth is on, but not when it is off', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/TRUSTED_CLIENTS_FILE is required/);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_MODE: 'off' }).auth.mode).toBe('off');
  });

  it.each(['sqlite::memory:', 'sqlite:///var/lib/calf/db.sqlite', 'postgres://u:p@db:5432/calf', 'postgresql://db/calf?schema=cds'])(
    'accepts DATABASE_URL %s',
    (url) => {
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    },
  );
});
