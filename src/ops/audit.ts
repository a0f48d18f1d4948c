/**
 * Audit trail: one JSON line per FHIR interaction and CDS Hooks call — who (token issuer and subject),
 * what (interaction, resource type and id, patient), when, outcome, request id. Never the token, never
 * a body or an answer.
 *
 * Cheap on the hot path: a request only pushes a small object onto an in-memory buffer when its
 * response finishes; a timer appends the buffer to the day's file and fsyncs it (one write and one
 * fsync per AUDIT_FLUSH_MS, not per request). Graceful shutdown flushes what is left; a kill -9 can lose
 * at most the last flush interval of audit lines (never a clinical write: those are in the database).
 *
 * Files: `<AUDIT_LOG_DIR>/audit-YYYY-MM-DD.<instance>.jsonl` (UTC day; the instance is host + pid, so
 * replicas sharing a volume never interleave writes). Files older than AUDIT_RETENTION_DAYS are
 * deleted at start and once a day. `npm run audit -- --patient <id>` queries them (scripts/audit.js).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { FHIR_ID, FHIR_ID_SOURCE } from '../core/ids';

export interface AuditRecord {
  /** ISO instant the response finished. */
  time: string;
  requestId?: string;
  surface: 'fhir' | 'cds-hooks';
  /** read, vread, search, history, create, update, patch, delete, operation, batch, capabilities; hook:<service>, feedback, discovery. */
  action: string;
  /** Verified token identity; absent when the request carried no valid token (a refusal) or AUTH_MODE=off. */
  who?: { issuer: string; subject?: string };
  resourceType?: string;
  id?: string;
  /** Patient id the request was about, when known (path, search parameter, body or the resource returned). */
  patient?: string;
  method: string;
  status: number;
  outcome: 'success' | 'failure';
}

export interface AuditOptions {
  dir: string;
  retentionDays: number;
  logger: Logger;
  /** Flush interval in milliseconds (default 200). */
  flushMs?: number;
  now?: () => Date;
  /** Distinguishes this process's files (default host-pid). */
  instance?: string;
}

export interface AuditTrail {
  /** Records every request of a surface when its response finishes. Mount before authentication. */
  middleware(surface: AuditRecord['surface']): RequestHandler;
  /** Writes what is buffered now. */
  flush(): Promise<void>;
  /** Flushes and stops the timers. */
  close(): Promise<void>;
}

const PATIENT_REF = new RegExp(String.raw`"(?:subject|patient)"\s*:\s*\{[^{}]*?"reference"\s*:\s*"(?:[^"]*/)?Patient/(${FHIR_ID_SOURCE})"`);
const PATIENT_OR_ID = new RegExp(`^(?:.*/)?(?:Patient/)?(${FHIR_ID_SOURCE})$`);

function patientFromReference(value: unknown): string | undefined {
  const ref: unknown = Array.isArray(value) ? value[0] : value;
  if (typeof ref !== 'string') return undefined;
  const m = PATIENT_OR_ID.exec(ref);
  return m ? m[1] : undefined;
}

/** Interaction, type, id of a FHIR request path relative to /fhir. */
export function describeFhirRequest(method: string, relativePath: string): Pick<AuditRecord, 'action' | 'resourceType' | 'id'> {
  const parts = relativePath.split('?')[0].split('/').filter(Boolean);
  const [type, second, third] = parts;
  if (!type) return { action: method === 'POST' ? 'batch' : 'system' };
  if (type === 'metadata') return { action: 'capabilities' };
  if (type.startsWith('$')) return { action: 'operation' };
  if (type === '_history') return { action: 'history' };
  const resourceType = /^[A-Z][A-Za-z]{1,63}$/.test(type) ? type : undefined;
  const id = second && FHIR_ID.test(second) && !second.startsWith('_') ? second : undefined;
  let action: string;
  if (parts.some((p) => p.startsWith('$'))) action = 'operation';
  else if (second === '_search' || (!second && method === 'GET')) action = 'search';
  else if (second === '_history' || third === '_history') action = parts.length === 5 ? 'vread' : 'history';
  else if (!second && method === 'POST') action = 'create';
  else if (method === 'GET' || method === 'HEAD') action = 'read';
  else if (method === 'PUT') action = 'update';
  else if (method === 'PATCH') action = 'patch';
  else if (method === 'DELETE') action = 'delete';
  else action = method.toLowerCase();
  return { action, ...(resourceType ? { resourceType } : {}), ...(id ? { id } : {}) };
}

function who(res: Response): AuditRecord['who'] {
  const identity = (res.locals.access ?? res.locals.cdsClient) as { issuer?: string; subject?: string } | undefined;
  if (!identity?.issuer) return undefined;
  return { issuer: identity.issuer, ...(identity.subject ? { subject: identity.subject } : {}) };
}

