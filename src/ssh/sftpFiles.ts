import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { SFTPWrapper, Stats } from 'ssh2';

export type RemoteFileType = 'file' | 'directory' | 'symlink' | 'other';

export interface RemoteStat {
  type: RemoteFileType;
  size: number;
  mtimeMs: number;
  mode: number;
  uid: number;
  gid: number;
}

export interface RemoteDirEntry extends RemoteStat {
  name: string;
}

function toStat(s: Stats): RemoteStat {
  const type: RemoteFileType = s.isFile() ? 'file' : s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symlink' : 'other';
  return { type, size: s.size, mtimeMs: s.mtime * 1000, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid };
}

const SFTP_NO_SUCH_FILE = 2;

function isNoSuchFile(e: unknown): boolean {
  return (e as { code?: unknown })?.code === SFTP_NO_SUCH_FILE || (e as { code?: unknown })?.code === 'ENOENT';
}

/** A small promise wrapper over one SFTP channel. Paths are remote POSIX paths. */
export class SftpFiles {
  constructor(private readonly sftp: SFTPWrapper) {}

  private call<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
  }

  async readdir(path: string): Promise<RemoteDirEntry[]> {
    const list = await this.call<Array<{ filename: string; attrs: Stats }>>((cb) => this.sftp.readdir(path, cb));
    return list.filter((e) => e.filename !== '.' && e.filename !== '..').map((e) => ({ name: e.filename, ...toStat(e.attrs) }));
  }

  async stat(path: string): Promise<RemoteStat> {
    return toStat(await this.call<Stats>((cb) => this.sftp.stat(path, cb)));
  }

  async lstat(path: string): Promise<RemoteStat> {
    return toStat(await this.call<Stats>((cb) => this.sftp.lstat(path, cb)));
  }

  readlink(path: string): Promise<string> {
    return this.call<string>((cb) => this.sftp.readlink(path, cb));
  }

  /** undefined when nothing is there. */
  async exists(path: string): Promise<RemoteStat | undefined> {
    try {
      return await this.lstat(path);
    } catch (e) {
      if (isNoSuchFile(e)) return undefined;
      throw e;
    }
  }

  readFile(path: string): Promise<Buffer> {
    return this.call<Buffer>((cb) => this.sftp.readFile(path, cb as (err: Error | undefined, data: Buffer) => void));
  }

  /**
   * Writes a temporary file next to `path` with `mode`, flushes it (fsync@openssh.com when the
   * server has it) and renames it over `path` (posix-rename@openssh.com, which replaces), so
   * readers see the old content or the new, never half of it.
   */
  async writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
    const tmp = posix.join(posix.dirname(path), `.${posix.basename(path)}.kds-${randomBytes(6).toString('hex')}.tmp`);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const handle = await this.call<Buffer>((cb) => this.sftp.open(tmp, 'wx', { mode }, cb));
    try {
      let off = 0;
      while (off < buf.length) {
        const n = Math.min(32 * 1024, buf.length - off);
        await this.call<void>((cb) => this.sftp.write(handle, buf, off, n, off, cb));
        off += n;
      }
      await this.call<void>((cb) => this.sftp.fchmod(handle, mode, cb));
      await this.call<void>((cb) => this.sftp.ext_openssh_fsync(handle, cb)).catch(() => undefined);
    } catch (e) {
      await this.call<void>((cb) => this.sftp.close(handle, cb)).catch(() => undefined);
      await this.unlink(tmp).catch(() => undefined);
      throw e;
    }
    await this.call<void>((cb) => this.sftp.close(handle, cb));
    try {
      await this.rename(tmp, path);
    } catch (e) {
      await this.unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  createReadStream(path: string, opts: { start?: number; end?: number } = {}): Readable {
    return this.sftp.createReadStream(path, { start: opts.start, end: opts.end });
  }

  /** mkdir -p: creates the missing parents; an existing directory is fine. */
  async mkdir(path: string, opts: { recursive?: boolean; mode?: number } = { recursive: true }): Promise<void> {
    const attrs = opts.mode === undefined ? {} : { mode: opts.mode };
    if (opts.recursive === false) {
      await this.call<void>((cb) => this.sftp.mkdir(path, attrs, cb));
      return;
    }
    const parts = posix.normalize(path).split('/');
    let cur = path.startsWith('/') ? '/' : '';
    for (const part of parts) {
      if (!part) continue;
      cur = cur ? posix.join(cur, part) : part;
      const st = await this.exists(cur);
      if (st) {
        if (st.type !== 'directory' && (await this.stat(cur).catch(() => undefined))?.type !== 'directory') {
          throw Object.assign(new Error(`${cur}: not a directory`), { code: 'ENOTDIR' });
        }
        continue;
      }
      try {
        await this.call<void>((cb) => this.sftp.mkdir(cur, attrs, cb));
      } catch (e) {
        // Someone else created it meanwhile.
        if ((await this.exists(cur))?.type !== 'directory') throw e;
      }
    }
  }

  /** Replaces `to` if it exists (posix-rename@openssh.com; plain SFTP rename otherwise). */
  async rename(from: string, to: string): Promise<void> {
    try {
      await this.call<void>((cb) => this.sftp.ext_openssh_rename(from, to, cb));
    } catch (e) {
      if (!/not support/i.test((e as Error)?.message ?? '')) throw e;
      await this.call<void>((cb) => this.sftp.rename(from, to, cb));
    }
  }

  unlink(path: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.unlink(path, cb));
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.call<void>((cb) => this.sftp.chmod(path, mode, cb));
  }

  /** The absolute form of a path ('.' is the SSH user's home folder). */
  realpath(path: string): Promise<string> {
    return this.call<string>((cb) => this.sftp.realpath(path, cb));
  }

  /**
   * Writes `data` from byte `start` on into `path` at the same offsets (a new file with `mode`
   * when `start` is 0, the existing one otherwise), keeping several writes in flight so a link
   * with a long round trip is not idle between them. `onProgress` gets the length of the prefix
   * the server has acknowledged without a gap, which is where an interrupted write can go on.
   */
  async writeFrom(path: string, data: Buffer, start: number, opts: { mode?: number; onProgress?: (written: number) => void } = {}): Promise<void> {
    const chunk = 32 * 1024;
    const inFlight = 16;
    const handle = await this.call<Buffer>((cb) => this.sftp.open(path, start === 0 ? 'w' : 'r+', { mode: opts.mode ?? 0o600 }, cb));
    let failure: unknown;
    try {
      const done = new Set<number>();
      let next = start;
      let written = start;
      await new Promise<void>((resolve) => {
        let pending = 0;
        const issue = () => {
          while (failure === undefined && pending < inFlight && next < data.length) {
            const at = next;
            const n = Math.min(chunk, data.length - at);
            next += n;
            pending++;
            this.sftp.write(handle, data, at, n, at, (err) => {
              pending--;
              if (err) failure ??= err;
              else {
                done.add(at);
                while (done.has(written)) {
                  done.delete(written);
                  written = Math.min(written + chunk, data.length);
                }
                opts.onProgress?.(written);
              }
              if (pending === 0 && (failure !== undefined || next >= data.length)) resolve();
              else issue();
            });
          }
          if (pending === 0) resolve();
        };
        issue();
      });
      if (failure === undefined) await this.call<void>((cb) => this.sftp.ext_openssh_fsync(handle, cb)).catch(() => undefined);
    } finally {
      await this.call<void>((cb) => this.sftp.close(handle, cb)).catch(() => undefined);
    }
    if (failure !== undefined) throw failure;
  }

  close(): void {
    this.sftp.end();
  }
}
