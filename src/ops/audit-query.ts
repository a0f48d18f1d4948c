/**
 * Reading the audit trail back (operators; `npm run audit`): every replica's files in AUDIT_LOG_DIR,
 * filtered by patient, identity and time, oldest first.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AuditRecord } from './audit';

export interface AuditQuery {
  patient?: string;
  /** Token subject or issuer. */
  who?: string;
  /** ISO instants or dates, inclusive lower / exclusive upper bound. */
  since?: string;
  until?: string;
}

export async function queryAudit(dir: string, query: AuditQuery = {}): Promise<AuditRecord[]> {
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => /^audit-\d{4}-\d{2}-\d{2}\..+\.jsonl$/.test(n));
  const sinceDay = query.since?.slice(0, 10);
  const untilDay = query.until?.slice(0, 10);
  const out: AuditRecord[] = [];
  for (const name of names.sort()) {
    const day = name.slice(6, 16);
    if ((sinceDay && day < sinceDay) || (untilDay && day > untilDay)) continue;
    const text = await fs.readFile(path.join(dir, name), 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      let r: AuditRecord;
      try {
        r = JSON.parse(line) as AuditRecord;
      } catch {
        continue; // a line cut by a crash mid-write
      }
      if (query.patient && r.patient !== query.patient) continue;
      if (query.who && r.who?.subject !== query.who && r.who?.issuer !== query.who) continue;
      if (query.since && r.time < query.since) continue;
      if (query.until && r.time >= query.until) continue;
      out.push(r);
    }
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}
