import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncDir } from '../common/fsync';
import { openNoFollow } from '../common/platform';
import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import { deliver, removeSource } from './delivery';

export type QuarantineErrorCode = 'bad-name' | 'missing' | 'not-regular' | 'hard-link' | 'changed';

/** A refusal the UI can show as is (the message is localised) or branch on (the code). */
export class QuarantineActionError extends Error {
  constructor(
    readonly code: QuarantineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'QuarantineActionError';
  }
}

/** Where release/delete actions are audited: beside the journal, so it moves with state_dir. */
export function quarantineAuditFile(stateDir: string): string {
  return join(stateDir, 'quarantine-audit.jsonl');
}

/** Audit records, oldest first; torn or foreign lines are skipped, a missing file is empty. */
export async function readQuarantineAudit(file: string): Promise<QuarantineAuditRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  return parseQuarantineAudit(text);
}

/** The audit's text as records (the file may have been read elsewhere, e.g. over SFTP from a Central Node). */
export function parseQuarantineAudit(text: string): QuarantineAuditRecord[] {
  const out: QuarantineAuditRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const r = JSON.parse(line) as QuarantineAuditRecord;
      if ((r.action === 'release' || r.action === 'delete') && typeof r.file === 'string' && typeof r.sha256 === 'string') out.push(r);
    } catch {
      // a line cut by a crash
    }
  }
  return out;
}

export interface QuarantineAuditRecord {
  time: string;
  user: string;
  action: 'release' | 'delete';
  /** The share whose quarantine held the file; absent in records written before shares (the share `default`). */
  share?: string;
  file: string;
  sha256: string;
  from: string;
  to?: string;
  reason?: string;
}

/**
 * Only a bare name of a file directly in quarantine: anything else could reach outside it.
 * A name may contain ".." inside it ("a..b"); without a "/" only the whole name ".." climbs.
 */
function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new QuarantineActionError('bad-name', t('"{0}" is not a file name in the quarantine folder', name));
  }
}

/**
 * lstat, so that a symlink planted in quarantine is refused instead of followed. With
 * `refuseHardLinks`, a file with more than one name is refused too: the other name may be a
 * root-only file (e.g. /etc/shadow linked in by someone who can write the folder), and releasing
 * would copy it to the output share.
 */
async function checkRegular(path: string, name: string, refuseHardLinks?: Logger): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new QuarantineActionError('missing', t('{0} is no longer in quarantine', name));
    throw err;
  }
  if (st.isSymbolicLink()) throw new QuarantineActionError('not-regular', t('{0} is a symbolic link, not a quarantined file; it was left alone', name));
  if (!st.isFile()) throw new QuarantineActionError('not-regular', t('{0} is not a regular file; it was left alone', name));
  if (refuseHardLinks && st.nlink > 1) {
    const message = t('{0} has {1} hard links (another name for the same file exists); it is not released and was left alone', name, st.nlink);
    refuseHardLinks.warn('quarantine.hardLink', message, { file: name, nlink: st.nlink, ino: st.ino });
    throw new QuarantineActionError('hard-link', message);
  }
}

