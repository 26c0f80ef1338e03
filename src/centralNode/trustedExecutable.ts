import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { t } from '../common/l10n';

/**
 * Is a program safe for root to run? The service, `enroll` and the extension's sudo calls run the
 * engine as root; whoever can replace the program (or a folder or symlink on the way to it) gets
 * root at the next start. So every step of the path is checked the way the kernel walks it:
 * each folder must belong to root and not be writable by group or others (a root-owned sticky
 * folder is allowed: nobody else can rename a root entry in it), each symlink is followed from
 * its own folder (which is checked), and the file at the end must be a regular file owned by root
 * and not writable by group or others. `command -v node` of the SSH user (e.g. ~/.nvm/…) fails this.
 */

export interface PathStat {
  type: 'file' | 'directory' | 'symlink' | 'other';
  /** Permission bits (at least 0o7777). */
  mode: number;
  uid: number;
}

/** What the check reads: lstat and readlink, over SFTP on the CN or the local file system. */
export interface PathInspector {
  lstat(path: string): Promise<PathStat>;
  readlink(path: string): Promise<string>;
}

export type TrustVerdict = { ok: true; realPath: string } | { ok: false; reason: string };

const maxLinks = 40;

function writers(mode: number): string {
  return mode & 0o020 && mode & 0o002 ? t('its group and others') : mode & 0o020 ? t('its group') : t('others');
}

function folderProblem(path: string, st: PathStat): string | undefined {
  if (st.uid !== 0) return t('{0} belongs to uid {1}, not root', path, st.uid);
  const sticky = (st.mode & 0o1000) !== 0;
  if (st.mode & 0o022 && !sticky) return t('{0} can be written by {1} (mode {2})', path, writers(st.mode), (st.mode & 0o7777).toString(8).padStart(4, '0'));
  return undefined;
}

/** Walks `path` component by component; the verdict says why it is refused. */
export async function checkTrustedExecutable(path: string, fs: PathInspector): Promise<TrustVerdict> {
  if (!path.startsWith('/')) return { ok: false, reason: t('{0} is not an absolute path', path) };
  const look = async (p: string): Promise<PathStat | string> => {
    try {
      return await fs.lstat(p);
    } catch (e) {
      return t('{0} cannot be examined: {1}', p, (e as Error).message);
    }
  };
  let dir = '/';
  const rootSt = await look('/');
  if (typeof rootSt === 'string') return { ok: false, reason: rootSt };
  const rootProblem = folderProblem('/', rootSt);
  if (rootProblem) return { ok: false, reason: rootProblem };
  let rest = path.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  while (rest.length) {
    const name = rest.shift()!;
    if (name === '..') {
      dir = posix.dirname(dir);
      continue;
    }
    const cur = posix.join(dir, name);
    const st = await look(cur);
    if (typeof st === 'string') return { ok: false, reason: st };
    if (st.type === 'symlink') {
      if (++links > maxLinks) return { ok: false, reason: t('{0}: too many symbolic links', path) };
      // The link's own folder (dir) was checked: only root could have made or can change it.
      const target = await fs.readlink(cur);
      if (target.startsWith('/')) dir = '/';
      rest = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...rest];
      continue;
    }
    if (rest.length) {
      if (st.type !== 'directory') return { ok: false, reason: t('{0} is not a folder', cur) };
      const problem = folderProblem(cur, st);
      if (problem) return { ok: false, reason: problem };
      dir = cur;
      continue;
    }
    if (st.type !== 'file') return { ok: false, reason: t('{0} is not a regular file', cur) };
    if (st.uid !== 0) return { ok: false, reason: t('{0} belongs to uid {1}, not root', cur, st.uid) };
    if (st.mode & 0o022) return { ok: false, reason: t('{0} can be written by {1} (mode {2})', cur, writers(st.mode), (st.mode & 0o7777).toString(8).padStart(4, '0')) };
    return { ok: true, realPath: cur };
  }
  return { ok: false, reason: t('{0} is not a regular file', path) };
}

/** The first candidate root may run, and why each one before it was refused. */
export async function firstTrusted(candidates: string[], fs: PathInspector): Promise<{ path?: string; refused: string[] }> {
  const refused: string[] = [];
  for (const c of [...new Set(candidates.filter((x) => x.startsWith('/')))]) {
    const v = await checkTrustedExecutable(c, fs);
    if (v.ok) return { path: c, refused };
    refused.push(v.reason);
  }
  return { refused };
}

/**
 * Where root looks for Node.js for the bundled-JavaScript engine: what the SSH user's shell finds
 * first (accepted only if it passes the check), then the distribution's and /usr/local's.
 */
export function nodeCandidates(userNode: string | undefined): string[] {
  return [...(userNode ? [userNode] : []), '/usr/bin/node', '/usr/local/bin/node'];
}

/** The message when no Node.js on the CN is safe for root to run. */
export function untrustedNodeMessage(refused: string[]): string {
  return t(
    'No Node.js on the Central Node is safe for root to run ({0}). Run the set-up again to install the single executable (Node.js inside), or install Node.js from the distribution (apt-get install nodejs: /usr/bin/node, owned by root, folders not writable by others).',
    refused.join('; ') || t('none found'),
  );
}

/** The local file system as a PathInspector (the CLI's own checks, tests). */
export const localInspector: PathInspector = {
  async lstat(path) {
    const st = await lstat(path);
    return { type: st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other', mode: st.mode & 0o7777, uid: st.uid };
  },
  readlink: (path) => readlink(path),
};

/** Throws (with the reason) unless root may run every file of `paths`. */
export async function assertTrustedForRoot(paths: string[], fs: PathInspector): Promise<void> {
  for (const p of paths) {
    const v = await checkTrustedExecutable(p, fs);
    if (!v.ok) throw new Error(t('KDS will not run {0} as root: {1}. Reinstall it with the set-up (owned by root, mode 0755, in folders only root can write).', p, v.reason));
  }
}

/** The Node.js root may run for the bundled JavaScript, or an error that says why none. */
export async function trustedNodeOrThrow(userNode: string | undefined, fs: PathInspector): Promise<string> {
  const found = await firstTrusted(nodeCandidates(userNode), fs);
  if (!found.path) throw new Error(untrustedNodeMessage(found.refused));
  return found.path;
}
