import { posix } from 'node:path';
import type { FolderLister, ListedEntry } from '../viewModel/folderLister';
import type { SftpFiles } from '../ssh/sftpFiles';

/**
 * A folder on the Central Node listed over SFTP (one READDIR round trip per batch of names; the
 * attributes come with the listing, so no stat per file). OpenSSH's READDIR reports lstat
 * attributes: symlinks are not followed. SFTP v3 has no ctime: mtime stands in for it.
 * There is no watch over SFTP: the views refresh on the engine's routed events and on a timer.
 */
export class SftpFolderLister implements FolderLister {
  constructor(private readonly files: () => Promise<SftpFiles>) {}

  async list(dir: string): Promise<ListedEntry[]> {
    const sftp = await this.files();
    const entries = await sftp.readdir(dir);
    return entries.map((e) => ({ name: e.name, size: e.size, mtimeMs: e.mtimeMs, ctimeMs: e.mtimeMs, isFile: e.type === 'file' }));
  }

  join(dir: string, name: string): string {
    return posix.join(dir, name);
  }
}

/**
 * One SFTP channel per SSH session, reopened after a reconnect: `session()` gives the connected
 * session (e.g. `() => reconnecting.whenConnected()`).
 */
export function sftpPerSession(session: () => Promise<{ sftp(): Promise<SftpFiles>; onClose(l: (err?: Error) => void): () => void }>): () => Promise<SftpFiles> {
  let cached: { source: unknown; sftp: Promise<SftpFiles> } | undefined;
  return async () => {
    const source = await session();
    if (cached?.source !== source) {
      const entry = { source, sftp: source.sftp() };
      cached = entry;
      source.onClose(() => {
        if (cached === entry) cached = undefined;
      });
      entry.sftp.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.sftp;
  };
}
