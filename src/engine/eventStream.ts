import { closeSync, fstatSync, openSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ApprovalState, EngineEvent, FileRecord } from './events';
import type { FolderState } from './shareName';

/**
 * The service's event stream: every EngineEvent of `kds run`, one JSON object a line, in
 * <state_dir>/events.jsonl, so that a follower elsewhere (the VS Code extension over SSH) sees
 * what a local engine would have told it.
 *
 * - Every line has `seq`, one more than the line before, across restarts and rotations, and
 *   `time` (ISO 8601). A follower resumes after the last seq it delivered.
 * - Each file starts with a small `segment` line (its own seq tells files apart: a follower
 *   that finds another segment seq at the head of events.jsonl knows it was rotated), followed
 *   by a `snapshot` of the engine's state, so reading one file from its start rebuilds the view.
 * - Bounded: when events.jsonl passes `maxBytes` it becomes events.1.jsonl (replacing the older
 *   one) and a new events.jsonl starts. At most about 2 × maxBytes are kept.
 * - Lines are appended with one write(2) each (or, `coalesce`, one for the events of up to
 *   `coalesceMs`) on an O_APPEND descriptor, without fsync: after a power cut or a kill -9 the
 *   last events may be missing, never reordered or half-mixed with others; a torn last line is
 *   ended with a newline on the next start and skipped by followers. The durable record of what
 *   happened to files is the scan journal (journal.ts), not this.
 */

export const eventFileName = 'events.jsonl';
export const rotatedEventFileName = 'events.1.jsonl';
export const eventStreamFormat = 1;
/** Files per write when a snapshot is written in pieces. */
const snapshotChunkFiles = 500;
/** Events held back at most this long (coalesce), and at most this many, before they are written. */
const defaultCoalesceMs = 50;
const coalesceMaxEvents = 1000;

export interface EngineSnapshot {
  running: boolean;
  approval: ApprovalState;
  files: FileRecord[];
  /** Each share's folders as last found; absent in streams written before shares. */
  folders?: FolderState[];
}

interface Base {
  seq: number;
  time: string;
}
export type EventStreamRecord =
  | (Base & { kind: 'segment'; format: number; pid: number })
  | (Base & { kind: 'start'; pid: number; version?: string })
  | (Base & { kind: 'snapshot'; snapshot: EngineSnapshot })
  | (Base & { kind: 'heartbeat'; pid: number })
  | (Base & { kind: 'event'; event: EngineEvent });

/** Records without the seq and time the journal adds. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Body = DistributiveOmit<EventStreamRecord, 'seq' | 'time'>;

export interface EventStreamOptions {
  /** Rotate once events.jsonl is larger (default 8 MiB). */
  maxBytes?: number;
  /** A heartbeat line this often while open (default 30 s; 0 = none). */
  heartbeatMs?: number;
  /** The engine's state, written at the start of every file and after `start`. */
  snapshot?: () => EngineSnapshot;
  version?: string;
  /**
   * Events appended within `coalesceMs` go out in one write(2) instead of one each (a busy engine
   * emits seven events per small file, in several turns of the event loop). Each keeps the time
   * it was appended at. A file's `file` event followed in the same write by a newer one for that
   * file, or by its `file-removed`, is left out: a follower keeps a file's latest record only,
   * so it ends in the same state, and a small file's queued → uploading → submitted within a few
   * milliseconds costs one line instead of three. Every other event is written. Heartbeats,
   * snapshots and close() write what is waiting first, so the order of lines never changes.
   */
  coalesce?: boolean;
  /** How long an event may wait for others (default 50 ms). */
  coalesceMs?: number;
  /** Called once per failure streak when a line cannot be written (disk full…); the engine goes on. */
  onError?: (err: Error) => void;
  now?: () => Date;
}

/** Reads the seq of the last complete line of a file, or undefined (no file, no complete line). */
export function lastSeqOf(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    let chunk = 64 * 1024;
    for (;;) {
      const start = Math.max(0, size - chunk);
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      const lines = buf.toString('utf8').split('\n');
      // The first piece may be a partial line (unless we read from 0); the last is after the final newline.
      const complete = lines.slice(start === 0 ? 0 : 1, -1);
      for (let i = complete.length - 1; i >= 0; i--) {
        const seq = seqOfLine(complete[i]!);
        if (seq !== undefined) return seq;
      }
      if (start === 0) return undefined;
      chunk *= 4;
    }
  } finally {
    closeSync(fd);
  }
}

