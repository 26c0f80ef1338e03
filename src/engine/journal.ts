import { closeSync, fdatasync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, write, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { syncRenameSync } from '../common/fsync';
import { defaultShareName } from './shareName';

const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);

export type Destination = 'out' | 'qrnt';

/** How a scan ended in the journal's eyes. */
export type ScanOutcome =
  | 'routed'
  /** The file changed, vanished or was excluded while KATA had it; its result is not used. */
  | 'abandoned'
  /** The upload failed or was cut by a crash; KATA may still hold a result to delete. */
  | 'interrupted';

/** The durable progress of one submission of one version of one file. */
export interface ScanEntry {
  scanId: string;
  /** The share whose input the file is in; a journal written before shares existed is the share `default`'s. */
  share: string;
  name: string;
  size: number;
  mtimeMs: number;
  ino: number;
  /** Device of the file; absent in journals written before it was recorded. */
  dev?: number;
  intentAt: number;
  sha256?: string;
  submittedAt?: number;
  state?: string;
  verdictAt?: number;
  destination?: Destination;
  placedPath?: string;
  outcome?: ScanOutcome;
  doneAt?: number;
  /** KATA no longer holds a result for this scanId (deleted, or never existed). */
  resultCleared?: boolean;
}

/** What is known of a version before it is submitted: recorded first, so a crash mid-upload is found again. */
export type IntentRecord = Pick<ScanEntry, 'scanId' | 'name' | 'size' | 'mtimeMs' | 'ino' | 'dev'> & {
  /** The engine always names it; absent (as in a journal older than shares) it is the share `default`. */
  share?: string;
};

type Op =
  | ({ op: 'intent'; at: number } & IntentRecord)
  | { op: 'submitted'; scanId: string; sha256: string; at: number }
  | { op: 'verdict'; scanId: string; state: string; destination: Destination; at: number }
  | { op: 'placed'; scanId: string; path: string; at: number }
  | { op: 'done'; scanId: string; outcome: ScanOutcome; at: number }
  | { op: 'cleared'; scanId: string; at: number };

function applyOp(entries: Map<string, ScanEntry>, op: Op): ScanEntry | undefined {
  if (op.op === 'intent') {
    const e: ScanEntry = { scanId: op.scanId, share: op.share ?? defaultShareName, name: op.name, size: op.size, mtimeMs: op.mtimeMs, ino: op.ino, intentAt: op.at };
    if (op.dev !== undefined) e.dev = op.dev;
    entries.set(op.scanId, e);
    return e;
  }
  const e = entries.get(op.scanId);
  if (!e) return undefined;
  switch (op.op) {
    case 'submitted':
      e.sha256 = op.sha256;
      e.submittedAt = op.at;
      break;
    case 'verdict':
      e.state = op.state;
      e.destination = op.destination;
      e.verdictAt = op.at;
      break;
    case 'placed':
      e.placedPath = op.path;
      break;
    case 'done':
      e.outcome = op.outcome;
      e.doneAt = op.at;
      break;
    case 'cleared':
      e.resultCleared = true;
      break;
  }
  return e;
}

function isLive(e: ScanEntry): boolean {
  return !e.outcome || !e.resultCleared;
}

const fileName = 'journal.jsonl';
/** How many finished scans survive a compaction, for `kds status` and the extension's history. */
const keepFinished = 1000;
/** The longest a `cleared` line waits for a group commit to ride along with. */
const lazyWriteMs = 1000;
/** Lines a caller may queue without yielding to the event loop before they are written synchronously. */
const maxQueuedLines = 4096;
/** Lines allowed beyond twice the compacted size before the journal compacts itself. */
const compactSlackLines = 4096;

/**
 * Append-only, fdatasync'ed record of every submission. Each step is durable before the action it
 * allows (an upload, a delivery, a removal from input) is taken, so after a crash at any instant
 * the engine knows which results to poll, which deliveries to finish and which stray results to
 * delete. A torn last line from a crash is ignored.
 *
 * Group commit: a step is applied in memory at once and its line queued; every line queued in the
 * same turn of the event loop (and while the previous write is in flight) goes out in one write
 * and one fdatasync. Each step's promise settles when its own line is durable, and callers await
 * it before acting. The file compacts itself when it holds far more lines than the live entries
 * need, so its size follows what is pending.
 */
