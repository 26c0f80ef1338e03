import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { t } from '../common/l10n';
import { packageRoot } from '../common/packageRoot';
import type { SftpFiles } from '../ssh/sftpFiles';
import type { ExecResult } from '../ssh/sshSession';
import type { SudoOption } from '../ssh/sudoPrompt';
import { remoteIsRoot } from './cnOps';
import { type EngineKind, parseDf, parseLibc } from './engineChoice';
import { debPackageName, findEnginePackage } from './engineManifest';
import { uploadPackage } from './engineUpload';
import { engineInstallMessage, rootEngineFromPackageArgv, rootPackageInstallArgv, rootWriteArgv, unsafeFolderMessage } from './rootFileWrite';
import { firstTrusted, nodeCandidates } from './trustedExecutable';
import { type Action, type EngineFiles, type Layout, type RemoteFacts, type SetupStep, describeAction } from './setupPlan';

/** What the installer needs of an SSH session (SshSession has it; tests may fake it). */
export interface RemoteShell {
  exec(argv: string[], opts?: { sudo?: SudoOption; stdin?: string | Buffer; timeoutMs?: number }): Promise<ExecResult>;
  sftp(): Promise<SftpFiles>;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function out(r: Promise<ExecResult>): Promise<{ ok: boolean; text: string }> {
  try {
    const x = await r;
    return { ok: x.code === 0, text: x.stdout.toString('utf8').trim() };
  } catch {
    return { ok: false, text: '' };
  }
}

/** Only the system_id of a configuration's text (the rest is not needed and may be private). */
export function systemIdIn(read: { ok: boolean; text: string }): string | undefined {
  if (!read.ok) return undefined;
  try {
    const id = (JSON.parse(read.text.replace(/^\uFEFF/, '')) as { system_id?: unknown }).system_id;
    return typeof id === 'string' && id.trim() !== '' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Reads what planning needs from the CN. Every probe is an argv list; none changes anything. */
export async function probeFacts(s: RemoteShell, l: Layout, sudo: SudoOption | undefined): Promise<RemoteFacts> {
  const sftp = await s.sftp();
  const [os, arch, isRoot] = await Promise.all([out(s.exec(['uname', '-s'])), out(s.exec(['uname', '-m'])), remoteIsRoot(s)]);
  // Root will run this Node (unit, enroll): the SSH user's `command -v node` only if root alone controls it.
  const userNode = await out(s.exec(['sh', '-c', 'command -v node']));
  // Only candidates that are there: a CN without any Node.js is told so, not why each absent path fails.
  const present: string[] = [];
  for (const c of nodeCandidates(userNode.ok ? userNode.text : undefined)) if (c.startsWith('/') && (await sftp.exists(c).catch(() => undefined))) present.push(c);
  const node = await firstTrusted(present, sftp);
  const nodeVersion = node.path ? await out(s.exec([node.path, '--version'])) : undefined;
  const cifs = await out(s.exec(['sh', '-c', 'command -v mount.cifs || test -x /sbin/mount.cifs || test -x /usr/sbin/mount.cifs']));
  const systemd = await out(s.exec(['test', '-d', '/run/systemd/system']));
  let fstab = '';
  try {
    fstab = (await sftp.readFile(l.fstab)).toString('utf8');
  } catch {
    fstab = '';
  }
  const asRoot = isRoot ? undefined : sudo;
  const hashOf = async (path: string) => {
    if (!(await sftp.exists(path))) return undefined;
    const r = await out(s.exec(['sha256sum', path], asRoot ? { sudo: asRoot } : {}));
    return r.ok ? r.text.split(/\s+/)[0] : 'unreadable';
  };
  const seaHash = await hashOf(l.seaExecutable);
  const jsHash = seaHash === undefined ? await hashOf(posix.join(l.installDir, 'app/dist/kds.js')) : undefined;
  const installedEngineSha256 = seaHash ?? jsHash;
  // `kds run`'s own bundle: a build whose run-only code changed has the same dist/kds.js.
  const installedRunBundleSha256 = jsHash !== undefined ? await hashOf(posix.join(l.installDir, 'app/dist/kds-run.js')) : undefined;
  // What the single executable needs (engineChoice.ts): kernel, C library, room, Debian's tools.
  const kernel = await out(s.exec(['uname', '-r']));
  const getconf = await out(s.exec(['getconf', 'GNU_LIBC_VERSION']));
  const ldd = getconf.ok ? undefined : await s.exec(['ldd', '--version']).catch(() => undefined);
  const libc = parseLibc(getconf.ok ? getconf.text : undefined, ldd ? ldd.stdout.toString('utf8') + ldd.stderr.toString('utf8') : undefined);
  // df of the nearest folder that exists on the way to the install folder (it may not exist yet).
  const dfInstall = await out(s.exec(['sh', '-c', 'd=$1; while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done; df -P -k -- "$d"', 'kds-df', l.installDir]));
  const home = await sftp.realpath('.').catch(() => undefined);
  const dfHome = home ? await out(s.exec(['df', '-P', '-k', '--', home])) : undefined;
  // A configuration that is kept keeps its system_id: the summary must name that one, not a new one.
  const hasConfig = !!(await sftp.exists(l.config));
  const configRead = hasConfig ? await out(s.exec(['cat', '--', l.config], asRoot ? { sudo: asRoot } : {})) : undefined;
  const installedSystemId = configRead ? systemIdIn(configRead) : undefined;
  const tools = await out(s.exec(['sh', '-c', 'for c in dpkg-deb apt-get; do command -v "$c" >/dev/null 2>&1 && echo "$c"; done; true']));
  const deb = await out(s.exec(['dpkg-query', '-W', '-f', '${Status}\t${Version}', debPackageName]));
  const [debStatus, debVersion] = deb.text.split('\t');
  const installSpace = dfInstall.ok ? parseDf(dfInstall.text) : undefined;
  const uploadSpace = dfHome?.ok ? parseDf(dfHome.text) : undefined;
  return {
    os: os.text,
    arch: arch.text,
    ...(kernel.ok && { kernel: kernel.text }),
    ...(libc && { libc }),
    ...(installSpace && { installSpace }),
    ...(uploadSpace && { uploadSpace }),
    hasDpkgDeb: tools.text.split('\n').includes('dpkg-deb'),
    hasAptGet: tools.text.split('\n').includes('apt-get'),
    ...(deb.ok && /\binstalled$/.test(debStatus ?? '') && debVersion && { debInstalled: debVersion }),
    ...(nodeVersion?.ok && { nodeVersion: nodeVersion.text, nodePath: node.path }),
    ...(node.refused.length > 0 && { nodeRefused: node.refused }),
    isRoot,
    hasMountCifs: cifs.ok,
    hasSystemd: systemd.ok,
    fstab,
    ...(installedEngineSha256 !== undefined && { installedEngineSha256, installedEngineKind: (seaHash !== undefined ? 'sea' : 'js') as EngineKind }),
    ...(installedRunBundleSha256 !== undefined && { installedRunBundleSha256 }),
    hasConfig,
    ...(installedSystemId && { installedSystemId }),
    ...(await installedShareFacts(sftp, l, configRead)),
    hasExcludeList: !!(await sftp.exists(l.exclude)),
    hasCertificate: !!(await sftp.exists(l.certPem)) && !!(await sftp.exists(l.certKey)),
    hasUnit: !!(await sftp.exists(l.unit)),
  };
}

/**
 * The installed configuration (as read with cat, through sudo when the SSH user is not root) and
 * which shares' exclude lists (exclude_list.<name>.txt) the installation folder holds, so that
 * adding shares keeps what is there.
 */
async function installedShareFacts(sftp: SftpFiles, l: Layout, configRead: { ok: boolean; text: string } | undefined): Promise<Pick<RemoteFacts, 'installedConfigText' | 'installedShareExcludes'>> {
  const installedConfigText = configRead?.ok ? configRead.text : undefined;
  let names: string[] = [];
  try {
    names = (await sftp.readdir(l.installDir)).map((e) => /^exclude_list\.(.+)\.txt$/.exec(e.name)?.[1]).filter((n): n is string => n !== undefined);
  } catch {
    names = []; // no installation folder yet
  }
  return { ...(installedConfigText !== undefined && { installedConfigText }), installedShareExcludes: names };
}

/**
 * The files of an engine build on this machine, or undefined when it was not built: the bundled
 * JavaScript (dist/kds.js, dist/kds-run.js — `kds run`'s own bundle —, bin/kds.js), or for the single executable and the Debian package the
 * package of `npm run package:deb` (dist/engine) that is uploaded as it is.
 */
export async function localEngineFiles(kind: EngineKind, root = packageRoot()): Promise<EngineFiles | undefined> {
  const support = async (base: string) => [
    { path: `${base}l10n/bundle.l10n.ru.json`, data: await readFile(join(root, 'l10n', 'bundle.l10n.ru.json')), mode: 0o644 },
    { path: `${base}schemas/kata_dir_scanner.schema.json`, data: await readFile(join(root, 'schemas', 'kata_dir_scanner.schema.json')), mode: 0o644 },
  ];
  if (kind === 'sea' || kind === 'deb') {
    const found = await findEnginePackage(root);
    if (!found) return undefined;
    const m = found.manifest;
    return {
      kind,
      sha256: m.sha256,
      package: { localPath: found.path, file: m.package.file, size: m.package.size, sha256: m.package.sha256, member: m.package.member, version: m.package.version },
      // The package brings l10n/ and schemas/ itself; the executable alone reads them from beside it.
      files: kind === 'sea' ? await support('') : [],
    };
  }
  const bundle = join(root, 'dist', 'kds.js');
  const runBundle = join(root, 'dist', 'kds-run.js');
  const launcher = join(root, 'bin', 'kds.js');
  if (!existsSync(bundle) || !existsSync(runBundle) || !existsSync(launcher)) return undefined;
  const data = await readFile(bundle);
  const runData = await readFile(runBundle);
  return {
    kind,
    sha256: sha256(data),
    runBundleSha256: sha256(runData),
    files: [
      { path: 'app/bin/kds.js', data: await readFile(launcher), mode: 0o755 },
      { path: 'app/dist/kds.js', data, mode: 0o644 },
      { path: 'app/dist/kds-run.js', data: runData, mode: 0o644 },
      ...(await support('app/')),
    ],
  };
}

export type Answer = 'yes' | 'skip' | 'quit';

export interface InstallIo {
  print(line: string): void;
  /** Asked before each step (not called with --yes); `index` counts from 1 of `total`. */
  confirm(step: SetupStep, index: number, total: number): Promise<Answer>;
  /** Wraps the running of a step's actions (e.g. in a progress notification). */
  running?<T>(step: SetupStep, index: number, total: number, work: () => Promise<T>): Promise<T>;
  /** How much of the engine package is on the CN (bytes), as the upload goes. */
  uploading?(done: number, total: number): void;
}

/** How each step ended, for the summary: done, skipped by the user, left out (with why), blocked, or not reached. */
export interface StepOutcome {
  id: SetupStep['id'];
  title: string;
  outcome: 'done' | 'declined' | 'skipped' | 'blocked' | 'not run';
  reason?: string;
  /** The exit code and output of the step's last command (what `kds enroll` said, for the summary). */
  last?: { code: number | null; output: string };
}

export interface InstallOptions {
  prefixMode: boolean;
  isRoot: boolean;
  sudo?: SudoOption;
  yes: boolean;
  /** Seconds to wait before checking that the started service is still active. */
  settleMs?: number;
  upgrade: boolean;
}

export class StepFailed extends Error {
  constructor(
    readonly step: SetupStep,
    message: string,
  ) {
    super(message);
  }
}

/** Carries out the plan: shows each step's commands, asks, runs; rolls an upgrade back if the new engine does not start. */
export async function runSetupPlan(s: RemoteShell, steps: SetupStep[], io: InstallIo, o: InstallOptions): Promise<{ ran: string[]; skipped: string[]; outcomes: StepOutcome[] }> {
  const sudo = !o.isRoot && !o.prefixMode;
  const ran: string[] = [];
  const skipped: string[] = [];
  const outcomes: StepOutcome[] = [];
  const outcome = (step: SetupStep, what: StepOutcome['outcome'], reason?: string, last?: StepOutcome['last']) => outcomes.push({ id: step.id, title: step.title, outcome: what, ...(reason && { reason }), ...(last && { last }) });
  const sftp = await s.sftp();
  for (const [i, step] of steps.entries()) {
    io.print('');
    io.print(t('Step {0}/{1}: {2}', i + 1, steps.length, step.title));
    for (const n of step.notes) io.print(`  ${n}`);
    for (const a of step.actions) io.print(`  ${describeAction(a, o.prefixMode, sudo)}`);
    if (step.rollback.length) {
      io.print(`  ${t('Undo:')}`);
      for (const a of step.rollback) io.print(`    ${describeAction(a, o.prefixMode, sudo)}`);
    }
    if (step.skipped !== undefined) {
      io.print(t('  skipped: {0}', step.skipped));
      skipped.push(step.id);
      outcome(step, 'skipped', step.skipped);
      continue;
    }
    if (step.blocked) {
      io.print(t('  This step cannot run now (see above).'));
      skipped.push(step.id);
      outcome(step, 'blocked', step.notes.join(' '));
      continue;
    }
    if (step.actions.length === 0) {
      io.print(t('  Nothing to do.'));
      ran.push(step.id);
      outcome(step, 'done');
      continue;
    }
    const answer = o.yes ? 'yes' : await io.confirm(step, i + 1, steps.length);
    if (answer === 'quit') {
      skipped.push(...steps.slice(i).map((x) => x.id));
      for (const x of steps.slice(i)) outcome(x, 'not run');
      break;
    }
    if (answer === 'skip') {
      skipped.push(step.id);
      outcome(step, 'declined');
      continue;
    }
    let last: StepOutcome['last'];
    const work = async () => {
      for (const a of step.actions) last = (await runAction(s, sftp, a, io, o)) ?? last;
    };
    await (io.running ? io.running(step, i + 1, steps.length, work) : work());
    if (step.verify && !o.prefixMode) {
      await sleep(o.settleMs ?? 5000);
      const failed: string[] = [];
      for (const a of step.verify) if (a.kind === 'run' && (await exec(s, a, o)).code !== 0) failed.push(a.argv.join(' '));
      if (failed.length) {
        const engineStep = steps.find((x) => x.id === 'engine');
        if (o.upgrade && engineStep?.rollback.length) {
          io.print(engineStep.rollbackSays?.restoring ?? t('The new engine did not stay running; restoring the previous one.'));
          for (const r of engineStep.rollback) await runAction(s, sftp, r, io, o);
          const restart = step.actions.find((a) => a.kind === 'run' && a.argv[0] === 'systemctl' && (a.argv[1] === 'restart' || a.argv[1] === 'start'));
          if (restart) await runAction(s, sftp, restart, io, o);
          throw new StepFailed(step, engineStep.rollbackSays?.failed ?? t('the upgraded service failed to start; the previous engine was restored and restarted'));
        }
        throw new StepFailed(step, t('the service is not running after the start: {0}', failed.join(', ')));
      }
    }
    ran.push(step.id);
    outcome(step, 'done', undefined, last);
  }
  return { ran, skipped, outcomes };
}

function exec(s: RemoteShell, a: Extract<Action, { kind: 'run' }>, o: InstallOptions): Promise<ExecResult> {
  const asRoot = a.root && !o.isRoot && !o.prefixMode;
  return s.exec(a.argv, asRoot ? { sudo: o.sudo ?? true } : {});
}

/** Runs one action; a command's exit code and output are returned (for the summary). */
async function runAction(s: RemoteShell, sftp: SftpFiles, a: Action, io: InstallIo, o: InstallOptions): Promise<StepOutcome['last'] | void> {
  const asRoot = a.kind !== 'local' && a.root && !o.isRoot && !o.prefixMode;
  const opt = asRoot ? { sudo: o.sudo ?? true } : {};
  const check = (r: ExecResult, what: string, okCodes = [0]) => {
    if (r.code === null || !okCodes.includes(r.code)) {
      const err = r.stderr.toString('utf8').trim() || r.stdout.toString('utf8').trim();
      throw new Error(t('{0} failed (exit code {1}): {2}', what, r.code ?? r.signal ?? '?', err));
    }
  };
  switch (a.kind) {
    case 'local':
      return;
    case 'engine': {
      const up = await uploadPackage(s, sftp, a.package, { progress: (done, total) => io.uploading?.(done, total), note: (line) => io.print(`  ${line}`) });
      const common = { source: up.path, target: a.target, packageSha256: a.package.sha256, packageSize: a.package.size, engineSha256: a.sha256 };
      const argv = a.how === 'apt' ? rootPackageInstallArgv(common) : rootEngineFromPackageArgv({ ...common, member: a.package.member, checkRootOnly: a.root });
      const r = await s.exec(argv, opt);
      const text = (r.stdout.toString('utf8') + r.stderr.toString('utf8')).trimEnd();
      // apt-get redraws its progress with carriage returns: each line as it was left.
      if (a.how === 'apt' && text) for (const line of text.split('\n')) io.print(`    ${line.replace(/\r+$/, '').split('\r').pop()}`);
      const failed = engineInstallMessage(r.code, r.stderr.toString('utf8'), a.target);
      // A package that arrived damaged is sent again next time; any other failure keeps it for the next try.
      if (failed && /kds-sha256-mismatch\tpackage/.test(r.stderr.toString('utf8'))) await sftp.unlink(up.path).catch(() => undefined);
      if (failed) throw new Error(failed);
      check(r, a.how === 'apt' ? 'apt-get install' : t('installing the engine'));
      await sftp.unlink(up.path).catch(() => undefined);
      io.print(t('  installed: {0} (SHA-256 {1})', a.target, a.sha256));
      return;
    }
    case 'run': {
      if (a.needsRealSystem && o.prefixMode) {
        io.print(t('  skipped (--prefix): {0}', a.argv.join(' ')));
        return;
      }
      const r = await s.exec(a.argv, opt);
      const refused = unsafeFolderMessage(r.code, r.stderr.toString('utf8'), a.argv[a.argv.length - 1]!);
      if (refused) throw new Error(refused);
      const text = (r.stdout.toString('utf8') + r.stderr.toString('utf8')).trimEnd();
      if (text) for (const line of text.split('\n')) io.print(`    ${line}`);
      check(r, a.argv.join(' '), a.okCodes);
      return { code: r.code, output: text };
    }
    case 'mkdir': {
      const r = await s.exec(['mkdir', '-p', '-m', a.mode.toString(8).padStart(4, '0'), a.path], opt);
      check(r, `mkdir ${a.path}`);
      return;
    }
    case 'write': {
      const data = typeof a.data === 'string' ? Buffer.from(a.data, 'utf8') : a.data;
      const mode = a.mode.toString(8).padStart(4, '0');
      const existing = await s.exec(['sha256sum', a.path], opt).catch(() => undefined);
      const exists = existing?.code === 0;
      if (exists && existing!.stdout.toString('utf8').split(/\s+/)[0] === sha256(data)) {
        // Same content: only make sure of the mode.
        check(await s.exec(['chmod', mode, a.path], opt), `chmod ${a.path}`);
        io.print(t('  unchanged: {0}', a.path));
        return;
      }
      if (!exists) check(await s.exec(['mkdir', '-p', posix.dirname(a.path)], opt), `mkdir ${posix.dirname(a.path)}`);
      if (!asRoot) {
        if (exists && a.backup) check(await s.exec(['cp', '-p', a.path, a.backup], opt), `cp ${a.path}`);
        await sftp.writeFileAtomic(a.path, data, a.mode);
      } else {
        // SFTP runs as the SSH user: upload privately, then root puts it in place (only in a
        // folder that is root's alone, through a mktemp name, renamed over the target).
        const tmp = `/tmp/.kds-upload-${randomBytes(8).toString('hex')}`;
        await sftp.writeFileAtomic(tmp, data, 0o600);
        try {
          const r = await s.exec(rootWriteArgv({ target: a.path, mode: a.mode, source: tmp, ...(exists && a.backup && { backup: a.backup }) }), opt);
          const refused = unsafeFolderMessage(r.code, r.stderr.toString('utf8'), a.path);
          if (refused) throw new Error(refused);
          check(r, `install ${a.path}`);
        } finally {
          await sftp.unlink(tmp).catch(() => undefined);
        }
      }
      io.print(t('  written: {0}', a.path));
      return;
    }
  }
}
