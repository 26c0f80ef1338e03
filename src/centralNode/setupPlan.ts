import { posix } from 'node:path';
import { t } from '../common/l10n';
import { parseConfigText } from '../engine/config';
import { renderLogrotate, renderServiceUnit } from '../engine/serviceUnit';
import { commandLine } from '../ssh/shellCommand';
import type { EngineHostFacts, EngineKind } from './engineChoice';
import { kernelNote } from './engineChoice';
import { type PackageToUpload, megabytes, uploadFolder } from './engineUpload';
import { rootOnlyFolderArgv, writabilityCheckArgv } from './rootFileWrite';

/**
 * `kds remote setup` as data: what each step will run on the Central Node (argv lists only,
 * shown to the administrator before anything runs), how it stays idempotent, what it backs up
 * and how it is undone. Pure: built from the parameters and from facts probed on the CN
 * (remoteInstall.ts gathers them and carries the steps out).
 *
 * With a prefix every absolute path on the CN lies under it (tests: a folder stands in for /),
 * and the actions that need the real system (mount, systemctl) are marked and skipped.
 */

export const installDir = '/opt/kata-dir-scanner';
export const defaultCredentialsPath = '/root/.kata-secret';
export const defaultLogFile = '/var/log/kata-dir-scanner.log';
export const mountPoints = { in: '/mnt/in', out: '/mnt/out', qrnt: '/mnt/qrnt' } as const;
export type FolderKey = keyof typeof mountPoints;

export type Action =
  /** Runs argv on the CN; `root`: through sudo when the SSH user is not root. */
  | { kind: 'run'; argv: string[]; root: boolean; needsRealSystem?: boolean; okCodes?: number[]; purpose: string }
  /** Writes a file on the CN atomically with this mode (skipped when the content is already the same). */
  | { kind: 'write'; path: string; mode: number; data: Buffer | string; secret?: boolean; root: boolean; backup?: string; purpose: string }
  | { kind: 'mkdir'; path: string; mode: number; root: boolean; purpose: string }
  /**
   * Uploads the engine package (resumable, with progress) and, as root, either takes the engine
   * out of it into `target` ('extract') or installs the package ('apt'); see rootFileWrite.ts.
   */
  | { kind: 'engine'; how: 'extract' | 'apt'; package: PackageToUpload & { member: string }; target: string; sha256: string; root: boolean; purpose: string }
  /** Work on this machine (e.g. generating the client certificate). */
  | { kind: 'local'; purpose: string };

export type StepId = 'mounts' | 'certificate' | 'engine' | 'unit' | 'enroll';

export interface SetupStep {
  id: StepId;
  title: string;
  actions: Action[];
  /** Said before asking: what is already in place, what is kept, what is missing. */
  notes: string[];
  /** What undoes the step's changes to system files (shown; run on a failed upgrade). */
  rollback: Action[];
  /** Run after the step to see whether it worked (e.g. systemctl is-active). */
  verify?: Action[];
  /** The step cannot run (e.g. mount.cifs missing); the notes say why. */
  blocked?: boolean;
  /** The step is left out on purpose (e.g. no systemd on the CN): said, not asked, and the next steps still run. */
  skipped?: string;
  /** Said when the started service did not stay running and this step's roll-back ran: before it, and the failure after it. */
  rollbackSays?: { restoring: string; failed: string };
}

export interface ShareParams {
  /** File server, e.g. fileserver or 10.0.0.5. */
  host: string;
  names: Record<FolderKey, string>;
  user: string;
  password: string;
  domain?: string;
}

export type { EngineKind };

export interface EngineFiles {
  kind: EngineKind;
  /** Relative path under installDir -> content (bin/kds.js + dist/kds.js + dist/kds-run.js, and l10n/schemas), written from here. */
  files: Array<{ path: string; data: Buffer | string; mode: number }>;
  /** sha256 of the main executable file, to compare with what is installed. */
  sha256: string;
  /** js: sha256 of dist/kds-run.js, `kds run`'s own bundle, which must match too. */
  runBundleSha256?: string;
  /** sea and deb: the Debian package that carries the executable to the CN. */
  package?: PackageToUpload & { member: string; version: string };
}

