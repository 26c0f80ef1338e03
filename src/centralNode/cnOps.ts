/**
 * What the extension does on a Central Node, without VS Code (so it is tested against a real
 * sshd): find the installed engine, run `kds quarantine` there, read and write its files with or
 * without sudo, read the event stream when SFTP may not. Every command is an argv list.
 */
import { posix } from 'node:path';
import { t } from '../common/l10n';
import type { EventFileReader } from './eventFollower';
import { rootWriteArgv, unsafeFolderMessage } from './rootFileWrite';
import { type PathInspector, assertTrustedForRoot, trustedNodeOrThrow } from './trustedExecutable';
import type { SftpFiles } from '../ssh/sftpFiles';
import type { ExecResult } from '../ssh/sshSession';
import type { SudoOption } from '../ssh/sudoPrompt';
import type { RemoteTextFile } from '../viewModel/scanHistory';
import type { ExcludeListStore } from '../viewModel/engineActions';
import { editExcludeText } from '../viewModel/excludeEditing';

export interface CnShell {
  exec(argv: string[], opts?: { sudo?: SudoOption; stdin?: string | Buffer; timeoutMs?: number }): Promise<ExecResult>;
}

export interface CnContext {
  shell: () => Promise<CnShell>;
  files: () => Promise<SftpFiles>;
  /** How root is reached for files and commands that need it; undefined = run everything as the SSH user. */
  sudo?: SudoOption;
}

const SFTP_PERMISSION_DENIED = 3;

export function isPermissionDenied(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === SFTP_PERMISSION_DENIED || code === 'EACCES' || /permission denied/i.test((err as Error)?.message ?? '');
}

function failure(what: string, r: ExecResult): Error {
  const text = r.stderr.toString('utf8').trim() || r.stdout.toString('utf8').trim();
  return new Error(t('{0} failed (exit code {1}): {2}', what, r.code ?? r.signal ?? '?', text));
}

export async function run(c: CnContext, argv: string[], asRoot: boolean, opts: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<ExecResult> {
  const s = await c.shell();
  return s.exec(argv, { ...(asRoot && c.sudo !== undefined && { sudo: c.sudo }), timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.stdin !== undefined && { stdin: opts.stdin }) });
}

/** Is the SSH user root on the CN? */
export async function remoteIsRoot(shell: CnShell): Promise<boolean> {
  const r = await shell.exec(['id', '-u'], { timeoutMs: 20_000 });
  return r.stdout.toString('utf8').trim() === '0';
}

/**
 * The argv that runs the installed engine: `override` when given; else the single executable
 * beside the configuration (`<dir>/kata-dir-scanner`), else the bundled JavaScript
 * (`node <dir>/app/bin/kds.js`), as `kds remote setup` installs them.
 */
export async function findEngine(c: CnContext, configPath: string, override?: string[], opts: { runsAsRoot?: boolean } = {}): Promise<string[]> {
  const sftp = await c.files();
  if (override && override.length) {
    if (opts.runsAsRoot !== false) await assertTrustedCommandForRoot(override, sftp);
    return override;
  }
  const dir = posix.dirname(configPath);
  const sea = posix.join(dir, 'kata-dir-scanner');
  // Run as root (sudo, or a root SSH user): only a program (and Node) that root alone controls
  // (trustedExecutable.ts). runsAsRoot false (a --prefix test install): nothing runs as root.
  const trusted = (paths: string[]) => (opts.runsAsRoot === false ? Promise.resolve() : assertTrustedForRoot(paths, sftp));
  if (await sftp.exists(sea)) {
    await trusted([sea]);
    return [sea];
  }
  const js = posix.join(dir, 'app/bin/kds.js');
  if (await sftp.exists(js)) {
    // What the commands run through here load (bin/kds.js takes dist/kds-run.js only for `run`, which systemd starts).
    await trusted([js, posix.join(dir, 'app/dist/kds.js')]);
    const node = await run(c, ['sh', '-c', 'command -v node'], false);
    return [await trustedNodeOrThrow(node.stdout.toString('utf8').trim() || undefined, sftp), js];
  }
  throw new Error(t('KDS is not installed on the Central Node in {0}: run "KDS: Set Up Central Node" first.', dir));
}

/**
 * A custom engine command (kds.remote.engineCommand) root is to run: held to the same rule as
 * the installed engine (trustedExecutable.ts). Every word must be the absolute path of a file only
 * root controls — the program, then the scripts it loads —, so no option (`node --require=…`,
 * `sh -c …`) and no relative path can bring in code from elsewhere; options belong in a
 * root-owned wrapper script.
 */
