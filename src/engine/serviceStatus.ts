import { open, opendir, readFile } from 'node:fs/promises';
import type { KdsConfig, ShareConfig } from './config';
import { partialPrefix } from './delivery';
import { parseExcludeList } from './excludes';
import { errText } from './folderHealth';
import { listInput } from './inputListing';
import { type ScanEntry, readJournal } from './journal';
import { defaultShareName } from './shareName';

/**
 * What `kds status --json` prints: the service's files in progress, skipped and recently routed,
 * and one summary per share. Read from the journal, the folders and the log without disturbing a
 * running service; the fleet view (another machine, over SSH) reads exactly this.
 *
 * Compatibility: `pending`, `skipped`, `recent` and `inputError` are what a one-share service
 * always printed (each row now also names its share); `shares` and `lastError` are new, and a
 * one-share configuration has one share named `default`.
 */
export interface ServiceStatus {
  pending: Array<{ share: string; file: string; scanId: string; stage: PendingStage; state?: string; since: string }>;
  skipped: Array<{ share: string; file: string; reason: string }>;
  recent: Array<{ share: string; file: string; verdict?: string; destination?: string; size: number; sha256?: string; at: string }>;
  /** Why the first share's input could not be listed (the key a one-share status always had). */
  inputError?: string;
  shares: ShareStatus[];
  /** The service's last warning or error in its log that names no share (KATA, the certificate…). */
  lastError: LoggedProblem | null;
}

export type PendingStage = 'verdict received, moving' | 'with KATA' | 'uploading';

export interface ShareStatus {
  name: string;
  in_dir: string;
  out_dir: string;
  qrnt_dir: string;
  exclude_list: string;
  /** Files in input that will be (or are being) scanned: everything there but the skipped. */
  waiting: number;
  /** Of those, the ones KATA has, or whose verdict is being acted on (from the journal). */
  pending: number;
  /** Files left in input for good: excluded, too large, not regular files. */
  skipped: number;
  /** Files moved to output and to quarantine since local midnight, from the journal. */
  outToday: number;
  qrntToday: number;
  /** False when the journal's history (its newest 1000 finished scans) does not reach back to midnight: the counts are then lower bounds. */
  todayComplete: boolean;
  /** Files in the quarantine folder now; null when it cannot be listed. */
  inQuarantine: number | null;
  /** Per folder: why it cannot be used now (an errno code such as ENOENT), or null. */
  folders: { in: string | null; out: string | null; qrnt: string | null };
  /** The share's last warning or error in the service's log (with one share, any warning or error). */
  lastError: LoggedProblem | null;
}

export interface LoggedProblem {
  time: string;
  level: 'warn' | 'error';
  event: string;
  message: string;
}

/** How much of the end of the log is read for the last problems. */
const logTailBytes = 512 * 1024;

/** The status of the service of `config` as of now (of one share with `share`); `now` is for tests. */
export async function serviceStatus(config: KdsConfig, opts: { recent?: number; now?: Date; share?: string } = {}): Promise<ServiceStatus> {
  const journal = readJournal(config.state_dir);
  const several = config.shares.length > 1;
  const mine = (e: ScanEntry) => opts.share === undefined || e.share === opts.share;
  const pending = journal.live
    .filter((e) => !e.outcome && mine(e))
    .map((e) => ({
      share: e.share,
      file: e.name,
      scanId: e.scanId,
      stage: (e.state ? 'verdict received, moving' : e.submittedAt ? 'with KATA' : 'uploading') as PendingStage,
      ...(e.state !== undefined && { state: e.state }),
      since: new Date(e.submittedAt ?? e.intentAt).toISOString(),
    }));
  const routed = journal.finished.filter((e) => e.outcome === 'routed');
  const recent = routed.filter(mine).slice(0, opts.recent ?? 20).map((e: ScanEntry) => ({
    share: e.share,
    file: e.name,
    ...(e.state !== undefined && { verdict: e.state === 'kds-timeout' ? 'timeout (no answer)' : e.state }),
    ...(e.destination !== undefined && { destination: e.destination }),
    size: e.size,
    ...(e.sha256 !== undefined && { sha256: e.sha256 }),
    at: new Date(e.doneAt ?? 0).toISOString(),
  }));
  const now = opts.now ?? new Date();
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  // The journal keeps the newest finished scans; if the oldest it kept is from today, earlier ones of today may be gone.
  const oldestKept = journal.finished.at(-1)?.doneAt;
  const todayComplete = journal.finished.length < 1000 || (oldestKept ?? 0) < midnight;
  const problems = await lastLoggedProblems(config.log_file, several);

  const skipped: ServiceStatus['skipped'] = [];
  const shares: ShareStatus[] = [];
  for (const share of config.shares) {
    if (opts.share !== undefined && share.name !== opts.share) continue;
    const input = await inputSummary(config, share);
    for (const s of input.skipped) skipped.push({ share: share.name, ...s });
    const today = routed.filter((e) => e.share === share.name && (e.doneAt ?? 0) >= midnight);
    const [outProblem, qrntProblem, inQuarantine] = await Promise.all([folderProblem(share.out_dir), folderProblem(share.qrnt_dir), countFiles(share.qrnt_dir)]);
    shares.push({
      name: share.name,
      in_dir: share.in_dir,
      out_dir: share.out_dir,
      qrnt_dir: share.qrnt_dir,
      exclude_list: share.exclude_list,
      waiting: input.waiting,
      pending: pending.filter((p) => p.share === share.name).length,
      skipped: input.skipped.length,
      outToday: today.filter((e) => e.destination === 'out').length,
      qrntToday: today.filter((e) => e.destination === 'qrnt').length,
      todayComplete,
      inQuarantine,
      folders: { in: input.error ?? null, out: outProblem ?? null, qrnt: qrntProblem ?? null },
      lastError: (several ? problems.byShare.get(share.name) : problems.service) ?? null,
    });
  }
  const firstError = shares[0]?.folders.in;
  return { pending, skipped, recent, ...(firstError ? { inputError: firstError } : {}), shares, lastError: problems.service ?? null };
}

