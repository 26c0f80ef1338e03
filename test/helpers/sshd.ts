/**
 * A private OpenSSH sshd on 127.0.0.1 for the SSH tests: its own host keys, config, PidFile and
 * authorized_keys in a temp dir, a free port, a test user (kds-test) created idempotently.
 * Needs root (sshd privilege separation, useradd) and openssh-server/openssh-client
 * (scripts/install-system-deps.sh installs them). Every process started here is stopped by pid.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';
export const TEST_USER = 'kds-test';
const PASSWORD_FILE = '/var/lib/kds-test/password';

/** Why the SSH tests cannot run here, or undefined when they can. */
export function sshdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the SSH integration tests need root (sshd, useradd); run them as root, e.g. on CI';
  for (const bin of [SSHD, '/usr/bin/ssh-keygen', '/usr/bin/ssh-agent', '/usr/bin/ssh-add']) {
    if (!existsSync(bin)) return `${bin} is missing: run scripts/install-system-deps.sh as root (openssh-server, openssh-client)`;
  }
  return undefined;
}

export function assertSshdAvailable(): void {
  const why = sshdUnavailable();
  if (why) throw new Error(why);
}

/**
 * A test user and its password: random per machine, kept root-only in /var/lib/kds-test so
 * test files running at the same time agree on it. Safe to call again and again. A test file
 * that changes what sudo asks of its user (a password instead of NOPASSWD) takes a user of its
 * own, since sudoers rules are per user and files run in parallel.
 */
