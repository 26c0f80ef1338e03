import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One engine per state_dir: two would submit the same files and race over the journal.
 * A lock left by a process that died (kill -9, power cut) is taken over.
 */
export class StateDirLock {
  private constructor(private readonly path: string) {}

  static async acquire(stateDir: string): Promise<StateDirLock> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, 'lock');
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600);
        await fh.writeFile(`${process.pid}\n`);
        await fh.sync();
        await fh.close();
        return new StateDirLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw Object.assign(new Error(`state_dir ${stateDir} is in use by another KDS process (pid ${pid})`), { code: 'KDS_LOCKED', pid });
      }
      await unlink(path).catch(() => undefined);
    }
    throw new Error(`could not lock state_dir ${stateDir}`);
  }

  async release(): Promise<void> {
    await unlink(this.path).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