export interface SetupParams {
  /** '' or undefined: the real CN. */
  prefix?: string;
  /**
   * Skip the shares step when undefined (e.g. already mounted by hand). The host, user and
   * password serve every share of the configuration; `names` are the top-level folders' CIFS shares.
   */
  shares?: ShareParams;
  /** CIFS share names of the configuration's listed shares (default cifsNamesOf). */
  shareCifsNames?: Record<string, Record<FolderKey, string>>;
  /** The local exclude list of each listed share, by share name. */
  shareExcludeTexts?: Record<string, string>;
  /**
   * Add the listed shares the CN's configuration does not have (cnConfigText is the installed
   * configuration with them appended): only their folders, mounts and exclude lists are made, the
   * rest of the CN is left as it is, and the service is restarted to serve them.
   */
  addShares?: string[];
  /**
   * Instead of mounting shares: folders on the CN the administrator picked (created if missing,
   * checked for writing). Ignored when `shares` is given.
   */
  folders?: Record<FolderKey, string>;
  credentialsPath?: string;
  unitName?: string;
  /** The local kata_dir_scanner.conf text (its folders and files are rewritten for the CN). */
  configText: string;
  configName: string;
  /** The local exclude list, if any. */
  excludeText?: string;
  engine: EngineFiles;
  /** Replace the CN's configuration even if one is installed (default: keep it). */
  replaceConfig?: boolean;
  /** Make and upload a new client certificate even if the CN has one. */
  newCertificate?: boolean;
  /** The metrics endpoint the administrator asked for (already in cnConfigText); said when the installed configuration is kept. */
  metricsListen?: string;
  /** Time for backup names (tests fix it). */
  now?: Date;
}

/** What `kds remote setup` found on the CN before planning. */
export interface RemoteFacts extends EngineHostFacts {
  /** `node --version` of the Node root may run (nodePath: trustedExecutable.ts), if there is one. */
  nodeVersion?: string;
  nodePath?: string;
  /** Why each Node found before it (or instead of it) is not safe for root to run. */
  nodeRefused?: string[];
  isRoot: boolean;
  hasMountCifs: boolean;
  hasSystemd: boolean;
  /** Current /etc/fstab (under the prefix), '' when missing. */
  fstab: string;
  /** sha256 of the installed engine executable, if one is installed. */
  installedEngineSha256?: string;
  installedEngineKind?: EngineKind;
  /** js: sha256 of the installed dist/kds-run.js, if there is one (installs before it existed have none). */
  installedRunBundleSha256?: string;
  hasConfig: boolean;
  /** The system_id in the installed configuration (the one KATA knows), when it could be read. */
  installedSystemId?: string;
  hasExcludeList: boolean;
  /** The installed configuration's text, when there is one and it could be read. */
  installedConfigText?: string;
  /** Listed shares whose exclude list (exclude_list.<name>.txt in installDir) is installed. */
  installedShareExcludes?: string[];
  hasCertificate: boolean;
  /** A unit file is already installed (so writing it keeps a backup). */
  hasUnit?: boolean;
}

export function mapPath(prefix: string | undefined, path: string): string {
  if (!path.startsWith('/')) throw new Error(`not an absolute path: ${path}`);
  return prefix ? posix.join(prefix, path) : path;
}

/** The layout of an installation on the CN (prefix applied). */
export function layout(prefix: string | undefined, unitName = 'kata-dir-scanner') {
  const p = (path: string) => mapPath(prefix, path);
  return {
    installDir: p(installDir),
    config: p(`${installDir}/kata_dir_scanner.conf`),
    exclude: p(`${installDir}/exclude_list.txt`),
    certPem: p(`${installDir}/cert.pem`),
    certKey: p(`${installDir}/server.key`),
    certCrt: p(`${installDir}/server.crt`),
    kataCa: p(`${installDir}/kata_ca.pem`),
    stateDir: p(`${installDir}/kds-state`),
    seaExecutable: p(`${installDir}/kata-dir-scanner`),
    jsLauncher: p(`${installDir}/app/bin/kds.js`),
    logFile: p(defaultLogFile),
    unit: p(`/etc/systemd/system/${unitName}.service`),
    logrotate: p(`/etc/logrotate.d/${unitName}`),
    fstab: p('/etc/fstab'),
    folders: { in: p(mountPoints.in), out: p(mountPoints.out), qrnt: p(mountPoints.qrnt) } as Record<FolderKey, string>,
    /** A listed share's folders: /mnt/<name>/in, out and qrnt. */
    shareFolders: (name: string): Record<FolderKey, string> => ({ in: p(`/mnt/${name}/in`), out: p(`/mnt/${name}/out`), qrnt: p(`/mnt/${name}/qrnt`) }),
    /** A listed share's exclude list, beside the configuration as the engine's default would put it. */
    shareExclude: (name: string): string => p(`${installDir}/exclude_list.${name}.txt`),
  };
}

/** The CIFS shares a listed share mounts unless told otherwise: <name>-in, <name>-out, <name>-qrnt on the same file server. */
export function cifsNamesOf(share: string): Record<FolderKey, string> {
  return { in: `${share}-in`, out: `${share}-out`, qrnt: `${share}-qrnt` };
}
export type Layout = ReturnType<typeof layout>;

