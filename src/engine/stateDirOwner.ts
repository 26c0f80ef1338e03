import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type LockHolder, readDirectoryLock } from '../common/dirLock';

/** The lock file an engine holds in its state_dir while it runs (scanner.ts takes it in start()). */
export const stateDirLockName = 'lock';

/** What the process holding a state_dir is, as far as this machine can tell. */
export type OwnerKind =
  /** `kds run` / `kds demo` (node …/kds.js, the npm bin, the packaged engine) started by a person. */
  | 'kds'
  /** The same, started by systemd (kata-dir-scanner.service): stopped with systemctl, not a signal. */
  | 'service'
  /** A VS Code extension host (another window scanning this configuration). */
  | 'vscode'
  /** Something else holds the pid now, or the process cannot be looked at (another user's, no /proc). */
  | 'unknown';

export interface StateDirOwner {
  /** 0 when the lock file exists but could not be read (another user's state_dir). */
  pid: number;
  since: Date;
  kind: OwnerKind;
  /** The command line as /proc shows it, for the confirmation a person reads. */
  command?: string;
  /** The systemd unit, for kind 'service'. */
  unit?: string;
  /** KDS may send it SIGTERM: a `kds` process this user may signal. */
  canStop: boolean;
}

export interface OwnerProbeOptions {
  /** This process: its own lock is not "another process". Default process.pid. */
  self?: number;
  /** Where /proc is (tests give a folder of their own). Default /proc. */
  procRoot?: string;
  /** Whether this user may signal `pid` (default: process.kill(pid, 0) does not fail with EPERM). */
  maySignal?: (pid: number) => boolean;
}

/** The argv of a process, from /proc/PID/cmdline; undefined when it cannot be read. */
async function argvOf(procRoot: string, pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(join(procRoot, String(pid), 'cmdline'), 'latin1');
    const argv = raw.split('\0');
    if (argv[argv.length - 1] === '') argv.pop();
    return argv.length ? argv.map((a) => Buffer.from(a, 'latin1').toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
}

/** The systemd service a process runs in (cgroup v2 or v1 name=systemd), if any. */
async function unitOf(procRoot: string, pid: number): Promise<string | undefined> {
  try {
    const text = await readFile(join(procRoot, String(pid), 'cgroup'), 'utf8');
    for (const line of text.split('\n')) {
      const path = line.slice(line.lastIndexOf(':') + 1);
      // user@1000.service holds a person's whole session: only a system service counts.
      const m = /^\/system\.slice\/(?:.*\/)?([^/]+\.service)(?:\/|$)/.exec(path);
      if (m) return m[1];
    }
  } catch {
    // no cgroup file: not Linux, or the process is gone
  }
  return undefined;
}

const kdsEntry = /^(kds|kds\.js|kds\.cjs|kds-sea(\.js)?|kata-dir-scanner)$/;

/**
 * Whether an argv is a KDS engine host: a `kds` entry point (the repository's bin/kds.js, the
 * npm bin, the packaged engine) followed by the `run` or `demo` sub-command.
 */
export function isKdsEngineCommand(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length - 1; i++) {
    if (kdsEntry.test(basename(argv[i]!)) && (argv[i + 1] === 'run' || argv[i + 1] === 'demo')) return true;
  }
  return false;
}

function isVsCodeHost(argv: readonly string[]): boolean {
  return argv.some((a) => /--type=extensionHost|bootstrap-fork|extensionHostProcess|code-server/.test(a));
}

function defaultMaySignal(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What the holder of a lock is; a lock of this very process or of a dead one is nobody's. */
export async function describeOwner(holder: LockHolder, o: OwnerProbeOptions = {}): Promise<StateDirOwner | undefined> {
  if (!holder.alive || holder.pid === (o.self ?? process.pid)) return undefined;
  if (holder.pid === 0) return { pid: 0, since: holder.since, kind: 'unknown', canStop: false };
  const procRoot = o.procRoot ?? '/proc';
  const argv = await argvOf(procRoot, holder.pid);
  const owner: StateDirOwner = { pid: holder.pid, since: holder.since, kind: 'unknown', canStop: false };
  if (!argv) return owner;
  owner.command = argv.join(' ');
  if (isKdsEngineCommand(argv)) {
    const unit = await unitOf(procRoot, holder.pid);
    if (unit) {
      owner.kind = 'service';
      owner.unit = unit;
    } else {
      owner.kind = 'kds';
      owner.canStop = (o.maySignal ?? defaultMaySignal)(holder.pid);
    }
  } else if (isVsCodeHost(argv)) {
    owner.kind = 'vscode';
  }
  return owner;
}

/** Another live process holding `stateDir`'s engine lock, or undefined. */
export async function stateDirOwner(stateDir: string, o: OwnerProbeOptions = {}): Promise<StateDirOwner | undefined> {
  const holder = await readDirectoryLock(stateDir, stateDirLockName).catch(() => undefined);
  return holder ? describeOwner(holder, o) : undefined;
}

export type StopOutcome = 'stopped' | 'changed' | 'refused' | 'timeout';

/**
 * Asks the `kds` process holding `stateDir` to stop (SIGTERM: it finishes the work in progress,
 * as on Ctrl-C) and waits until its lock is released. Only the process `expected` names, only if
 * the lock still names it with the same start time and it is still a `kds` process this user may
 * signal: a pid reused since the person confirmed is never signalled ('changed').
 */
export async function stopStateDirOwner(
  stateDir: string,
  expected: StateDirOwner,
  o: OwnerProbeOptions & { timeoutMs?: number; pollMs?: number; kill?: (pid: number, signal: NodeJS.Signals) => void } = {},
): Promise<StopOutcome> {
  if (!expected.canStop || expected.kind !== 'kds') return 'refused';
  const now = await stateDirOwner(stateDir, o);
  if (!now || now.pid !== expected.pid || now.since.getTime() !== expected.since.getTime()) return 'changed';
  if (now.kind !== 'kds' || !now.canStop) return 'refused';
  (o.kill ?? ((pid, signal) => process.kill(pid, signal)))(now.pid, 'SIGTERM');
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  for (;;) {
    const holder = await readDirectoryLock(stateDir, stateDirLockName).catch(() => undefined);
    if (!holder || !holder.alive || holder.pid !== now.pid) return 'stopped';
    if (Date.now() >= deadline) return 'timeout';
    await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
  }
}
