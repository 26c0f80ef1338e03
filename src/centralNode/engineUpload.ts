import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { t } from '../common/l10n';
import type { SftpFiles } from '../ssh/sftpFiles';
import type { ExecResult } from '../ssh/sshSession';

/**
 * The engine package travels to the Central Node over SFTP as the SSH user, into a folder of
 * that user's own (~/.cache/kds-upload, mode 0700) under a name made of its SHA-256. Over a slow
 * link 20-odd MB take a while and a connection can drop: the next set-up finds the part already
 * there, checks it against the same bytes here (sha256sum of that prefix on the CN) and sends
 * only the rest. Root never trusts this file: it copies it into a folder of its own and checks
 * the SHA-256 again before using it (rootFileWrite.ts).
 */

export interface UploadShell {
  exec(argv: string[]): Promise<ExecResult>;
}

export interface PackageToUpload {
  /** On this machine. */
  localPath: string;
  /** The file name (kata-dir-scanner_<version>_amd64.deb). */
  file: string;
  size: number;
  sha256: string;
}

export const uploadFolder = '.cache/kds-upload';

/** Where the package goes on the CN, under the SSH user's home. */
export function uploadPath(home: string, p: Pick<PackageToUpload, 'file' | 'sha256'>): string {
  return posix.join(home, uploadFolder, `${p.sha256.slice(0, 16)}-${p.file}`);
}

export interface UploadReport {
  path: string;
  /** Bytes that were already on the CN and not sent again. */
  resumedAt: number;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * Sends the package (or what is missing of it); `progress(sent, total)` after every
 * acknowledged piece. `note` says what was found on the CN. Throws with how far it got.
 */
export async function uploadPackage(
  shell: UploadShell,
  sftp: SftpFiles,
  p: PackageToUpload,
  report: { progress?(done: number, total: number): void; note?(line: string): void } = {},
): Promise<UploadReport> {
  const data = await readFile(p.localPath);
  if (data.length !== p.size || sha256(data) !== p.sha256) throw new Error(t('{0} on this machine does not match its manifest (engine.json): build it again (npm run package:deb).', p.localPath));
  const home = await sftp.realpath('.');
  const folder = posix.join(home, uploadFolder);
  await sftp.mkdir(folder, { recursive: true, mode: 0o700 });
  await sftp.chmod(folder, 0o700);
  const path = uploadPath(home, p);
  let start = 0;
  const there = await sftp.exists(path);
  if (there && there.type !== 'file') throw new Error(t('{0} on the CN is not a regular file; remove it and run the set-up again.', path));
  if (there && there.size > 0) {
    const r = there.size <= p.size ? await shell.exec(['sh', '-c', 'head -c "$1" -- "$2" | sha256sum', 'kds-upload-check', String(there.size), path]) : undefined;
    const remote = r?.code === 0 ? r.stdout.toString('utf8').split(/\s+/)[0] : undefined;
    if (remote === sha256(data.subarray(0, there.size))) {
      start = there.size;
      report.note?.(there.size === p.size ? t('the package is already on the CN ({0})', path) : t('continuing an interrupted upload at {0} of {1} bytes', there.size, p.size));
    } else report.note?.(t('{0} on the CN does not match the package: sending it again', path));
  }
  report.progress?.(start, p.size);
  let sent = start;
  if (start < p.size) {
    try {
      await sftp.writeFrom(path, data, start, {
        mode: 0o600,
        onProgress: (n) => {
          sent = n;
          report.progress?.(n, p.size);
        },
      });
    } catch (err) {
      throw new Error(t('The upload of {0} stopped at {1} of {2} bytes ({3}). Run the set-up again: it continues from there.', p.file, sent, p.size, (err as Error).message));
    }
  }
  return { path, resumedAt: start };
}

/** "12.3 MB". */
export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
