import * as fs from 'node:fs';
import type { Stats } from 'node:fs';

/**
 * The file-system calls the engine makes on one folder's files, with two back ends. On a local
 * file system (ext4, xfs, tmpfs, …) a call other than fsync is microseconds from the page cache,
 * and going through libuv's thread pool costs many times that (a hand-off to a thread, a wake-up,
 * a promise): there they are made synchronously. On a share (CIFS, NFS, FUSE) a call may wait on
 * the network, and the event loop must not: there every call goes through the thread pool. fsync
 * waits on the disk and always goes through the thread pool. Descriptors are plain numbers
 * (OpenFile), not FileHandles, whose tracking costs more than the calls themselves.
 */
export interface FolderFs {
  readonly local: boolean;
  lstat(path: string): Promise<Stats>;
  /** lstat, with undefined for a name that is not there (no exception to build). */
  lstatIfAny(path: string): Promise<Stats | undefined>;
  open(path: string, flags: number | string, mode?: number): Promise<OpenFile>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

/**
 * Local file systems where a metadata call or a write to the page cache does not wait on a
 * network: fs types of /proc/mounts. Anything else (network, FUSE, unknown) is treated as a share.
 */
const localTypes = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'tmpfs', 'f2fs', 'zfs', 'jfs', 'reiserfs', 'overlay', 'ramfs', 'bcachefs', 'nilfs2']);

export function isLocalFsType(fsType: string | undefined): boolean {
  return fsType !== undefined && localTypes.has(fsType.toLowerCase());
}

/** A descriptor opened through a FolderFs; close() is safe to call twice (a number may be reused). */
export class OpenFile {
  private closed = false;

  constructor(
    readonly fd: number,
    private readonly local: boolean,
  ) {}

  /** The FileHandle-shaped read the KATA client and the delivery use: positional, never moving the offset. */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    if (this.local) return settle(() => ({ bytesRead: fs.readSync(this.fd, buffer, offset, length, position) }));
    return new Promise((resolve, reject) => fs.read(this.fd, buffer, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead }))));
  }

  stat(): Promise<Stats> {
    if (this.local) return settle(() => fs.fstatSync(this.fd));
    return callback<Stats>((cb) => fs.fstat(this.fd, cb));
  }

  /** Writes all of `buffer[offset, offset + length)` at the file's current offset. */
  async write(buffer: Buffer, offset: number, length: number): Promise<void> {
    while (length > 0) {
      const n = this.local ? fs.writeSync(this.fd, buffer, offset, length) : await callback<number>((cb) => fs.write(this.fd, buffer, offset, length, null, cb));
      offset += n;
      length -= n;
    }
  }

  chmod(mode: number): Promise<void> {
    if (this.local) return settle(() => fs.fchmodSync(this.fd, mode));
    return callback<void>((cb) => fs.fchmod(this.fd, mode, cb));
  }

  chown(uid: number, gid: number): Promise<void> {
    if (this.local) return settle(() => fs.fchownSync(this.fd, uid, gid));
    return callback<void>((cb) => fs.fchown(this.fd, uid, gid, cb));
  }

  utimes(atimeS: number, mtimeS: number): Promise<void> {
    if (this.local) return settle(() => fs.futimesSync(this.fd, atimeS, mtimeS));
    return callback<void>((cb) => fs.futimes(this.fd, atimeS, mtimeS, cb));
  }

  /** Always through the thread pool: it waits for the disk. */
  sync(): Promise<void> {
    return callback<void>((cb) => fs.fsync(this.fd, cb));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.local) return settle(() => fs.closeSync(this.fd));
    return callback<void>((cb) => fs.close(this.fd, cb));
  }
}

const localFs: FolderFs = {
  local: true,
  lstat: (path) => settle(() => fs.lstatSync(path)),
  lstatIfAny: (path) => settle(() => fs.lstatSync(path, { throwIfNoEntry: false })),
  open: (path, flags, mode) => settle(() => new OpenFile(fs.openSync(path, flags, mode), true)),
  rename: (from, to) => settle(() => fs.renameSync(from, to)),
  unlink: (path) => settle(() => fs.unlinkSync(path)),
};

const sharedFs: FolderFs = {
  local: false,
  lstat: (path) => callback<Stats>((cb) => fs.lstat(path, cb)),
  lstatIfAny: (path) =>
    new Promise((resolve, reject) => fs.lstat(path, (err, st) => (err ? ((err as NodeJS.ErrnoException).code === 'ENOENT' ? resolve(undefined) : reject(err)) : resolve(st)))),
  open: async (path, flags, mode) => new OpenFile(await callback<number>((cb) => fs.open(path, flags, mode, cb)), false),
  rename: (from, to) => callback<void>((cb) => fs.rename(from, to, cb)),
  unlink: (path) => callback<void>((cb) => fs.unlink(path, cb)),
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

function callback<T>(start: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value))));
}
