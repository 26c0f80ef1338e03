import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { flushRenamed, fsyncDir } from '../common/fsync';
import { hostPlatform, type Platform } from '../common/platform';
import { type FileVersion, sameVersion } from './fileVersion';
import { type FolderFs, type OpenFile, folderFs } from './folderFs';

/** Temporary copies in a destination folder carry this prefix; only KDS creates such names. */
export const partialPrefix = '.kds-partial-';

/** What was placed: the upload's kept bytes, its staged copy renamed, or a copy of the source read and hashed again. */
export type DeliveredFrom = 'scanned' | 'staged' | 'source';

export type DeliveryResult =
  | {
      ok: true;
      path: string;
      sha256: string;
      bytes: number;
      from: DeliveredFrom;
    }
  /** The source's bytes are not the ones KATA scanned (or it is no longer a regular file). */
  | { ok: false; reason: 'changed' | 'missing' | 'not-regular'; sha256?: string };

/**
 * A delivery step failed. `side` says whose failure it is: reading the source is the file's
 * trouble; writing the copy is the destination's (or, for a name the destination refuses, again
 * the file's: the engine tells those apart by probing the folder).
 */
export class DeliveryError extends Error {
  readonly code?: string;
  constructor(
    readonly side: 'source' | 'destination',
    readonly step: string,
    readonly cause: unknown,
  ) {
    super(`${step}: ${(cause as Error)?.message ?? String(cause)}`);
    this.code = (cause as NodeJS.ErrnoException)?.code;
  }
}

async function on<T>(side: 'source' | 'destination', step: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new DeliveryError(side, step, err);
  }
}

const chunkSize = 1 << 20;
/**
 * Copy buffers of chunkSize kept for the next deliveries: a fresh MiB per large file is external
 * memory the garbage collector then has to find, which cost more than the copy itself. A buffer
 * is given back only once every read and write on it has settled.
 */
const spareBuffers: Buffer[] = [];
/** As many as large deliveries run at once (routing.ts's budget). */
const maxSpareBuffers = 8;
/** Below this a buffer of the file's size (and one byte) is allocated; routing.ts counts larger files as large deliveries. */
const spareFromBytes = 64 * 1024;

function copyBuffer(fileSize: number): Buffer {
  if (fileSize < spareFromBytes) return Buffer.allocUnsafe(fileSize + 1);
  // One byte over chunkSize: a file of exactly 1 MiB is read, and looked past, in one read.
  return spareBuffers.pop() ?? Buffer.allocUnsafe(chunkSize + 1);
}

function giveBack(buf: Buffer | undefined): void {
  if (buf && buf.length === chunkSize + 1 && spareBuffers.length < maxSpareBuffers) spareBuffers.push(buf);
}
/** A long copy lets other work run this often, even when its calls do not wait (folderFs.ts). */
const yieldEveryBytes = 8 << 20;
const runAsRoot = process.getuid?.() === 0;
const ourGid = process.getgid?.() ?? 0;
const ourUid = process.getuid?.();

/**
 * Permissions of a delivered copy. `source`: the source's permission bits (no set-id or sticky
 * bits) and, when the service runs as root, its owner and group: what users expect of output.
 * `private`: mode 0600, owned by the service, so nothing in quarantine can be executed or
 * changed by whoever could write to input.
 */
export type CopyPermissions = 'source' | 'private';

/** A copy KDS wrote while uploading (stagedCopy.ts): where it is and which file it is. */
export interface StagedCopy {
  path: string;
  ino: number;
  dev: number;
  size: number;
}

export interface DeliverOptions {
  source: string;
  /** The version KATA scanned: the open handle must show it, and exactly its size is read. */
  expect?: FileVersion;
  /** Whether `expect`'s inode and device are compared (see sameVersion). */
  fileIds?: boolean;
  destDir: string;
  name: string;
  expectedSha256?: string;
  /**
   * The bytes the upload read, hashed and sent (scannedCopy.ts), and the stats of the source as
   * checked to be the scanned version: the copy is written from these bytes and the source is not
   * opened at all (what guards the source is then its version, checked by the caller).
   */
  scanned?: { bytes: Buffer; stats: Stats };
  /**
   * The copy written while uploading (stagedCopy.ts), in `fs`, and the source's stats as checked
   * to be the scanned version: renamed into place when it is still that very file of KDS's. Used
   * once: it is gone when this returns. Where it cannot be renamed (another device: EXDEV) or is
   * not the file KDS wrote, the source is copied as without it.
   */
  staged?: { copy: StagedCopy; fs: FolderFs; stats: Stats };
  /** Unique per delivery; becomes part of the temporary name. */
  tag: string;
  permissions?: CopyPermissions;
  /** Makes the rename durable; the engine passes its grouped folder fsync. */
  syncDir?: (dir: string) => Promise<void>;
  /** How the source's and the destination's folders are read and written (folderFs.ts); by default through the thread pool. */
  sourceFs?: FolderFs;
  fs?: FolderFs;
  platform?: Platform;
}

