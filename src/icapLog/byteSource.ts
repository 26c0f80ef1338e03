import { existsSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { t } from '../common/l10n';

/** Where KATA's ICAP preprocessor writes its log on a Central Node / Sensor. */
export const DEFAULT_ICAP_LOG_PATH = '/var/log/kaspersky/services/preprocessor_icap/preprocessor_icap.log';

/** The default log path when that file exists on this machine, otherwise undefined. */
export function defaultIcapLogPath(exists: (p: string) => boolean = existsSync): string | undefined {
  return exists(DEFAULT_ICAP_LOG_PATH) ? DEFAULT_ICAP_LOG_PATH : undefined;
}

export interface SourceStat {
  /** Current size in bytes. */
  size: number;
  /**
   * Changes whenever the bytes already seen may no longer be the same file: the path now names
   * another file (logrotate's rename + create) or the file shrank (copytruncate, `> file`).
   */
  generation: number;
  /** Why `generation` last changed. */
  lastChange?: 'rotated' | 'truncated';
}

/**
 * Random-access bytes of a log: a local file now, an SFTP file later. The pager, the counter and
 * follow mode use nothing else, so a remote source only has to implement these three calls.
 */
export interface ByteSource {
  /** Human-readable name (the path) for messages. */
  readonly label: string;
  stat(): Promise<SourceStat>;
  /** Bytes [position, position + length), fewer at end of file. Never more than `length`. */
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export class IcapLogSourceError extends Error {
  override name = 'IcapLogSourceError';
}

/**
 * A local file read through one fs.promises FileHandle. Safe across logrotate: every stat()
 * compares the path's inode with the open handle's; when the path names a new file the handle
 * is reopened and `generation` bumps ('rotated'); when the size shrinks it bumps ('truncated').
 * While the path is briefly missing (between rename and create) the old handle keeps serving.
 */
export class LocalFileSource implements ByteSource {
  private handle: FileHandle | undefined;
  /** One open at a time: concurrent first calls must share a handle, not close each other's. */
  private opening: Promise<void> | undefined;
  /** Reads in progress per handle: a handle replaced on rotation is closed only when they end. */
  private readonly busy = new Map<FileHandle, number>();
  private readonly retired = new Set<FileHandle>();
  private ino = -1;
  private dev = -1;
  private lastSize = 0;
  private generation = 0;
  private lastChange: SourceStat['lastChange'];

  constructor(readonly path: string) {}

  get label(): string {
    return this.path;
  }

  private reopen(): Promise<void> {
    this.opening ??= this.openHandle().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async ensureOpen(): Promise<FileHandle> {
    while (!this.handle) await this.reopen();
    return this.handle;
  }

  private async openHandle(): Promise<void> {
    try {
      const h = await open(this.path, 'r');
      const s = await h.stat();
      if (this.handle) this.retire(this.handle);
      this.handle = h;
      this.ino = s.ino;
      this.dev = s.dev;
      this.lastSize = s.size;
    } catch (err) {
      throw new IcapLogSourceError(t('The ICAP log {0} cannot be opened: {1}', this.path, (err as Error).message));
    }
  }

  private retire(h: FileHandle): void {
    if (this.busy.has(h)) this.retired.add(h);
    else void h.close().catch(() => undefined);
  }

  async stat(): Promise<SourceStat> {
    const before = await this.ensureOpen();
    let byPath: Awaited<ReturnType<typeof stat>> | undefined;
    try {
      byPath = await stat(this.path);
    } catch {
      byPath = undefined; // rotated away, new file not created yet: keep reading the old one
    }
    if (byPath && (byPath.ino !== this.ino || byPath.dev !== this.dev)) {
      // Concurrent stat() calls see the same rotation once: only the first reopens.
      if (this.handle === before) {
        await this.reopen();
        this.generation++;
        this.lastChange = 'rotated';
      } else await this.ensureOpen();
    } else {
      const size = (await (await this.ensureOpen()).stat()).size;
      if (size < this.lastSize) {
        this.generation++;
        this.lastChange = 'truncated';
      }
      this.lastSize = size;
    }
    const out: SourceStat = { size: this.lastSize, generation: this.generation };
    if (this.lastChange) out.lastChange = this.lastChange;
    return out;
  }

  async read(position: number, length: number): Promise<Buffer> {
    const h = await this.ensureOpen();
    this.busy.set(h, (this.busy.get(h) ?? 0) + 1);
    try {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await h.read(buf, got, length - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    } finally {
      const n = (this.busy.get(h) ?? 1) - 1;
      if (n > 0) this.busy.set(h, n);
      else {
        this.busy.delete(h);
        if (this.retired.delete(h)) void h.close().catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    await this.opening?.catch(() => undefined);
    const h = this.handle;
    this.handle = undefined;
    if (h) this.retire(h);
  }
}

/** Bytes held in memory (tests, small remote snapshots). `replace()` simulates rotation. */
export class BufferByteSource implements ByteSource {
  private generation = 0;
  private lastChange: SourceStat['lastChange'];
  constructor(private data: Buffer, readonly label = 'memory') {}
  append(more: Buffer | string): void {
    this.data = Buffer.concat([this.data, Buffer.from(more)]);
  }
  replace(data: Buffer | string, change: 'rotated' | 'truncated' = 'rotated'): void {
    this.data = Buffer.from(data);
    this.generation++;
    this.lastChange = change;
  }
  async stat(): Promise<SourceStat> {
    const out: SourceStat = { size: this.data.length, generation: this.generation };
    if (this.lastChange) out.lastChange = this.lastChange;
    return out;
  }
  async read(position: number, length: number): Promise<Buffer> {
    return Buffer.from(this.data.subarray(position, Math.min(this.data.length, position + length)));
  }
  async close(): Promise<void> {}
}

/** Wraps a source and counts the calls and bytes read (tests assert on these, not on time). */
export class CountingByteSource implements ByteSource {
  bytesRead = 0;
  reads = 0;
  constructor(private readonly inner: ByteSource) {}
  get label(): string {
    return this.inner.label;
  }
  stat(): Promise<SourceStat> {
    return this.inner.stat();
  }
  async read(position: number, length: number): Promise<Buffer> {
    const b = await this.inner.read(position, length);
    this.bytesRead += b.length;
    this.reads++;
    return b;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  reset(): void {
    this.bytesRead = 0;
    this.reads = 0;
  }
}
