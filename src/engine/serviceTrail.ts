/**
 * What the service's own records say about it, read without disturbing it: the event stream's
 * last approval, running state and folder health (events.jsonl, newest first), and the last
 * warning or error of its log file. For `kds status --summary` on a Central Node.
 */
import { join } from 'node:path';
import type { ApprovalState, EngineEvent } from './events';
import { eventFileName } from './eventStream';
import { linesFromEnd } from './fileTail';

export type FolderKey = 'in' | 'out' | 'qrnt';

export interface StreamFacts {
  /** Time of the newest record (a heartbeat comes every 30 s while the service runs). */
  lastRecordAt?: string;
  approval: ApprovalState;
  /** From the newest approval event (the snapshot does not carry them). */
  systemId?: string;
  fingerprint256?: string;
  /** The newest `running` event or snapshot. */
  running?: boolean;
  /** The newest `start` record: when, by which pid, which version. */
  start?: { time: string; pid: number; version?: string };
  /** The newest folder event of each folder since the service last started, keyed by its path. */
  folders: Array<{ share?: string; folder: FolderKey; path: string; available: boolean; reason?: string; time: string }>;
}

const marker = /"kind"\s*:\s*"(snapshot|start)"|"type"\s*:\s*"(approval|running|folder)"/;

/**
 * Reads events.jsonl from its end until the approval and running state are known (at worst up to
 * the snapshot at the head of the file). Lines that carry nothing of interest are not parsed.
 */
export async function streamFacts(stateDir: string): Promise<StreamFacts> {
  const facts: StreamFacts = { approval: 'unknown', folders: [] };
  let approvalKnown = false;
  let sawStart = false;
  const seenFolders = new Set<string>();
  for await (const line of linesFromEnd(join(stateDir, eventFileName))) {
    if (facts.lastRecordAt === undefined) {
      const time = /"time"\s*:\s*"([^"]{1,40})"/.exec(line)?.[1];
      if (time) facts.lastRecordAt = time;
    }
    if (!marker.test(line)) continue;
    let r: { kind?: string; time?: string; pid?: number; version?: string; snapshot?: { running?: boolean; approval?: ApprovalState }; event?: EngineEvent };
    try {
      r = JSON.parse(line) as typeof r;
    } catch {
      continue;
    }
    const time = typeof r.time === 'string' ? r.time : '';
    if (r.kind === 'start') {
      if (!sawStart) facts.start = { time, pid: typeof r.pid === 'number' ? r.pid : 0, ...(typeof r.version === 'string' && { version: r.version }) };
      sawStart = true;
    } else if (r.kind === 'snapshot' && r.snapshot) {
      if (facts.running === undefined && typeof r.snapshot.running === 'boolean') facts.running = r.snapshot.running;
      if (!approvalKnown && typeof r.snapshot.approval === 'string') {
        facts.approval = r.snapshot.approval;
        approvalKnown = true;
      }
    } else if (r.kind === 'event' && r.event) {
      const e = r.event;
      if (e.type === 'running' && facts.running === undefined) facts.running = e.running;
      else if (e.type === 'approval' && !approvalKnown) {
        facts.approval = e.state;
        facts.systemId = e.systemId;
        facts.fingerprint256 = e.fingerprint256;
        approvalKnown = true;
      } else if (e.type === 'folder' && !sawStart && !seenFolders.has(`${e.share ?? ''}/${e.folder}`)) {
        // Folder events before the newest start describe a service that is gone; each share's folders are their own.
        seenFolders.add(`${e.share ?? ''}/${e.folder}`);
        facts.folders.push({ ...(e.share !== undefined && { share: e.share }), folder: e.folder, path: e.path, available: e.available, ...(e.reason && { reason: e.reason }), time });
      }
    }
    if (approvalKnown && facts.running !== undefined && sawStart) break;
  }
  return facts;
}

export interface LoggedProblem {
  time: string;
  level: 'warn' | 'error';
  event: string;
  message: string;
  /** The share the line names (`share=NAME` / `"share"`): a service with several shares names it on every line about a file or folder. */
  share?: string;
}

