import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { t } from '../common/l10n';
import { type CnContext, remoteIsRoot } from '../centralNode/cnOps';
import { type PathInspector, firstTrusted, localInspector } from '../centralNode/trustedExecutable';
import type { SftpFiles } from '../ssh/sftpFiles';
import type { SshSession } from '../ssh/sshSession';
import type { SudoOption } from '../ssh/sudoPrompt';

/**
 * Where the support commands run KATA's tools and read their results: this machine (KDS
 * installed on the Central Node itself) or a Central Node over SSH. Every support module takes
 * a HostAccess, so both modes share one implementation.
 */
export interface HostAccess {
  /** For messages: "this computer" or user@host:port. */
  readonly where: string;
  /** Runs argv (never through a shell string built from input); `root` adds sudo when needed. */
  exec(argv: string[], opts?: { root?: boolean; timeoutMs?: number }): Promise<HostExec>;
  stat(path: string): Promise<{ size: number; type: 'file' | 'directory' | 'other' } | undefined>;
  readdir(path: string): Promise<Array<{ name: string; size: number; type: 'file' | 'directory' | 'other' }>>;
  /** Reads a file from byte `start` (resume). */
  read(path: string, start: number): Readable;
  /** The numeric uid:gid of the user KDS acts as (to hand root-made files back to it). */
  owner(): Promise<string>;
  /** lstat/readlink of the host's files, for the root-owned-path check of what root runs. */
  inspector(): Promise<PathInspector>;
  isRoot(): Promise<boolean>;
}

export interface HostExec {
  code: number | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** Where tools are looked for first: the system's own folders (a user's PATH cannot shadow them). */
