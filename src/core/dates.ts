/**
 * FHIR date/dateTime/instant values as half-open instant ranges [lo, hi), for indexing and for
 * search comparisons. A value without a time zone is taken as UTC (the server's documented choice).
 */
export interface InstantRange {
  lo: string;
  hi: string;
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export function parseDateRange(value: string): InstantRange | undefined {
  const m = DATE_RE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) : undefined;
  const day = d ? Number(d) : undefined;
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate())) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59))) return undefined;

  const offsetMinutes = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) : 0;
  const start =
    Date.UTC(
      year,
      (month ?? 1) - 1,
      day ?? 1,
      Number(h ?? 0),
      Number(mi ?? 0),
      Number(s ?? 0),
      frac ? Math.floor(Number(frac) * 1000) : 0,
    ) -
    offsetMinutes * 60_000;
  let end: number;
  if (month === undefined) end = Date.UTC(year + 1, 0, 1);
  else if (day === undefined) end = Date.UTC(year, month, 1);
  else if (h === undefined) end = Date.UTC(year, month - 1, day + 1);
  else if (s === undefined) end = start + 60_000;
  else if (!frac) end = start + 1000;
  else end = start + 1;
  const startDate = new Date(start);
  if (Number.isNaN(startDate.getTime()) || year < 1) return undefined;
  return { lo: startDate.toISOString(), hi: new Date(end).toISOString() };
}