export class Journal {
  private fd: number;
  private readonly entries = new Map<string, ScanEntry>();
  private readonly liveIds = new Set<string>();
  /** share → name → scanId of its newest unfinished entry (a name in two shares is two files). */
  private readonly activeByName = new Map<string, Map<string, string>>();
  private queued: string[] = [];
  /** The lines queued since the last write; `due` once one of them is waited for (not only `cleared` lines). */
  private batch?: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void; due: boolean };
  private lazyTimer?: NodeJS.Timeout;
  private flushing = false;
  private closed = false;
  private lines = 0;

  private constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.load();
    this.fd = this.compact();
  }

  static open(dir: string): Journal {
    return new Journal(dir);
  }

  get path(): string {
    return join(this.dir, fileName);
  }

  /** Entries that still need work: not finished, or finished with a result to delete. */
  live(): ScanEntry[] {
    const out: ScanEntry[] = [];
    for (const id of this.liveIds) out.push(this.entries.get(id)!);
    return out;
  }

  get liveCount(): number {
    return this.liveIds.size;
  }

  /** The newest unfinished entry for a file name in a share. */
  activeFor(share: string, name: string): ScanEntry | undefined {
    const id = this.activeByName.get(share)?.get(name);
    return id === undefined ? undefined : this.entries.get(id);
  }

  /** Finished entries, newest first. */
  finished(limit = keepFinished): ScanEntry[] {
    return [...this.entries.values()]
      .filter((e) => e.outcome)
      .sort((a, b) => (b.doneAt ?? 0) - (a.doneAt ?? 0))
      .slice(0, limit);
  }

  get(scanId: string): ScanEntry | undefined {
    return this.entries.get(scanId);
  }

  /** Lines in the file now (for tests of compaction and for the benchmark). */
  get fileLines(): number {
    return this.lines + this.queued.length;
  }

  intent(e: IntentRecord): Promise<void> {
    return this.write({ op: 'intent', ...e, at: Date.now() });
  }
  submitted(scanId: string, sha256: string): Promise<void> {
    return this.write({ op: 'submitted', scanId, sha256, at: Date.now() });
  }
  verdict(scanId: string, state: string, destination: Destination): Promise<void> {
    return this.write({ op: 'verdict', scanId, state, destination, at: Date.now() });
  }
  placed(scanId: string, path: string): Promise<void> {
    return this.write({ op: 'placed', scanId, path, at: Date.now() });
  }
  done(scanId: string, outcome: ScanOutcome): Promise<void> {
    return this.write({ op: 'done', scanId, outcome, at: Date.now() });
  }
  /**
   * Nothing waits for this step: lost in a crash, it is as if the DELETE's answer never came (a
   * result KATA still lists is deleted again, a 404 counts as done). So it rides along with the next group commit, or is written within
   * `lazyWriteMs`, instead of costing a write and an fdatasync of its own: each small file's
   * DELETE answer would otherwise come in a turn of its own and start one.
   */
  cleared(scanId: string): Promise<void> {
    return this.write({ op: 'cleared', scanId, at: Date.now() }, true);
  }

  /** Resolves once every step recorded so far is durable. */
  flushed(): Promise<void> {
    if (this.queued.length === 0 && !this.flushing) return Promise.resolve();
    return this.write(undefined);
  }

  /** Writes what is queued (synchronously) and closes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopLazyTimer();
    if (this.queued.length) this.writeQueuedSync();
    closeSync(this.fd);
  }

  private write(op: Op | undefined, lazy = false): Promise<void> {
    if (this.closed) return Promise.reject(new Error('journal: closed'));
    if (op) {
      const entry = this.apply(op);
      if (!entry) return Promise.reject(new Error(`journal: unknown scanId ${op.scanId}`));
      this.queued.push(lineOf(op));
    }
    if (!this.batch) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A caller that does not await must not see an unhandled rejection; awaiting callers still do.
      promise.catch(() => undefined);
      this.batch = { promise, resolve, reject, due: false };
    }
    if (!lazy) this.makeDue();
    else if (!this.batch.due && !this.lazyTimer) {
      this.lazyTimer = setTimeout(() => {
        this.lazyTimer = undefined;
        this.makeDue();
      }, lazyWriteMs);
      this.lazyTimer.unref();
    }
    const mine = this.batch.promise;
    if (this.queued.length >= maxQueuedLines && !this.flushing) this.writeQueuedSync();
    return mine;
  }

  private stopLazyTimer(): void {
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
  }

  /** The queued lines go out in the next group commit (now, or after the one in flight). */
  private makeDue(): void {
    if (!this.batch || this.batch.due || this.closed) return;
    this.batch.due = true;
    if (!this.flushing) setImmediate(() => void this.flush());
  }

  private writeQueuedSync(): void {
    const batch = this.batch;
    this.batch = undefined;
    this.stopLazyTimer();
    const data = this.queued.join('');
    const n = this.queued.length;
    this.queued = [];
    try {
      writeAllSync(this.fd, data);
      fdatasyncSync(this.fd);
      this.lines += n;
      batch?.resolve();
    } catch (err) {
      batch?.reject(err as Error);
    }
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.closed) return;
    this.flushing = true;
    try {
      while (this.batch?.due && !this.closed) {
        const batch = this.batch;
        this.batch = undefined;
        this.stopLazyTimer();
        const text = this.queued.length === 1 ? this.queued[0]! : this.queued.join('');
        const n = this.queued.length;
        this.queued = [];
        try {
          // A group of lines is a few KiB: written synchronously into the page cache (microseconds,
          // and one trip through the thread pool less per group), only the fdatasync waits there.
          if (text.length <= syncWriteMaxChars) writeAllSync(this.fd, text);
          else {
            const data = Buffer.from(text, 'utf8');
            for (let off = 0; off < data.length; ) off += (await writeAsync(this.fd, data, off, data.length - off)).bytesWritten;
          }
          await fdatasyncAsync(this.fd);
          this.lines += n;
          batch.resolve();
        } catch (err) {
          batch.reject(err as Error);
        }
        if (this.lines > this.compactAtLines() && !this.closed) {
          closeSync(this.fd);
          this.fd = this.compact();
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Twice what a compacted file would hold at most (six lines an entry), plus slack. */
  private compactAtLines(): number {
    return 2 * 6 * (this.liveIds.size + keepFinished) + compactSlackLines;
  }

  private apply(op: Op): ScanEntry | undefined {
    const e = applyOp(this.entries, op);
    if (!e) return undefined;
    // Only these steps change whether an entry is live or which one is a name's newest unfinished.
    if (op.op === 'intent' || op.op === 'done' || op.op === 'cleared') {
      if (isLive(e)) this.liveIds.add(e.scanId);
      else this.liveIds.delete(e.scanId);
    }
    if (op.op !== 'intent' && op.op !== 'done') return e;
    let names = this.activeByName.get(e.share);
    if (!names) this.activeByName.set(e.share, (names = new Map()));
    if (!e.outcome) {
      const cur = names.get(e.name);
      const curEntry = cur === undefined ? undefined : this.entries.get(cur);
      if (!curEntry || curEntry.outcome || curEntry.intentAt <= e.intentAt) names.set(e.name, e.scanId);
    } else if (names.get(e.name) === e.scanId) names.delete(e.name);
    return e;
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      if (end > start) {
        try {
          this.apply(JSON.parse(text.slice(start, end)) as Op);
        } catch {
          // Only the last line can be torn by a crash; nothing after it was acknowledged.
        }
      }
      start = end + 1;
    }
  }

  /** Rewrites the journal as one record per entry (live ones and the newest finished ones). */
  private compact(): number {
    const keep = new Set(this.liveIds);
    for (const e of this.finished()) keep.add(e.scanId);
    for (const id of [...this.entries.keys()]) if (!keep.has(id)) this.entries.delete(id);
    const lines: string[] = [];
    for (const e of this.entries.values()) {
      lines.push(JSON.stringify({ op: 'intent', scanId: e.scanId, share: e.share, name: e.name, size: e.size, mtimeMs: e.mtimeMs, ino: e.ino, ...(e.dev !== undefined ? { dev: e.dev } : {}), at: e.intentAt }));
      if (e.sha256) lines.push(JSON.stringify({ op: 'submitted', scanId: e.scanId, sha256: e.sha256, at: e.submittedAt }));
      if (e.state && e.destination) lines.push(JSON.stringify({ op: 'verdict', scanId: e.scanId, state: e.state, destination: e.destination, at: e.verdictAt }));
      if (e.placedPath) lines.push(JSON.stringify({ op: 'placed', scanId: e.scanId, path: e.placedPath, at: Date.now() }));
      if (e.outcome) lines.push(JSON.stringify({ op: 'done', scanId: e.scanId, outcome: e.outcome, at: e.doneAt }));
      if (e.resultCleared) lines.push(JSON.stringify({ op: 'cleared', scanId: e.scanId, at: Date.now() }));
    }
    const tmp = this.path + '.tmp';
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, lines.length ? lines.join('\n') + '\n' : '');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    syncRenameSync(this.path, this.dir);
    this.lines = lines.length;
    return openSync(this.path, 'a', 0o600);
  }
}

