import * as fs from 'node:fs';
import type { Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { type Platform, openNoFollow, openNoFollowSync } from '../common/platform';

/**
 * The file-system calls the engine makes on one folder's files, with two back ends. On a local
 * file system (ext4, xfs, tmpfs, …) a call other than fsync is microseconds from the page cache,
 * and going through libuv's thread pool costs many times that (a hand-off to a thread, a wake-up,
 * a promise, a FileHandle to track): there the calls are made synchronously, on plain
 * descriptors. On a share (CIFS, NFS, FUSE) a call may wait on the network, and the event loop
 * must not: there every call goes through node:fs/promises and the thread pool. fsync waits on
 * the disk and always goes through the thread pool.
 */
export interface FolderFs {
  readonly local: boolean;
  lstat(path: string): Promise<Stats>;
  /** lstat, with undefined for a name that is not there. */
  lstatIfAny(path: string): Promise<Stats | undefined>;
  open(path: string, flags: number | string, mode?: number): Promise<OpenFile>;
  /** Opens for reading without following a link, never blocking on a FIFO (platform.ts's openNoFollow). */
  openNoFollow(path: string, platform?: Platform): Promise<OpenFile>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

/** An open file of a FolderFs. close() may be called more than once (a descriptor number is reused). */
export interface OpenFile {
  /** Positional, never moving the file's offset (the shape of FileHandle.read the KATA client takes). */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<Stats>;
  /** Writes all of `buffer[offset, offset + length)` at the file's current offset. */
  write(buffer: Buffer, offset: number, length: number): Promise<void>;
  chmod(mode: number): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  utimes(atimeS: number, mtimeS: number): Promise<void>;
  /** Always through the thread pool: it waits for the disk. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Local file systems where a metadata call or a write to the page cache does not wait on a
 * network: fs types of /proc/mounts. Anything else (network, FUSE, unknown) is treated as a share.
 */
const localTypes = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'tmpfs', 'f2fs', 'zfs', 'jfs', 'reiserfs', 'overlay', 'ramfs', 'bcachefs', 'nilfs2']);

export function isLocalFsType(fsType: string | undefined): boolean {
  return fsType !== undefined && localTypes.has(fsType.toLowerCase());
}

/**
 * The longest read or write made synchronously. A larger one (a delivery's 1 MiB blocks) goes
 * through the thread pool even on a local disk: its bytes may not be in the page cache, and a
 * write may be held back while the kernel flushes dirty pages, which can take far longer than a
 * metadata call. The engine runs inside VS Code's extension host in local mode, whose event loop
 * must never wait on a large copy. A small upload or delivery stays synchronous; a large one
 * makes one trip to the thread pool per read of up to 1 MiB (a file of 1 MiB: one).
 */
export const syncIoMaxBytes = 128 * 1024;

/** A descriptor used with synchronous calls (a local file system), except for large reads and writes. */
class SyncFile implements OpenFile {
  private closed = false;
  /** A read or write in the thread pool: close() waits for it (the descriptor number would be reused). */
  private inPool?: Promise<unknown>;

  constructor(private readonly fd: number) {}

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    if (length > syncIoMaxBytes) {
      return this.pooled(new Promise((resolve, reject) => fs.read(this.fd, buffer, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead })))));
    }
    return settle(() => ({ bytesRead: fs.readSync(this.fd, buffer, offset, length, position) }));
  }

  stat(): Promise<Stats> {
    return settle(() => fs.fstatSync(this.fd));
  }

  write(buffer: Buffer, offset: number, length: number): Promise<void> {
    if (length > syncIoMaxBytes) return this.pooled(writeAll(this.fd, buffer, offset, length));
    return settle(() => {
      for (let end = offset + length; offset < end; ) offset += fs.writeSync(this.fd, buffer, offset, end - offset);
    });
  }

  private pooled<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.inPool = settled;
    void settled.then(() => {
      if (this.inPool === settled) this.inPool = undefined;
    });
    return p;
  }

  chmod(mode: number): Promise<void> {
    return settle(() => fs.fchmodSync(this.fd, mode));
  }

  chown(uid: number, gid: number): Promise<void> {
    return settle(() => fs.fchownSync(this.fd, uid, gid));
  }

  utimes(atimeS: number, mtimeS: number): Promise<void> {
    return settle(() => fs.futimesSync(this.fd, atimeS, mtimeS));
  }

  sync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fsync(this.fd, (err) => (err ? reject(err) : resolve())));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.inPool) return this.inPool.then(() => fs.closeSync(this.fd));
    return settle(() => fs.closeSync(this.fd));
  }
}

/** Writes all of `buffer[offset, offset + length)` at the file's offset, through the thread pool. */
async function writeAll(fd: number, buffer: Buffer, offset: number, length: number): Promise<void> {
  for (let end = offset + length; offset < end; ) {
    offset += await new Promise<number>((resolve, reject) => fs.write(fd, buffer, offset, end - offset, null, (err, written) => (err ? reject(err) : resolve(written))));
  }
}

/** A FileHandle (a share: every call through the thread pool). */
class HandleFile implements OpenFile {
  constructor(private readonly fh: fsp.FileHandle) {}

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.fh.read(buffer, offset, length, position);
  }

  stat(): Promise<Stats> {
    return this.fh.stat();
  }

  async write(buffer: Buffer, offset: number, length: number): Promise<void> {
    for (let end = offset + length; offset < end; ) offset += (await this.fh.write(buffer, offset, end - offset)).bytesWritten;
  }

  chmod(mode: number): Promise<void> {
    return this.fh.chmod(mode);
  }

  chown(uid: number, gid: number): Promise<void> {
    return this.fh.chown(uid, gid);
  }

  utimes(atimeS: number, mtimeS: number): Promise<void> {
    return this.fh.utimes(atimeS, mtimeS);
  }

  sync(): Promise<void> {
    return this.fh.sync();
  }

  close(): Promise<void> {
    // FileHandle.close() settles at once when the handle is already closed.
    return this.fh.close();
  }
}

const localFs: FolderFs = {
  local: true,
  lstat: (path) => settle(() => fs.lstatSync(path)),
  lstatIfAny: (path) => settle(() => fs.lstatSync(path, { throwIfNoEntry: false })),
  open: (path, flags, mode) => settle(() => new SyncFile(fs.openSync(path, flags, mode))),
  openNoFollow: (path, platform) => settle(() => new SyncFile(openNoFollowSync(path, platform))),
  rename: (from, to) => settle(() => fs.renameSync(from, to)),
  link: (existing, newPath) => settle(() => fs.linkSync(existing, newPath)),
  unlink: (path) => settle(() => fs.unlinkSync(path)),
};

const sharedFs: FolderFs = {
  local: false,
  lstat: (path) => fsp.lstat(path),
  lstatIfAny: (path) =>
    fsp.lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    }),
  open: async (path, flags, mode) => new HandleFile(await fsp.open(path, flags, mode)),
  openNoFollow: async (path, platform) => new HandleFile(await openNoFollow(path, platform)),
  rename: (from, to) => fsp.rename(from, to),
  link: (existing, newPath) => fsp.link(existing, newPath),
  unlink: (path) => fsp.unlink(path),
};

/** The back end for a folder: `local` from its mount's type (isLocalFsType). */
export function folderFs(local: boolean): FolderFs {
  return local ? localFs : sharedFs;
}

/** A synchronous call as a promise: its exception becomes the rejection, as with the thread pool. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}
