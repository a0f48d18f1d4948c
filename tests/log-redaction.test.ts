/** Log redaction: credentials never reach the logs. */
import { Writable } from 'node:stream';
import pino from 'pino';
import { logRedaction } from '../src/http/middleware/log-redaction';

describe('log redaction', () => {
  it('keeps authorization headers and access tokens out of the logs', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ ...logRedaction() }, sink);
    logger.info(
      { req: { headers: { authorization: 'Bearer SECRET-JWT', cookie: 'sid=SECRET-COOKIE', accept: 'application/json' } } },
      'request',
    );
    logger.info({ body: { hook: 'patient-view', fhirAuthorization: { access_token: 'SECRET-AT', scope: 'x' } } }, 'cds');
    logger.info({ fhirAuthorization: { access_token: 'SECRET-AT2' } }, 'cds');
    logger.info({ access_token: 'SECRET-AT3', nested: { deeper: { access_token: 'SECRET-AT4' } } }, 'token');
    const out = lines.join('');
    expect(out).not.toMatch(/SECRET/);
    expect(out).toContain('application/json');
    expect(out).toContain('patient-view');
  });
});
