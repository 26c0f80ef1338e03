import { createHash } from 'node:crypto';
import { type Stats, constants } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { fsyncDir } from '../common/fsync';
import { type FileVersion, sameVersion } from './fileVersion';
import { type FolderFs, type OpenFile, folderFs } from './folderFs';

/** Temporary copies in a destination folder carry this prefix; only KDS creates such names. */
export const partialPrefix = '.kds-partial-';

export type DeliveryResult =
  | { ok: true; path: string; sha256: string; bytes: number }
  /** The source's bytes are not the ones KATA scanned (or it is no longer a regular file). */
  | { ok: false; reason: 'changed' | 'missing' | 'not-regular'; sha256?: string };

const chunkSize = 1 << 20;
/** A long copy lets other work run this often, even when its calls do not wait (folderFs.ts). */
const yieldEveryBytes = 8 << 20;
const runAsRoot = process.getuid?.() === 0;
const ourGid = process.getgid?.() ?? 0;

/**
 * Permissions of a delivered copy. `source`: the source's permission bits (no set-id or sticky
 * bits) and, when the service runs as root, its owner and group: what users expect of output.
 * `private`: mode 0600, owned by the service, so nothing in quarantine can be executed or
 * changed by whoever could write to input.
 */
export type CopyPermissions = 'source' | 'private';

/**
 * Places a copy of `source` at `destDir/name`, replacing any file of that name, without ever
 * leaving a partial file under the final name: copy to a temporary name in the destination
 * folder while hashing, fsync, compare the hash with the one KATA scanned, rename over the
 * target, fsync the folder. A copy (rather than rename) works the same across file systems
 * (EXDEV) and guarantees that the bytes delivered are the bytes hashed. The source is left in
 * place: the caller records the delivery durably before removing it.
 *
 * `source` is best an open file (the engine's one open of this version: it is read from offset
 * 0 and not closed here); a path is opened once with O_NOFOLLOW|O_NONBLOCK.
 */
export async function deliver(opts: {
  source: string | OpenFile;
  /** With a handle: the size checked on it. Exactly this many bytes are copied (and hashed). */
  size?: number;
  /** With a handle: its fstat from when it was opened and checked (mode, owner and times are copied from it). */
  sourceStats?: Stats;
  destDir: string;
  name: string;
  expectedSha256?: string;
  /** Unique per delivery; becomes part of the temporary name. */
  tag: string;
  permissions?: CopyPermissions;
  /** Makes the rename durable; the engine passes its grouped folder fsync. */
  syncDir?: (dir: string) => Promise<void>;
  /** How the destination folder is written (folderFs.ts); by default through the thread pool. */
  fs?: FolderFs;
}): Promise<DeliveryResult> {
  const fs = opts.fs ?? folderFs(false);
  let src: OpenFile;
  const ownHandle = typeof opts.source === 'string';
  if (typeof opts.source === 'string') {
    try {
      src = await folderFs(false).open(opts.source, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { ok: false, reason: 'missing' };
      if (code === 'ELOOP') return { ok: false, reason: 'not-regular' };
      throw err;
    }
  } else src = opts.source;
  const tmp = join(opts.destDir, `${partialPrefix}${opts.tag.replace(/[^A-Za-z0-9_-]/g, '')}`);
  let dst: OpenFile | undefined;
  let keepTmp = false;
  try {
    const st = opts.sourceStats && !ownHandle ? opts.sourceStats : await src.stat();
    if (!st.isFile()) return { ok: false, reason: 'not-regular' };
    dst = await fs.open(tmp, 'wx', 0o600);
    const hash = createHash('sha256');
    const limit = opts.size ?? Infinity;
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(chunkSize, st.size + 1)));
    let bytes = 0;
    while (bytes < limit) {
      const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, limit - bytes), bytes);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      await dst.write(buf, 0, bytesRead);
      bytes += bytesRead;
      if (bytes % yieldEveryBytes < bytesRead) await yieldToLoop();
    }
    const sha256 = hash.digest('hex');
    if (opts.expectedSha256 && sha256 !== opts.expectedSha256.toLowerCase()) {
      return { ok: false, reason: 'changed', sha256 };
    }
    if ((opts.permissions ?? 'source') === 'source') {
      await dst.chmod(st.mode & 0o777).catch(() => undefined);
      if (runAsRoot && (st.uid !== 0 || st.gid !== ourGid)) await dst.chown(st.uid, st.gid).catch(() => undefined);
    }
    await dst.utimes(st.atimeMs / 1000, st.mtimeMs / 1000).catch(() => undefined);
    await dst.sync();
    await dst.close();
    dst = undefined;
    const target = join(opts.destDir, opts.name);
    await fs.rename(tmp, target);
    keepTmp = true;
    await (opts.syncDir ?? fsyncDir)(opts.destDir);
    return { ok: true, path: target, sha256, bytes };
  } finally {
    if (ownHandle) await src.close().catch(() => undefined);
    if (dst) await dst.close().catch(() => undefined);
    if (!keepTmp) await fs.unlink(tmp).catch(() => undefined);
  }
}

/**
 * Removes the source once its copy is durable elsewhere; a source already gone is fine. With
 * `expect`, only that very version is removed: a file put in its place meanwhile (another inode,
 * or the same one rewritten) stays, and 'replaced' is returned.
 */
export async function removeSource(
  path: string,
  opts: { expect?: FileVersion; syncDir?: (dir: string) => Promise<void>; fs?: FolderFs } = {},
): Promise<'removed' | 'gone' | 'replaced'> {
  const fs = opts.fs ?? folderFs(false);
  if (opts.expect) {
    const st = await fs.lstatIfAny(path);
    if (!st) return 'gone';
    if (!st.isFile() || !sameVersion(opts.expect, st)) return 'replaced';
  }
  let result: 'removed' | 'gone' = 'removed';
  try {
    await fs.unlink(path);
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
