import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export interface MountEntry {
  device: string;
  mountPoint: string;
  fsType: string;
  options: string[];
}

/** /proc/mounts writes space, tab, newline and backslash in names as octal escapes (\040 …). */
export function decodeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses the text of /proc/mounts (or /etc/mtab); malformed lines are skipped. */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || fields[0]!.startsWith('#')) continue;
    out.push({
      device: decodeMountField(fields[0]!),
      mountPoint: decodeMountField(fields[1]!),
      fsType: decodeMountField(fields[2]!),
      options: fields[3] ? fields[3].split(',').map(decodeMountField) : [],
    });
  }
  return out;
}

function isUnder(path: string, mountPoint: string): boolean {
  if (mountPoint === '/') return path.startsWith('/');
  return path === mountPoint || path.startsWith(mountPoint + '/');
}

/**
 * The mount that holds `absPath` (already resolved with realpath): the longest mount point that
 * is a prefix of it by whole path segments. Of equal mount points the later line wins, because
 * a later mount hides the earlier one.
 */
export function findMount(absPath: string, mounts: readonly MountEntry[]): MountEntry | undefined {
  const path = absPath.length > 1 ? absPath.replace(/\/+$/, '') : absPath;
  let best: MountEntry | undefined;
  for (const m of mounts) {
    if (!isUnder(path, m.mountPoint)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  return best;
}

/** True when `absPath` itself is a mount point in `mounts`. */
export function isMountPoint(absPath: string, mounts: readonly MountEntry[]): boolean {
  const path = absPath.length > 1 ? absPath.replace(/\/+$/, '') : absPath;
  return mounts.some((m) => m.mountPoint === path);
}

// File systems whose contents other machines change, or that a hypervisor shares: change
// notifications (inotify) do not report those changes, so the input folder must be polled.
const networkTypes = new Set([
  'cifs', 'smb3', 'smbfs', 'smb', 'smb2',
  'nfs', 'nfs3', 'nfs4',
  'ceph', 'cephfs', 'glusterfs', 'lustre', 'gpfs', 'beegfs', 'orangefs', 'pvfs2', 'ocfs2', 'gfs2',
  'afs', 'openafs', 'coda', 'ncpfs', 'ncp',
  '9p', 'virtiofs', 'vboxsf', 'vmhgfs', 'prl_fs',
  'davfs', 'fuse.davfs', 'fuse.davfs2',
  'fuse.sshfs', 'fuse.rclone', 'fuse.s3fs', 'fuse.gcsfuse', 'fuse.glusterfs', 'fuse.cephfs', 'fuse.ceph-fuse',
  'fuse.smbnetfs', 'fuse.vmhgfs-fuse', 'fuse.goofys', 'fuse.juicefs', 'fuse.seaweedfs', 'fuse.mfs', 'fuse.moosefs',
]);

export function isNetworkFs(fsType: string): boolean {
  const type = fsType.toLowerCase();
  return networkTypes.has(type) || type.startsWith('nfs') || type.startsWith('fuse.sshfs');
}

/** Resolves use_polling: "auto" polls exactly when the folder lies on a network file system. */
export function shouldPoll(usePolling: 'auto' | boolean, mount: MountEntry | undefined): boolean {
  if (usePolling !== 'auto') return usePolling;
  return mount ? isNetworkFs(mount.fsType) : false;
}

/** The mount table of this machine, or undefined where there is none (not Linux, no /proc). */
export async function readMounts(file = '/proc/mounts'): Promise<MountEntry[] | undefined> {
  try {
    return parseMounts(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The mount that holds `path` on this machine, following symbolic links. */
export async function mountOf(path: string, mountsFile?: string): Promise<MountEntry | undefined> {
  const mounts = await readMounts(mountsFile);
  if (!mounts) return undefined;
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    real = resolve(path);
  }
  return findMount(real, mounts);
}

/**
 * Whether `path` is a mount point right now: listed in the mount table, or on a different device
 * than its parent (which also holds where no mount table can be read).
 */
export async function isMountedNow(path: string, mountsFile?: string): Promise<boolean> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return false;
  }
  const mounts = await readMounts(mountsFile);
  if (mounts && isMountPoint(real, mounts)) return true;
  try {
    const [self, parent] = await Promise.all([stat(real), stat(dirname(real))]);
    return self.dev !== parent.dev;
  } catch {
    return false;
  }
}

/**
 * Notices that a share went away under a running scanner: when the share is unmounted, its mount
 * point becomes a plain empty folder, and moving files into it would fill the local disk while
 * the users see nothing. Capture at start, then check before writing into the folder.
 */
export class MountPointGuard {
  private constructor(
    readonly path: string,
    /** The mount that held the folder when captured; undefined if the folder was not a mount point. */
    readonly mount: MountEntry | undefined,
    private readonly mountsFile: string | undefined,
  ) {}

  static async capture(path: string, mountsFile?: string): Promise<MountPointGuard> {
    const mounted = await isMountedNow(path, mountsFile);
    const mount = mounted ? await mountOf(path, mountsFile) : undefined;
    return new MountPointGuard(path, mounted ? (mount ?? { device: '', mountPoint: path, fsType: '', options: [] }) : undefined, mountsFile);
  }

  get wasMountPoint(): boolean {
    return this.mount !== undefined;
  }

  /** False only when the folder was a mount point at capture and is not one any more. */
  async stillMounted(): Promise<boolean> {
    if (!this.wasMountPoint) return true;
    return isMountedNow(this.path, this.mountsFile);
  }
}

// Mounts of SMB shares: their names follow Windows' rules (see destinationNames.ts).
const smbTypes = new Set(['cifs', 'smb3', 'smbfs', 'smb', 'smb2', 'fuse.smbnetfs']);

/** The folder lies on an SMB share: names with `:`, `*`, `?`… or a trailing dot are refused there. */
export function isSmbFs(fsType: string): boolean {
  return smbTypes.has(fsType.toLowerCase());
}

/**
 * Whether inode numbers on this mount identify files. Not on FUSE file systems that number
 * paths (smbnetfs: a file replaced on the server keeps its number, and the same file can get
 * another one once the kernel forgets it), nor on CIFS mounted with `noserverino`.
 */
export function hasStableFileIds(mount: MountEntry | undefined): boolean {
  if (!mount) return true;
  const type = mount.fsType.toLowerCase();
  if (type === 'fuse' || type.startsWith('fuse.')) return false;
  return !mount.options.includes('noserverino');
}
