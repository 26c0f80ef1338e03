/**
 * A real SMB share for the tests: Debian's Samba (`smbd`) serving a temp folder on 127.0.0.1:445,
 * mounted with smbnetfs (libsmbclient through FUSE), the way /work/shared/reference's recipe
 * verified it. smbnetfs reaches port 445 only, so the server and the client run in a private
 * network namespace (`unshare -n`, lo up) held by one `sleep`: 445 is ours alone, whoever else
 * runs Samba on this machine. The FUSE mount made in there is visible to this process (the mount
 * namespace is shared), so the engine under test runs here, on the mount.
 *
 * Everything lives under one temp folder (smb.conf, Samba's state, smbnetfs's HOME, the served
 * folder, the mount point). Every process is stopped by pid; then any process left in the private
 * network namespace (Samba's on-demand RPC helpers) — only ours can be there — and the mount.
 * Needs root (FUSE mount, smbd, unshare) and `samba smbnetfs` (scripts/install-system-deps.sh).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

const tools = { smbd: '/usr/sbin/smbd', smbnetfs: '/usr/bin/smbnetfs', unshare: '/usr/bin/unshare', nsenter: '/usr/bin/nsenter', ip: '/usr/sbin/ip', ss: '/usr/bin/ss', umount: '/usr/bin/umount' };

/** Why a real SMB share cannot be had here, or undefined when it can. */
export function sambaUnavailable(): string | undefined {
  const missing = Object.values(tools).filter((p) => !existsSync(p));
  if (missing.length) return `${missing.join(', ')} missing: run scripts/install-system-deps.sh as root (samba smbnetfs)`;
  if (process.getuid?.() !== 0) return 'a Samba share mounted with smbnetfs needs root (smbd, FUSE, a private network namespace)';
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing: smbnetfs cannot mount';
  return undefined;
}

/** Skips the test outside CI when Samba cannot run here; under CI=true that is a failure. */
export function needSamba(t: TestContext): boolean {
  const why = sambaUnavailable();
  if (!why) return true;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}

export interface SambaShare {
  /** The folder smbd serves: writing here is what another host writing to the share looks like (no change event reaches the mount). */
  served: string;
  /** The share through the smbnetfs mount: what KDS is configured with. */
  share: string;
  /** The FUSE mount point. */
  mountPoint: string;
  /** smbd's log folder (for a failing test's message). */
  logs: string;
  /** CPU seconds used so far by Samba and smbnetfs (every process in the private network namespace). */
  cpuSeconds(): number;
  /** Stops smbd (the server is gone; the mount stays and fails). */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** Stops smbnetfs and unmounts (the mount is gone; its folders vanish). */
  unmount(): Promise<void>;
  mount(): Promise<void>;
  close(): Promise<void>;
}