/**
 * Places a copy of `source` at `destDir/name`, replacing any file of that name, without ever
 * leaving a partial file under the final name: copy to a temporary name in the destination
 * folder while hashing, fsync, compare the hash with the one KATA scanned, rename over the
 * target, fsync the folder. A copy (rather than rename) works the same across file systems
 * (EXDEV) and guarantees that the bytes delivered are the bytes hashed. The source is opened
 * once without following a link (openNoFollow), checked on that handle, read to its end and
 * closed before this returns (SMB and Windows refuse to rename or delete a file this process
 * holds open); it stays in place: the caller records the delivery durably before removing it.
 * With `scanned`, the copy is written from the upload's own bytes instead and the source is not
 * read.
 *
 * Failures are thrown as DeliveryError, saying whether the source or the destination failed.
 */
export async function deliver(opts: DeliverOptions): Promise<DeliveryResult> {
  if (opts.scanned) return deliverScanned(opts, opts.scanned);
  if (opts.staged) {
    const placed = await deliverStaged(opts, opts.staged);
    if (placed) return placed;
  }
  const platform = opts.platform ?? hostPlatform;
  const fs = opts.fs ?? folderFs(false);
  let src: OpenFile;
  try {
    src = await (opts.sourceFs ?? folderFs(false)).openNoFollow(opts.source, platform);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, reason: 'missing' };
    if (code === 'ELOOP' || code === 'ENXIO' || code === 'EISDIR') return { ok: false, reason: 'not-regular' };
    throw new DeliveryError('source', 'open', err);
  }
  const tmp = partialPath(opts);
  let dst: OpenFile | undefined;
  let buf: Buffer | undefined;
  let keepTmp = false;
  try {
    const st = await on('source', 'stat', src.stat());
    if (!st.isFile()) return { ok: false, reason: 'not-regular' };
    if (opts.expect && (st.nlink !== 1 || !sameVersion(opts.expect, st, opts.fileIds ?? true))) return { ok: false, reason: 'changed' };
    dst = await on('destination', 'create', fs.open(tmp, 'wx', 0o600));
    const hash = createHash('sha256');
    const limit = opts.expect?.size ?? Infinity;
    buf = copyBuffer(st.size);
    let bytes = 0;
    // With an expected size, each read asks for one byte more than is left: a source longer than
    // the scanned version (a client's cached size can be stale) shows without a read of its own.
    const extra = opts.expect ? 1 : 0;
    let lookedPast = false;
    while (bytes < limit) {
      const want = Math.min(buf.length, limit - bytes + extra);
      lookedPast = want > limit - bytes;
      const { bytesRead } = await on('source', 'read', src.read(buf!, 0, want, bytes));
      if (bytesRead === 0) break;
      if (bytes + bytesRead > limit) return { ok: false, reason: 'changed' };
      hash.update(buf.subarray(0, bytesRead));
      await on('destination', 'write', dst.write(buf, 0, bytesRead));
      bytes += bytesRead;
      if (bytes % yieldEveryBytes < bytesRead) await yieldToLoop();
    }
    // Exactly the scanned size: a shorter source is another version too.
    if (opts.expect && bytes !== limit) return { ok: false, reason: 'changed' };
    // The last read filled the buffer (or there was none): look past the scanned size once.
    if (opts.expect && !lookedPast && (await on('source', 'read', src.read(buf, 0, 1, bytes))).bytesRead !== 0) return { ok: false, reason: 'changed' };
    const sha256 = hash.digest('hex');
    if (opts.expectedSha256 && sha256 !== opts.expectedSha256.toLowerCase()) {
      return { ok: false, reason: 'changed', sha256 };
    }
    // Closed before the rename and the caller's unlink of the source.
    await src.close().catch(() => undefined);
    const d = dst;
    dst = undefined;
    const target = await place(d, tmp, st, opts, platform, fs, () => (keepTmp = true));
    return { ok: true, path: target, sha256, bytes, from: 'source' };
  } finally {
    await src.close().catch(() => undefined);
    if (dst) await dst.close().catch(() => undefined);
    if (!keepTmp) await fs.unlink(tmp).catch(() => undefined);
    giveBack(buf);
  }
}

