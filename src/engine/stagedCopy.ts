import { join } from 'node:path';
import type { ReadableFile } from '../kata/scannerApi';
import { type StagedCopy, partialPrefix } from './delivery';
import type { FolderFs, OpenFile } from './folderFs';

/** A large upload's staged copy under way: read through `reader`; `finish(used)` once the upload is over (`used`: KATA has the file). */
export interface StagingUpload {
  reader: ReadableFile;
  finish(used: boolean): Promise<void>;
}

/**
 * A large file's delivered copy, written while it is uploaded (docs/engine-lifecycle.md, "What
 * the delivery copies"): each chunk the upload reads goes to a temporary file of KDS's own in the
 * quarantine folder before the upload hashes and sends it, so at the verdict that file holds
 * exactly the scanned bytes and is renamed into place, with no second read and hash of the
 * source. Its name begins with delivery.ts's partialPrefix: views and counts skip it, and a
 * start removes any left by a crash (the delivery then copies from input, hash verified).
 */

export function stagedPath(qrntDir: string, scanId: string): string {
  return join(qrntDir, `${partialPrefix}staged-${scanId.replace(/[^A-Za-z0-9-]/g, '')}`);
}

/**
 * A ReadableFile over the upload's handle that writes every byte it reads, in order, to the staged
 * copy before handing it back: the buffer written is the one the upload then hashes and sends,
 * and nothing else writes to it in between (uploadBody.ts reads the next chunk only after). Reads
 * out of order (none today) or a failed write spoil the staged copy without failing the upload;
 * the delivery then copies from input.
 */
export class StagingReader implements ReadableFile {
  private written = 0;
  private spoiled = false;

  constructor(
    private readonly file: ReadableFile,
    private readonly size: number,
    private readonly out: OpenFile,
  ) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const r = await this.file.read(buffer, offset, length, position);
    if (this.spoiled) return r;
    if (position !== this.written || position + r.bytesRead > this.size) {
      this.spoiled = true;
      return r;
    }
    if (r.bytesRead > 0) {
      try {
        await this.out.write(buffer, offset, r.bytesRead);
        this.written += r.bytesRead;
      } catch {
        this.spoiled = true;
      }
    }
    return r;
  }

  /** Every byte of the version, in order, is in the staged copy. */
  get complete(): boolean {
    return !this.spoiled && this.written === this.size;
  }
}

/** Bytes of staged copies on disk at once (being written, or waiting for their verdicts). */
export const defaultStagingBudgetBytes = 512 * 1024 * 1024;

/**
 * The staged copies by scanId, until their deliveries take them, within a budget of bytes on
 * disk: while KATA is slow to answer, copies of files waiting for verdicts must not fill the
 * quarantine folder that deliveries need; beyond the budget a large file is not staged (its
 * delivery copies from input). One whose delivery never comes (the scan was abandoned) is
 * removed when `isLive` says so, looked at as new copies come.
 */
export class StagedCopies {
  private readonly staged = new Map<string, { copy: StagedCopy; fs: FolderFs }>();
  private reserved = 0;
  private sweptAt = 0;

  constructor(
    private readonly isLive: (scanId: string) => boolean,
    private readonly budgetBytes = defaultStagingBudgetBytes,
    private readonly now: () => number = Date.now,
  ) {}

  get count(): number {
    return this.staged.size;
  }

  /** Bytes reserved for staged copies (written or being written). */
  get bytes(): number {
    return this.reserved;
  }

  /** Room for a staged copy of `size` bytes; false when the budget is spent. Given back by release, take or drop. */
  reserve(size: number): boolean {
    if (this.reserved + size > this.budgetBytes) this.dropDead();
    if (this.reserved + size > this.budgetBytes) return false;
    this.reserved += size;
    return true;
  }

  /** A reservation whose copy was not kept (the upload failed, or its copy was spoiled). */
  release(size: number): void {
    this.reserved = Math.max(0, this.reserved - size);
  }

  /** A complete staged copy, within a reservation of its size. */
  add(scanId: string, copy: StagedCopy, fs: FolderFs): void {
    this.staged.set(scanId, { copy, fs });
    // The oldest few: deliveries mostly come in upload order, so abandoned ones reach the front.
    let looked = 0;
    for (const [id] of this.staged) {
      if (id === scanId || looked++ >= 2) break;
      if (!this.isLive(id)) this.drop(id);
    }
  }

  /** The scan's staged copy, for its delivery (which renames or removes it). */
  take(scanId: string): StagedCopy | undefined {
    const s = this.staged.get(scanId);
    if (!s) return undefined;
    this.staged.delete(scanId);
    this.release(s.copy.size);
    return s.copy;
  }

  /** Removes the staged copy (its delivery will not use it). */
  drop(scanId: string): void {
    const s = this.staged.get(scanId);
    if (!s) return;
    this.staged.delete(scanId);
    this.release(s.copy.size);
    void s.fs.unlink(s.copy.path).catch(() => undefined);
  }

  /** Every abandoned scan's copy, at most once a second while the budget is short. */
  private dropDead(): void {
    this.sweptAt = dropDeadScans(this.staged.keys(), this.sweptAt, this.now(), this.isLive, (scanId) => this.drop(scanId));
  }

  /**
   * Starts the staged copy of a large upload: reserves its size, creates the file (O_EXCL, 0600)
   * and returns the reader that writes through to it. `finish(true)` after the upload keeps a
   * complete copy for the delivery; anything else gives the reservation back and removes it.
   * Undefined when the budget is spent or the file cannot be created (the delivery copies from input).
   */
  async begin(scanId: string, path: string, size: number, file: ReadableFile, fs: FolderFs): Promise<StagingUpload | undefined> {
    if (!this.reserve(size)) return undefined;
    let out: OpenFile;
    try {
      out = await fs.open(path, 'wx', 0o600);
    } catch {
      this.release(size);
      return undefined;
    }
    const reader = new StagingReader(file, size, out);
    return {
      reader,
      finish: async (used: boolean) => {
        const st = used && reader.complete ? await out.stat().catch(() => undefined) : undefined;
        await out.close().catch(() => undefined);
        if (st && st.size === size) {
          this.add(scanId, { path, ino: st.ino, dev: st.dev, size }, fs);
          return;
        }
        this.release(size);
        await fs.unlink(path).catch(() => undefined);
      },
    };
  }
}

/**
 * The sweep both budgets share (this file's and scannedCopy.ts's): at most once a second, every
 * scan whose delivery will never come is dropped. Returns the time of the last sweep.
 */
export function dropDeadScans(scanIds: Iterable<string>, sweptAt: number, now: number, isLive: (scanId: string) => boolean, drop: (scanId: string) => void): number {
  if (now - sweptAt < 1000) return sweptAt;
  for (const scanId of [...scanIds]) if (!isLive(scanId)) drop(scanId);
  return now;
}