export async function assertTrustedCommandForRoot(argv: string[], fs: PathInspector): Promise<void> {
  for (const word of argv) {
    if (!word.startsWith('/')) {
      throw new Error(t('KDS will not run the engine command {0} as root: {1} is not the absolute path of a file. Each word of kds.remote.engineCommand must be a program or script only root controls; put options in a root-owned wrapper script.', JSON.stringify(argv), JSON.stringify(word)));
    }
  }
  await assertTrustedForRoot(argv, fs);
}

/** `kds quarantine release|delete` on the CN; the audit names `user`. */
export async function remoteQuarantine(
  c: CnContext,
  engine: string[],
  configPath: string,
  o: { action: 'release' | 'delete'; name: string; user: string; reason?: string; asRoot: boolean; share?: string },
): Promise<{ path: string; sha256: string }> {
  // --opt=VALUE: a value that starts with "-" would otherwise be read as an option. --share only
  // when the configuration has several shares, so an engine older than shares still serves one.
  const argv = [
    ...engine,
    'quarantine',
    o.action,
    `--config=${configPath}`,
    ...(o.share !== undefined ? [`--share=${o.share}`] : []),
    `--user=${o.user}`,
    '--json',
    ...(o.reason ? [`--reason=${o.reason}`] : []),
    '--',
    o.name,
  ];
  const r = await run(c, argv, o.asRoot);
  const line = r.stdout.toString('utf8').trim().split('\n').pop() ?? '';
  let parsed: { ok?: boolean; path?: string; sha256?: string; error?: string } | undefined;
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  if (r.code === 0 && parsed?.ok && parsed.path && parsed.sha256) return { path: parsed.path, sha256: parsed.sha256 };
  if (parsed?.error) throw new Error(parsed.error);
  throw failure(`kds quarantine ${o.action}`, r);
}

/** A text file on the CN: SFTP while the SSH user may read it, else `cat` through sudo. */
export async function readRemoteText(c: CnContext, path: string): Promise<string> {
  try {
    return (await (await c.files()).readFile(path)).toString('utf8');
  } catch (err) {
    if (!isPermissionDenied(err) || c.sudo === undefined) throw err;
  }
  const r = await run(c, ['cat', '--', path], true);
  if (r.code !== 0) throw failure(`cat ${path}`, r);
  return r.stdout.toString('utf8');
}

/**
 * Replaces a file on the CN atomically: SFTP (temporary name, fsync, rename) when the SSH user
 * may write the folder, otherwise through sudo: the content goes over stdin to a mktemp file
 * beside the target, takes the target's owner and mode, and is renamed over it — only in a folder
 * that is root's alone (rootFileWrite.ts), never through a path another user controls.
 */
export async function writeRemoteText(c: CnContext, path: string, text: string, mode = 0o644): Promise<void> {
  const sftp = await c.files();
  const st = await sftp.exists(path).catch(() => undefined);
  try {
    await sftp.writeFileAtomic(path, text, st?.mode ?? mode);
    return;
  } catch (err) {
    if (!isPermissionDenied(err) || c.sudo === undefined) throw err;
  }
  const r = await run(c, rootWriteArgv({ target: path, mode: (st?.mode ?? mode) & 0o7777, source: '-', keepOwner: true }), true, { stdin: text });
  const refused = unsafeFolderMessage(r.code, r.stderr.toString('utf8'), path);
  if (refused) throw new Error(refused);
  if (r.code !== 0) throw failure(`write ${path}`, r);
}

/**
 * The event stream read with `stat` and `dd` through sudo, for a state_dir the SSH user may not
 * read (mode 0700, owned by root). Same contract as the SFTP reader.
 */
export function execEventFileReader(c: CnContext): EventFileReader {
  return {
    async size(path) {
      const r = await run(c, ['stat', '-L', '-c', '%s', '--', path], true);
      if (r.code !== 0) {
        if (/No such file/i.test(r.stderr.toString('utf8'))) return undefined;
        throw failure(`stat ${path}`, r);
      }
      return Number(r.stdout.toString('utf8').trim());
    },
    async read(path, offset, length) {
      if (length <= 0) return Buffer.alloc(0);
      const r = await run(c, ['dd', `if=${path}`, 'iflag=skip_bytes,count_bytes', `skip=${offset}`, `count=${length}`, 'status=none'], true);
      if (r.code !== 0) throw failure(`dd ${path}`, r);
      return r.stdout.subarray(0, length);
    },
  };
}

