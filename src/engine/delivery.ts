import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncDir } from '../common/fsync';

/** Temporary copies in a destination folder carry this prefix; only KDS creates such names. */
export const partialPrefix = '.kds-partial-';

export type DeliveryResult =
  | { ok: true; path: string; sha256: string; bytes: number }
  /** The source's bytes are not the ones KATA scanned (or it is no longer a regular file). */
  | { ok: false; reason: 'changed' | 'missing' | 'not-regular'; sha256?: string };

const chunkSize = 1 << 20;

/**
 * Places a copy of `source` at `destDir/name`, replacing any file of that name, without ever
 * leaving a partial file under the final name: copy to a temporary name in the destination
 * folder while hashing, fsync, compare the hash with the one KATA scanned, rename over the
 * target, fsync the folder. A copy (rather than rename) works the same across file systems
 * (EXDEV) and guarantees that the bytes delivered are the bytes hashed. The source is left in
 * place: the caller records the delivery durably before removing it.
 */
export async function deliver(opts: {
  source: string;
  destDir: string;
  name: string;
  expectedSha256?: string;
  /** Unique per delivery; becomes part of the temporary name. */
  tag: string;
}): Promise<DeliveryResult> {
  let src;
  try {
    src = await open(opts.source, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, reason: 'missing' };
    if (code === 'ELOOP') return { ok: false, reason: 'not-regular' };
    throw err;
  }
  const tmp = join(opts.destDir, `${partialPrefix}${opts.tag.replace(/[^A-Za-z0-9_-]/g, '')}`);
  let dst;
  let keepTmp = false;
  try {
    const st = await src.stat();
    if (!st.isFile()) return { ok: false, reason: 'not-regular' };
    dst = await open(tmp, 'wx', 0o600);
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(chunkSize);
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await src.read(buf, 0, chunkSize, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      let off = 0;
      while (off < bytesRead) off += (await dst.write(chunk, off, bytesRead - off)).bytesWritten;
      bytes += bytesRead;
    }
    const sha256 = hash.digest('hex');
    if (opts.expectedSha256 && sha256 !== opts.expectedSha256.toLowerCase()) {
      return { ok: false, reason: 'changed', sha256 };
    }
    await dst.chmod(st.mode & 0o777).catch(() => undefined);
    if (process.getuid?.() === 0) await dst.chown(st.uid, st.gid).catch(() => undefined);
    await dst.utimes(st.atimeMs / 1000, st.mtimeMs / 1000).catch(() => undefined);
    await dst.sync();
    await dst.close();
    dst = undefined;
    const target = join(opts.destDir, opts.name);
    await rename(tmp, target);
    keepTmp = true;
    await fsyncDir(opts.destDir);
    return { ok: true, path: target, sha256, bytes };
  } finally {
    await src.close().catch(() => undefined);
    if (dst) await dst.close().catch(() => undefined);
    if (!keepTmp) await unlink(tmp).catch(() => undefined);
  }
}

/** Removes the source once its copy is durable elsewhere; a source already gone is fine. */
export async function removeSource(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fsyncDir(dirname(path));
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