/** Polls `cond` every 100 ms up to `timeoutMs`; fails naming `what`. */
async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`samba: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exited(c: ChildProcess | undefined): boolean {
  return !c || c.exitCode !== null || c.signalCode !== null;
}

async function stopChild(c: ChildProcess | undefined): Promise<void> {
  if (exited(c)) return;
  const gone = new Promise<void>((r) => c!.once('exit', () => r()));
  c!.kill('SIGTERM');
  const timer = setTimeout(() => c!.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

function mounted(path: string): boolean {
  try {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1] === path);
  } catch {
    return false;
  }
}

/**
 * Starts Samba and smbnetfs; the share holds `folders` (created on the server). The caller stops
 * it in an `after` hook (`close()`), whatever happens; a failed start stops what it started.
 */
export async function startSamba(opts: { folders?: string[] } = {}): Promise<SambaShare> {
  const root = mkdtempSync(join(tmpdir(), 'kds-samba-'));
  const run = join(root, 'run');
  const served = join(root, 'srv');
  const home = join(root, 'home');
  const mountPoint = join(root, 'mnt');
  for (const d of [run, join(run, 'ncalrpc'), served, join(home, '.smb'), mountPoint]) mkdirSync(d, { recursive: true });
  chmodSync(served, 0o777);
  for (const f of opts.folders ?? []) mkdirSync(join(served, f), { recursive: true });
  const conf = join(root, 'smb.conf');
  writeFileSync(
    conf,
    [
      '[global]',
      '  server role = standalone server',
      '  interfaces = 127.0.0.1',
      '  bind interfaces only = yes',
      '  smb ports = 445',
      `  pid directory = ${run}`,
      `  lock directory = ${run}`,
      `  state directory = ${run}`,
      `  cache directory = ${run}`,
      `  private dir = ${run}`,
      `  ncalrpc dir = ${run}/ncalrpc`,
      `  log file = ${run}/log.%m`,
      '  map to guest = Bad User',
      '  disable netbios = yes',
      '  server min protocol = SMB2',
      '  load printers = no',
      '  printing = bsd',
      '  printcap name = /dev/null',
      '  disable spoolss = yes',
      '[kds]',
      `  path = ${served}`,
      '  read only = no',
      '  guest ok = yes',
      '  force user = root',
      '',
    ].join('\n'),
  );
  writeFileSync(join(home, '.smb', 'smb.conf'), '[global]\n  client min protocol = SMB2\n');
  // smbnetfs refuses an `auth` line in a file others can read (every access then fails with EIO).
  writeFileSync(join(home, '.smb', 'smbnetfs.conf'), 'auth "guest" ""\n', { mode: 0o600 });

  let holder: ChildProcess | undefined;
  let smbd: ChildProcess | undefined;
  let smbnetfs: ChildProcess | undefined;
  let netns = '';
  const output: string[] = [];
  const keep = (name: string, c: ChildProcess) => {
    for (const s of [c.stdout, c.stderr]) s?.on('data', (d: Buffer) => output.push(`${name}: ${d.toString('utf8')}`.slice(0, 2000)));
  };
  // Each in a process group of its own: smbnetfs signals its whole group when it stops.
  const inNetns = (args: string[], env?: NodeJS.ProcessEnv) =>
    spawn(tools.nsenter, [`--net=/proc/${holder!.pid}/ns/net`, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, detached: true });
  const share = join(mountPoint, '127.0.0.1', 'kds');
  const describe = () => `${output.join('').slice(-1500)} (smbd logs in ${run})`;

  const closeAll = async () => {
    await stopChild(smbnetfs);
    if (mounted(mountPoint)) {
      try {
        execFileSync(tools.umount, ['-l', mountPoint], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    await stopChild(smbd);
    // Samba's on-demand helpers (samba-dcerpcd, rpcd_*) detach from smbd: whatever is still in
    // our private network namespace is ours, and nothing else can be there.
    for (const p of netnsPids()) {
      if (Number(p) === holder?.pid) continue;
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await stopChild(holder);
    if (!mounted(mountPoint)) rmSync(root, { recursive: true, force: true });
  };
  const netnsPids = () =>
    readdirSync('/proc').filter((p) => {
      if (!/^\d+$/.test(p) || !netns) return false;
      try {
        return readlinkSync(`/proc/${p}/ns/net`) === netns;
      } catch {
        return false;
      }
    });
  const ticks = 100; // USER_HZ on Linux
  const cpuSeconds = () => {
    let sum = 0;
    for (const p of netnsPids()) {
      try {
        // After the command's closing parenthesis: utime, stime, cutime, cstime are the 12th to 15th fields.
        const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
        sum += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      } catch {
        // exited meanwhile
      }
    }
    return sum / ticks;
  };
  try {
    return await start();
  } catch (err) {
    await closeAll();
    throw err;
  }

  async function start(): Promise<SambaShare> {

    holder = spawn(tools.unshare, ['-n', '--', 'sh', '-c', 'ip link set lo up && exec sleep 86400'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    keep('unshare', holder);
    const ours = readlinkSync('/proc/self/ns/net');
    await until(
      'the private network namespace with lo up',
      () => {
        if (exited(holder)) throw new Error(`samba: unshare -n failed: ${describe()}`);
        try {
          const ns = readlinkSync(`/proc/${holder!.pid}/ns/net`);
          if (ns === ours || !readFileSync(`/proc/${holder!.pid}/cmdline`, 'utf8').startsWith('sleep')) return false;
          netns = ns;
          return true;
        } catch {
          return false;
        }
      },
      10_000,
    );

    const listening = () => {
      try {
        return execFileSync(tools.nsenter, [`--net=/proc/${holder!.pid}/ns/net`, '--', tools.ss, '-Hltn', 'sport = :445'], { encoding: 'utf8' }).includes(':445');
      } catch {
        return false;
      }
    };
    const startServer = async () => {
      if (!exited(smbd)) return;
      smbd = inNetns([tools.smbd, '--foreground', '--no-process-group', '-s', conf]);
      keep('smbd', smbd);
      await until(
        'smbd listening on 445',
        () => {
          if (exited(smbd)) throw new Error(`samba: smbd exited: ${describe()}`);
          return listening();
        },
        20_000,
      );
    };
    const shareReady = () => {
      try {
        readdirSync(share);
        return true;
      } catch {
        return false;
      }
    };
    const mount = async () => {
      if (!exited(smbnetfs)) return;
      smbnetfs = inNetns([tools.smbnetfs, mountPoint, '-f'], { ...process.env, HOME: home });
      keep('smbnetfs', smbnetfs);
      await until(
        'the share through smbnetfs',
        () => {
          if (exited(smbnetfs)) throw new Error(`samba: smbnetfs exited: ${describe()}`);
          return mounted(mountPoint) && shareReady();
        },
        30_000,
      );
    };
    await startServer();
    await mount();
    return {
      cpuSeconds,
      served,
      share,
      mountPoint,
      logs: run,
      stopServer: async () => {
        await stopChild(smbd);
        await until('the share to fail without its server', () => !shareReady(), 20_000);
      },
      startServer: async () => {
        await startServer();
        // smbnetfs reconnects on its own; the share answers again within seconds.
        await until('the share back through the mount', shareReady, 60_000);
      },
      unmount: async () => {
        await stopChild(smbnetfs);
        if (mounted(mountPoint)) execFileSync(tools.umount, ['-l', mountPoint], { stdio: 'ignore' });
        await until('the mount gone', () => !mounted(mountPoint), 10_000);
      },
      mount,
      close: closeAll,
    };
  }
}
