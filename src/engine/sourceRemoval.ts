import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { extname, join } from 'node:path';
import { fsyncDir } from '../common/fsync';
import { openNoFollow } from '../common/platform';
import { type FileVersion, sameVersion } from './fileVersion';
import { type FolderFs, folderFs } from './folderFs';

/**
 * How a scanned file leaves input, the same on every file system (local, SMB, Windows):
 *
 * 1. every handle on it is closed (SMB and Windows refuse to rename or delete an open file);
 * 2. it is renamed to `.kds-aside-<scanId>` in input: atomic on the server, and from then on no
 *    producer writing under its name can touch what KDS delivers and deletes;
 * 3. that file is checked to be the version KATA scanned (size, mtime, and the file id where the
 *    file system has stable ones) — a rename also refreshes attributes a network client cached;
 * 4. it is copied to the destination (the copy's hash must equal the scanned one), the copy is
 *    journaled as placed, then the aside file is checked again and unlinked.
 *
 * A file that is not the scanned version goes back under its name (or a free one) as a new file
 * to scan. The aside name carries the scanId, so after a crash the journal says what it is and
 * whether its copy was placed; intake never treats such a name as a new input file.
 */
export const asidePrefix = '.kds-aside-';

export function asideName(scanId: string): string {
  return asidePrefix + scanId.replace(/[^A-Za-z0-9-]/g, '');
}

/** The scanId an aside name was made from, or undefined for any other name. */
export function scanIdOfAside(name: string): string | undefined {
  if (!name.startsWith(asidePrefix)) return undefined;
  const id = name.slice(asidePrefix.length);
  return /^[A-Za-z0-9-]+$/.test(id) ? id : undefined;
}

/** Names in input that belong to KDS itself and are never taken as input files. */
export function isReservedInputName(name: string): boolean {
  return name.startsWith(asidePrefix);
}

export type TakeAsideResult =
  /** The scanned version is now at `path`, under its aside name. */
  | { kind: 'aside'; path: string; stats: Stats }
  /** Neither the file nor its aside copy is in input. */
  | { kind: 'missing' }
  /** What was under the name is not the scanned version; it is back in input as `returnedAs`. */
  | { kind: 'changed'; returnedAs: string; stats: Stats };

export interface RemovalOptions {
  /** The file system gives stable file ids (inode numbers): a version includes them. */
  fileIds: boolean;
  /** Makes renames and unlinks durable; the engine passes its grouped folder fsync. */
  syncDir?: (dir: string) => Promise<void>;
  /** How input is looked at and changed (folderFs.ts); by default through the thread pool. */
  fs?: FolderFs;
}

/**
 * Steps 2 and 3 above. The caller has closed every handle on the file. An aside file already
 * there (an earlier attempt, or a crash after the rename) is taken as it is and checked the same
 * way. Errors (EBUSY while another program holds the file open, EACCES, EIO…) are thrown: they
 * are this file's, not a destination's.
 */