export function ensureTestUser(name = TEST_USER): { user: string; password: string } {
  mkdirSync('/var/lib/kds-test', { recursive: true, mode: 0o700 });
  const passwordFile = name === TEST_USER ? PASSWORD_FILE : `${PASSWORD_FILE}-${name}`;
  try {
    writeFileSync(passwordFile, `kds-pw-${randomBytes(12).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const password = readFileSync(passwordFile, 'utf8').trim();
  const exists = (): boolean => {
    try {
      execFileSync('/usr/bin/id', ['-u', name], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!exists()) {
    try {
      execFileSync('/usr/sbin/useradd', ['-m', '-s', '/bin/bash', name], { stdio: 'pipe' });
    } catch (e) {
      if (!exists()) throw e; // another test file created it meanwhile otherwise
    }
  }
  execFileSync('/usr/sbin/chpasswd', [], { input: `${name}:${password}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
  return { user: name, password };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export function keygen(path: string, opts: { type?: string; passphrase?: string; comment?: string } = {}): string {
  execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', opts.type ?? 'ed25519', '-N', opts.passphrase ?? '', '-C', opts.comment ?? 'kds-test', '-f', path], { stdio: 'pipe' });
  return readFileSync(path + '.pub', 'utf8').trim();
}

/** `ssh-keygen -lf` of a public key file: 'SHA256:…'. */
export function keygenFingerprint(pubPath: string): string {
  const out = execFileSync('/usr/bin/ssh-keygen', ['-lf', pubPath], { encoding: 'utf8' });
  return out.split(/\s+/)[1]!;
}

async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface SshdOptions {
  /** Extra sshd_config lines. */
  extraConfig?: string[];
  /** Listen from inside this private mount namespace: its sessions see its files (test/helpers/freshCn.ts). */
  root?: { argv(argv: string[]): string[] };
  /** The user to log in as (default kds-test); see ensureTestUser. */
  user?: string;
  usePam?: boolean;
}

export class TestSshd {
  readonly host = '127.0.0.1';
  private child: ChildProcess | undefined;
  private stderr = '';
  private generation = 0;
  hostKeyPath = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly user: string,
    readonly password: string,
    readonly opts: SshdOptions,
  ) {}

  /** A private sshd with a fresh ed25519 host key; authorized_keys starts empty (see authorize()). */
  static async start(opts: SshdOptions = {}): Promise<TestSshd> {
    assertSshdAvailable();
    const { user, password } = ensureTestUser(opts.user);
    // Privilege separation directory sshd insists on.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const dir = mkdtempSync(join(tmpdir(), 'kds-sshd-'));
    chmodSync(dir, 0o755); // sshd reads authorized_keys as the test user
    writeFileSync(join(dir, 'authorized_keys'), '', { mode: 0o644 });
    const sshd = new TestSshd(dir, await freePort(), user, password, opts);
    sshd.newHostKey();
    await sshd.launch();
    return sshd;
  }

  /** Generates a new host key (the next launch uses it); `type` as ssh-keygen -t takes it. */
  newHostKey(type = 'ed25519'): void {
    this.generation++;
    this.hostKeyPath = join(this.dir, `ssh_host_${type}_key.${this.generation}`);
    keygen(this.hostKeyPath, { comment: 'kds-test-host', type });
  }

  /** 'ssh-ed25519 AAAA…' of the current host key. */
  hostPublicKey(): string {
    return readFileSync(this.hostKeyPath + '.pub', 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  }

  hostFingerprint(): string {
    return keygenFingerprint(this.hostKeyPath + '.pub');
  }

  authorize(publicKeyLine: string): void {
    writeFileSync(join(this.dir, 'authorized_keys'), publicKeyLine.trim() + '\n', { flag: 'a' });
  }

  log(): string {
    return this.stderr;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private config(): string {
    return [
      `Port ${this.port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${this.hostKeyPath}`,
      `PidFile ${join(this.dir, 'sshd.pid')}`,
      `UsePAM ${this.opts.usePam ? 'yes' : 'no'}`,
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication yes',
      'PubkeyAuthentication yes',
      `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`,
      'StrictModes no',
      'PermitRootLogin no',
      `AllowUsers ${this.user}`,
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      'MaxStartups 100',
      'MaxAuthTries 10',
      ...(this.opts.extraConfig ?? []),
      '',
    ].join('\n');
  }

  private async launch(): Promise<void> {
    const cfg = join(this.dir, 'sshd_config');
    writeFileSync(cfg, this.config());
    this.stderr = '';
    // nsenter enters a mount namespace and execs sshd in the same process: the pid is sshd's.
    const [cmd, ...args] = this.opts.root ? this.opts.root.argv([SSHD, '-D', '-e', '-f', cfg]) : [SSHD, '-D', '-e', '-f', cfg];
    const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderr += d;
    });
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    await waitFor('sshd to listen', () => {
      if (exited) throw new Error(`sshd exited at start:\n${this.stderr}`);
      return this.stderr.includes('Server listening on');
    });
  }

  /**
   * pids of the per-connection processes: the listener's children ("sshd: user [priv]") and
   * their descendants (the unprivileged "sshd: user@notty" holding the socket, the commands).
   */
  connectionPids(): number[] {
    const pid = this.child?.pid;
    if (!pid) return [];
    const children = (p: number): number[] => {
      try {
        return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    const out: number[] = [];
    const todo = children(pid);
    while (todo.length) {
      const p = todo.shift()!;
      out.push(p);
      todo.push(...children(p));
    }
    return out;
  }

  /** Kills the sshd processes serving the open connections (the listener stays): a forced drop. */
  dropConnections(): number {
    const pids = this.connectionPids();
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    return pids.length;
  }

  async stop(): Promise<void> {
    const child = this.child;
    const children = this.connectionPids();
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
    for (const p of children) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Stops and starts again on the same port, optionally with a new host key. */
  async restart(opts: { newHostKey?: boolean; hostKeyType?: string } = {}): Promise<void> {
    await this.stop();
    if (opts.newHostKey) this.newHostKey(opts.hostKeyType);
    await this.launch();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** An ssh-agent with its own socket, holding the given keys; stopped by pid. */
export class TestAgent {
  private constructor(
    readonly socket: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(dir: string, keys: string[]): Promise<TestAgent> {
    const socket = join(dir, `agent.${randomBytes(4).toString('hex')}.sock`);
    const child = spawn('/usr/bin/ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    const agent = new TestAgent(socket, child);
    await waitFor('ssh-agent socket', () => existsSync(socket));
    for (const k of keys) execFileSync('/usr/bin/ssh-add', ['-q', k], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'pipe' });
    return agent;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    await gone;
  }
}
