import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { hostPlatform, type Platform } from './platform';

/** Folders some file systems (CIFS, some FUSE) refuse to fsync: there the server owns durability. */
const folderSyncRefusals = new Set(['EINVAL', 'ENOTSUP', 'EISDIR', 'EBADF', 'EPERM', 'EACCES']);

/**
 * fsync a directory so a rename or unlink in it survives a power cut. Where folders cannot be
 * synced (Windows: see Platform.durableRename) this does nothing; flushRenamed covers renames
 * there. (On macOS Node's fsync is F_FULLFSYNC, which reaches the drive's media.)
 */
export async function fsyncDir(dir: string, platform: Platform = hostPlatform): Promise<void> {
  if (platform.durableRename !== 'fsync-folder') return;
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    if (!folderSyncRefusals.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await handle?.close();
  }
}

/**
 * fsyncDir for a folder on a local file system (folderFs.ts): its open and close are synchronous
 * (microseconds from the cache), so only the fsync, which waits for the disk, goes through the
 * thread pool: one trip instead of three.
 */
export function fsyncLocalDir(dir: string, platform: Platform = hostPlatform): Promise<void> {
  if (platform.durableRename !== 'fsync-folder') return Promise.resolve();
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (err) {
    return folderSyncRefusals.has((err as NodeJS.ErrnoException).code ?? '') ? Promise.resolve() : Promise.reject(err);
  }
  return new Promise<void>((resolve, reject) =>
    fsync(fd, (err) => {
      try {
        closeSync(fd);
      } catch (closeErr) {
        if (!err) return reject(closeErr);
      }
      if (err && !folderSyncRefusals.has(err.code ?? '')) reject(err);
      else resolve();
    }),
  );
}

export function fsyncDirSync(dir: string, platform: Platform = hostPlatform): void {
  if (platform.durableRename !== 'fsync-folder') return;
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err) {
    if (!folderSyncRefusals.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Makes a rename onto `path` durable where folders cannot be synced (Windows): the file is opened
 * under its new name and flushed (FlushFileBuffers), which commits the file system's metadata log
 * up to the rename. Nothing to do where fsyncDir of the folder does it. A file already moved on
 * by someone else needs nothing either.
 */
export async function flushRenamed(path: string, platform: Platform = hostPlatform): Promise<void> {
  if (platform.durableRename !== 'flush-renamed-file') return;
  let handle;
  try {
    handle = await open(path, 'r+');
    await handle.sync();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    await handle?.close();
  }
}

/** After renameSync(tmp, path): the rename survives a power cut once this returns. */
export function syncRenameSync(path: string, dir: string, platform: Platform = hostPlatform): void {
  if (platform.durableRename === 'fsync-folder') {
    fsyncDirSync(dir, platform);
    return;
  }
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
