import { PassThrough } from 'node:stream';
import { t } from '../common/l10n';
import { remoteIsRoot } from '../centralNode/cnOps';
import type { SshSession } from '../ssh/sshSession';
import type { SudoOption } from '../ssh/sudoPrompt';
import { type CaptureHost, type HostProcess, isSafeExecutable, tcpdumpCandidates } from './captureHost';
import { copyToNewFile } from './localCaptureHost';

interface RemoteCaptureProcess extends HostProcess {
  /** The remote pid, printed by the wrapper before it execs tcpdump. */
  pid: Promise<number | undefined>;
  killChannel(): void;
}

/**
 * Captures on a Central Node over SSH: tcpdump runs as root (sudo as the SSH layer does it, or
 * a root login), writes into a mktemp -d folder of the SSH user, the file comes back over SFTP
 * and the folder is removed. Every command is an argv quoted by the SSH layer: nothing the user
 * typed is ever parsed by a remote shell.
 */
export class SshCaptureHost implements CaptureHost {
  readonly label: string;
  private root: boolean | undefined;

  constructor(
    private readonly session: SshSession,
    private readonly sudo: SudoOption,
  ) {
    this.label = `${session.target.user}@${session.target.host}:${session.target.port}`;
  }

  async runsAsRoot(): Promise<boolean> {
    return this.sudo !== false || (await this.isRootLogin());
  }

  private async isRootLogin(): Promise<boolean> {
    if (this.root === undefined) this.root = await remoteIsRoot(this.session);
    return this.root;
  }

  private async asRoot(): Promise<{ sudo?: SudoOption }> {
    return (await this.isRootLogin()) ? {} : { sudo: this.sudo };
  }

  async findTcpdump(): Promise<string | undefined> {
    await this.isRootLogin();
    // stat -L follows /sbin -> /usr/sbin style links; %u uid, %f raw mode in hex, %F type.
    const r = await this.session.exec(['stat', '-L', '-c', '%u %f %n', ...tcpdumpCandidates]);
    for (const line of r.stdout.toString('utf8').split('\n')) {
      const m = /^(\d+) ([0-9a-f]+) (\/\S+)$/.exec(line.trim());
      if (!m) continue;
      const mode = Number.parseInt(m[2]!, 16);
      if (!isSafeExecutable({ uid: Number(m[1]), mode, isFile: (mode & 0o170000) === 0o100000 })) continue;
      // The folder must be root's too, or the file could be swapped under us.
      const dir = m[3]!.slice(0, m[3]!.lastIndexOf('/')) || '/';
      const d = await this.session.exec(['stat', '-L', '-c', '%u %f', dir]);
      const dm = /^(\d+) ([0-9a-f]+)/.exec(d.stdout.toString('utf8').trim());
      if (dm && Number(dm[1]) === 0 && (Number.parseInt(dm[2]!, 16) & 0o022) === 0) return m[3]!;
    }
    return undefined;
  }

  async run(argv: string[]): Promise<{ code: number | null; output: string }> {
    const r = await this.session.exec(argv, { timeoutMs: 30_000 });
    return { code: r.code, output: r.stdout.toString('utf8') + r.stderr.toString('utf8') };
  }

  async makeTempDir(): Promise<string> {
    const r = await this.session.exec(['mktemp', '-d', '/tmp/kds-capture.XXXXXXXXXX']);
    const dir = r.stdout.toString('utf8').trim();
    if (r.code !== 0 || !/^\/tmp\/kds-capture\.[A-Za-z0-9]+$/.test(dir)) {
      throw new Error(t('Cannot make a temporary folder on {0}: {1}', this.label, r.stderr.toString('utf8').trim() || String(r.code)));
    }
    return dir;
  }

  start(argv: string[]): HostProcess {
    // The fixed wrapper prints its pid, then becomes tcpdump (exec keeps the pid), so the
    // capture can be interrupted with kill -INT like a local one. Arguments reach it as "$@".
    const wrapper = ['/bin/sh', '-c', 'echo "$$"; exec "$@"', 'kds-capture', ...argv];
    const proc = this.session.spawn(wrapper, this.root ? {} : { sudo: this.sudo });
    const stdout = new PassThrough();
    let resolvePid: (pid: number | undefined) => void = () => undefined;
    const pid = new Promise<number | undefined>((r) => (resolvePid = r));
    let first = '';
    let havePid = false;
    proc.stdout.on('data', (d: Buffer) => {
      if (havePid) {
        stdout.write(d);
        return;
      }
      first += d.toString('latin1');
      const nl = first.indexOf('\n');
      if (nl < 0) return;
      havePid = true;
      const n = Number(first.slice(0, nl).trim());
      resolvePid(Number.isInteger(n) && n > 1 ? n : undefined);
      const rest = first.slice(nl + 1);
      if (rest) stdout.write(Buffer.from(rest, 'latin1'));
    });
    proc.stdout.on('end', () => {
      resolvePid(undefined);
      stdout.end();
    });
    const exit = proc.exit.then(
      (x) => ({ code: x.code }),
      () => ({ code: null }),
    );
    const p: RemoteCaptureProcess = { stdout, stderr: proc.stderr, exit, pid, killChannel: () => proc.kill('KILL') };
    return p;
  }

  private async signal(p: HostProcess, sig: 'INT' | 'KILL'): Promise<void> {
    const rp = p as RemoteCaptureProcess;
    const pid = await Promise.race([rp.pid, rp.exit.then(() => undefined)]);
    if (pid === undefined) return;
    await this.session.exec(['kill', `-${sig}`, String(pid)], await this.asRoot());
  }

  interrupt(p: HostProcess): Promise<void> {
    return this.signal(p, 'INT');
  }

  async kill(p: HostProcess): Promise<void> {
    await this.signal(p, 'KILL').catch(() => undefined);
    (p as RemoteCaptureProcess).killChannel();
  }

  async fileSize(path: string): Promise<number | undefined> {
    const sftp = await this.session.sftp();
    try {
      return (await sftp.stat(path)).size;
    } catch {
      return undefined;
    } finally {
      sftp.close();
    }
  }

  async fetch(path: string, localPath: string): Promise<void> {
    if (!(await this.isRootLogin())) {
      // tcpdump wrote the file as root: hand it to the SSH user so SFTP can read it.
      const uid = (await this.session.exec(['id', '-u'])).stdout.toString('utf8').trim();
      if (/^\d+$/.test(uid)) await this.session.exec(['chown', uid, '--', path], { sudo: this.sudo });
    }
    const sftp = await this.session.sftp();
    try {
      await copyToNewFile(sftp.createReadStream(path), localPath);
    } finally {
      sftp.close();
    }
  }

  async removeTempDir(dir: string): Promise<void> {
    // Only the folder mktemp made, and only under /tmp.
    if (!/^\/tmp\/kds-capture\.[A-Za-z0-9]+$/.test(dir)) return;
    const r = await this.session.exec(['rm', '-rf', '--', dir]);
    if (r.code !== 0) await this.session.exec(['rm', '-rf', '--', dir], await this.asRoot());
  }
}
