import { execFile, spawn } from 'node:child_process';
import { constants, createReadStream } from 'node:fs';
import { mkdtemp, open, realpath, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { t } from '../common/l10n';
import { type CaptureHost, type HostProcess, isSafeExecutable, tcpdumpCandidates } from './captureHost';

interface LocalProcess extends HostProcess {
  pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
}

/** Captures on this machine (tcpdump needs root or CAP_NET_RAW here). */
export class LocalCaptureHost implements CaptureHost {
  readonly label = t('this computer');

  async runsAsRoot(): Promise<boolean> {
    return process.getuid?.() === 0;
  }

  async findTcpdump(): Promise<string | undefined> {
    for (const c of tcpdumpCandidates) {
      try {
        const real = await realpath(c);
        const s = await stat(real);
        const d = await stat(dirname(real));
        if (isSafeExecutable({ uid: s.uid, mode: s.mode, isFile: s.isFile() }) && d.uid === 0 && (d.mode & 0o022) === 0) return real;
      } catch {
        // not there
      }
    }
    return undefined;
  }

  run(argv: string[]): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve) => {
      execFile(argv[0]!, argv.slice(1), { timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as unknown as { code: number }).code) : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      });
    });
  }

  makeTempDir(): Promise<string> {
    return mkdtemp(join(tmpdir(), 'kds-capture-'));
  }

  start(argv: string[]): HostProcess {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<{ code: number | null }>((resolve) => {
      child.once('error', () => resolve({ code: 127 }));
      child.once('close', (code) => resolve({ code }));
    });
    const p: LocalProcess = { stdout: child.stdout!, stderr: child.stderr!, exit, pid: child.pid, kill: (s) => void child.kill(s) };
    return p;
  }

  async interrupt(p: HostProcess): Promise<void> {
    (p as LocalProcess).kill('SIGINT');
  }

  async kill(p: HostProcess): Promise<void> {
    (p as LocalProcess).kill('SIGKILL');
  }

  async fileSize(path: string): Promise<number | undefined> {
    try {
      return (await stat(path)).size;
    } catch {
      return undefined;
    }
  }

  async fetch(path: string, localPath: string): Promise<void> {
    await copyToNewFile(createReadStream(path), localPath);
  }

  async removeTempDir(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Writes a stream to `localPath`, created 0600 without following a symlink there; a file
 * already at that path is replaced only after the copy is complete (temp name, then rename).
 */
export async function copyToNewFile(from: NodeJS.ReadableStream, localPath: string): Promise<void> {
  const tmp = `${localPath}.kds-${process.pid}-${Date.now()}.part`;
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await pipeline(from, fh.createWriteStream());
    await rename(tmp, localPath);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
