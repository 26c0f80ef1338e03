import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Noticing that kata_dir_scanner.conf changed on disk while the form was open, and saving it
 * atomically (never a half-written file for the service to read).
 */

export interface FileFingerprint {
  mtimeMs: number;
  size: number;
  /** Hex SHA-256 of the content. */
  sha256: string;
}

export type SaveResult =
  | { ok: true; fingerprint: FileFingerprint }
  /** `current`: the file as it is now; undefined when it has disappeared since it was loaded. */
  | { ok: false; reason: 'changed-on-disk'; current: FileFingerprint | undefined };

/** The fingerprint of a file, or undefined when it does not exist. Other errors (EACCES, EISDIR…) are thrown. */
export async function fingerprintFile(path: string): Promise<FileFingerprint | undefined> {
  let data: Buffer;
  let st;
  try {
    st = await stat(path);
    data = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return { mtimeMs: st.mtimeMs, size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

/** Fingerprint of text about to be written (size and hash only; mtime 0). */
export function fingerprintText(text: string): Pick<FileFingerprint, 'size' | 'sha256'> {
  const data = Buffer.from(text, 'utf8');
  return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

function sameContent(a: FileFingerprint | undefined, b: FileFingerprint | undefined): boolean {
  if (!a || !b) return a === b;
  return a.size === b.size && a.sha256 === b.sha256;
}

/**
 * True when the content of the file differs from the fingerprint taken when it was loaded
 * (`fp` undefined: the file did not exist then). Only the content counts: a `touch` that leaves
 * the bytes alone is not a change.
 */
export async function changedSince(path: string, fp: FileFingerprint | undefined): Promise<boolean> {
  return !sameContent(await fingerprintFile(path), fp);
}

/**
 * Writes `text` to `path` atomically: a temporary file in the same folder, fsync, rename over
 * the file, fsync of the folder. The file's mode (and, when permitted, owner) is kept; a new
 * file gets mode 0600 unless `mode` is given. A symbolic link is followed: its target is replaced.
 *
 * `expected` is the fingerprint taken when the form loaded the file (undefined: there was no
 * file). When the file's content is no longer that, nothing is written and the result says
 * 'changed-on-disk' with the current fingerprint, unless `overwrite` is set.
 */
export async function saveConfig(
  path: string,
  text: string,
  expected: FileFingerprint | undefined,
  options: { overwrite: boolean; mode?: number },
): Promise<SaveResult> {
  const target = await realpath(path).catch(() => path);
  const current = await fingerprintFile(target);
  if (!options.overwrite && !sameContent(current, expected)) return { ok: false, reason: 'changed-on-disk', current };

  const before = current ? await stat(target) : undefined;
  const mode = before ? before.mode & 0o7777 : (options.mode ?? 0o600);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    await fh.writeFile(text, 'utf8');
    // open()'s mode is filtered by the umask: set the exact one.
    await fh.chmod(mode);
    if (before && typeof process.getuid === 'function' && (before.uid !== process.getuid() || before.gid !== process.getgid?.())) {
      await fh.chown(before.uid, before.gid).catch(() => undefined);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, target);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
  const fingerprint = await fingerprintFile(target);
  if (!fingerprint) throw new Error(`${target} vanished right after it was written`);
  return { ok: true, fingerprint };
}

async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    // Some file systems (and Windows) do not allow fsync on a folder; the rename is done anyway.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
