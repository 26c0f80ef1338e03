import { open, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { EngineEvent } from '../engine/events';
import { type EventStreamRecord, eventFileName, rotatedEventFileName } from '../engine/eventStream';

/**
 * Follows the event stream `kds run` writes (engine/eventStream.ts) through a reader that may be
 * the local file system or SFTP on the Central Node. Delivers every record exactly once and in
 * seq order, across rotations of events.jsonl and across reconnects (keep the follower, replace
 * or refresh its reader: it resumes after the last seq it delivered).
 *
 * How it stays exact: every file starts with a `segment` line whose seq names the file. The
 * follower remembers the segment it is reading and the byte offset after the last complete line.
 * When events.jsonl starts with another segment, the old file is now events.1.jsonl: the rest of
 * it is read from the same offset, then the new file from its start. A chunk read from
 * events.jsonl counts only if its segment line is unchanged afterwards (so a rotation during the
 * read cannot mix files), and records at or below the last delivered seq are dropped.
 */

export interface EventFileReader {
  /** Size in bytes, or undefined when the file does not exist. */
  size(path: string): Promise<number | undefined>;
  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  read(path: string, offset: number, length: number): Promise<Buffer>;
}

/** The local file system, for `kds` on the CN itself and for tests. */
export const localEventFileReader: EventFileReader = {
  async size(path) {
    try {
      return (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  },
  async read(path, offset, length) {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  },
};

export type FollowStart =
  /** The current events.jsonl from its start: a snapshot, then everything since. */
  | 'current-file'
  /** Everything still kept (events.1.jsonl, then events.jsonl). */
  | 'oldest'
  /** Resume: everything after this seq. */
  | { afterSeq: number };

export interface EventFollowerOptions {
  start?: FollowStart;
  pollMs?: number;
  /** Largest read per request (default 1 MiB). */
  chunkBytes?: number;
  onRecord?: (record: EventStreamRecord) => void;
  onEvent?: (event: EngineEvent, record: EventStreamRecord) => void;
  /** Records from..to were rotated away before they could be read (the follower was too slow). */
  onGap?: (from: number, to: number) => void;
  /** The stream started again from a lower seq (state_dir was emptied): views should reset. */
  onReset?: () => void;
  /** A poll failed (e.g. the connection dropped); the follower retries on its next poll. */
  onError?: (err: Error) => void;
}

interface Position {
  segment: number;
  file: 'current' | 'rotated';
  offset: number;
}

const headBytes = 512;

export class EventFollower {
  private pos?: Position;
  private last?: number;
  private timer?: NodeJS.Timeout;
  private running = false;
  private restarted = false;
  private polling?: Promise<number>;
  private readonly current: string;
  private readonly rotated: string;

  constructor(
    private reader: EventFileReader,
    readonly stateDir: string,
    private readonly o: EventFollowerOptions = {},
  ) {
    this.current = posix.join(stateDir, eventFileName);
    this.rotated = posix.join(stateDir, rotatedEventFileName);
    const start = o.start ?? 'current-file';
    if (typeof start === 'object') this.last = start.afterSeq;
  }

  /** The seq of the last record delivered (what to pass as afterSeq to resume elsewhere). */
  get lastSeq(): number | undefined {
    return this.last;
  }

  /** After a reconnect: read through a new reader from where the old one stopped. */
  setReader(reader: EventFileReader): void {
    this.reader = reader;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = async () => {
      if (!this.running) return;
      try {
        await this.poll();
      } catch (err) {
        this.o.onError?.(err as Error);
      }
      if (this.running) this.timer = setTimeout(() => void loop(), this.o.pollMs ?? 500);
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.polling?.catch(() => undefined);
  }

  /** One round: reads what is new and delivers it. Returns how many records were delivered. */
  poll(): Promise<number> {
    // Rounds never overlap: they share the position.
    const next = (this.polling ?? Promise.resolve(0)).catch(() => 0).then(() => this.round());
    this.polling = next;
    return next;
  }

  private async segmentOf(path: string): Promise<number | undefined> {
    const size = await this.reader.size(path);
    if (size === undefined || size === 0) return undefined;
    const head = await this.reader.read(path, 0, Math.min(size, headBytes));
    const nl = head.indexOf(0x0a);
    if (nl < 0) return undefined;
    try {
      const seq = (JSON.parse(head.subarray(0, nl).toString('utf8')) as { seq?: unknown }).seq;
      return typeof seq === 'number' ? seq : undefined;
    } catch {
      return undefined;
    }
  }

  private async round(): Promise<number> {
    const head = await this.segmentOf(this.current);
    if (!this.pos && !(await this.place(head))) return 0;
    let pos = this.pos!;

    if (pos.file === 'current' && head !== pos.segment) {
      // Rotated since the last round, or the stream was started again.
      const rotatedHead = await this.segmentOf(this.rotated);
      if (rotatedHead === pos.segment) pos.file = 'rotated';
      else if (head !== undefined && this.last !== undefined && head <= this.last) return this.reset();
      else if (head === undefined && rotatedHead === undefined) return 0; // state_dir emptied, or between rename and first line
      else if (rotatedHead !== undefined && (head === undefined || rotatedHead < head)) pos = this.pos = { segment: rotatedHead, file: 'rotated', offset: 0 };
      else pos = this.pos = { segment: head!, file: 'current', offset: 0 };
    } else if (pos.file === 'rotated') {
      const rotatedHead = await this.segmentOf(this.rotated);
      if (rotatedHead !== pos.segment) {
        // Rotated again before we finished the older file: continue with what is still kept.
        if (rotatedHead !== undefined && rotatedHead > pos.segment && (head === undefined || rotatedHead < head)) pos = this.pos = { segment: rotatedHead, file: 'rotated', offset: 0 };
        else if (head !== undefined) pos = this.pos = { segment: head, file: 'current', offset: 0 };
        else return 0;
      }
    }

    let delivered = 0;
    if (pos.file === 'rotated') {
      const r = await this.drain(this.rotated, pos);
      delivered += r.delivered;
      if (!r.complete || head === undefined || head === pos.segment) return delivered;
      if (head < pos.segment) return delivered + this.reset();
      pos = this.pos = { segment: head, file: 'current', offset: 0 };
    }
    return delivered + (await this.drain(this.current, pos)).delivered;
  }

  /** Chooses where a follower without a position starts. False when there is nothing yet. */
  private async place(head: number | undefined): Promise<boolean> {
    // After a restart of the stream everything still kept is new.
    const start = this.restarted ? 'oldest' : (this.o.start ?? 'current-file');
    const rotatedHead = start === 'current-file' ? undefined : await this.segmentOf(this.rotated);
    if (start === 'current-file') {
      if (head === undefined) return false;
      this.pos = { segment: head, file: 'current', offset: 0 };
      return true;
    }
    const wanted = start === 'oldest' ? 0 : start.afterSeq + 1;
    if (rotatedHead !== undefined && (head === undefined || wanted < head)) {
      this.pos = { segment: rotatedHead, file: 'rotated', offset: 0 };
      return true;
    }
    if (head === undefined) return false;
    this.pos = { segment: head, file: 'current', offset: 0 };
    return true;
  }

  private reset(): number {
    this.pos = undefined;
    this.last = undefined;
    this.restarted = true;
    this.o.onReset?.();
    return 0;
  }

  /**
   * Reads the complete lines of `path` from pos.offset and delivers them. A chunk counts only if
   * the file still starts with pos.segment after it was read, so a rotation during the read can
   * never mix two files. `complete` is false when the file turned out to be another one.
   */
  private async drain(path: string, pos: Position): Promise<{ delivered: number; complete: boolean }> {
    let delivered = 0;
    const chunkBytes = this.o.chunkBytes ?? 1024 * 1024;
    let carry: Buffer = Buffer.alloc(0);
    for (;;) {
      const size = await this.reader.size(path);
      if (size === undefined) return { delivered, complete: false };
      const from = pos.offset + carry.length;
      if (size < from) {
        if ((await this.segmentOf(path)) !== pos.segment) return { delivered, complete: false };
        // Same segment but shorter than what was read: truncated. Start over from its head.
        return { delivered: delivered + this.reset(), complete: false };
      }
      if (size === from) return { delivered, complete: true };
      const data = await this.reader.read(path, from, Math.min(chunkBytes, size - from));
      if ((await this.segmentOf(path)) !== pos.segment) return { delivered, complete: false };
      if (data.length === 0) return { delivered, complete: true };
      const buf = carry.length ? Buffer.concat([carry, data]) : data;
      let consumed = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, consumed);
        if (nl < 0) break;
        const line = buf.subarray(consumed, nl).toString('utf8');
        consumed = nl + 1;
        delivered += this.deliver(line);
      }
      pos.offset += consumed;
      carry = Buffer.from(buf.subarray(consumed));
      // A line longer than a chunk is read on; otherwise stop at what the file held when sized.
      if (pos.offset + carry.length >= size) return { delivered, complete: true };
    }
  }

  private deliver(line: string): number {
    if (!line.trim()) return 0;
    let record: EventStreamRecord;
    try {
      record = JSON.parse(line) as EventStreamRecord;
    } catch {
      return 0; // a line torn by a crash of the writer; the writer ended it with a newline
    }
    if (typeof record?.seq !== 'number') return 0;
    if (this.last !== undefined && record.seq <= this.last) return 0;
    if (this.last !== undefined && record.seq > this.last + 1) this.o.onGap?.(this.last + 1, record.seq - 1);
    this.last = record.seq;
    this.o.onRecord?.(record);
    if (record.kind === 'event') this.o.onEvent?.(record.event, record);
    return 1;
  }
}
