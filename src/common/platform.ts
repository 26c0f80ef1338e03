import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { t } from './l10n';

/**
 * Every difference between the operating systems KDS runs on, in one place (docs/security.md,
 * "Windows and macOS"). The rest of the code asks a Platform, never process.platform, so each
 * behaviour is unit-tested on Linux with the other systems' traits injected.
 */
export interface Platform {
  readonly os: 'linux' | 'darwin' | 'win32' | 'posix';
  /**
   * How a rename or unlink becomes durable. POSIX: fsync of the folder. Windows cannot open a
   * folder for that (FlushFileBuffers needs write access; Node opens folders read-only and the
   * fsync fails with EPERM), so the renamed file itself is flushed after the rename, which
   * commits NTFS's metadata log up to that rename.
   */
  readonly durableRename: 'fsync-folder' | 'flush-renamed-file';
  /** open(2) flag refusing a symlink as the last component; 0 where there is none (Windows). */
  readonly noFollowFlag: number;
  /** open(2) flag that keeps an open of a FIFO from blocking; 0 on Windows (no FIFOs in folders). */
  readonly nonBlockFlag: number;
  /** Windows' naming rules apply: input names it cannot open are refused, output names made portable. */
  readonly windowsNames: boolean;
  /**
   * Copies keep the source's permission bits. Windows has only a read-only attribute behind
   * them, and a read-only copy in output would make the next file of that name fail to replace
   * it; there the destination folder's inherited ACL decides, as Explorer's copies do.
   */
  readonly permissionBits: boolean;
  /** File and folder names compare without case (Windows; macOS's default volumes). */
  readonly caseInsensitiveNames: boolean;
}

export function platformFor(os: NodeJS.Platform, c: { O_NOFOLLOW?: number; O_NONBLOCK?: number } = {}): Platform {
  const windows = os === 'win32';
  return {
    os: windows ? 'win32' : os === 'linux' ? 'linux' : os === 'darwin' ? 'darwin' : 'posix',
    durableRename: windows ? 'flush-renamed-file' : 'fsync-folder',
    noFollowFlag: c.O_NOFOLLOW ?? 0,
    nonBlockFlag: c.O_NONBLOCK ?? 0,
    windowsNames: windows,
    permissionBits: !windows,
    caseInsensitiveNames: windows || os === 'darwin',
  };
}

/** The machine this process runs on: the one place that reads process.platform for file behaviour. */
export const hostPlatform: Platform = platformFor(process.platform, fsConstants);

// ---------------------------------------------------------------- opening without following links

/** The file-system calls openNoFollow makes; tests wrap them to race a swap in between. */
export interface NoFollowFs {
  open(path: string, flags: number): Promise<FileHandle>;
  lstat(path: string): Promise<BigIntStats>;
}

const realNoFollowFs: NoFollowFs = {
  open: (path, flags) => fsp.open(path, flags),
  lstat: (path) => fsp.lstat(path, { bigint: true }),
};

function loopError(path: string, why: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`ELOOP: ${why}, open '${path}'`);
  err.code = 'ELOOP';
  err.path = path;
  return err;
}

/**
 * Opens `path` for reading without ever reading through a link: with O_NOFOLLOW (and O_NONBLOCK,
 * so a FIFO cannot hang the caller) where the OS has it. Windows has no such flag, and Node's
 * open follows symlinks and junctions; there the name is looked at first (lstat reports symlinks
 * and junctions as links: refused), then opened, and the handle must be that very file (same
 * volume and 64-bit file index, compared exactly as bigints). A link or another file swapped in
 * between fails the comparison. Either way a refusal is an error with code ELOOP, which callers
 * already treat as "not a regular file".
 */
