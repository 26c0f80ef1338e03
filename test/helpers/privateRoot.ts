/**
 * A private view of this machine's / for tests that install like on a real Central Node: a mount
 * namespace (`unshare -m`) in which /usr, /etc, /opt, /var, /home and /run are overlays whose
 * changes land in a tmpfs of the namespace — dpkg, apt-get, sudo, root-owned files in /opt, a
 * hidden /usr/bin/node — while the host and the other test files see none of it. Commands run in
 * it through `nsenter` (as root, or as a user through setpriv); sshd can listen from inside it
 * (TestSshd.start({ root })), which makes a stand-in Central Node reached over a real SSH.
 *
 * A namespace lives as long as one of its processes: `stop()` kills, by pid, every process whose
 * mount namespace is this one (services the test started in it included), then the holder.
 * Needs root (CAP_SYS_ADMIN) and overlayfs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateRootOptions {
  /** Folders overlaid; their changes stay in the namespace. */
  overlays?: string[];
  /** Room for all changes (MiB). */
  sizeMiB?: number;
  /** A tmpfs of its own for the changes to /opt: what df reports free there (MiB). */
  optSizeMiB?: number;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Why a private root cannot be made here, or undefined when it can. */
export function privateRootUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'a private mount namespace needs root (unshare -m, mount)';
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'the kernel has no overlayfs';
  return undefined;
}

const holderScript = [
  'set -e',
  'base=$1 size=$2 opt=$3; shift 3',
  'mount -t tmpfs -o "size=${size}m,mode=0755" kds-private-root "$base"',
  'for d in "$@"; do',
  '  up="$base/up$d" work="$base/work$d"',
  '  if [ "$d" = /opt ] && [ "$opt" != 0 ]; then mkdir -p "$base/optfs"; mount -t tmpfs -o "size=${opt}m,mode=0755" kds-private-opt "$base/optfs"; up="$base/optfs/up" work="$base/optfs/work"; fi',
  '  mkdir -p "$up" "$work"',
  '  mount -t overlay kds-private-root -o "lowerdir=$d,upperdir=$up,workdir=$work" "$d"',
  'done',
  'echo ready',
  'exec sleep infinity',
].join('\n');

export class PrivateRoot {
  private constructor(
    private readonly holder: ChildProcess,
    private readonly base: string,
    readonly namespace: string,
  ) {}

  /** The holder's pid: `nsenter -t PID -m` enters the namespace. */
  get pid(): number {
    return this.holder.pid!;
  }

  static async start(o: PrivateRootOptions = {}): Promise<PrivateRoot> {
    const base = mkdtempSync(join(tmpdir(), 'kds-private-root-'));
    const overlays = o.overlays ?? ['/usr', '/etc', '/opt', '/var', '/home', '/run'];
    const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', holderScript, 'kds-private-root', base, String(o.sizeMiB ?? 1024), String(o.optSizeMiB ?? 0), ...overlays], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    holder.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const end = Date.now() + 30_000;
      const tick = () => {
        if (out.includes('ready')) return resolve();
        if (holder.exitCode !== null || Date.now() > end) return reject(new Error(`the private root did not come up: ${err || `exit ${holder.exitCode}`}`));
        setTimeout(tick, 20);
      };
      tick();
    });
    return new PrivateRoot(holder, base, readlinkSync(`/proc/${holder.pid}/ns/mnt`));
  }

  /** argv to run `argv` in the namespace (as `user` when given). */
  argv(argv: string[], user?: { uid: number; gid: number }): string[] {
    const drop = user ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--'] : [];
    return ['nsenter', '-t', String(this.pid), '-m', '--', ...drop, ...argv];
  }

  exec(argv: string[], o: { user?: { uid: number; gid: number }; input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
    const [cmd, ...args] = this.argv(argv, o.user);
    return new Promise((resolve) => {
      const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: o.env ?? { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' } });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 300_000);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      // A command that does not read its input may be gone before it is written.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(o.input ?? '');
    });
  }

  /** Runs and throws with the output unless it exits 0. */
  async run(argv: string[], o: Parameters<PrivateRoot['exec']>[1] = {}): Promise<string> {
    const r = await this.exec(argv, o);
    if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  async writeFile(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
    await this.run(['sh', '-c', 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" -- "$1"', 'kds-write', path, mode.toString(8)], { input: content });
  }

  async readFile(path: string): Promise<string> {
    return this.run(['cat', '--', path]);
  }

  async exists(path: string): Promise<boolean> {
    return (await this.exec(['test', '-e', path])).code === 0;
  }

  /** pids of the processes in this namespace (the holder included). */
  processes(): number[] {
    const pids: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readlinkSync(`/proc/${name}/ns/mnt`) === this.namespace) pids.push(Number(name));
      } catch {
        // gone, or not ours to read
      }
    }
    return pids;
  }

  async stop(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      const others = this.processes().filter((p) => p !== this.pid);
      if (others.length === 0) break;
      for (const p of others) {
        try {
          process.kill(p, round < 10 ? 'SIGTERM' : 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (this.holder.exitCode === null && this.holder.signalCode === null) {
      const gone = new Promise((r) => this.holder.once('exit', r));
      this.holder.kill('SIGKILL');
      await gone;
    }
    rmSync(this.base, { recursive: true, force: true });
  }
}
