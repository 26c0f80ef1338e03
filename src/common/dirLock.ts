import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** The folder is locked by a live process (possibly this one). */
export class DirectoryLockedError extends Error {
  readonly code = 'KDS_LOCKED';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`${dir} is locked by process ${pid}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One owner per folder (an engine's state_dir, an emulator's data folder): two owners would race
 * over the same journal or scan list. A lock file holds the owner's pid; one left by a process
 * that died (kill -9, power cut) is taken over. Returns the function that releases the lock.
 */
export async function lockDirectory(dir: string, fileName: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, fileName);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.sync();
      await fh.close();
      return () => unlink(path).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new DirectoryLockedError(dir, pid);
    await unlink(path).catch(() => undefined);
  }
  throw new DirectoryLockedError(dir, 0);
}

/** Who holds a folder's lock, as the lock file says: its pid and when it took the lock. */
export interface LockHolder {
  pid: number;
  /** When the lock file was written (the holder took the lock then). */
  since: Date;
  /** The process still exists (it may belong to another user). */
  alive: boolean;
}

/**
 * Reads the lock of `dir` without taking it: undefined when there is none. A lock file that
 * exists but cannot be read (another user's state_dir) is reported with pid 0, alive.
 */
export async function readDirectoryLock(dir: string, fileName: string): Promise<LockHolder | undefined> {
  const path = join(dir, fileName);
  let text: string;
  let since: Date;
  try {
    const fh = await open(path, 'r');
    try {
      since = (await fh.stat()).mtime;
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'EACCES' || code === 'EPERM') {
      const st = await stat(path).catch(() => undefined);
      return st ? { pid: 0, since: st.mtime, alive: true } : undefined;
    }
    throw err;
  }
  const pid = Number.parseInt(text, 10);
  // A lock being written this instant has no pid yet: nobody is known to hold it.
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, since, alive: alive(pid) };
}