export async function openNoFollow(path: string, platform: Platform = hostPlatform, fs: NoFollowFs = realNoFollowFs): Promise<FileHandle> {
  const flags = fsConstants.O_RDONLY | platform.noFollowFlag | platform.nonBlockFlag;
  if (platform.noFollowFlag !== 0) return fs.open(path, flags);
  const before = await fs.lstat(path);
  if (before.isSymbolicLink()) throw loopError(path, 'a symbolic link or junction');
  const fh = await fs.open(path, flags);
  try {
    const after = await fh.stat({ bigint: true });
    if (after.ino !== before.ino || after.dev !== before.dev) throw loopError(path, 'replaced between its check and its open');
    return fh;
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/**
 * openNoFollow with synchronous calls, returning a descriptor: for the engine's local folders,
 * where a call is microseconds and the thread pool's hand-off costs more (src/engine/folderFs.ts).
 * The same checks, in the same order.
 */
export function openNoFollowSync(path: string, platform: Platform = hostPlatform): number {
  const flags = fsConstants.O_RDONLY | platform.noFollowFlag | platform.nonBlockFlag;
  if (platform.noFollowFlag !== 0) return openSync(path, flags);
  const before = lstatSync(path, { bigint: true });
  if (before.isSymbolicLink()) throw loopError(path, 'a symbolic link or junction');
  const fd = openSync(path, flags);
  try {
    const after = fstatSync(fd, { bigint: true });
    if (after.ino !== before.ino || after.dev !== before.dev) throw loopError(path, 'replaced between its check and its open');
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

// ---------------------------------------------------------------- names

export type NameProblem = 'forbidden-character';

/**
 * Why Windows cannot open a file by `name`, or undefined. A share served from Linux (or Wine's
 * view of a Linux folder) can list such names, but on Windows `a:b` opens the alternate data
 * stream `b` of the file `a`, `\` and `/` separate folders, and `<>"|?*` and control characters
 * are refused outright. Device names (CON, NUL…) and a trailing dot or space are not here: Node
 * opens absolute paths in their `\\?\` form, which takes them literally, and the delivery gives
 * them a name Windows users can open (destinationNames.ts).
 */
export function windowsNameProblem(name: string): NameProblem | undefined {
  return /[<>:"/\\|?*\x00-\x1f]/.test(name) ? 'forbidden-character' : undefined;
}

/** Why this platform cannot take `name` from input as it is; undefined when it can. */
export function nameProblem(name: string, platform: Platform = hostPlatform): NameProblem | undefined {
  return platform.windowsNames ? windowsNameProblem(name) : undefined;
}

/** The reason in words, for the log line. */
export function nameProblemText(problem: NameProblem): string {
  switch (problem) {
    case 'forbidden-character':
      return t('the name holds a character Windows cannot open in a file name (< > : " / \\ | ? * or a control character; a colon would name an alternate data stream)');
  }
}

// ---------------------------------------------------------------- folders and paths

/**
 * The network share a Windows path lies on (`\\server\share`), from its UNC form: `\\server\share\…`
 * or `\\?\UNC\server\share\…`. A mapped drive (`Z:\…`) is a share too: pass the path through
 * realpath first (Node's native realpath turns a mapped drive into its UNC form). Undefined for
 * local paths, including long-path forms such as `\\?\C:\…`, and for device paths (`\\.\…`).
 */
export function windowsShareOf(path: string): string | undefined {
  const m = /^(?:\\\\\?\\UNC\\|[\\/]{2}(?![?.][\\/]))([^\\/]+)[\\/]+([^\\/]+)/i.exec(path);
  return m ? `\\\\${m[1]}\\${m[2]}` : undefined;
}

/**
 * The Windows network share holding `path` (a UNC path, or a drive letter mapped to a share),
 * or undefined (a local folder, another OS, or a path that cannot be resolved now).
 */
export async function networkShareOf(path: string, platform: Platform = hostPlatform, realpath: (p: string) => Promise<string> = (p) => fsp.realpath(p)): Promise<string | undefined> {
  if (platform.os !== 'win32') return undefined;
  const direct = windowsShareOf(path);
  if (direct) return direct;
  try {
    return windowsShareOf(await realpath(path));
  } catch {
    return undefined;
  }
}

/** Whether two absolute folder paths name the same folder by their spelling (case folded where names are). */
export function samePathName(a: string, b: string, platform: Platform = hostPlatform): boolean {
  if (platform.os === 'win32') {
    const norm = (p: string) => p.replace(/\//g, '\\').replace(/^\\\\\?\\UNC\\/i, '\\\\').replace(/^\\\\\?\\/, '').replace(/\\+$/, '');
    return norm(a).toLowerCase() === norm(b).toLowerCase();
  }
  return platform.caseInsensitiveNames ? a.toLowerCase() === b.toLowerCase() : a === b;
}
