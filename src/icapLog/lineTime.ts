/**
 * Finding the time of a log line. Accepted forms (searched in the first {@link TIME_SEARCH_CHARS}
 * characters; the first form that matches wins, in this order):
 *  - ISO 8601 / SQL-like: `2024-05-01T10:00:00.123+03:00`, `2024-05-01T10:00:00Z`,
 *    `2024-05-01 10:00:00`, `2024-05-01 10:00:00,123`, `2024/05/01 10:00:00`
 *  - web-server / CLF: `[01/May/2024:10:00:00 +0300]`
 *  - ctime (c-icap): `Wed May  1 10:00:00 2024`
 *  - syslog: `May  1 10:00:00` (no year: `defaultYear`)
 *  - Russian-style: `01.05.2024 10:00:00`
 *  - epoch seconds at the very start of the line (Squid): `1714557600.123`
 * Times without a zone are taken at `zoneOffsetMinutes` east of UTC (default 0: read as UTC).
 */
export interface LineTime {
  /** Milliseconds since the epoch. */
  epochMs: number;
  /** ISO 8601 (UTC) form of epochMs. */
  iso: string;
  /** [start, end) in UTF-16 code units of the line text. */
  start: number;
  end: number;
  /** The line gave a zone (or was epoch seconds). */
  hasZone: boolean;
}

export interface TimeOptions {
  /** Minutes east of UTC for times written without a zone. Default 0. */
  zoneOffsetMinutes?: number;
  /** Year for syslog times, which have none. Default: the current year. */
  defaultYear?: number;
}

export const TIME_SEARCH_CHARS = 120;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MON = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';

const ISO_RE = /(?<!\d)(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:\s?(Z|[+-]\d{2}:?\d{2})(?![\d:]))?/;
const CLF_RE = new RegExp(`\\[(\\d{1,2})/${MON}/(\\d{4}):(\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))? ([+-]\\d{4})\\]`, 'i');
const CTIME_RE = new RegExp(`\\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MON} {1,2}(\\d{1,2}) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})\\b`);
const SYSLOG_RE = new RegExp(`(?<![\\w])${MON} {1,2}(\\d{1,2}) (\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))?(?![\\d:])`);
const RU_RE = /(?<![\d.])(\d{2})\.(\d{2})\.(\d{4})[ T](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?/;
const EPOCH_RE = /^\s*(\d{9,10})(?:\.(\d{1,9}))?(?![\d.:\-/])/;

function ms(frac: string | undefined): number {
  return frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
}

function zoneMinutes(z: string): number {
  if (z === 'Z') return 0;
  const sign = z[0] === '-' ? -1 : 1;
  const digits = z.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
}

function build(y: number, mo: number, d: number, h: number, mi: number, s: number, msec: number, offsetMin: number): number | undefined {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const v = Date.UTC(y, mo - 1, d, h, mi, s, msec) - offsetMin * 60_000;
  return Number.isFinite(v) ? v : undefined;
}

function result(epochMs: number | undefined, start: number, end: number, hasZone: boolean): LineTime | undefined {
  if (epochMs === undefined) return undefined;
  return { epochMs, iso: new Date(epochMs).toISOString(), start, end, hasZone };
}

/** The time of a log line, or undefined when none of the accepted forms is there. */
export function extractLineTime(line: string, opts: TimeOptions = {}): LineTime | undefined {
  const head = line.length > TIME_SEARCH_CHARS ? line.slice(0, TIME_SEARCH_CHARS) : line;
  const off = opts.zoneOffsetMinutes ?? 0;
  let m = ISO_RE.exec(head);
  if (m) {
    const z = m[8];
    const v = build(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0), ms(m[7]), z ? zoneMinutes(z) : off);
    const r = result(v, m.index, m.index + m[0].length, !!z);
    if (r) return r;
  }
  m = CLF_RE.exec(head);
  if (m) {
    const mo = MONTHS.indexOf(m[2]!.toLowerCase()) + 1;
    const r = result(build(+m[3]!, mo, +m[1]!, +m[4]!, +m[5]!, +m[6]!, ms(m[7]), zoneMinutes(m[8]!)), m.index, m.index + m[0].length, true);
    if (r) return r;
  }
  m = CTIME_RE.exec(head);
  if (m) {
    const mo = MONTHS.indexOf(m[1]!.toLowerCase()) + 1;
    const r = result(build(+m[6]!, mo, +m[2]!, +m[3]!, +m[4]!, +m[5]!, 0, off), m.index, m.index + m[0].length, false);
    if (r) return r;
  }
  m = SYSLOG_RE.exec(head);
  if (m) {
    const mo = MONTHS.indexOf(m[1]!.toLowerCase()) + 1;
    const year = opts.defaultYear ?? new Date().getUTCFullYear();
    const r = result(build(year, mo, +m[2]!, +m[3]!, +m[4]!, +m[5]!, ms(m[6]), off), m.index, m.index + m[0].length, false);
    if (r) return r;
  }
  m = RU_RE.exec(head);
  if (m) {
    const r = result(build(+m[3]!, +m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!, ms(m[7]), off), m.index, m.index + m[0].length, false);
    if (r) return r;
  }
  m = EPOCH_RE.exec(head);
  if (m) {
    const lead = m[0].length - m[0].trimStart().length;
    return result(Number(m[1]) * 1000 + ms(m[2]), m.index + lead, m.index + m[0].length, true);
  }
  return undefined;
}

/**
 * A time typed by the user (time-range filter): any form above, also a bare date
 * (`2024-05-01` = its midnight) or epoch milliseconds as digits; undefined when unreadable.
 */
export function parseTimeInput(text: string, opts: TimeOptions = {}): number | undefined {
  const s = text.trim();
  if (!s) return undefined;
  if (/^\d{12,14}$/.test(s)) return Number(s);
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (date) return build(+date[1]!, +date[2]!, +date[3]!, 0, 0, 0, 0, opts.zoneOffsetMinutes ?? 0);
  const found = extractLineTime(s, opts);
  return found && found.start === 0 && found.end === s.length ? found.epochMs : undefined;
}