export const SYSTEM_TOOL_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * A tool KDS may run as root: the first `name` in the system folders, then `extraDirs` (KATA's),
 * then the acting user's PATH, that root alone controls — the file and every folder and link on
 * its way belong to root and are not writable by others (trustedExecutable.ts, the check the
 * engine passes). A `systemctl` or `kata-collect` in `~/bin` or another folder early in PATH is
 * never run; `refused` says why each one found was not taken.
 */
export async function findTrustedTool(host: HostAccess, name: string, extraDirs: string[] = []): Promise<{ path?: string; refused: string[] }> {
  if (!/^[A-Za-z0-9_.+-]+$/.test(name)) throw new Error(t('Not a tool name: {0}', name));
  const r = await host.exec(['/bin/sh', '-c', 'printf "%s" "$PATH"']);
  const userPath = r.code === 0 ? r.stdout.toString('utf8').split(':') : [];
  const dirs = [...new Set([...SYSTEM_TOOL_DIRS, ...extraDirs, ...userPath].filter((d) => d.startsWith('/')))];
  const existing: string[] = [];
  for (const d of dirs) {
    const p = posix.join(d, name);
    if ((await host.stat(p))?.type === 'file') existing.push(p);
  }
  return firstTrusted(existing, await host.inspector());
}

/** The tool's absolute path when one that root may run exists (findTrustedTool), else undefined. */
export async function resolveTool(host: HostAccess, name: string, extraDirs: string[] = []): Promise<string | undefined> {
  return (await findTrustedTool(host, name, extraDirs)).path;
}

/** A private folder (mktemp -d, mode 0700) owned by the acting user. */
export async function makePrivateTempDir(host: HostAccess, label: string): Promise<string> {
  const r = await host.exec(['/bin/mktemp', '-d', '-t', `kds-${label}.XXXXXXXXXX`]);
  const dir = r.stdout.toString('utf8').trim();
  if (r.code !== 0 || !dir.startsWith('/')) throw new Error(t('Cannot make a private temporary folder on {0}: {1}', host.where, r.stderr.toString('utf8').trim()));
  return dir;
}

/** Gives files root made in `dir` back to the acting user, so they can be read and removed without sudo. */
export async function reclaim(host: HostAccess, dir: string): Promise<void> {
  if (await host.isRoot()) return;
  const r = await host.exec(['/bin/chown', '-R', '--', await host.owner(), dir], { root: true });
  if (r.code !== 0) throw new Error(t('Cannot take over the files in {0}: {1}', dir, r.stderr.toString('utf8').trim()));
}

/** rm -rf of a folder KDS made; as root when root-made files remain. */
export async function removeTree(host: HostAccess, dir: string): Promise<boolean> {
  if (!dir.startsWith('/') || dir === '/' || dir.split('/').length < 3) throw new Error(t('Refusing to remove {0}', dir));
  let r = await host.exec(['/bin/rm', '-rf', '--', dir]);
  if (r.code !== 0 && !(await host.isRoot())) r = await host.exec(['/bin/rm', '-rf', '--', dir], { root: true });
  return r.code === 0;
}

export class SshHostAccess implements HostAccess {
  readonly where: string;
  private sftpFiles: Promise<SftpFiles> | undefined;
  private root: Promise<boolean> | undefined;
  private ownerIds: Promise<string> | undefined;

  constructor(
    readonly session: SshSession,
    private readonly sudo: SudoOption,
  ) {
    this.where = `${session.target.user}@${session.target.host}:${session.target.port}`;
  }

  /** The same connection for the Central Node helpers of src/centralNode. */
  cnContext(): CnContext {
    return { shell: async () => this.session, files: () => this.sftp(), sudo: this.sudo };
  }

  private sftp(): Promise<SftpFiles> {
    return (this.sftpFiles ??= this.session.sftp());
  }

  isRoot(): Promise<boolean> {
    return (this.root ??= remoteIsRoot(this.session));
  }

  inspector(): Promise<PathInspector> {
    return this.sftp();
  }

  owner(): Promise<string> {
    return (this.ownerIds ??= Promise.all([this.session.exec(['id', '-u']), this.session.exec(['id', '-g'])]).then(([u, g]) => `${u.stdout.toString().trim()}:${g.stdout.toString().trim()}`));
  }

  async exec(argv: string[], opts: { root?: boolean; timeoutMs?: number } = {}): Promise<HostExec> {
    const sudo = opts.root && !(await this.isRoot()) ? this.sudo : undefined;
    return this.session.exec(argv, { ...(sudo !== undefined && { sudo }), ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }) });
  }

  async stat(path: string) {
    const st = await (await this.sftp()).exists(path);
    if (!st) return undefined;
    const real = st.type === 'symlink' ? await (await this.sftp()).stat(path).catch(() => undefined) : st;
    if (!real) return undefined;
    return { size: real.size, type: real.type === 'file' || real.type === 'directory' ? real.type : ('other' as const) };
  }

  async readdir(path: string) {
    return (await (await this.sftp()).readdir(path)).map((e) => ({ name: e.name, size: e.size, type: e.type === 'file' || e.type === 'directory' ? e.type : ('other' as const) }));
  }

  read(path: string, start: number): Readable {
    // The SFTP channel is opened lazily; the stream errors if it cannot be.
    const out = new PassThrough();
    this.sftp().then(
      (s) => {
        const src = s.createReadStream(path, { start });
        src.on('error', (e) => out.destroy(e));
        src.pipe(out);
      },
      (e: Error) => out.destroy(e),
    );
    return out;
  }
}

export class LocalHostAccess implements HostAccess {
  readonly where = t('this computer');

  async isRoot(): Promise<boolean> {
    return process.getuid?.() === 0;
  }

  async inspector(): Promise<PathInspector> {
    return localInspector;
  }

  async owner(): Promise<string> {
    return `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
  }

  async exec(argv: string[], opts: { root?: boolean; timeoutMs?: number } = {}): Promise<HostExec> {
    const full = opts.root && !(await this.isRoot()) ? ['sudo', '-n', '--', ...argv] : argv;
    return new Promise((resolve) => {
      const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.timeoutMs !== undefined && { timeout: opts.timeoutMs }) });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => resolve({ code: 127, stdout: Buffer.alloc(0), stderr: Buffer.from(e.message) }));
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
    });
  }

  async stat(path: string) {
    try {
      const st = await stat(path);
      return { size: st.size, type: st.isFile() ? ('file' as const) : st.isDirectory() ? ('directory' as const) : ('other' as const) };
    } catch {
      return undefined;
    }
  }

  async readdir(path: string) {
    const names = await readdir(path);
    const out = [];
    for (const name of names) {
      const st = await this.stat(join(path, name));
      if (st) out.push({ name, ...st });
    }
    return out;
  }

  read(path: string, start: number): Readable {
    return createReadStream(path, { start });
  }
}
