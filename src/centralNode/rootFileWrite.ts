import { t } from '../common/l10n';

/**
 * How a root shell on the Central Node writes a file without being turned against the system.
 *
 * A root write by a predictable name (`$1.kds-new.$$`, `.kds-write-test.$$`) in a folder someone
 * else can write follows a symlink planted there and truncates or replaces any file on the CN.
 * So: (1) root writes a file only in a folder that belongs to root, as does every folder above
 * it, none writable by group or others (a root-owned sticky folder such as /tmp is allowed: there
 * nobody can rename what root created); (2) the temporary file is made by `mktemp` (O_EXCL, a
 * random name) in the resolved folder and renamed over the target. A check that must create a
 * file in a folder others write (the shares) uses only (2) and removes the file by that name.
 */

/**
 * sh function `kds_root_only DIR`: succeeds when DIR and every folder above it (symlinks resolved)
 * is owned by uid 0 and not writable by group/others unless sticky; otherwise prints
 * `kds-unsafe-folder<TAB>path<TAB>uid mode` on stderr and fails.
 */
const rootOnlyFunction =
  'kds_root_only() { p=$(readlink -f -- "$1") || { printf "kds-unsafe-folder\\t%s\\tmissing\\n" "$1" >&2; return 1; }; ' +
  'while :; do s=$(stat -c "%u %A" -- "$p") || return 1; ' +
  'case "$s" in "0 d"????-??-? | "0 d"????????[tT]) ;; *) printf "kds-unsafe-folder\\t%s\\t%s\\n" "$p" "$s" >&2; return 1 ;; esac; ' +
  '[ "$p" = / ] && return 0; p=$(dirname -- "$p"); done; }';

/** Exit code of the scripts below when the folder is not root's alone. */
export const unsafeFolderExit = 3;

/**
 * argv (run as root) that replaces `target` with the bytes of `source` (a file) or of stdin
 * (source '-'): refused unless the target's folder is root's alone; a `mktemp` file beside the
 * target, then mode (`mode`, or the target's owner and mode with `keepOwner`), then rename.
 * `backup`: the current target is copied there first (when it exists).
 */
export function rootWriteArgv(o: { target: string; mode: number; source: string; backup?: string; keepOwner?: boolean }): string[] {
  const script = [
    rootOnlyFunction,
    'dir=$(dirname -- "$1")',
    `kds_root_only "$dir" || exit ${unsafeFolderExit}`,
    'dir=$(readlink -f -- "$dir") || exit 1',
    'dst="$dir/$(basename -- "$1")"',
    'if [ -n "$4" ] && [ -e "$dst" ]; then cp -p -- "$dst" "$4" || exit 1; fi',
    'tmp=$(mktemp -- "$dir/.kds-new.XXXXXXXXXX") || exit 1',
    'trap \'rm -f -- "$tmp"\' EXIT',
    'if [ "$3" = - ]; then cat > "$tmp"; else cat -- "$3" > "$tmp"; fi || exit 1',
    'if [ "$5" = keep ] && [ -e "$dst" ]; then chown --reference="$dst" -- "$tmp" && chmod --reference="$dst" -- "$tmp"; else chmod "$2" -- "$tmp"; fi || exit 1',
    'mv -f -- "$tmp" "$dst" || exit 1',
    'trap - EXIT',
  ].join('\n');
  return ['sh', '-c', script, 'kds-root-write', o.target, o.mode.toString(8).padStart(4, '0'), o.source, o.backup ?? '', o.keepOwner ? 'keep' : ''];
}

/** argv (run as root) that fails with unsafeFolderExit unless `dir` and every folder above it are root's alone. */
export function rootOnlyFolderArgv(dir: string): string[] {
  return ['sh', '-c', `${rootOnlyFunction}; kds_root_only "$1" || exit ${unsafeFolderExit}`, 'kds-root-only', dir];
}

/**
 * argv that checks that `dir` can be written: creates a file there with `mktemp` (O_EXCL, random
 * name: a planted symlink cannot be followed) and removes it by that name.
 */
export function writabilityCheckArgv(dir: string): string[] {
  return ['sh', '-c', 'f=$(mktemp -- "$1/.kds-write-test.XXXXXXXXXX") && rm -f -- "$f"', 'kds-write-test', dir];
}

/** The localized refusal for a script that exited with unsafeFolderExit, or undefined. */
export function unsafeFolderMessage(code: number | null, stderr: string, target: string): string | undefined {
  if (code !== unsafeFolderExit) return undefined;
  const m = /kds-unsafe-folder\t([^\t\n]*)\t([^\n]*)/.exec(stderr);
  if (!m) return undefined;
  return t(
    'Refused to write {0} as root: the folder {1} ({2}) is not root\'s alone. Root writes only where every folder up to / belongs to root and cannot be written by group or others; change its owner/mode (chown root:root, chmod go-w) or write the file as its owner.',
    target,
    m[1]!,
    m[2]!,
  );
}

/** Exit codes of the engine installation scripts below, besides unsafeFolderExit. */
export const engineInstallExit = { packageMismatch: 4, engineMismatch: 5, doesNotStart: 6, noTool: 7 } as const;

/**
 * sh prelude of the engine installation: a private work folder (mktemp -d, removed on exit) in
 * the folder of the target, after that folder was checked to be root's alone (unless
 * `checkRootOnly` is off: --prefix tests, where the SSH user owns everything), and the uploaded
 * package copied into it — a file the SSH user can change no longer — and checked by SHA-256.
 */