/** Groups up to this many characters are written synchronously (see flush). */
const syncWriteMaxChars = 64 * 1024;

/** All of `text`, appended (a short write is continued, never left as a torn line). */
function writeAllSync(fd: number, text: string): void {
  const data = Buffer.from(text, 'utf8');
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
}

/**
 * The line of a step, as JSON.stringify(op) + '\n' would write it, built without walking the
 * object: a small file makes six of them.
 */
function lineOf(op: Op): string {
  const id = JSON.stringify(op.scanId);
  switch (op.op) {
    case 'intent':
      return `{"op":"intent","scanId":${id}${op.share === undefined ? '' : `,"share":${JSON.stringify(op.share)}`},"name":${JSON.stringify(op.name)},"size":${num(op.size)},"mtimeMs":${num(op.mtimeMs)},"ino":${num(op.ino)}${op.dev === undefined ? '' : `,"dev":${num(op.dev)}`},"at":${num(op.at)}}\n`;
    case 'submitted':
      return `{"op":"submitted","scanId":${id},"sha256":${JSON.stringify(op.sha256)},"at":${num(op.at)}}\n`;
    case 'verdict':
      return `{"op":"verdict","scanId":${id},"state":${JSON.stringify(op.state)},"destination":${JSON.stringify(op.destination)},"at":${num(op.at)}}\n`;
    case 'placed':
      return `{"op":"placed","scanId":${id},"path":${JSON.stringify(op.path)},"at":${num(op.at)}}\n`;
    case 'done':
      return `{"op":"done","scanId":${id},"outcome":${JSON.stringify(op.outcome)},"at":${num(op.at)}}\n`;
    case 'cleared':
      return `{"op":"cleared","scanId":${id},"at":${num(op.at)}}\n`;
  }
}

/** A number as JSON writes it (a value that is not finite is null). */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** Reads a journal without taking it over (for `kds status` while the service runs). */
export function readJournal(dir: string): { live: ScanEntry[]; finished: ScanEntry[] } {
  let text = '';
  try {
    text = readFileSync(join(dir, fileName), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return parseJournal(text);
}

/** The journal file's name in state_dir (a follower elsewhere reads it by this name). */
export const journalFileName = fileName;

/** A journal's text as entries (read here, or over SFTP from a Central Node). */
export function parseJournal(text: string): { live: ScanEntry[]; finished: ScanEntry[] } {
  const entries = new Map<string, ScanEntry>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      applyOp(entries, JSON.parse(line) as Op);
    } catch {
      // torn last line
    }
  }
  const all = [...entries.values()];
  return {
    live: all.filter(isLive),
    finished: all.filter((e) => e.outcome).sort((a, b) => (b.doneAt ?? 0) - (a.doneAt ?? 0)),
  };
}
