/**
 * One version of a file in input: what the engine settles on, journals, and checks again on the
 * open handle before hashing, uploading or copying. Another size, mtime, inode or device is
 * another version, and whatever KATA said about the old one does not apply to it.
 */
export interface FileVersion {
  size: number;
  mtimeMs: number;
  ino: number;
  /** Absent only in journal entries written before the device was recorded. */
  dev?: number;
}

/** What lstat/fstat give; only the fields a version is made of. */
export interface VersionStats {
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
}

export function versionOf(st: VersionStats): Required<FileVersion> {
  return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev };
}

/**
 * `fileIds` false: the file system's inode numbers are not file ids (smbnetfs numbers whatever
 * path the kernel looked up, and a file replaced on the server keeps the number; a number can
 * also change for the same file), so only size and mtime tell versions apart there.
 */
export function sameVersion(v: FileVersion, st: VersionStats, fileIds = true): boolean {
  if (v.size !== st.size || v.mtimeMs !== st.mtimeMs) return false;
  return !fileIds || (v.ino === st.ino && (v.dev === undefined || v.dev === st.dev));
}

/** Same file (inode on the same device), whatever its content now. */
export function sameInode(v: FileVersion, st: VersionStats): boolean {
  return v.ino === st.ino && (v.dev === undefined || v.dev === st.dev);
}
