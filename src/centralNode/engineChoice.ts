import { t } from '../common/l10n';
import { type EngineManifest, debPackageName } from './engineManifest';
import { megabytes } from './engineUpload';
import { untrustedNodeMessage } from './trustedExecutable';

/**
 * Which engine a Central Node gets, and whether it can run there, decided before anything is
 * sent: the bundled JavaScript where root may run a Node.js ≥ 18 of the CN's own; otherwise the
 * single executable (Node.js inside), out of the Debian package that is uploaded — or that
 * package installed with apt-get. The executable needs what its file says (engine.json, read by
 * scripts/elfRequirements.mjs): x86-64, glibc of at least its newest GLIBC_ symbol version, a
 * kernel its C library start-up accepts, and room in /opt and for the upload. What the CN lacks is
 * said plainly, and nothing is installed.
 */

export type EngineKind = 'sea' | 'js' | 'deb';

/** What the probe found about running the executable on the CN (remoteInstall.probeFacts). */
export interface EngineHostFacts {
  os: string;
  arch: string;
  /** uname -r */
  kernel?: string;
  /** From getconf GNU_LIBC_VERSION, else ldd --version. */
  libc?: LibcVersion;
  /** Free space where the engine goes and where the package is uploaded (df -P -k). */
  installSpace?: DiskSpace;
  uploadSpace?: DiskSpace;
  hasDpkgDeb?: boolean;
  hasAptGet?: boolean;
  /** Version of the installed kata-dir-scanner package (dpkg-query), when it is installed. */
  debInstalled?: string;
  nodeVersion?: string;
  nodeRefused?: string[];
}

export interface LibcVersion {
  family: 'glibc' | 'musl' | 'unknown';
  version?: string;
  /** The first line the tool printed, for messages. */
  text: string;
}

export interface DiskSpace {
  /** What df names as the mount point. */
  mount: string;
  availableKiB: number;
}

/** Node.js 20's documented oldest kernel for linux-x64 (BUILDING.md, "Supported platforms"). */
export const nodeSupportedKernel = '4.18';
/** Room besides the files themselves (file system metadata, the l10n and schema files). */
const marginBytes = 8 * 1024 * 1024;