/** The copy written from the bytes the upload read (`scanned`); the source is not opened. */
async function deliverScanned(opts: DeliverOptions, scanned: { bytes: Buffer; stats: Stats }): Promise<DeliveryResult> {
  const platform = opts.platform ?? hostPlatform;
  const fs = opts.fs ?? folderFs(false);
  const tmp = partialPath(opts);
  let keepTmp = false;
  const dst = await on('destination', 'create', fs.open(tmp, 'wx', 0o600));
  let open = true;
  try {
    await on('destination', 'write', dst.write(scanned.bytes, 0, scanned.bytes.length));
    open = false;
    const target = await place(dst, tmp, scanned.stats, opts, platform, fs, () => (keepTmp = true));
    return { ok: true, path: target, sha256: opts.expectedSha256?.toLowerCase() ?? '', bytes: scanned.bytes.length, from: 'scanned' };
  } finally {
    if (open) await dst.close().catch(() => undefined);
    if (!keepTmp) await fs.unlink(tmp).catch(() => undefined);
  }
}

/**
 * Renames the staged copy into place after checking, on a handle of its own, that it is the file
 * KDS wrote (same inode, size, one link, owned by this process's user), giving it the source's
 * permissions and times and syncing it. Undefined (and the staged copy removed) when it cannot be
 * used: the caller copies from the source instead. After the rename the name is looked at once
 * more: a file swapped in between the check and the rename is taken out again.
 */
async function deliverStaged(opts: DeliverOptions, staged: NonNullable<DeliverOptions['staged']>): Promise<DeliveryResult | undefined> {
  const platform = opts.platform ?? hostPlatform;
  const fs = opts.fs ?? folderFs(false);
  const { copy } = staged;
  let renamed = false;
  let f: OpenFile;
  try {
    f = await staged.fs.openNoFollow(copy.path, platform);
  } catch {
    return undefined;
  }
  try {
    const st = await f.stat().catch(() => undefined);
    const ours = st && st.isFile() && st.nlink === 1 && st.ino === copy.ino && st.dev === copy.dev && st.size === copy.size && (ourUid === undefined || st.uid === ourUid);
    if (!ours) {
      await f.close().catch(() => undefined);
      return undefined;
    }
    let target: string;
    try {
      target = await place(f, copy.path, staged.stats, opts, platform, fs, () => (renamed = true));
    } catch (err) {
      // Before the rename (EXDEV, or the staged copy's own trouble) the source is copied instead;
      // after it, a failure to make the rename durable is the destination's.
      if (!renamed) return undefined;
      throw err;
    }
    const there = await fs.lstat(target).catch(() => undefined);
    if (!there || there.ino !== copy.ino || there.dev !== copy.dev) {
      await fs.unlink(target).catch(() => undefined);
      return undefined;
    }
    return { ok: true, path: target, sha256: opts.expectedSha256?.toLowerCase() ?? '', bytes: copy.size, from: 'staged' };
  } finally {
    if (!renamed) await staged.fs.unlink(copy.path).catch(() => undefined);
  }
}

function partialPath(opts: { destDir: string; tag: string }): string {
  return join(opts.destDir, `${partialPrefix}${opts.tag.replace(/[^A-Za-z0-9_-]/g, '')}`);
}

/**
 * The copy's permissions and times (from the source's stats), fsync, close, rename over the
 * target, flush, fsync of the folder. `dst` is closed whatever happens; `renamed` is called once
 * the temporary name is gone.
 */
async function place(dst: OpenFile, tmp: string, st: Stats, opts: DeliverOptions, platform: Platform, fs: FolderFs, renamed: () => void): Promise<string> {
  try {
    if ((opts.permissions ?? 'source') === 'source' && platform.permissionBits) {
      await dst.chmod(st.mode & 0o777).catch(() => undefined);
      if (runAsRoot && (st.uid !== 0 || st.gid !== ourGid)) await dst.chown(st.uid, st.gid).catch(() => undefined);
    }
    await dst.utimes(st.atimeMs / 1000, st.mtimeMs / 1000).catch(() => undefined);
    await on('destination', 'fsync', dst.sync());
  } catch (err) {
    await dst.close().catch(() => undefined);
    throw err;
  }
  await on('destination', 'close', dst.close());
  const target = join(opts.destDir, opts.name);
  await on('destination', 'rename', fs.rename(tmp, target));
  renamed();
  await on('destination', 'flush', flushRenamed(target, platform));
  await on('destination', 'fsync folder', (opts.syncDir ?? ((dir: string) => fsyncDir(dir, platform)))(opts.destDir));
  return target;
}

/** Removes a file once its copy is durable elsewhere (a release from quarantine); already gone is fine. */
export async function removeSource(path: string, opts: { syncDir?: (dir: string) => Promise<void> } = {}): Promise<'removed' | 'gone'> {
  let result: 'removed' | 'gone' = 'removed';
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    result = 'gone';
  }
  await (opts.syncDir ?? fsyncDir)(dirname(path));
  return result;
}

/** Temporary copies left by a crash; the originals are still in input, so these are safe to drop. */
export async function removePartials(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(partialPrefix)) continue;
    await unlink(join(dir, name)).then(
      () => removed.push(name),
      () => undefined,
    );
  }
  return removed;
}