export async function takeAside(inDir: string, name: string, scanId: string, expect: FileVersion, o: RemovalOptions): Promise<TakeAsideResult> {
  const fs = o.fs ?? folderFs(false);
  const aside = join(inDir, asideName(scanId));
  let st = await fs.lstatIfAny(aside);
  if (!st) {
    try {
      await fs.rename(join(inDir, name), aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      throw err;
    }
    st = await fs.lstat(aside);
  }
  if (isVersion(st, expect, o.fileIds)) return { kind: 'aside', path: aside, stats: st };
  return { kind: 'changed', returnedAs: await putBack(inDir, aside, name, scanId, st, o), stats: st };
}

/**
 * Step 4's end: the copy is durable and journaled; the aside file is removed if it is still the
 * scanned version ('removed'), or put back as a new file ('returned'). 'gone' when it is not
 * there (already removed before an interruption).
 */
export async function removeAside(
  inDir: string,
  name: string,
  scanId: string,
  expect: FileVersion,
  o: RemovalOptions,
  /** Read it once more and compare (after an interruption, when nothing else vouches for its bytes). */
  verifySha256?: string,
): Promise<{ kind: 'removed' | 'gone' } | { kind: 'returned'; returnedAs: string }> {
  const fs = o.fs ?? folderFs(false);
  const aside = join(inDir, asideName(scanId));
  const st = await fs.lstatIfAny(aside);
  if (!st) return { kind: 'gone' };
  const same = isVersion(st, expect, o.fileIds) && (verifySha256 === undefined || (await hashOf(aside)) === verifySha256.toLowerCase());
  if (!same) return { kind: 'returned', returnedAs: await putBack(inDir, aside, name, scanId, st, o) };
  try {
    await fs.unlink(aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await (o.syncDir ?? fsyncDir)(inDir);
  return { kind: 'removed' };
}

/**
 * Aside files of deliveries the journal has finished, still in input: on Windows the unlink of an
 * aside file cannot be made durable (no folder flush), so a power cut can bring one back after its
 * copy was placed and "done" journaled. Each that is still the delivered version (its bytes read
 * again) is removed; anything else under such a name goes back to input as a new file.
 */
export async function removeLeftoverAsides(
  inDir: string,
  finished: ReadonlyArray<FileVersion & { scanId: string; name: string; outcome?: string; placedPath?: string; sha256?: string; doneAt?: number }>,
  o: RemovalOptions,
): Promise<Array<{ name: string; scanId: string; kind: 'removed' | 'returned' }>> {
  const out: Array<{ name: string; scanId: string; kind: 'removed' | 'returned' }> = [];
  // A power cut undoes only what the file system had not yet written: the last moments before the
  // stop. Deliveries finished more than a minute before the last one are not looked at again.
  const last = Math.max(0, ...finished.map((e) => e.doneAt ?? 0));
  for (const e of finished) {
    if (e.outcome !== 'routed' || !e.placedPath || !e.sha256 || (e.doneAt ?? 0) < last - 60_000) continue;
    if (!(await (o.fs ?? folderFs(false)).lstatIfAny(join(inDir, asideName(e.scanId))))) continue;
    const r = await removeAside(inDir, e.name, e.scanId, e, o, e.sha256);
    if (r.kind !== 'gone') out.push({ name: e.name, scanId: e.scanId, kind: r.kind });
  }
  return out;
}

/**
 * Puts an aside file back in input as a new file, whatever it holds (its copy was refused: other
 * bytes than the scanned ones). 'gone' when there is none.
 */
export async function returnAside(inDir: string, name: string, scanId: string, o: RemovalOptions): Promise<{ kind: 'gone' } | { kind: 'returned'; returnedAs: string }> {
  const aside = join(inDir, asideName(scanId));
  const st = await (o.fs ?? folderFs(false)).lstatIfAny(aside);
  if (!st) return { kind: 'gone' };
  return { kind: 'returned', returnedAs: await putBack(inDir, aside, name, scanId, st, o) };
}

/** SHA-256 of a file read through one handle opened without following a link; undefined when it is not a regular file. */
export async function hashOf(path: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await openNoFollow(path);
  } catch (err) {
    if (['ENOENT', 'ELOOP', 'ENXIO', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
  try {
    if (!(await fh.stat()).isFile()) return undefined;
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}

function isVersion(st: Stats, expect: FileVersion, fileIds: boolean): boolean {
  return st.isFile() && st.nlink === 1 && sameVersion(expect, st, fileIds);
}

/**
 * Puts an aside file back in input as a new file, never over a file that arrived under its name
 * meanwhile. Where the file system has hard links, link() claims the name atomically (EEXIST if
 * taken). Without them (SMB through smbnetfs), the name is taken only if a look finds it free;
 * a file created in the milliseconds between that look and the rename is the one race left, and
 * on SMB a writer that still holds its file open makes that rename fail. A taken name sends the
 * file to `name (<8 hex of the scanId>).ext`, which nothing else uses.
 */
async function putBack(inDir: string, aside: string, name: string, scanId: string, st: Stats, o: RemovalOptions): Promise<string> {
  const stem = name.slice(0, name.length - extname(name).length) || name;
  const alternative = `${stem} (${scanId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8)})${name.slice(stem.length)}`;
  for (const candidate of [name, alternative]) {
    const target = join(inDir, candidate);
    const placed = await claim(aside, target, st, o.fs ?? folderFs(false));
    if (placed) {
      await (o.syncDir ?? fsyncDir)(inDir);
      return candidate;
    }
  }
  // Both names taken: the file stays under its aside name, and the caller retries later.
  throw Object.assign(new Error(`cannot put ${name} back in input: ${name} and ${alternative} are both taken`), { code: 'EEXIST' });
}

/** Moves `aside` to `target` unless `target` exists; false when it does. */
async function claim(aside: string, target: string, st: Stats, fs: FolderFs): Promise<boolean> {
  if (st.isFile()) {
    try {
      await fs.link(aside, target);
      await fs.unlink(aside);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        // A put-back cut after its link(): both names are this one file.
        const there = await fs.lstatIfAny(target);
        if (there && there.ino === st.ino && there.dev === st.dev && st.nlink > 1) {
          await fs.unlink(aside);
          return true;
        }
        return false;
      }
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV', 'EACCES'].includes(code ?? '')) throw err;
    }
  }
  if (await fs.lstatIfAny(target)) return false;
  await fs.rename(aside, target);
  return true;
}
