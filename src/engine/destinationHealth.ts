import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { backoffDelay } from './backoff';
import { partialPrefix } from './delivery';

/** Errors that are about the whole folder (its file system, its mount), whatever the file. */
const folderWide = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'ENOTCONN', 'ESTALE', 'EHOSTDOWN', 'EHOSTUNREACH', 'ENETDOWN', 'ENETUNREACH', 'ENODEV', 'ENOTDIR']);

/**
 * Whose failure a destination-side error is. ENOSPC, EROFS, a lost mount… are the folder's.
 * Anything else (EIO, EACCES, EINVAL, EISDIR…) may be this file's alone — a name the share
 * refuses, a read-only file of that name in the way — so the folder is probed: if a new file can
 * be created and removed there, the folder is fine and the failure is the file's.
 */
export async function attributeDestinationError(dir: string, code: string | undefined): Promise<{ scope: 'folder' | 'file'; reason: string }> {
  const reason = code ?? 'error';
  if (folderWide.has(reason)) return { scope: 'folder', reason };
  const probe = await probeFolder(dir);
  return probe === undefined ? { scope: 'file', reason } : { scope: 'folder', reason: probe };
}

/** Creates and removes an empty file in `dir`; the error code when that fails. */
export async function probeFolder(dir: string): Promise<string | undefined> {
  const path = join(dir, `${partialPrefix}probe-${randomBytes(6).toString('hex')}`);
  try {
    const fh = await open(path, 'wx', 0o600);
    await fh.close();
    await unlink(path);
    return undefined;
  } catch (err) {
    await unlink(path).catch(() => undefined);
    return (err as NodeJS.ErrnoException)?.code ?? String(err);
  }
}

/**
 * Deliveries paused per destination folder while it is unusable. Files bound for a paused folder
 * wait for its next try instead of each failing on its own; the first delivery due after that
 * time is the try. The other destination is never affected.
 */
export class DestinationPauses<K extends string> {
  private readonly paused = new Map<K, { reason: string; attempts: number; retryAt: number; trying: boolean }>();

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  /** When `folder` is paused and its next try is not due: until when to wait, and why. */
  waitFor(folder: K, now: number): { until: number; reason: string } | undefined {
    const p = this.paused.get(folder);
    if (!p) return undefined;
    if (!p.trying && now >= p.retryAt) {
      // This delivery is the try; the others wait for its outcome.
      p.trying = true;
      return undefined;
    }
    return { until: Math.max(p.retryAt, now + this.baseMs), reason: p.reason };
  }

  /** A delivery into `folder` failed for a reason that is the folder's. Returns the next try's time. */
  failed(folder: K, reason: string, now: number): number {
    const p = this.paused.get(folder) ?? { reason, attempts: 0, retryAt: now, trying: false };
    p.reason = reason;
    p.attempts++;
    p.trying = false;
    p.retryAt = now + backoffDelay(p.attempts, this.baseMs, this.maxMs);
    this.paused.set(folder, p);
    return p.retryAt;
  }

  /** A delivery into `folder` worked (or its try ended without a verdict on the folder). */
  ok(folder: K): void {
    this.paused.delete(folder);
  }

  /** The try ended without telling whether the folder works (e.g. the source failed first). */
  untried(folder: K): void {
    const p = this.paused.get(folder);
    if (p) p.trying = false;
  }

  isPaused(folder: K): boolean {
    return this.paused.has(folder);
  }
}