async function hashFile(path: string, name: string): Promise<string> {
  let fh;
  try {
    fh = await openNoFollow(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new QuarantineActionError('missing', t('{0} is no longer in quarantine', name));
    if (code === 'ELOOP') throw new QuarantineActionError('not-regular', t('{0} is a symbolic link, not a quarantined file; it was left alone', name));
    throw err;
  }
  try {
    if (!(await fh.stat()).isFile()) throw new QuarantineActionError('not-regular', t('{0} is not a regular file; it was left alone', name));
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}

/** One fsync'ed JSON line per action: the record an auditor asks for must survive a power cut. */
async function appendAudit(auditFile: string, record: QuarantineAuditRecord): Promise<void> {
  await mkdir(dirname(auditFile), { recursive: true, mode: 0o700 });
  const line = JSON.stringify(record) + '\n';
  const fh = await open(auditFile, 'a', 0o600);
  let created = false;
  try {
    await fh.write(line);
    await fh.sync();
    created = (await fh.stat()).size === Buffer.byteLength(line);
  } finally {
    await fh.close();
  }
  if (created) await fsyncDir(dirname(auditFile));
}

/** What release and delete are both told: the file, who decided and why, and where to log and audit it. */
export interface QuarantineActionRequest {
  /** The share whose quarantine this is, for the log and the audit. */
  share?: string;
  qrntDir: string;
  name: string;
  user: string;
  reason?: string;
  logger: Logger;
  auditFile: string;
}

/** The path of the named file in quarantine, once the name and the file have passed the checks above. */
async function quarantinedPath(opts: QuarantineActionRequest, refuseHardLinks = false): Promise<string> {
  checkName(opts.name);
  const path = join(opts.qrntDir, opts.name);
  await checkRegular(path, opts.name, refuseHardLinks ? opts.logger : undefined);
  return path;
}

/**
 * Logs a completed action at warning level and appends its audit record. The log fields and the
 * audit keys keep the order each action had before this was shared (size and `to` only on release).
 */
async function logAndAudit(
  opts: QuarantineActionRequest,
  action: QuarantineAuditRecord['action'],
  logEvent: string,
  message: string,
  done: { sha256: string; from: string; size?: number; to?: string },
): Promise<void> {
  const time = new Date().toISOString();
  opts.logger.warn(logEvent, message, {
    file: opts.name,
    ...(opts.share !== undefined ? { share: opts.share } : {}),
    sha256: done.sha256,
    ...(done.size !== undefined ? { size: done.size } : {}),
    user: opts.user,
    reason: opts.reason,
    from: done.from,
    ...(done.to !== undefined ? { to: done.to } : {}),
  });
  await appendAudit(opts.auditFile, {
    time,
    user: opts.user,
    action,
    ...(opts.share !== undefined ? { share: opts.share } : {}),
    file: opts.name,
    sha256: done.sha256,
    from: done.from,
    ...(done.to !== undefined ? { to: done.to } : {}),
    ...(opts.reason ? { reason: opts.reason } : {}),
  });
}

/**
 * Moves a quarantined file to the output folder on a person's decision. The copy goes through
 * deliver() (temporary name, hash, fsync, rename over any file of that name, fsync folder), so
 * it is atomic, works across file systems, and the audit names the exact bytes released.
 */
export async function releaseFromQuarantine(opts: QuarantineActionRequest & { outDir: string }): Promise<{ path: string; sha256: string }> {
  const from = await quarantinedPath(opts, true);
  const result = await deliver({ source: from, destDir: opts.outDir, name: opts.name, tag: `release-${process.pid}-${randomBytes(6).toString('hex')}` });
  if (!result.ok) {
    if (result.reason === 'missing') throw new QuarantineActionError('missing', t('{0} is no longer in quarantine', opts.name));
    if (result.reason === 'not-regular') throw new QuarantineActionError('not-regular', t('{0} is not a regular file; it was left alone', opts.name));
    throw new QuarantineActionError('changed', t('{0} changed while it was being released; nothing was released', opts.name));
  }
  await removeSource(from);
  await logAndAudit(opts, 'release', 'quarantine.released', t('{0} released {1} from quarantine', opts.user, opts.name), {
    sha256: result.sha256,
    size: result.bytes,
    from,
    to: result.path,
  });
  return { path: result.path, sha256: result.sha256 };
}

/** Deletes a quarantined file for good; the audit keeps its hash. */
export async function deleteFromQuarantine(opts: QuarantineActionRequest): Promise<{ path: string; sha256: string }> {
  const path = await quarantinedPath(opts);
  const sha256 = await hashFile(path, opts.name);
  // Checked again right before unlink: a symlink swapped in after hashing is still not removed blindly.
  await checkRegular(path, opts.name);
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new QuarantineActionError('missing', t('{0} is no longer in quarantine', opts.name));
    throw err;
  }
  await fsyncDir(opts.qrntDir);
  await logAndAudit(opts, 'delete', 'quarantine.deleted', t('{0} deleted {1} from quarantine', opts.user, opts.name), { sha256, from: path });
  return { path, sha256 };
}