/** Patient named by a FHIR request or found in the single resource it returned. */
function fhirPatient(req: Request, described: ReturnType<typeof describeFhirRequest>, sent: string | undefined): string | undefined {
  if (described.resourceType === 'Patient' && described.id) return described.id;
  const query = req.query as Record<string, unknown>;
  const fromQuery = patientFromReference(query.patient ?? query.subject ?? query['subject:Patient']);
  if (fromQuery) return fromQuery;
  const body = req.body as { resourceType?: unknown; subject?: { reference?: unknown }; patient?: { reference?: unknown } } | undefined;
  if (body && typeof body === 'object' && typeof body.resourceType === 'string') {
    const fromBody = patientFromReference(body.subject?.reference ?? body.patient?.reference);
    if (fromBody) return fromBody;
  }
  if (sent) return PATIENT_REF.exec(sent)?.[1];
  return undefined;
}

export function createAuditTrail(options: AuditOptions): AuditTrail {
  const { dir, retentionDays, logger } = options;
  const now = options.now ?? (() => new Date());
  const instance = (options.instance ?? `${os.hostname()}-${process.pid}`).replace(/[^A-Za-z0-9._-]/g, '_');
  let buffer: string[] = [];
  let writing: Promise<void> = Promise.resolve();
  let dirReady: Promise<unknown> | undefined;
  let failedOnce = false;

  const write = async (lines: string[]): Promise<void> => {
    dirReady ??= fs.mkdir(dir, { recursive: true, mode: 0o750 });
    await dirReady;
    // Records are grouped by the UTC day of their time (the first 10 characters of the line's time).
    const byDay = new Map<string, string[]>();
    for (const line of lines) {
      const day = line.slice(9, 19);
      const list = byDay.get(day) ?? [];
      list.push(line);
      byDay.set(day, list);
    }
    for (const [day, dayLines] of byDay) {
      const handle = await fs.open(path.join(dir, `audit-${day}.${instance}.jsonl`), 'a', 0o640);
      try {
        await handle.write(dayLines.join(''));
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }
  };

  const flush = (): Promise<void> => {
    if (buffer.length === 0) return writing;
    const lines = buffer;
    buffer = [];
    writing = writing.then(() =>
      write(lines).catch((err: Error) => {
        // The audit trail must not take the clinical service down; the operator is told loudly.
        if (!failedOnce) logger.error({ err: { message: err.message }, dir }, 'audit trail could not be written');
        failedOnce = true;
      }),
    );
    return writing;
  };

  const purge = async (): Promise<void> => {
    if (retentionDays <= 0) return;
    const cutoff = new Date(now().getTime() - retentionDays * 86_400_000).toISOString().slice(0, 10);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const m = /^audit-(\d{4}-\d{2}-\d{2})\./.exec(name);
      if (m && m[1] < cutoff) await fs.unlink(path.join(dir, name)).catch(() => undefined);
    }
  };

  const flushTimer = setInterval(() => void flush(), options.flushMs ?? 200);
  flushTimer.unref();
  void purge();
  const purgeTimer = setInterval(() => void purge(), 86_400_000);
  purgeTimer.unref();

  const record = (entry: AuditRecord) => {
    // `time` first: the writer reads the day from the line's fixed prefix {"time":"YYYY-MM-DD...
    buffer.push(`${JSON.stringify(entry)}\n`);
  };

  return {
    middleware(surface) {
      return (req, res, next) => {
        if (req.method === 'OPTIONS') return next();
        const started = req.originalUrl;
        let sent: string | undefined;
        if (surface === 'fhir') {
          // Single resources only (a read's patient is in what it returns); bundles name theirs in the query.
          const send = res.send.bind(res);
          res.send = (body?: unknown) => {
            if (typeof body === 'string' && body.length < 1_000_000 && !body.startsWith('{"resourceType":"Bundle"')) sent = body;
            return send(body);
          };
        }
        res.on('finish', () => {
          const status = res.statusCode;
          const base = {
            time: now().toISOString(),
            ...(res.locals.requestId ? { requestId: String(res.locals.requestId) } : {}),
            surface,
          };
          const identity = who(res);
          let entry: AuditRecord;
          if (surface === 'fhir') {
            const relative = started.replace(/^\/fhir/, '');
            const described = describeFhirRequest(req.method, relative);
            const patient = fhirPatient(req, described, sent);
            entry = {
              ...base,
              ...described,
              ...(identity ? { who: identity } : {}),
              ...(patient ? { patient } : {}),
              method: req.method,
              status,
              outcome: status < 400 ? 'success' : 'failure',
            };
          } else {
            const segments = started
              .split('?')[0]
              .replace(/^\/cds-services/, '')
              .split('/')
              .filter(Boolean);
            const action = segments.length === 0 ? 'discovery' : segments[1] === 'feedback' ? 'feedback' : `hook:${segments[0]}`;
            const ctx = (req.body as { context?: { patientId?: unknown } } | undefined)?.context;
            const patient = typeof ctx?.patientId === 'string' && FHIR_ID.test(ctx.patientId) ? ctx.patientId : undefined;
            entry = {
              ...base,
              action,
              ...(identity ? { who: identity } : {}),
              ...(patient ? { patient } : {}),
              method: req.method,
              status,
              outcome: status < 400 ? 'success' : 'failure',
            };
          }
          record(entry);
        });
        next();
      };
    },
    flush,
    async close() {
      clearInterval(flushTimer);
      clearInterval(purgeTimer);
      await flush();
    },
  };
}
