import { mkdir, open, readFile, unlink } from 'node:fs/promises';
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