/** What is in a share's input: the files that will be scanned, and those left there for good. */
async function inputSummary(config: KdsConfig, share: ShareConfig): Promise<{ waiting: number; skipped: Array<{ file: string; reason: string }>; error?: string }> {
  const skipped: Array<{ file: string; reason: string }> = [];
  try {
    const excludeText = await readFile(share.exclude_list, 'utf8').catch(() => '');
    const excludes = parseExcludeList(excludeText, { caseSensitive: config.exclude_case_sensitive });
    const listing = await listInput(share.in_dir);
    const limit = share.max_file_size_mb * 1024 * 1024;
    for (const ig of listing.ignored) skipped.push({ file: ig.name, reason: ig.kind });
    let waiting = 0;
    for (const f of listing.files) {
      const hit = excludes.matches(f.name);
      if (hit) skipped.push({ file: f.name, reason: `excluded (${hit.pattern})` });
      else if (f.stats.size > limit) skipped.push({ file: f.name, reason: `too large (${f.stats.size} bytes)` });
      else waiting++;
    }
    return { waiting, skipped };
  } catch (err) {
    return { waiting: 0, skipped, error: errText(err) };
  }
}

async function folderProblem(dir: string): Promise<string | undefined> {
  try {
    const d = await opendir(dir);
    await d.close();
    return undefined;
  } catch (err) {
    return errText(err);
  }
}

/** Entries of a folder that are not folders, nor KDS's own copies in progress. */
async function countFiles(dir: string): Promise<number | null> {
  try {
    let n = 0;
    for await (const d of await opendir(dir, { bufferSize: 1024 })) if (!d.isDirectory() && !d.name.startsWith(partialPrefix)) n++;
    return n;
  } catch {
    return null;
  }
}

/**
 * The last warning or error of the service, and of each share, from the end of its log (text or
 * JSON lines). With several shares a line names its share (`share=hr`); a line without one is
 * the service's. With one share every line is the share's (the log is the original's).
 * Audited quarantine actions are logged as warnings but are no problem.
 */
export async function lastLoggedProblems(logFile: string, several: boolean): Promise<{ service?: LoggedProblem; byShare: Map<string, LoggedProblem> }> {
  const byShare = new Map<string, LoggedProblem>();
  let service: LoggedProblem | undefined;
  const text = await readTail(logFile, logTailBytes);
  for (const line of text.split('\n')) {
    const r = parseLogLine(line);
    if (!r || (r.level !== 'warn' && r.level !== 'error') || r.event.startsWith('quarantine.')) continue;
    const problem: LoggedProblem = { time: r.time, level: r.level, event: r.event, message: r.msg };
    if (!several) {
      service = problem;
      continue;
    }
    if (r.share === undefined) service = problem;
    else byShare.set(r.share, problem);
  }
  if (!several && service) byShare.set(defaultShareName, service);
  return { ...(service && { service }), byShare };
}

async function readTail(path: string, bytes: number): Promise<string> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = (await fh.stat()).size;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    const text = buf.toString('utf8');
    // The first line of a tail that does not start at 0 is cut.
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } finally {
    await fh.close();
  }
}

/** One line of the service's log (common/log.ts: formatText or formatJson) as the fields a status needs. */
export function parseLogLine(line: string): { time: string; level: string; event: string; msg: string; share?: string } | undefined {
  if (!line.trim()) return undefined;
  if (line.startsWith('{')) {
    try {
      const r = JSON.parse(line) as Record<string, unknown>;
      if (typeof r.time !== 'string' || typeof r.level !== 'string' || typeof r.event !== 'string') return undefined;
      return { time: r.time, level: r.level, event: r.event, msg: String(r.msg ?? ''), ...(typeof r.share === 'string' && { share: r.share }) };
    } catch {
      return undefined;
    }
  }
  // time LEVEL event msg key=value…; a value (and the message) is JSON-quoted when it holds spaces.
  const m = /^(\S+) +(DEBUG|INFO|WARN|ERROR) +(\S+) +("(?:[^"\\]|\\.)*"|\S+)(.*)$/.exec(line);
  if (!m) return undefined;
  const unquote = (v: string) => {
    if (!v.startsWith('"')) return v;
    try {
      return JSON.parse(v) as string;
    } catch {
      return v;
    }
  };
  // Field by field, so that a quoted value holding " share=" (a file name) is not taken for the field.
  let share: string | undefined;
  const field = / ([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/y;
  for (let f = field.exec(m[5]!); f; f = field.exec(m[5]!)) if (f[1] === 'share') share = unquote(f[2]!);
  return { time: m[1]!, level: m[2]!.toLowerCase(), event: m[3]!, msg: unquote(m[4]!), ...(share !== undefined && { share }) };
}