export interface LoggedProblems {
  /** The newest WARN or ERROR line, whatever it names. */
  newest?: LoggedProblem;
  /** The newest one that names no share (KATA, the certificate, the journal…). */
  service?: LoggedProblem;
  /** Per share asked for, the newest one that names it. */
  byShare: Map<string, LoggedProblem>;
}

const maxMessage = 400;

/**
 * The newest WARN or ERROR lines among the last `maxBytes` of the service's log (text or JSON
 * format, see common/log.ts): the newest of all, the newest naming no share, and per share in
 * `shares` the newest naming it. Reading stops once all are found; a log that cannot be read
 * gives none.
 */
export async function lastLoggedProblems(logFile: string, shares: readonly string[], maxBytes = 1024 * 1024): Promise<LoggedProblems> {
  const found: LoggedProblems = { byShare: new Map() };
  const wanted = new Set(shares);
  try {
    for await (const line of linesFromEnd(logFile, maxBytes)) {
      const p = parseProblemLine(line);
      if (!p) continue;
      found.newest ??= p;
      if (p.share === undefined) found.service ??= p;
      else if (wanted.has(p.share) && !found.byShare.has(p.share)) found.byShare.set(p.share, p);
      if (found.service && found.byShare.size === wanted.size) break;
    }
  } catch {
    // Unreadable (permissions, a folder): no answer rather than a failure of the whole status.
  }
  return found;
}

/** A log line of level warn or error, in either of the service's formats; undefined otherwise. */
export function parseProblemLine(line: string): LoggedProblem | undefined {
  const clip = (s: string) => (s.length > maxMessage ? s.slice(0, maxMessage - 1) + '…' : s);
  if (line.startsWith('{')) {
    try {
      const r = JSON.parse(line) as { time?: unknown; level?: unknown; event?: unknown; msg?: unknown; share?: unknown };
      if ((r.level === 'warn' || r.level === 'error') && typeof r.time === 'string') {
        return {
          time: r.time,
          level: r.level,
          event: typeof r.event === 'string' ? r.event : '',
          message: clip(typeof r.msg === 'string' ? r.msg : ''),
          ...(typeof r.share === 'string' && { share: r.share }),
        };
      }
    } catch {
      return undefined;
    }
    return undefined;
  }
  // TIME LEVEL event message fields… (formatText)
  const m = /^(\S+) (WARN|ERROR)\s+(\S+) (.*)$/.exec(line);
  if (!m) return undefined;
  const share = shareField(m[4]!);
  return { time: m[1]!, level: m[2] === 'WARN' ? 'warn' : 'error', event: m[3]!, message: clip(unquoteMessage(m[4]!)), ...(share !== undefined && { share }) };
}

/**
 * `share=NAME` among the fields after the message (the message is one token, or JSON-quoted).
 * Fields are read one by one, so a quoted value holding " share=" is not taken for the field.
 */
function shareField(rest: string): string | undefined {
  const quoted = /^"(?:[^"\\]|\\.)*"/.exec(rest);
  let fields = quoted ? rest.slice(quoted[0].length) : rest.replace(/^\S*/, '');
  const field = /^ +([^\s=]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)/;
  for (let f = field.exec(fields); f; f = field.exec(fields)) {
    if (f[1] === 'share') {
      if (!f[2]!.startsWith('"')) return f[2] || undefined;
      try {
        return JSON.parse(f[2]!) as string;
      } catch {
        return undefined;
      }
    }
    fields = fields.slice(f[0].length);
  }
  return undefined;
}

/** The message of a text line comes JSON-quoted when it holds spaces; the fields after it stay as written. */
function unquoteMessage(rest: string): string {
  const m = /^"(?:[^"\\]|\\.)*"/.exec(rest);
  if (!m) return rest;
  try {
    return (JSON.parse(m[0]) as string) + rest.slice(m[0].length);
  } catch {
    return rest;
  }
}
