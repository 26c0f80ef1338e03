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