function seqOfLine(line: string): number | undefined {
  if (!line.trim()) return undefined;
  try {
    const seq = (JSON.parse(line) as { seq?: unknown }).seq;
    return typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
  } catch {
    return undefined;
  }
}

function endsWithNewline(fd: number): boolean {
  const size = fstatSync(fd).size;
  if (size === 0) return true;
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, size - 1);
  return b[0] === 0x0a;
}

export class EventStreamWriter {
  private fd?: number;
  private seq: number;
  private size = 0;
  /** Bytes of the segment line and snapshot at the head of the current file. */
  private headerBytes = 0;
  private failing = false;
  private startWritten = false;
  private closed = false;
  private heartbeat?: NodeJS.Timeout;
  /** Events waiting (coalesce): their seq is given when they are written, so it stays in file order. */
  private pending: Array<{ body: Body; time: number }> = [];
  private flushTimer?: NodeJS.Timeout;
  /** The last time written, in ms, and its text (events close together share one). */
  private isoOf?: { time: number; text: string };
  private readonly maxBytes: number;
  readonly path: string;
  readonly rotatedPath: string;

  private constructor(
    readonly dir: string,
    private readonly o: EventStreamOptions,
  ) {
    this.path = join(dir, eventFileName);
    this.rotatedPath = join(dir, rotatedEventFileName);
    this.maxBytes = Math.max(4096, o.maxBytes ?? 8 * 1024 * 1024);
    this.seq = lastSeqOf(this.path) ?? lastSeqOf(this.rotatedPath) ?? 0;
  }

  /**
   * Prepares the journal in `dir` (which must exist). Nothing is written until the first record,
   * so a `kds run` that fails to take the state_dir lock leaves the stream untouched.
   */
  static open(dir: string, options: EventStreamOptions = {}): EventStreamWriter {
    return new EventStreamWriter(dir, options);
  }

  /** The seq of the last line written (or found on open). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Starts heartbeat lines (the `start` line is written before this process's first record). */
  startHeartbeat(): void {
    const every = this.o.heartbeatMs ?? 30_000;
    if (every > 0 && !this.heartbeat && !this.closed) {
      this.heartbeat = setInterval(() => this.writeNow({ kind: 'heartbeat', pid: process.pid }), every);
      this.heartbeat.unref();
    }
  }