/** The argv that starts the installed engine (`… run --config X` is appended by the unit). */
export function engineExec(kind: EngineKind, l: Layout, nodePath = '/usr/bin/node'): string[] {
  return kind === 'js' ? [nodePath, l.jsLauncher] : [l.seaExecutable];
}

// ----------------------------------------------------------------- shares

/** A value for an fstab field: spaces, tabs, newlines and backslashes as octal escapes. */
export function fstabField(value: string): string {
  return value.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

export function fstabLines(shares: Pick<ShareParams, 'host' | 'names'>, credentialsPath: string, folders: Record<FolderKey, string> = mountPoints): string[] {
  if (!/^[A-Za-z0-9.:_\[\]-]+$/.test(shares.host)) throw new Error(t('The share host "{0}" is not a host name or IP address.', shares.host));
  return (Object.keys(mountPoints) as FolderKey[]).map((k) => {
    const name = shares.names[k];
    if (!name || /[\0\n]/.test(name) || name.startsWith('/')) throw new Error(t('The share name "{0}" is not valid.', name));
    return [fstabField(`//${shares.host}/${name}`), fstabField(folders[k]), 'cifs', fstabField(`credentials=${credentialsPath}`), '0', '0'].join(' ');
  });
}

/**
 * Adds the lines for our mount points to an fstab; a line already mounting one of them is
 * replaced (commented out, so the change is visible), identical lines are left alone.
 */
export function editFstab(current: string, lines: string[], now = new Date()): { text: string; changed: boolean; added: string[]; replaced: string[] } {
  const wanted = new Map(lines.map((l) => [l.split(/\s+/)[1]!, l]));
  const out: string[] = [];
  const replaced: string[] = [];
  const present = new Set<string>();
  const stamp = now.toISOString();
  const src = current === '' ? [] : current.replace(/\n$/, '').split('\n');
  for (const line of src) {
    const fields = line.trim().startsWith('#') ? [] : line.trim().split(/\s+/);
    const mp = fields[1];
    if (mp && wanted.has(mp)) {
      const normal = fields.join(' ');
      if (normal === wanted.get(mp) && !present.has(mp)) {
        present.add(mp);
        out.push(line);
        continue;
      }
      replaced.push(line);
      out.push(`# ${line}  # replaced by kds remote setup ${stamp}`);
      continue;
    }
    out.push(line);
  }
  const added: string[] = [];
  for (const [mp, line] of wanted) {
    if (present.has(mp)) continue;
    added.push(line);
    out.push(line);
  }
  const text = out.length ? out.join('\n') + '\n' : '';
  return { text, changed: added.length > 0 || replaced.length > 0, added, replaced };
}

/**
 * The credentials file mount.cifs reads (username=, password=, domain= lines). Values are data:
 * quotes, $() and backslashes are written as they are (no shell ever sees them). A newline or NUL
 * cannot be carried by this line-based format — it would start a line of its own — so it is refused.
 */
export function credentialsFileContent(user: string, password: string, domain?: string): string {
  for (const [name, v] of [['username', user], ['password', password], ['domain', domain ?? '']] as const) {
    if (/[\r\n\0]/.test(v)) throw new Error(t('The share {0} contains a line break or NUL, which a CIFS credentials file cannot hold.', name));
  }
  if (!user) throw new Error(t('The share user name is empty.'));
  return `username=${user}\npassword=${password}\n${domain ? `domain=${domain}\n` : ''}`;
}

/** A command that creates a file in `dir` (mktemp: a share user cannot plant a link for it), removes it and fails if either is refused. */
export const writabilityCheck = writabilityCheckArgv;

/** The shares of a CN configuration (configForCn's text): whether it has the top-level triple (share default), and the listed shares' names. */
export function cnShares(cnConfigText: string): { topLevel: boolean; listed: string[] } {
  const raw = JSON.parse(cnConfigText.replace(/^\uFEFF/, '')) as Record<string, unknown>;
  const listed = Array.isArray(raw.shares) ? raw.shares.map((e) => String((e as { name?: unknown } | null)?.name)) : [];
  return { topLevel: 'in_dir' in raw, listed };
}

/** One folder triple to mount: its folders on the CN, the same as fstab names them, and its CIFS shares. */
export interface MountTarget {
  share: string;
  folders: Record<FolderKey, string>;
  fstabFolders: Record<FolderKey, string>;
  names: Record<FolderKey, string>;
}

/**
 * What the shares step mounts: the top-level folders on /mnt/in, /mnt/out, /mnt/qrnt (CIFS shares
 * from `shares.names`) and each listed share on /mnt/<name>/… (CIFS shares from shareCifsNames, by
 * default <name>-in, <name>-out, <name>-qrnt), all on the one file server; `cn.listed` may be a subset.
 */
export function mountTargets(p: Pick<SetupParams, 'shares' | 'shareCifsNames' | 'prefix'>, l: Layout, cn: { topLevel: boolean; listed: string[] }): MountTarget[] {
  const plain = layout(undefined);
  const targets: MountTarget[] = [];
  if (cn.topLevel && p.shares) targets.push({ share: 'default', folders: l.folders, fstabFolders: p.prefix ? l.folders : mountPoints, names: p.shares.names });
  for (const name of cn.listed) {
    targets.push({ share: name, folders: l.shareFolders(name), fstabFolders: p.prefix ? l.shareFolders(name) : plain.shareFolders(name), names: p.shareCifsNames?.[name] ?? cifsNamesOf(name) });
  }
  return targets;
}

/** The shares step: mount points, credentials file, the CIFS lines in fstab, mount -a, a writability check of every folder. */
export function mountsStep(shares: ShareParams, prefix: string | undefined, l: Layout, f: RemoteFacts, now: Date, targets: MountTarget[], credentialsPath: string): SetupStep {
  const sys = !prefix;
  const root = !prefix;
  const credentials = mapPath(prefix, credentialsPath);
  const lines = targets.flatMap((x) => fstabLines({ host: shares.host, names: x.names }, credentialsPath, x.fstabFolders));
  const fstab = editFstab(f.fstab, lines, now);
  const actions: Action[] = [];
  const notes: string[] = [];
  const rollback: Action[] = [];
  for (const x of targets) for (const k of Object.keys(mountPoints) as FolderKey[]) actions.push({ kind: 'mkdir', path: x.folders[k], mode: 0o755, root, purpose: t('mount point') });
  actions.push({ kind: 'mkdir', path: posix.dirname(credentials), mode: 0o700, root, purpose: t('folder of the credentials file') });
  actions.push({
    kind: 'write',
    path: credentials,
    mode: 0o600,
    data: credentialsFileContent(shares.user, shares.password, shares.domain),
    secret: true,
    root,
    purpose: t('share credentials (username=, password=), readable by root only'),
  });
  if (fstab.changed) {
    const backup = `${l.fstab}.kds-backup-${stamp(now)}`;
    actions.push({ kind: 'write', path: l.fstab, mode: 0o644, data: fstab.text, root, ...(f.fstab !== '' && { backup }), purpose: targets.length > 1 ? t('the CIFS lines of {0} shares in fstab', targets.length) : t('the three CIFS lines in fstab') });
    if (f.fstab !== '') rollback.push({ kind: 'run', argv: ['cp', '-p', backup, l.fstab], root: true, purpose: t('restore the previous fstab') });
    for (const line of fstab.added) notes.push(t('fstab: add {0}', line));
    for (const line of fstab.replaced) notes.push(t('fstab: comment out {0}', line));
  } else notes.push(targets.length > 1 ? t('fstab already has the lines of every share') : t('fstab already has the three lines'));
  let blocked = false;
  if (!f.hasMountCifs) {
    notes.push(t('mount.cifs is missing on the CN: install cifs-utils (apt-get install cifs-utils, or on a CN without Internet access copy the cifs-utils .deb and run dpkg -i on it), then run the set-up again.'));
    blocked = sys;
  }
  actions.push({ kind: 'run', argv: ['mount', '-a'], root: true, needsRealSystem: true, purpose: t('mount everything in fstab') });
  for (const x of targets) for (const k of Object.keys(mountPoints) as FolderKey[]) actions.push({ kind: 'run', argv: writabilityCheck(x.folders[k]), root, purpose: t('check that {0} is writable', x.folders[k]) });
  const names = targets.map((x) => x.share).join(', ');
  const title = targets.length > 1 || targets[0]?.share !== 'default' ? t('Shares {0}: mount points, credentials, fstab, mount -a', names) : t('Shares: mount points, credentials, fstab, mount -a');
  return { id: 'mounts', title, actions, notes, rollback, ...(blocked && { blocked }) };
}

/** Folders on the CN instead of mounts: each created when missing, then checked for writing. */
export function foldersStep(all: Record<FolderKey, string>[], root: boolean): SetupStep {
  const actions: Action[] = [];
  for (const folders of all) for (const k of Object.keys(mountPoints) as FolderKey[]) actions.push({ kind: 'mkdir', path: folders[k], mode: 0o755, root, purpose: t('folder {0}', k) });
  for (const folders of all) for (const k of Object.keys(mountPoints) as FolderKey[]) actions.push({ kind: 'run', argv: writabilityCheck(folders[k]), root, purpose: t('check that {0} is writable', folders[k]) });
  return { id: 'mounts', title: t('Folders on the CN: {0}', all.flatMap((x) => Object.values(x)).join(', ')), actions, notes: [t('no shares are mounted: the service scans these folders on the CN')], rollback: [] };
}

/** Each listed share's exclude list (its local text, else empty) unless the CN has one already. */
export function shareExcludeWrites(p: Pick<SetupParams, 'shareExcludeTexts' | 'prefix'>, l: Layout, f: Pick<RemoteFacts, 'installedShareExcludes'>, names: string[], notes: string[]): Action[] {
  const actions: Action[] = [];
  for (const name of names) {
    if (f.installedShareExcludes?.includes(name)) notes.push(t('the installed exclude list of share {0} is kept', name));
    else actions.push({ kind: 'write', path: l.shareExclude(name), mode: 0o644, data: p.shareExcludeTexts?.[name] ?? '', root: !p.prefix, purpose: t('exclude list of share {0}', name) });
  }
  return actions;
}

/** The listed shares an installed configuration does not have (none when it is unknown or unreadable: then nothing is said). */
export function sharesNotInstalled(installedConfigText: string | undefined, names: string[]): string[] {
  if (installedConfigText === undefined) return [];
  let have: Set<string>;
  try {
    have = new Set(cnShares(installedConfigText).listed.map((n) => n.toLowerCase()));
  } catch {
    return [];
  }
  return names.filter((n) => !have.has(n.toLowerCase()));
}

// ----------------------------------------------------------------- configuration

/**
 * The local configuration as the CN needs it: folders on the mount points, certificate, exclude
 * list, state and log in their installed places; every other key as the administrator wrote it.
 * An empty system_id gets `systemId`. Throws ConfigError when the result does not validate.
 */
export function configForCn(
  text: string,
  l: Layout,
  systemId: () => string,
  folders: Record<FolderKey, string> = l.folders,
  /** The administrator's answer for the metrics endpoint: an address sets metrics_listen, '' turns it off, undefined keeps the local one. */
  metricsListen?: string,
): { text: string; systemId: string; hadKataCa?: string } {
  const raw = JSON.parse(text.replace(/^\uFEFF/, '')) as Record<string, unknown>;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(t('The configuration is not a JSON object.'));
  const listed = listedSharesForCn(raw, l);
  const hadKataCa = typeof raw.kata_ca === 'string' && raw.kata_ca.trim() !== '' ? raw.kata_ca : undefined;
  // Without top-level folders (only `shares`) there is no share default to place.
  const topLevel = 'in_dir' in raw || !Array.isArray(raw.shares);
  const out: Record<string, unknown> = {
    ...raw,
    ...(topLevel && {
      in_dir: folders.in.replace(/\/+$/, '') + '/',
      out_dir: folders.out.replace(/\/+$/, '') + '/',
      qrnt_dir: folders.qrnt.replace(/\/+$/, '') + '/',
    }),
    ...(listed && { shares: listed }),
    cert_pem: l.certPem,
    cert_key: l.certKey,
    exclude_list: l.exclude,
    state_dir: l.stateDir,
    log_file: typeof raw.log_file === 'string' && raw.log_file.startsWith('/') ? mapPathKeepingPrefix(l, raw.log_file) : l.logFile,
    system_id: typeof raw.system_id === 'string' && raw.system_id !== '' ? raw.system_id : systemId(),
    ...(hadKataCa !== undefined && { kata_ca: l.kataCa }),
  };
  if (metricsListen !== undefined) {
    if (metricsListen.trim() === '') delete out.metrics_listen;
    else out.metrics_listen = metricsListen.trim();
  }
  const result = JSON.stringify(out, null, 2) + '\n';
  parseConfigText(result, l.config);
  return { text: result, systemId: out.system_id as string, ...(hadKataCa !== undefined && { hadKataCa }) };
}

/**
 * The `shares` of a local configuration as the CN needs them: each share's folders on its mount
 * points (/mnt/<name>/…) and its exclude list in the installation folder; limits kept. Undefined
 * when the configuration lists none; entries that are not objects are left for the engine's check.
 */
export function listedSharesForCn(raw: Record<string, unknown>, l: Layout): unknown[] | undefined {
  if (!Array.isArray(raw.shares)) return undefined;
  return raw.shares.map((entry: unknown) => {
    const e = entry as Record<string, unknown> | null;
    if (e === null || typeof e !== 'object' || typeof e.name !== 'string') return entry;
    const f = l.shareFolders(e.name);
    return { ...e, in_dir: f.in + '/', out_dir: f.out + '/', qrnt_dir: f.qrnt + '/', exclude_list: l.shareExclude(e.name) };
  });
}

/** A log_file the administrator chose stays where it is (under the prefix in tests). */
function mapPathKeepingPrefix(l: Layout, logFile: string): string {
  const prefix = l.installDir.slice(0, -installDir.length);
  return prefix && !logFile.startsWith(prefix + '/') ? posix.join(prefix, logFile) : logFile;
}

// ----------------------------------------------------------------- the plan

export interface PlanInputs extends SetupParams {
  facts: RemoteFacts;
  /** The CN configuration text (from configForCn) and the system_id in it. */
  cnConfigText: string;
  /** The client certificate files to upload, when a new one is made (server.key, server.crt, cert.pem). */
  certificate?: { files: Record<'server.key' | 'server.crt' | 'cert.pem', string>; fingerprint256: string };
  kataCaText?: string;
}

export function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export function buildSetupPlan(p: PlanInputs): SetupStep[] {
  const prefix = p.prefix || undefined;
  const unitName = p.unitName ?? 'kata-dir-scanner';
  const l = layout(prefix, unitName);
  const f = p.facts;
  const now = p.now ?? new Date();
  const steps: SetupStep[] = [];
  const sys = !prefix; // a real system: mount and systemctl run
  const root = !prefix; // files under the prefix belong to the SSH user

  // 1. Shares: the top-level folders' and every listed share's.
  const cn = cnShares(p.cnConfigText);
  if (p.shares) {
    steps.push(mountsStep(p.shares, prefix, l, f, now, mountTargets(p, l, cn), p.credentialsPath ?? defaultCredentialsPath));
  } else if (p.folders) {
    // Folders the administrator picked on the CN: created when missing, then checked for writing.
    // Listed shares get theirs at /mnt/<name>/….
    steps.push(foldersStep([...(cn.topLevel ? [p.folders] : []), ...cn.listed.map((n) => l.shareFolders(n))], root));
  }

  // 2. Client certificate.
  {
    const actions: Action[] = [];
    const notes: string[] = [];
    if (p.certificate) {
      actions.push({ kind: 'local', purpose: t('generate an RSA 2048 key and a self-signed certificate on this machine (kds cert)') });
      actions.push({ kind: 'mkdir', path: l.installDir, mode: 0o755, root, purpose: t('installation folder') });
      for (const [name, path] of [['server.key', l.certKey], ['server.crt', l.certCrt], ['cert.pem', l.certPem]] as const) {
        actions.push({ kind: 'write', path, mode: 0o600, data: p.certificate.files[name], secret: name !== 'server.crt', root, purpose: t('client certificate file {0}', name) });
      }
      notes.push(t('client certificate SHA-256 {0}', p.certificate.fingerprint256));
      if (f.hasCertificate) notes.push(t('the CN\'s certificate is replaced: KATA must approve the new one'));
    } else notes.push(t('the CN already has a client certificate; it is kept (a new one would need a new approval in KATA)'));
    steps.push({ id: 'certificate', title: t('Client certificate'), actions, notes, rollback: [] });
  }

  // 3. Engine, configuration, exclude list.
  const exec = engineExec(p.engine.kind, l, f.nodePath);
  const upgrade = f.installedEngineSha256 !== undefined;
  const mainFile = p.engine.kind === 'js' ? l.jsLauncher.replace(/bin\/kds\.js$/, 'dist/kds.js') : l.seaExecutable;
  {
    const actions: Action[] = [{ kind: 'mkdir', path: l.installDir, mode: 0o755, root, purpose: t('installation folder') }];
    const notes: string[] = [];
    const rollback: Action[] = [];
    const installedKind = f.installedEngineKind === 'js' ? 'js' : 'sea';
    const wantedKind = p.engine.kind === 'js' ? 'js' : 'sea';
    const pkg = p.engine.package;
    const same =
      f.installedEngineSha256 === p.engine.sha256 &&
      installedKind === wantedKind &&
      (p.engine.kind !== 'deb' || f.debInstalled === pkg?.version) &&
      (p.engine.kind !== 'js' || f.installedRunBundleSha256 === p.engine.runBundleSha256);
    if (same) notes.push(t('the same engine is already installed'));
    else {
      if (upgrade) {
        const installed = installedKind === 'js' ? `${l.installDir}/app` : l.seaExecutable;
        actions.push({ kind: 'run', argv: ['rm', '-rf', `${installed}.previous`], root, purpose: t('drop the backup of an older upgrade') });
        actions.push(
          installedKind === 'js'
            ? { kind: 'run', argv: ['cp', '-a', installed, `${installed}.previous`], root, purpose: t('keep the installed engine for a roll-back') }
            : // A second name for the same file: no room needed, and the new engine is renamed over the old name.
              { kind: 'run', argv: ['ln', '-f', installed, `${installed}.previous`], root, purpose: t('keep the installed engine for a roll-back') },
        );
        rollback.push({ kind: 'run', argv: ['rm', '-rf', installed], root, purpose: t('remove the new engine') });
        rollback.push({ kind: 'run', argv: ['mv', `${installed}.previous`, installed], root, purpose: t('restore the previous engine') });
        notes.push(t('upgrade: configuration, exclude list and journal (state_dir) are kept; the previous engine is kept as .previous'));
      }
      if (pkg) {
        const how = p.engine.kind === 'deb' ? 'apt' : 'extract';
        actions.push({
          kind: 'engine',
          how,
          package: pkg,
          target: l.seaExecutable,
          sha256: p.engine.sha256,
          root,
          purpose: how === 'apt' ? t('the engine as the Debian package {0}', pkg.file) : t('the engine (single executable)'),
        });
        notes.push(t('uploads {0} ({1}) to ~/{2} on the CN; an interrupted upload continues where it stopped', pkg.file, megabytes(pkg.size), uploadFolder));
      }
      for (const file of p.engine.files) {
        const path = posix.join(l.installDir, file.path);
        if (posix.dirname(path) !== l.installDir) actions.push({ kind: 'mkdir', path: posix.dirname(path), mode: 0o755, root, purpose: t('engine folder') });
        actions.push({ kind: 'write', path, mode: file.mode, data: file.data, root, purpose: file.path === posix.relative(l.installDir, mainFile) ? t('the engine ({0})', t('bundled JavaScript')) : t('engine file {0}', file.path) });
      }
    }
    const oldKernel = p.engine.kind === 'js' ? undefined : kernelNote(f);
    if (oldKernel) notes.push(oldKernel);
    if (!f.hasConfig || p.replaceConfig) {
      actions.push({ kind: 'write', path: l.config, mode: 0o600, data: p.cnConfigText, root, ...(f.hasConfig && { backup: `${l.config}.kds-backup-${stamp(now)}` }), purpose: t('configuration (folders and files rewritten for the CN)') });
    } else {
      notes.push(t('the installed configuration {0} is kept (--replace-config replaces it)', l.config));
      if (p.metricsListen) notes.push(t('so metrics_listen is not set to {0}: use --replace-config, or add "metrics_listen": "{0}" to {1} and restart the service', p.metricsListen, l.config));
    }
    if (p.kataCaText !== undefined && (!f.hasConfig || p.replaceConfig)) actions.push({ kind: 'write', path: l.kataCa, mode: 0o644, data: p.kataCaText, root, purpose: t('the KATA certificate to trust (kata_ca)') });
    const configWritten = !f.hasConfig || !!p.replaceConfig;
    if (cn.topLevel || !configWritten) {
      if (!f.hasExcludeList) actions.push({ kind: 'write', path: l.exclude, mode: 0o644, data: p.excludeText ?? '', root, purpose: t('exclude list') });
      else notes.push(t('the installed exclude list is kept'));
    }
    if (configWritten) actions.push(...shareExcludeWrites(p, l, f, cn.listed, notes));
    else {
      const missing = sharesNotInstalled(f.installedConfigText, cn.listed);
      if (missing.length) notes.push(t('shares {0} of this configuration are not in the installed configuration: kds remote setup --add-shares adds them without touching the others', missing.join(', ')));
    }
    actions.push({ kind: 'mkdir', path: l.stateDir, mode: 0o700, root, purpose: t('journal folder (state_dir)') });
    const logDir = posix.dirname(parseConfigText(p.cnConfigText, l.config).config.log_file);
    actions.push({ kind: 'mkdir', path: logDir, mode: 0o755, root, purpose: t('log folder') });
    actions.push({ kind: 'run', argv: rootOnlyFolderArgv(l.installDir), root: true, needsRealSystem: true, purpose: t('check that {0} and every folder above it belong to root and cannot be written by others (root runs the engine from there)', l.installDir) });
    actions.push({ kind: 'run', argv: [...exec, '--version'], root: false, purpose: t('check that the engine starts on the CN') });
    steps.push({ id: 'engine', title: t('Engine, configuration and exclude list in {0}', l.installDir), actions, notes, rollback });
  }

  // 4. Unit.
  {
    const cfg = parseConfigText(p.cnConfigText, l.config).config;
    const unit = renderServiceUnit(cfg, { exec, unitName });
    const logrotate = renderLogrotate(cfg, { unitName });
    const name = `${unitName}.service`;
    const actions: Action[] = [
      { kind: 'mkdir', path: posix.dirname(l.unit), mode: 0o755, root, purpose: t('unit folder') },
      { kind: 'write', path: l.unit, mode: 0o644, data: unit, root, ...(f.hasUnit && { backup: `${l.unit}.kds-backup-${stamp(now)}` }), purpose: t('systemd unit (kds service)') },
      { kind: 'mkdir', path: posix.dirname(l.logrotate), mode: 0o755, root, purpose: t('logrotate folder') },
      { kind: 'write', path: l.logrotate, mode: 0o644, data: logrotate, root, purpose: t('logrotate snippet') },
      { kind: 'run', argv: ['systemctl', 'daemon-reload'], root: true, needsRealSystem: true, purpose: t('reload the units') },
      { kind: 'run', argv: ['systemctl', 'enable', name], root: true, needsRealSystem: true, purpose: t('start at boot') },
      { kind: 'run', argv: ['systemctl', upgrade ? 'restart' : 'start', name], root: true, needsRealSystem: true, purpose: t('start the service') },
      { kind: 'run', argv: ['systemctl', 'status', '--no-pager', '--lines=20', name], root: false, needsRealSystem: true, okCodes: [0, 1, 2, 3, 4], purpose: t('show its status') },
    ];
    const verify: Action[] = [{ kind: 'run', argv: ['systemctl', 'is-active', '--quiet', name], root: false, needsRealSystem: true, purpose: t('check that the service is running') }];
    // Without systemd (a container, some appliances) there is nothing to install a unit into: the
    // step is left out with a note, and the integration request and the summary still follow.
    const noSystemd = sys && !f.hasSystemd;
    const notes = noSystemd ? [t('systemd does not run on the CN (a container or an appliance without it): the service unit is not installed. Start the engine some other way: {0}', commandLine([...exec, 'run', '--config', l.config]))] : [];
    steps.push({ id: 'unit', title: t('Service {0}: unit, daemon-reload, enable, start', name), actions, notes, rollback: [], verify, ...(noSystemd && { skipped: t('no systemd') }) });
  }

  // 5. Integration request from the CN.
  steps.push({
    id: 'enroll',
    title: t('Integration request from the CN'),
    actions: [{ kind: 'run', argv: [...exec, 'enroll', '--config', l.config], root: true, okCodes: [0, 3], purpose: t('send the integration request; approve it in the KATA web console') }],
    notes: [],
    rollback: [],
  });
  return steps;
}

/** The exact commands of a step, one a line, as shown before asking. Secrets are never shown. */
export function describeAction(a: Action, prefixMode: boolean, sudo: boolean): string {
  const skip = prefixMode && a.kind === 'run' && a.needsRealSystem ? ` ${t('(skipped: --prefix, no real system)')}` : '';
  const su = (root: boolean) => (root && sudo ? 'sudo ' : '');
  switch (a.kind) {
    case 'run':
      return `$ ${su(a.root)}${commandLine(a.argv)}${skip}    # ${a.purpose}`;
    case 'mkdir':
      return `$ ${su(a.root)}${commandLine(['mkdir', '-p', '-m', a.mode.toString(8).padStart(4, '0'), a.path])}    # ${a.purpose}`;
    case 'write': {
      const size = typeof a.data === 'string' ? Buffer.byteLength(a.data) : a.data.length;
      const backup = a.backup ? `; ${t('the old file is kept as {0}', a.backup)}` : '';
      return `${t('write {0} (mode {1}, {2} bytes{3}){4}', a.path, a.mode.toString(8).padStart(4, '0'), size, a.secret ? `, ${t('content not shown')}` : '', backup)}    # ${a.purpose}`;
    }
    case 'local':
      return `${t('on this machine:')} ${a.purpose}`;
    case 'engine': {
      const up = t('upload {0} ({1}, SHA-256 {2}) to ~/{3}', a.package.file, megabytes(a.package.size), a.package.sha256, uploadFolder);
      const then =
        a.how === 'apt'
          ? t('then {0}in a private copy: check its SHA-256, apt-get install -y it (dpkg -i without apt-get; an existing configuration is kept), check the SHA-256 of {1}', su(a.root), a.target)
          : t('then {0}in a private folder beside {1}: check its SHA-256, dpkg-deb --fsys-tarfile | tar -xO {2}, check the engine\'s SHA-256 {3}, chmod 0755{4}, run it once with --version, rename it to {1}', su(a.root), a.target, a.package.member, a.sha256, a.root ? ', chown root:root' : '');
      return `${up}; ${then}    # ${a.purpose}`;
    }
  }
}