/** Tries `first`; after a permission error switches to `fallback` for good. */
export function fallbackEventFileReader(first: EventFileReader, fallback: EventFileReader | undefined): EventFileReader {
  let use = first;
  const wrap =
    <A extends unknown[], R>(f: (r: EventFileReader) => (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        return await f(use)(...a);
      } catch (err) {
        if (use === first && fallback && isPermissionDenied(err)) {
          use = fallback;
          return f(use)(...a);
        }
        throw err;
      }
    };
  return { size: wrap((r) => r.size.bind(r)), read: wrap((r) => r.read.bind(r)) };
}

/**
 * Why `name` cannot be the service's unit name (undefined: it can). It goes into systemctl's and
 * journalctl's argv and into /etc/systemd/system/<name>.service, written as root: only the
 * characters of systemd unit names, and never a leading "-", which systemctl would read as an
 * option (`-H.service` = "connect to the host .service").
 */
export function unitNameProblem(name: string): string | undefined {
  if (!/^[A-Za-z0-9:_.@-]{1,200}$/.test(name)) return t('may hold only letters, digits and : _ . @ - (got {0})', name);
  if (name.startsWith('-')) return t('must not start with "-" (got {0}): systemctl would read it as an option', name);
  return undefined;
}

/** `<unit>.service`, or an error saying what is wrong with the name. */
export function serviceUnit(unit: string): string {
  const problem = unitNameProblem(unit);
  if (problem) throw new Error(t('The service name {0}', problem));
  return unit.endsWith('.service') ? unit : `${unit}.service`;
}

/** systemctl argv for the service (`reload` re-reads the exclude list via SIGHUP); `--` ends the options. */
export function serviceArgv(action: 'start' | 'stop' | 'restart' | 'reload' | 'status' | 'is-active', unit: string): string[] {
  const name = serviceUnit(unit);
  return action === 'status' ? ['systemctl', 'status', '--no-pager', '--lines=20', '--', name] : ['systemctl', action, '--', name];
}

/** SFTP's "no such file" (status 2), or `cat`'s through sudo. */
export function isNoSuchFile(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 2 || code === 'ENOENT' || /no such file/i.test((err as Error)?.message ?? '');
}

/**
 * Files of the CN's state_dir for the views' history (remoteScanHistory): the version is size
 * and mtime (SFTP stat, or `stat` through sudo when the SSH user may not look), the text as
 * readRemoteText reads it.
 */
export function remoteTextFile(c: CnContext): RemoteTextFile {
  return {
    async version(path) {
      try {
        const st = await (await c.files()).exists(path);
        return st ? `${st.size}:${st.mtimeMs}` : undefined;
      } catch (err) {
        if (!isPermissionDenied(err) || c.sudo === undefined) throw err;
      }
      const r = await run(c, ['stat', '-L', '-c', '%s:%Y', '--', path], true);
      if (r.code !== 0) {
        if (/no such file/i.test(r.stderr.toString('utf8'))) return undefined;
        throw failure(`stat ${path}`, r);
      }
      return r.stdout.toString('utf8').trim();
    },
    read: (path) => readRemoteText(c, path),
  };
}

/**
 * The CN's exclude list as an ExcludeListStore: read and written on the CN (sudo when needed),
 * validated before writing, then the service is asked to re-read it (`reload` says why it did
 * not, or undefined when it did or there is no systemd and the next rescan reads it).
 */
export function cnExcludeList(
  c: CnContext,
  o: { share: string; path: string; label: string; caseSensitive: boolean; inputNames: () => Promise<string[]>; reload: () => Promise<string | undefined> },
): ExcludeListStore {
  const read = () =>
    readRemoteText(c, o.path).catch((err: unknown) => {
      if (isNoSuchFile(err)) return '';
      throw err;
    });
  return {
    share: o.share,
    label: o.label,
    caseSensitive: o.caseSensitive,
    read,
    inputNames: o.inputNames,
    async edit(edit) {
      const text = await read();
      const next = editExcludeText(text, edit);
      if (next === text) return;
      await writeRemoteText(c, o.path, next);
      const problem = await o.reload();
      if (problem) throw new Error(t('The exclude list {0} was saved, but the service did not re-read it: {1}', o.label, problem));
    },
  };
}
