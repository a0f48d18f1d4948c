import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/** The request fields of the access line: who asked for what (headers and bodies, which carry credentials, never). */
interface AccessLine {
  req: { id: unknown; method: string; url: string; remoteAddress: string | undefined };
  res: { statusCode: number };
  responseTime: number;
  cds?: unknown;
  err?: { type: string; message: string };
  aborted?: true;
}

/** Paths that are never logged: the load balancer's probes. */
const UNLOGGED = new Set(['/healthz', '/readyz']);

/**
 * One access line per request (method, url, status, time in ms, request id); headers and bodies, which
 * carry credentials, are never logged. Health probes are not logged. A CDS call adds what it answered
 * (res.locals.cds: service, hookInstance, card kinds) to its access line: one line per call. A 5xx
 * answer is logged at error level ("request errored"); a connection the client closed before the answer
 * was sent at warn level ("request aborted"). Mount after requestId(): req.id is the X-Request-Id.
 *
 * One pino call when the response finishes, and nothing allocated before it: this runs on every
 * request, the CDS hook included. The line holds only the fields above, so it needs no redaction pass.
 */
export function accessLog(logger: Logger): RequestHandler {
  const log = logger.child({}, { redact: [] });
  return (req, res, next) => {
    if (UNLOGGED.has(req.url)) return next();
    const started = Date.now();
    const done = (): void => {
      res.removeListener('finish', done);
      res.removeListener('close', done);
      const line: AccessLine = {
        req: { id: (req as { id?: unknown }).id, method: req.method, url: req.originalUrl, remoteAddress: req.socket?.remoteAddress },
        res: { statusCode: res.statusCode },
        responseTime: Date.now() - started,
      };
      const cds: unknown = res.locals?.cds;
      if (cds) line.cds = cds;
      if (!res.writableFinished) {
        line.aborted = true;
        log.warn(line, 'request aborted');
      } else if (res.statusCode >= 500) {
        line.err = { type: 'Error', message: `failed with status code ${res.statusCode}` };
        log.error(line, 'request errored');
      } else {
        log.info(line, 'request completed');
      }
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
