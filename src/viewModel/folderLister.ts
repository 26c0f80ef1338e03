import { type FSWatcher, watch } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';

/** One directory entry as the folder views need it. */
export interface ListedEntry {
  name: string;
  size: number;
  mtimeMs: number;
  /** Inode change time where the source knows it; otherwise the same as mtimeMs (SFTP v3 has no ctime). */
  ctimeMs: number;
  /** A regular file (not a directory, symlink or device). */
  isFile: boolean;
}

/**
 * How a folder view lists its folder: the local file system (default) or the Central Node over
 * SFTP (src/centralNode/sftpFolderLister.ts). A missing folder lists as empty or throws; both are
 * shown as an empty view.
 */
export interface FolderLister {
  list(dir: string): Promise<ListedEntry[]>;
  /**
   * Calls onChange when the folder may have changed (with `dead` = true when the watch ended, e.g.
   * the folder was unmounted: the caller watches again later); returns a stop function, or
   * undefined when the folder cannot be watched now. Optional: without it the view relies on refreshes.
   */
  watch?(dir: string, onChange: (dead?: boolean) => void): (() => void) | undefined;
  /** The path of `name` in `dir` (remote folders are POSIX paths whatever this machine is). */
  join(dir: string, name: string): string;
}

/** lstat calls in flight at once: enough to hide latency on a share, few enough not to flood it. */
const statConcurrency = 64;

/** The local file system: readdir with d_type, lstat only for what may be a file. */
export const localFolderLister: FolderLister = {
  async list(dir) {
    const entries = await readdir(dir, { withFileTypes: true });
    // d_type saves an lstat for directories and links; DT_UNKNOWN (some shares) is decided by lstat.
    const names = entries.filter((d) => !d.isDirectory() && !d.isSymbolicLink()).map((d) => d.name);
    const out: ListedEntry[] = [];
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++]!;
        try {
          const st = await lstat(join(dir, name));
          out.push({ name, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, isFile: st.isFile() });
        } catch {
          // gone meanwhile
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(statConcurrency, names.length) }, worker));
    return out;
  },
  watch(dir, onChange) {
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, () => onChange());
    } catch {
      return undefined; // missing folder: a later refresh tries again
    }
    let closed = false;
    w.on('error', () => {
      if (closed) return;
      closed = true;
      w.close();
      onChange(true);
    });
    return () => {
      closed = true;
      w.close();
    };
  },
  join,
};

export { posix as posixPath };