/** Numeric comparison of dotted versions: 2.9 < 2.28. */
export function compareVersions(a: string, b: string): number {
  const x = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const y = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * The C library from `getconf GNU_LIBC_VERSION` ("glibc 2.36") or, when getconf has no answer,
 * from `ldd --version` (glibc: "ldd (Debian GLIBC 2.36-9+deb12u4) 2.36", "ldd (GNU libc) 2.28";
 * musl prints "musl libc (x86_64)" and "Version 1.2.4" on stderr). Undefined when neither said.
 */
export function parseLibc(getconf: string | undefined, ldd: string | undefined): LibcVersion | undefined {
  const g = /^glibc\s+(\d+\.\d+(?:\.\d+)?)\s*$/m.exec(getconf ?? '');
  if (g) return { family: 'glibc', version: g[1]!, text: (getconf ?? '').trim().split('\n')[0]! };
  const text = (ldd ?? '').trim();
  if (!text) return undefined;
  const first = text.split('\n')[0]!.trim();
  if (/musl/i.test(text)) {
    const v = /Version\s+(\d+\.\d+(?:\.\d+)?)/i.exec(text);
    return { family: 'musl', ...(v && { version: v[1]! }), text: first };
  }
  const l = /(?:GLIBC|GNU libc|EGLIBC)\b.*?\s(\d+\.\d+(?:\.\d+)?)\s*$/i.exec(first);
  if (l) return { family: 'glibc', version: l[1]!, text: first };
  return { family: 'unknown', text: first };
}

/**
 * The last line of `df -P -k` (POSIX: 1024-blocks, Used, Available, Capacity, Mounted on). The
 * file system's name may hold spaces, so the numbers are found from the right.
 */
export function parseDf(output: string): DiskSpace | undefined {
  const lines = output.trim().split('\n');
  const m = /^(.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(\/.*)$/.exec(lines[lines.length - 1]!.trim());
  return m ? { mount: m[6]!, availableKiB: Number(m[4]) } : undefined;
}

/** "6.1.0-18-amd64" → "6.1.0". */
export function kernelVersion(uname: string | undefined): string | undefined {
  return /^(\d+\.\d+(?:\.\d+)?)/.exec(uname?.trim() ?? '')?.[1];
}

/** Node's major version from `node --version` output (v20.11.1 -> 20). */
export function nodeMajor(version: string | undefined): number | undefined {
  const m = /^v?(\d+)\./.exec(version?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Bytes the CN must have free: in the install folder's file system, and where the package is uploaded. */
export function spaceNeeded(m: EngineManifest): { install: number; upload: number } {
  // The package's copy and the engine taken out of it (or dpkg's unpacked files) sit beside the
  // installed engine until the rename; the previous engine is kept as a hard link, not a copy.
  return { install: m.package.size + m.size + marginBytes, upload: m.package.size + marginBytes };
}

/** Why the single executable of `m` cannot run or be installed on the CN; empty when it can. */
export function executableProblems(f: EngineHostFacts, m: EngineManifest, how: 'sea' | 'deb', installDir: string): string[] {
  const problems: string[] = [];
  const arch = f.arch.trim();
  if (f.os.trim() !== 'Linux' || !['x86_64', 'amd64'].includes(arch)) problems.push(t('the CN is {0} {1}; the engine is built for Linux x86_64', f.os.trim() || '?', arch || '?'));
  if (!f.libc) problems.push(t('the C library of the CN could not be determined (neither getconf GNU_LIBC_VERSION nor ldd --version answered); the engine needs glibc {0} or later', m.requires.glibc));
  else if (f.libc.family !== 'glibc') problems.push(t('the CN\'s C library is {0}; the engine needs glibc {1} or later', f.libc.text, m.requires.glibc));
  else if (!f.libc.version || compareVersions(f.libc.version, m.requires.glibc) < 0) problems.push(t('the CN\'s C library is glibc {0}; the engine (Node.js {1} inside) needs glibc {2} or later', f.libc.version ?? '?', m.node, m.requires.glibc));
  const kernel = kernelVersion(f.kernel);
  if (kernel && compareVersions(kernel, m.requires.kernel) < 0) problems.push(t('the CN\'s kernel is {0}; the engine\'s C library start-up needs {1} or later', f.kernel!.trim(), m.requires.kernel));
  if (how === 'sea' && f.hasDpkgDeb === false) problems.push(t('the CN has no dpkg-deb, which takes the engine out of its package (a Debian-based system has it)'));
  if (how === 'deb' && f.hasDpkgDeb === false) problems.push(t('the CN has no dpkg: the Debian package cannot be installed there'));
  const need = spaceNeeded(m);
  const sameFs = f.installSpace && f.uploadSpace && f.installSpace.mount === f.uploadSpace.mount;
  if (f.installSpace) {
    const bytes = need.install + (sameFs ? need.upload : 0);
    if (f.installSpace.availableKiB * 1024 < bytes) {
      problems.push(t('{0} has {1} free (file system mounted on {2}); installing the engine needs {3} there', installDir, megabytes(f.installSpace.availableKiB * 1024), f.installSpace.mount, megabytes(bytes)));
    }
  }
  if (f.uploadSpace && !sameFs && f.uploadSpace.availableKiB * 1024 < need.upload) {
    problems.push(t('the SSH user\'s home folder has {0} free (file system mounted on {1}); the upload needs {2}', megabytes(f.uploadSpace.availableKiB * 1024), f.uploadSpace.mount, megabytes(need.upload)));
  }
  return problems;
}

/** A note (not a refusal) when the kernel is older than Node.js documents support for. */
export function kernelNote(f: EngineHostFacts): string | undefined {
  const kernel = kernelVersion(f.kernel);
  return kernel && compareVersions(kernel, nodeSupportedKernel) < 0
    ? t('the CN\'s kernel {0} is older than {1}, the oldest Node.js 20 is supported on; the engine is started once before it is installed to see that it runs', f.kernel!.trim(), nodeSupportedKernel)
    : undefined;
}

export interface EngineChoice {
  kind?: EngineKind;
  reason: string;
}

/**
 * auto: the installed package's way when the package is installed (its upgrades keep going
 * through dpkg), else the bundled JavaScript where root may run a Node.js ≥ 18 of the CN's, else
 * the single executable. Undefined kind + a reason naming everything that is missing otherwise.
 */
export function chooseEngine(
  f: EngineHostFacts,
  available: { package?: EngineManifest; js: boolean },
  wanted: EngineKind | 'auto' = 'auto',
  o: { prefix?: boolean; installDir?: string } = {},
): EngineChoice {
  const installDir = o.installDir ?? '/opt/kata-dir-scanner';
  const major = nodeMajor(f.nodeVersion);
  const jsOk = available.js && major !== undefined && major >= 18;
  const m = available.package;
  const executable = (how: 'sea' | 'deb'): EngineChoice => {
    if (!m) return { reason: t('this KDS has no engine package (npm run package:deb builds it; the .vsix carries it)') };
    if (how === 'deb' && o.prefix) return { reason: t('the Debian package installs into the real system, not under --prefix') };
    // Writing over a file dpkg owns would leave its database wrong: the package is upgraded as a package.
    if (how === 'sea' && f.debInstalled && !o.prefix) return { reason: t('the package {0} {1} is installed on the CN: upgrade it as a package (--engine deb), or remove it first (apt-get remove {0})', debPackageName, f.debInstalled) };
    const problems = executableProblems(f, m, how, installDir);
    if (problems.length) return { reason: problems.join('; ') };
    return how === 'sea'
      ? { kind: 'sea', reason: t('single executable (Node.js {0} inside), taken out of {1} ({2}) on the CN', m.node, m.package.file, megabytes(m.package.size)) }
      : { kind: 'deb', reason: t('Debian package {0} ({1}), installed with apt-get', m.package.file, megabytes(m.package.size)) };
  };
  const js = (): EngineChoice => {
    if (jsOk) return { kind: 'js', reason: t('bundled JavaScript run by the CN\'s Node.js {0}', f.nodeVersion!.trim()) };
    if (major === undefined) return { reason: f.nodeRefused?.length ? untrustedNodeMessage(f.nodeRefused) : t('the CN has no Node.js') };
    return { reason: t('the CN\'s Node.js {0} is older than 18', f.nodeVersion!.trim()) };
  };
  if (wanted === 'js') return js();
  if (wanted === 'sea' || wanted === 'deb') return executable(wanted);
  if (f.debInstalled && !o.prefix && m) {
    const deb = executable('deb');
    if (deb.kind) return { kind: 'deb', reason: t('{0} (the package {1} is installed on the CN)', deb.reason, f.debInstalled) };
  }
  const viaJs = js();
  if (viaJs.kind) return viaJs;
  const sea = executable('sea');
  if (sea.kind) return sea;
  return { reason: t('{0}; and the single executable cannot be used: {1}', viaJs.reason.replace(/\.$/, ''), sea.reason) };
}
