import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';

/**
 * The access log line of a request: who asked for what and the answer, nothing else (headers, which
 * carry credentials, and bodies never reach it; the id ties it to the request's other lines).
 */
export const ACCESS_LOG_SERIALIZERS = {
  req: (req: { id?: unknown; method?: string; url?: string; originalUrl?: string; socket?: { remoteAddress?: string } }) => ({
    id: req.id,
    method: req.method,
    url: req.originalUrl ?? req.url,
    remoteAddress: req.socket?.remoteAddress,
  }),
  res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
};

/**
 * One access line per request (method, url, status, time, request id); headers and bodies, which
 * carry credentials, are never logged. Health probes are not logged. A CDS call adds what it answered
 * (res.locals.cds: service, hookInstance, card kinds) to its access line: one line per call.
 * The access line holds only the fields above, so it needs no redaction pass. Mount after requestId():
 * the line's req.id is the request's X-Request-Id.
 */
export function accessLog(logger: Logger): RequestHandler {
  return pinoHttp({
    logger: logger.child({}, { redact: [] }),
    genReqId: (req) => (req as { id?: string }).id ?? '',
    serializers: ACCESS_LOG_SERIALIZERS,
    wrapSerializers: false,
    customSuccessObject: (_req, res, value: Record<string, unknown>) => {
      const cds: unknown = res.locals?.cds;
      return cds ? { ...value, cds } : value;
    },
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
  });
}
