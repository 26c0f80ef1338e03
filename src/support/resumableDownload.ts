import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { t } from '../common/l10n';
import type { HostAccess } from './hostAccess';

/**
 * A download that survives a dropped connection: the bytes land in `<file>.part`, a small
 * `<file>.kds-download.json` says what they belong to (host, remote path, size and SHA-256
 * computed on the host), and the next attempt reads the remote file from the offset the part
 * reached. The part becomes `<file>` only when size and SHA-256 match.
 */

export interface DownloadState {
  host: string;
  remotePath: string;
  /** Where KDS copied a root-only file for reading (removed with the archive). */
  readablePath: string;
  privateDir?: string;
  size: number;
  sha256: string;
  startedAt: string;
}

export const partPath = (local: string) => `${local}.part`;
export const statePath = (local: string) => `${local}.kds-download.json`;

/**
 * The remembered download, only if it is one KDS could have written: its paths decide what is
 * read and later removed as root on the host, so a hand-edited file must not name anything else.
 */
export function validState(raw: unknown): DownloadState | undefined {
  const s = raw as Partial<DownloadState> | undefined;
  if (!s || typeof s !== 'object') return undefined;
  const archive = (p: unknown): p is string => typeof p === 'string' && p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0') && /\.(tar\.gz|tgz|tar\.xz|tar\.bz2|tar\.zst|tar|zip)$/.test(p);
  if (typeof s.host !== 'string' || !archive(s.remotePath) || !archive(s.readablePath)) return undefined;
  if (!Number.isSafeInteger(s.size) || (s.size as number) < 0 || typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) return undefined;
  if (s.privateDir !== undefined) {
    if (typeof s.privateDir !== 'string' || !/^\/[^\0]*\/kds-collect\.[A-Za-z0-9]{10}$/.test(s.privateDir) || s.privateDir.split('/').includes('..')) return undefined;
    if (s.readablePath !== posix.join(s.privateDir, posix.basename(s.remotePath))) return undefined;
  } else if (s.readablePath !== s.remotePath) return undefined;
  return { host: s.host, remotePath: s.remotePath, readablePath: s.readablePath, ...(s.privateDir !== undefined && { privateDir: s.privateDir }), size: s.size as number, sha256: s.sha256, startedAt: String(s.startedAt ?? '') };
}

export async function readState(local: string): Promise<DownloadState | undefined> {
  try {
    return validState(JSON.parse(await readFile(statePath(local), 'utf8')));
  } catch {
    return undefined;
  }
}

export async function writeState(local: string, state: DownloadState): Promise<void> {
  await writeFile(statePath(local), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Size and SHA-256 of a file, computed on the host by sha256sum (as root when needed). */
export async function remoteDigest(host: HostAccess, path: string, root: boolean): Promise<{ size: number; sha256: string }> {
  const size = await host.exec(['/usr/bin/stat', '-L', '-c', '%s', '--', path], { root });
  const sum = await host.exec(['/usr/bin/sha256sum', '--', path], { root });
  const sha = /^\\?([0-9a-f]{64})\s/.exec(sum.stdout.toString('utf8'))?.[1];
  const n = Number(size.stdout.toString('utf8').trim());
  if (size.code !== 0 || sum.code !== 0 || !sha || !Number.isSafeInteger(n)) {
    throw new Error(t('Cannot compute the size and SHA-256 of {0} on {1}: {2}', path, host.where, (size.stderr.toString() + sum.stderr.toString()).trim()));
  }
  return { size: n, sha256: sha };
}

export class DownloadInterrupted extends Error {
  override name = 'DownloadInterrupted';
  constructor(
    message: string,
    readonly received: number,
  ) {
    super(message);
  }
}

export interface DownloadResult {
  local: string;
  resumedFrom: number;
  size: number;
  sha256: string;
}

/**
 * Downloads `state.readablePath` to `local`, continuing a `.part` left by an earlier attempt.
 * `onProgress(done, total)` after each chunk.
 */
export async function resumableDownload(host: HostAccess, state: DownloadState, local: string, onProgress?: (done: number, total: number) => void): Promise<DownloadResult> {
  await writeState(local, state);
  const part = partPath(local);
  let start = 0;
  try {
    start = (await stat(part)).size;
  } catch {
    start = 0;
  }
  if (start > state.size) {
    await rm(part, { force: true });
    start = 0;
  }
  const fh = await open(part, start === 0 ? 'w' : 'a', 0o600);
  let done = start;
  let failure: Error | undefined;
  try {
    if (start < state.size) {
      const src = host.read(state.readablePath, start);
      try {
        for await (const chunk of src) {
          const b = chunk as Buffer;
          // Never past the size measured on the host (the file must not grow meanwhile).
          const keep = b.subarray(0, Math.max(0, state.size - done));
          if (keep.length) await fh.write(keep);
          done += keep.length;
          onProgress?.(done, state.size);
        }
      } catch (e) {
        failure = e as Error;
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (done < state.size) {
    throw new DownloadInterrupted(
      t('The download of {0} stopped at {1} of {2} bytes ({3}). Run the command again to continue from there.', state.remotePath, String(done), String(state.size), failure?.message ?? t('the connection ended')),
      done,
    );
  }
  const sha256 = await sha256OfFile(part);
  if (sha256 !== state.sha256) {
    await rm(part, { force: true });
    await rm(statePath(local), { force: true });
    throw new Error(t('The downloaded {0} does not match: SHA-256 {1} here, {2} on {3}. The partial file was removed; run the command again.', state.remotePath, sha256, state.sha256, state.host));
  }
  await rename(part, local);
  await rm(statePath(local), { force: true });
  return { local, resumedFrom: start, size: state.size, sha256 };
}
