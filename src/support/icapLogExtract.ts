import { extractLineTime } from '../icapLog/lineTime';
import { PROBE_HOST } from '../icap/probeMarker';
import type { HostAccess } from './hostAccess';
import type { IcapLogEvidence } from './evidenceSummary';

/**
 * The part of KATA's preprocessor_icap.log a support request carries: the whole log when it is
 * small, otherwise the lines of the problem's time (found by a binary search on the line times,
 * so a log of gigabytes on a Central Node costs a few small reads), otherwise its end. Read where
 * the log is (this computer or the Central Node), as root when only root may read it.
 */

/** At most this much of the log goes into the bundle. */
export const ICAP_LOG_LIMIT = 2 * 1024 * 1024;
/** Lines this long before and after the problem's time are included too. */
export const WINDOW_MARGIN_MS = 15 * 60_000;
const PROBE_BYTES = 64 * 1024;
const READ_BYTES = 256 * 1024;

export interface TimeWindow {
  fromMs: number;
  toMs: number;
}

/** "UTC+3", "GMT-04:30", "UTC" in the text: minutes east of UTC. */
function zoneIn(text: string): number | undefined {
  const m = /\b(?:UTC|GMT)\s*(?:([+-])\s*(\d{1,2})(?::?(\d{2}))?)?(?![\w+-])/i.exec(text);
  if (!m) return undefined;
  if (!m[1]) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
}

/**
 * The time range a person wrote in "Date and time of the problem" ("2024-05-01 10:00–10:30
 * UTC+3", "01.05.2024 10:00 - 01.05.2024 12:00", the prefilled "2024-05-01T10:00:00.000Z –
 * 2024-05-01T10:30:00.000Z (3 errors…)"): the first date and time, and a second one (or a bare
 * "HH:MM" after a dash, on the same day). A zone written in the text wins; otherwise
 * `zoneOffsetMinutes` (the Central Node's). Undefined when no date and time can be read.
 */
export function parseProblemWindow(text: string, zoneOffsetMinutes = 0): TimeWindow | undefined {
  const zone = zoneIn(text) ?? zoneOffsetMinutes;
  const times: number[] = [];
  let rest = text;
  let afterFirst = '';
  while (times.length < 2 && rest) {
    const found = extractLineTime(rest, { zoneOffsetMinutes: zone });
    if (!found) break;
    times.push(found.epochMs);
    rest = rest.slice(found.end);
    if (times.length === 1) afterFirst = rest;
  }
  if (!times.length) return undefined;
  if (times.length === 1) {
    const short = /^\s*(?:[-–—]|to|до|по)\s*(\d{1,2}):(\d{2})(?::(\d{2}))?(?!\d)/i.exec(afterFirst);
    if (short) {
      const day = new Date(times[0]! + zone * 60_000);
      const second = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), Number(short[1]), Number(short[2]), Number(short[3] ?? 0)) - zone * 60_000;
      if (Number.isFinite(second)) times.push(second < times[0]! ? second + 86_400_000 : second);
    }
  }
  const [a, b = a] = times as [number, number?];
  return { fromMs: Math.min(a, b!), toMs: Math.max(a, b!) };
}

/** The host's UTC offset in minutes (`date +%z`), for log lines written without a zone. */
export async function hostZoneOffset(host: HostAccess): Promise<number> {
  const r = await host.exec(['/bin/date', '+%z']).catch(() => undefined);
  const m = /^([+-])(\d{2})(\d{2})$/.exec(r?.stdout.toString('utf8').trim() ?? '');
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

/** Random-access reads of one file on the host: as the user, or (once refused) as root through dd. */
class HostFile {
  private asRoot = false;
  constructor(
    private readonly host: HostAccess,
    readonly path: string,
  ) {}

  async size(): Promise<number | undefined> {
    const st = await this.host.stat(this.path);
    if (st?.type === 'file') return st.size;
    const r = await this.host.exec(['/usr/bin/stat', '-L', '-c', '%s', '--', this.path], { root: true }).catch(() => undefined);
    const n = Number(r?.code === 0 ? r.stdout.toString('utf8').trim() : NaN);
    if (!Number.isFinite(n)) return undefined;
    this.asRoot = true;
    return n;
  }

  async read(start: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    if (!this.asRoot) {
      try {
        return await this.readAsUser(start, length);
      } catch {
        this.asRoot = true;
      }
    }
    const r = await this.host.exec(['/bin/dd', `if=${this.path}`, 'bs=65536', `skip=${start}`, `count=${length}`, 'iflag=skip_bytes,count_bytes', 'status=none'], { root: true });
    if (r.code !== 0) throw new Error(r.stderr.toString('utf8').trim() || `dd exit code ${String(r.code)}`);
    return r.stdout.subarray(0, length);
  }

  private readAsUser(start: number, length: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const stream = this.host.read(this.path, start);
      const done = () => {
        stream.removeAllListeners('data');
        stream.destroy();
        const all = Buffer.concat(chunks);
        resolve(all.subarray(0, length));
      };
      stream.on('data', (d: Buffer) => {
        chunks.push(d);
        got += d.length;
        if (got >= length) done();
      });
      stream.once('end', done);
      stream.once('error', reject);
    });
  }
}

