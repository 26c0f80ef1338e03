import { constants, type Stats } from 'node:fs';
import { join } from 'node:path';
import { type FileVersion, sameVersion } from './fileVersion';
import type { FolderFs, OpenFile } from './folderFs';

/**
 * Open handles kept from upload to delivery. Beyond this many outstanding scans, a handle is
 * closed after its upload and the delivery opens the file once more, with the same checks.
 */
const maxHeldHandles = 1024;
const openFlags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export type OpenProblem = 'missing' | 'not-regular' | 'hard-link' | 'changed';

/**
 * The one open of each version of a file in input: opened without following a symlink or
 * waiting on a FIFO, checked on the handle, and kept (up to maxHeldHandles) from the upload
 * to the delivery, so the bytes copied are those of the file KATA scanned.
 */
export class HeldHandles {
  private readonly handles = new Map<string, { fh: OpenFile; version: Required<FileVersion>; stats: Stats }>();

  constructor(
    private readonly inDir: string,
    private readonly fs: FolderFs,
  ) {}

  /**
   * Opens this version once and checks the handle: a regular file with one link, of exactly
   * the settled device, inode, size and mtime. A handle already held for it is reused.
   */
  async open(name: string, v: FileVersion): Promise<{ fh: OpenFile; st: Stats } | { problem: OpenProblem; st?: Stats }> {
    const held = this.handles.get(name);
    if (held && sameVersion(v, held.version)) return { fh: held.fh, st: held.stats };
    let fh: OpenFile;
    try {
      fh = await this.fs.open(join(this.inDir, name), openFlags);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { problem: 'missing' };
      if (code === 'ELOOP' || code === 'ENXIO' || code === 'EISDIR') return { problem: 'not-regular' };
      throw err;
    }
    let st: Stats;
    try {
      st = await fh.stat();
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    const problem = !st.isFile() ? 'not-regular' : st.nlink !== 1 ? 'hard-link' : !sameVersion(v, st) ? 'changed' : undefined;
    if (problem) {
      await fh.close().catch(() => undefined);
      return { problem, st };
    }
    if (this.handles.size < maxHeldHandles && !this.handles.has(name)) this.handles.set(name, { fh, version: { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev }, stats: st });
    return { fh, st };
  }

  /** Closes a handle a step opened, unless it is the one kept for the file until delivery. */
  async closeUnlessHeld(name: string, fh: OpenFile): Promise<void> {
    if (this.handles.get(name)?.fh !== fh) await fh.close().catch(() => undefined);
  }

  drop(name: string): void {
    const held = this.handles.get(name);
    if (!held) return;
    this.handles.delete(name);
    void held.fh.close().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    for (const held of this.handles.values()) await held.fh.close().catch(() => undefined);
    this.handles.clear();
  }
}
