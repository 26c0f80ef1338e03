import type { ReadableFile } from '../kata/scannerApi';
import { dropDeadScans } from './stagedCopy';

/**
 * The bytes an upload read, kept for its delivery: what lands in output or quarantine is then,
 * by construction, what KATA scanned, without reading and hashing the file a second time
 * (docs/engine-lifecycle.md, "What the delivery copies"). Only small files are kept, and only
 * up to a budget of bytes across every scan waiting for its verdict; beyond it, after a restart,
 * or on a share whose versions cannot be trusted (routing.ts), the delivery reads the set-aside
 * file again and checks its hash as before.
 */

/** Files up to this size are kept (the upload reads them in one read into one buffer, uploadBody.ts). */
export const keepUpToBytes = 60 * 1024;
/** Bytes kept across all scans waiting for their verdicts. */
export const defaultBudgetBytes = 32 * 1024 * 1024;

/**
 * A ReadableFile over the upload's handle that remembers the file's bytes when the upload reads
 * them all in one read from offset 0 (what uploadBody.ts does for a small file): the buffer it
 * read into is the one it hashes and sends, and nothing writes to it afterwards. Any other
 * pattern of reads (a file longer than expected, a short read) keeps nothing.
 */
export class KeepingReader implements ReadableFile {
  private got: Buffer | undefined;
  private reads = 0;

  constructor(
    private readonly file: ReadableFile,
    private readonly size: number,
  ) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const r = await this.file.read(buffer, offset, length, position);
    this.reads++;
    this.got = this.reads === 1 && position === 0 && r.bytesRead === this.size ? buffer.subarray(offset, offset + this.size) : undefined;
    return r;
  }

  /** The file's bytes as the one read gave them, or undefined. */
  get bytes(): Buffer | undefined {
    return this.reads === 1 ? this.got : undefined;
  }
}

/**
 * The kept bytes by scanId. A scan whose delivery never comes (abandoned: the file changed or
 * went away) is dropped when the budget is short (`isLive` says whether its delivery may still
 * come) or when the delivery of any scan takes its own.
 */
export class ScannedCopies {
  private readonly kept = new Map<string, Buffer>();
  private bytesKept = 0;
  private sweptAt = 0;

  constructor(
    private readonly isLive: (scanId: string) => boolean,
    private readonly budgetBytes = defaultBudgetBytes,
    private readonly now: () => number = Date.now,
  ) {}

  /** Memory held by what is kept (at least the budget's worth of it is counted, see costOf). */
  get bytes(): number {
    return this.bytesKept;
  }

  get count(): number {
    return this.kept.size;
  }

  /** Keeps a scan's bytes if the budget allows; false when it does not (the delivery will copy from input). */
  keep(scanId: string, bytes: Buffer): boolean {
    if (bytes.length > keepUpToBytes) return false;
    const cost = costOf(bytes);
    if (this.bytesKept + cost > this.budgetBytes) this.dropDead();
    if (this.bytesKept + cost > this.budgetBytes) return false;
    this.drop(scanId);
    this.kept.set(scanId, bytes);
    this.bytesKept += cost;
    return true;
  }

  /** The scan's bytes, no longer kept; undefined when none were. */
  take(scanId: string): Buffer | undefined {
    const b = this.kept.get(scanId);
    if (b) this.drop(scanId);
    return b;
  }

  drop(scanId: string): void {
    const b = this.kept.get(scanId);
    if (!b) return;
    this.kept.delete(scanId);
    this.bytesKept -= costOf(b);
  }

  /** Scans whose delivery will never come; looked for at most once a second while the budget is short. */
  private dropDead(): void {
    this.sweptAt = dropDeadScans(this.kept.keys(), this.sweptAt, this.now(), this.isLive, (scanId) => this.drop(scanId));
  }
}

/**
 * What keeping `bytes` holds in memory: the whole allocation it is a view of. A small upload's
 * buffer is a slice of Node's shared 8 KiB pool, and a kept slice keeps that slab alive.
 */
function costOf(bytes: Buffer): number {
  return Math.max(bytes.length, bytes.buffer.byteLength);
}