/** Lines of a buffer read from `offset`: the first partial line is dropped unless offset is 0. */
function linesOf(buf: Buffer, offset: number): { lines: Array<{ text: string; start: number; end: number }>; rest: number } {
  const lines: Array<{ text: string; start: number; end: number }> = [];
  let i = 0;
  if (offset > 0) {
    const nl = buf.indexOf(0x0a);
    if (nl < 0) return { lines, rest: offset + buf.length };
    i = nl + 1;
  }
  for (;;) {
    const nl = buf.indexOf(0x0a, i);
    if (nl < 0) break;
    lines.push({ text: buf.subarray(i, nl).toString('utf8').replace(/\r$/, ''), start: offset + i, end: offset + nl + 1 });
    i = nl + 1;
  }
  return { lines, rest: offset + i };
}

/** The first line time at or after byte `pos`. */
async function timeAt(file: HostFile, pos: number, zone: number): Promise<number | undefined> {
  const { lines } = linesOf(await file.read(pos, PROBE_BYTES), pos);
  for (const l of lines) {
    const tm = extractLineTime(l.text, { zoneOffsetMinutes: zone });
    if (tm) return tm.epochMs;
  }
  return undefined;
}

/** What the extracted lines say: their times, transactions per mode, verdicts, the probe's lines. */
export function describeLogLines(text: string, zone = 0): Pick<IcapLogEvidence, 'lines' | 'firstTime' | 'lastTime' | 'accepted' | 'verdicts' | 'probeLines'> {
  const accepted: Record<string, number> = {};
  const verdicts: Record<string, number> = {};
  let lines = 0;
  let probeLines = 0;
  let first: number | undefined;
  let last: number | undefined;
  for (const line of text.split('\n')) {
    if (!line) continue;
    lines++;
    const tm = extractLineTime(line, { zoneOffsetMinutes: zone });
    if (tm) {
      first ??= tm.epochMs;
      last = tm.epochMs;
    }
    const mode = /\b(monitoring|blocking_simple|blocking_advanced) mode\b/.exec(line);
    if (mode && /\baccepted\b/i.test(line)) accepted[mode[1]!] = (accepted[mode[1]!] ?? 0) + 1;
    const verdict = /\bverdict[=:]\s*"?([A-Za-z_-]+)/i.exec(line);
    if (verdict) verdicts[verdict[1]!.toLowerCase()] = (verdicts[verdict[1]!.toLowerCase()] ?? 0) + 1;
    if (line.includes(PROBE_HOST)) probeLines++;
  }
  return { lines, ...(first !== undefined && { firstTime: new Date(first).toISOString() }), ...(last !== undefined && { lastTime: new Date(last).toISOString() }), accepted, verdicts, probeLines };
}

export type IcapLogPart = Omit<IcapLogEvidence, 'entry'> & { text: string };

/**
 * Reads the part of the log described above. Undefined when the log cannot be found or read
 * (the caller says so in the summary).
 */
export async function extractIcapLog(host: HostAccess, path: string, opts: { window?: TimeWindow; limit?: number; zoneOffsetMinutes?: number } = {}): Promise<IcapLogPart | undefined> {
  const limit = opts.limit ?? ICAP_LOG_LIMIT;
  const zone = opts.zoneOffsetMinutes ?? 0;
  const file = new HostFile(host, path);
  const size = await file.size();
  if (size === undefined) return undefined;
  const part = (text: string, extent: IcapLogEvidence['extent'], extra: Partial<IcapLogEvidence> = {}): IcapLogPart => ({
    text,
    path,
    extent,
    bytes: Buffer.byteLength(text),
    totalBytes: size,
    ...describeLogLines(text, zone),
    ...extra,
  });
  if (size <= limit) return part((await file.read(0, size)).toString('utf8'), 'whole');

  const tail = async (): Promise<string> => {
    const start = size - limit;
    const { lines } = linesOf(await file.read(start, limit), start);
    return lines.map((l) => l.text).join('\n') + (lines.length ? '\n' : '');
  };
  if (!opts.window) return part(await tail(), 'tail');

  const from = opts.window.fromMs - WINDOW_MARGIN_MS;
  const to = opts.window.toMs + WINDOW_MARGIN_MS;
  const window = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  // The last place whose first line is still before the window, to within one probe read.
  let lo = 0;
  let hi = size;
  while (hi - lo > PROBE_BYTES) {
    const mid = Math.floor((lo + hi) / 2);
    const tm = await timeAt(file, mid, zone);
    if (tm === undefined || tm < from) lo = mid;
    else hi = mid;
  }
  const kept: string[] = [];
  let keptBytes = 0;
  let inside = false;
  let pos = lo;
  let first = true;
  scan: while (pos < size && keptBytes < limit) {
    const buf = await file.read(pos, READ_BYTES);
    if (!buf.length) break;
    const { lines, rest } = linesOf(buf, first ? pos : 0);
    const base = first ? 0 : pos;
    first = false;
    for (const l of lines) {
      const tm = extractLineTime(l.text, { zoneOffsetMinutes: zone });
      if (tm) {
        if (tm.epochMs > to) break scan;
        inside = tm.epochMs >= from;
      }
      // A line without a time (a continuation) belongs with the line before it.
      if (!inside) continue;
      if (keptBytes + l.text.length + 1 > limit) break scan;
      kept.push(l.text);
      keptBytes += Buffer.byteLength(l.text) + 1;
    }
    const next = base + rest;
    if (next <= pos) break; // one line longer than a read: give up on it
    pos = next;
  }
  if (!kept.length) return part(await tail(), 'tail', { window, windowEmpty: true });
  return part(kept.join('\n') + '\n', 'window', { window });
}