function engineInstallPrelude(): string[] {
  return [
    rootOnlyFunction,
    'umask 077',
    'src=$1 dst=$2 deb_sha=$3 exe_sha=$4 member=$5 check=$6 size=$7',
    'dir=$(dirname -- "$dst")',
    `if [ "$check" = yes ]; then kds_root_only "$dir" || exit ${unsafeFolderExit}; fi`,
    'dir=$(readlink -f -- "$dir") || exit 1',
    'work=$(mktemp -d -- "$dir/.kds-new.XXXXXXXXXX") || exit 1',
    'trap \'rm -rf -- "$work"\' EXIT',
    'pkg="$work/$(basename -- "$src")"',
    // At most the package's size: a link to /dev/zero put there instead cannot fill the disk.
    'head -c "$size" -- "$src" > "$pkg" || exit 1',
    'set -- $(sha256sum -- "$pkg")',
    `[ "$1" = "$deb_sha" ] || { printf 'kds-sha256-mismatch\\tpackage\\t%s\\n' "$1" >&2; exit ${engineInstallExit.packageMismatch}; }`,
  ];
}

/**
 * argv (root) that installs the engine out of the uploaded Debian package without installing the
 * package: dpkg-deb (essential on Debian, and it reads the package's xz itself) streams the data
 * archive to tar, which writes only the engine into a new file (mode 0600); its SHA-256 must be
 * the expected one before it is made root's and 0755, started once with --version (a CN whose C
 * or C++ library is too old fails here, with the loader's message), and renamed over `target`.
 * Whatever fails, nothing is left behind but the work folder's removal.
 */
export function rootEngineFromPackageArgv(o: { source: string; target: string; packageSha256: string; packageSize: number; engineSha256: string; member: string; checkRootOnly: boolean }): string[] {
  const script = [
    ...engineInstallPrelude(),
    `command -v dpkg-deb >/dev/null 2>&1 || { printf 'kds-no-tool\\tdpkg-deb\\n' >&2; exit ${engineInstallExit.noTool}; }`,
    'dpkg-deb --fsys-tarfile "$pkg" | tar -xOf - "$member" > "$work/engine"',
    'set -- $(sha256sum -- "$work/engine")',
    `[ "$1" = "$exe_sha" ] || { printf 'kds-sha256-mismatch\\tengine\\t%s\\n' "$1" >&2; exit ${engineInstallExit.engineMismatch}; }`,
    'if [ "$(id -u)" = 0 ]; then chown 0:0 -- "$work/engine" || exit 1; fi',
    'chmod 0755 -- "$work/engine" || exit 1',
    `out=$("$work/engine" --version 2>&1) || { printf 'kds-does-not-start\\t%s\\n' "$out" >&2; exit ${engineInstallExit.doesNotStart}; }`,
    'mv -f -- "$work/engine" "$dir/$(basename -- "$dst")" || exit 1',
  ].join('\n');
  return ['sh', '-c', script, 'kds-engine-install', o.source, o.target, o.packageSha256, o.engineSha256, o.member, o.checkRootOnly ? 'yes' : 'no', String(o.packageSize)];
}

/**
 * argv (root) that installs the uploaded package with apt-get (dpkg -i where there is no
 * apt-get), from a root-only copy checked by SHA-256; then the installed engine's SHA-256 is
 * checked. dpkg keeps an existing configuration: conffile questions are answered "keep".
 */
export function rootPackageInstallArgv(o: { source: string; target: string; packageSha256: string; packageSize: number; engineSha256: string }): string[] {
  const script = [
    ...engineInstallPrelude(),
    // apt's download sandbox user reads local packages too: the copy may be read, not written, by others.
    'chmod 0755 -- "$work" && chmod 0644 -- "$pkg" || exit 1',
    'if command -v apt-get >/dev/null 2>&1; then',
    '  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -- "$pkg" || exit 1',
    'elif command -v dpkg >/dev/null 2>&1; then',
    '  DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold -i -- "$pkg" || exit 1',
    `else printf 'kds-no-tool\\tapt-get\\n' >&2; exit ${engineInstallExit.noTool}; fi`,
    'set -- $(sha256sum -- "$dst")',
    `[ "$1" = "$exe_sha" ] || { printf 'kds-sha256-mismatch\\tengine\\t%s\\n' "$1" >&2; exit ${engineInstallExit.engineMismatch}; }`,
  ].join('\n');
  return ['sh', '-c', script, 'kds-package-install', o.source, o.target, o.packageSha256, o.engineSha256, '', 'yes', String(o.packageSize)];
}

/** The localized message for a failed engine installation script, or undefined when it is not one of its own failures. */
export function engineInstallMessage(code: number | null, stderr: string, target: string): string | undefined {
  const folder = unsafeFolderMessage(code, stderr, target);
  if (folder) return folder;
  const mismatch = /kds-sha256-mismatch\t(package|engine)\t([^\n]*)/.exec(stderr);
  if (mismatch && (code === engineInstallExit.packageMismatch || code === engineInstallExit.engineMismatch)) {
    return mismatch[1] === 'package'
      ? t('The package that arrived on the Central Node has another SHA-256 ({0}) than the one sent: it was not used, and the next set-up sends it again.', mismatch[2] || '?')
      : t('The engine taken out of the package has another SHA-256 ({0}) than expected: nothing was installed.', mismatch[2] || '?');
  }
  const start = /kds-does-not-start\t([\s\S]*)/.exec(stderr);
  if (start && code === engineInstallExit.doesNotStart) return t('The engine does not start on the Central Node, so it was not installed: {0}', start[1]!.trim() || '?');
  const tool = /kds-no-tool\t([^\n]*)/.exec(stderr);
  if (tool && code === engineInstallExit.noTool) return t('The Central Node has no {0}, which installing the engine package needs.', tool[1]!);
  return undefined;
}
