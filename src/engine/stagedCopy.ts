import { join } from 'node:path';
import type { ReadableFile } from '../kata/scannerApi';
import { type StagedCopy, partialPrefix } from './delivery';
import type { FolderFs, OpenFile } from './folderFs';

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

/**
 * The staged copies by scanId, until their deliveries take them. One whose delivery never comes
 * (the scan was abandoned) is removed when `isLive` says so, looked at as new copies come.
 */
export class StagedCopies {
  private readonly staged = new Map<string, { copy: StagedCopy; fs: FolderFs }>();

  constructor(private readonly isLive: (scanId: string) => boolean) {}

  get count(): number {
    return this.staged.size;
  }

  add(scanId: string, copy: StagedCopy, fs: FolderFs): void {
    this.staged.set(scanId, { copy, fs });
    // The oldest few: deliveries mostly come in upload order, so abandoned ones reach the front.
    let looked = 0;
    for (const [id] of this.staged) {
      if (id === scanId || looked++ >= 2) break;
      if (!this.isLive(id)) this.drop(id);
    }
  }

  take(scanId: string): StagedCopy | undefined {
    const s = this.staged.get(scanId);
    this.staged.delete(scanId);
    return s?.copy;
  }

  /** Removes the staged copy (its delivery will not use it). */
  drop(scanId: string): void {
    const s = this.staged.get(scanId);
    if (!s) return;
    this.staged.delete(scanId);
    void s.fs.unlink(s.copy.path).catch(() => undefined);
  }
}