  append(event: EngineEvent): void {
    if (!this.o.coalesce) {
      this.write([{ body: { kind: 'event', event }, time: this.nowMs() }]);
      return;
    }
    if (this.closed) return;
    this.pending.push({ body: { kind: 'event', event }, time: this.nowMs() });
    if (this.pending.length >= coalesceMaxEvents) this.flush();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.flush();
      }, this.o.coalesceMs ?? defaultCoalesceMs);
      this.flushTimer.unref();
    }
  }

  /** Writes the events appended so far (coalesce); done on its own within coalesceMs. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.pending.length) return;
    const lines = this.pending;
    this.pending = [];
    this.write(withoutSuperseded(lines));
  }

  writeSnapshot(): void {
    if (this.o.snapshot) this.writeNow({ kind: 'snapshot', snapshot: this.o.snapshot() });
  }

  close(): void {
    this.flush();
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private writeNow(body: Body): void {
    this.flush();
    this.write([{ body, time: this.nowMs() }]);
  }

  private nowMs(): number {
    return this.o.now ? this.o.now().getTime() : Date.now();
  }

  private write(records: Array<{ body: Body; time: number }>): void {
    if (this.closed) return;
    try {
      if (this.fd === undefined) this.openFile();
      if (!this.startWritten) {
        this.line({ kind: 'start', pid: process.pid, ...(this.o.version !== undefined && { version: this.o.version }) });
        this.startWritten = true;
      }
      this.lines(records);
      // The head snapshot does not count: with many files in input it alone may pass maxBytes,
      // and counting it would rotate (and write it again) at every line.
      // It is also written again only after four times its size of events, so a big snapshot
      // (100 000 files in input) is not rewritten every few thousand events.
      if (this.size - this.headerBytes > Math.max(this.maxBytes, 4 * this.headerBytes)) this.rotate();
      this.failing = false;
    } catch (err) {
      // The event stream is for watchers; losing it must never stop the scanning.
      if (this.fd !== undefined) {
        try {
          closeSync(this.fd);
        } catch {
          // already unusable
        }
        this.fd = undefined;
      }
      if (!this.failing) this.o.onError?.(err as Error);
      this.failing = true;
    }
  }

  private line(body: Body): void {
    this.lines([{ body, time: this.nowMs() }]);
  }

  /** One write(2) for all: a line is either wholly in the file or not at all (O_APPEND). */
  private lines(records: Array<{ body: Body; time: number }>): void {
    let text = '';
    for (const r of records) {
      if (r.body.kind === 'snapshot' && r.body.snapshot.files.length > snapshotChunkFiles) {
        this.put(text);
        text = '';
        this.bigSnapshot(r.body.snapshot, r.time);
        continue;
      }
      if (this.isoOf?.time !== r.time) this.isoOf = { time: r.time, text: new Date(r.time).toISOString() };
      // The same line as JSON.stringify({ seq, time, ...body }), without copying the body into a new object.
      text += `{"seq":${++this.seq},"time":"${this.isoOf.text}",${JSON.stringify(r.body).slice(1)}\n`;
    }
    this.put(text);
  }

  /**
   * A snapshot of many files (100 000 waiting in input) is one line of tens of MB: written in
   * pieces of a few hundred files, so it never exists whole in memory as a string and a buffer.
   * A crash in the middle leaves a torn line, which the next start ends and followers skip.
   */
  private bigSnapshot(snapshot: EngineSnapshot, time: number): void {
    const { files, ...rest } = snapshot;
    const head = JSON.stringify({ seq: ++this.seq, time: new Date(time).toISOString(), kind: 'snapshot' }).slice(0, -1);
    const restJson = JSON.stringify(rest).slice(0, -1);
    this.put(`${head},"snapshot":${restJson}${restJson.length > 1 ? ',' : ''}"files":[`);
    for (let i = 0; i < files.length; i += snapshotChunkFiles) {
      const piece = files.slice(i, i + snapshotChunkFiles).map((f) => JSON.stringify(f)).join(',');
      this.put(i === 0 ? piece : `,${piece}`);
    }
    this.put(']}}\n');
  }

  private put(text: string): void {
    if (!text) return;
    const data = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < data.length) off += writeSync(this.fd!, data, off);
    this.size += data.length;
  }

  private openFile(): void {
    const fd = openSync(this.path, 'a+', 0o600);
    this.fd = fd;
    // A line torn by a crash is ended here so the next one starts cleanly; followers skip it.
    if (!endsWithNewline(fd)) writeSync(fd, '\n');
    this.size = fstatSync(fd).size;
    this.headerBytes = 0;
    if (this.size === 0) this.header();
  }

  private header(): void {
    this.line({ kind: 'segment', format: eventStreamFormat, pid: process.pid });
    if (this.o.snapshot) this.line({ kind: 'snapshot', snapshot: this.o.snapshot() });
    this.headerBytes = this.size;
  }

  private rotate(): void {
    closeSync(this.fd!);
    this.fd = undefined;
    renameSync(this.path, this.rotatedPath);
    this.fd = openSync(this.path, 'a+', 0o600);
    this.size = 0;
    this.header();
  }
}

/** Size of a file, or 0 when it does not exist (for tests and diagnostics). */
export function fileSizeOrZero(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** The records without each `file` event that a later one in the same batch supersedes (see EventStreamOptions.coalesce). */
function withoutSuperseded(records: Array<{ body: Body; time: number }>): Array<{ body: Body; time: number }> {
  if (records.length < 2) return records;
  const later = new Set<string>();
  const kept: Array<{ body: Body; time: number }> = [];
  let dropped = false;
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    const event = r.body.kind === 'event' ? r.body.event : undefined;
    const key = event && fileKey(event);
    if (key !== undefined) {
      if (event!.type === 'file' && later.has(key)) {
        dropped = true;
        continue;
      }
      later.add(key);
    }
    kept.push(r);
  }
  return dropped ? kept.reverse() : records;
}

/** Which file a `file` or `file-removed` event is about (a name in two shares is two files). */
function fileKey(e: EngineEvent): string | undefined {
  if (e.type === 'file') return `${e.file.share ?? ''}\0${e.file.name}`;
  if (e.type === 'file-removed') return `${e.share ?? ''}\0${e.name}`;
  return undefined;
}
