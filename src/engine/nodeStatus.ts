/**
 * The state of KDS on this machine in one small JSON object: what `kds status --summary` prints
 * on a Central Node, and what the Central Nodes view and `kds fleet status` read from there over
 * one SSH command. Per share from the start (configShares.ts). Read-only: the journal, the event
 * stream, the log and the folders are looked at, nothing is taken over.
 */
import { constants } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import { kdsVersion } from '../common/version';
import { readDirectoryLock } from '../common/dirLock';
import type { KdsConfig, ShareConfig } from './config';
import { defaultShareName } from './shareName';
import type { ApprovalState } from './events';
import { parseExcludeList } from './excludes';
import { listInput } from './inputListing';
import { partialPrefix } from './delivery';
import { type ScanEntry, readJournal } from './journal';
import { type MountEntry, parseMounts } from './mounts';
import { type FolderKey, type LoggedProblem, type StreamFacts, lastLoggedProblems, streamFacts } from './serviceTrail';
import { stateDirLockName } from './stateDirOwner';

/** Bumped when a field changes meaning; new fields may appear without a bump. */
export const nodeStatusFormat = 1;

export interface FolderHealth {
  folder: FolderKey;
  path: string;
  ok: boolean;
  /** Why not, in English (the codes are the OS's): "does not exist", "not mounted (…)", "ENOSPC"… */
  problem?: string;
}

export interface ShareStatus {
  name: string;
  /** Regular files in input that will be (or are being) scanned. */
  waiting: number;
  /** Files in input that stay there: excluded, too large, not regular files. */
  skipped: number;
  /** Files moved to output / quarantine since midnight here (dayStart). */
  outToday: number;
  qrntToday: number;
  /** Files moved to quarantine in the last hour: a quarantine that grows now. */
  qrntLastHour: number;
  /** The journal keeps the last 1000 finished scans: when today's began before them, today's counts are lower bounds. */
  countsAtLeast?: boolean;
  /** Files in the quarantine folder now; undefined when it cannot be listed. */
  inQuarantine?: number;
  folders: FolderHealth[];
  /** The share's newest WARN or ERROR line in log_file: with one share any such line, with several the newest naming it. */
  lastProblem?: LoggedProblem;
}

export interface NodeServiceState {
  /** An engine process holds state_dir's lock now (the service, or `kds run` by hand). */
  running: boolean;
  pid?: number;
  /** When the running engine took the lock. */
  since?: string;
  /** The newest record of its event stream (heartbeats every 30 s). */
  lastRecordAt?: string;
  approval: ApprovalState;
  systemId: string;
  fingerprint256?: string;
  /** The version the running engine wrote in its `start` record (it may differ from this program's after an upgrade without restart). */
  runningVersion?: string;
}

export interface NodeStatus {
  format: number;
  /** This engine's version (the installed one, which printed this). */
  version: string;
  time: string;
  /** Midnight here: the start of "today" for the counts. */
  dayStart: string;
  configPath: string;
  service: NodeServiceState;
  shares: ShareStatus[];
  /** The newest WARN or ERROR line of log_file, whatever it names. */
  lastProblem?: LoggedProblem;
  /** The journal could not be read (counts are 0 then). */
  journalError?: string;
}

export interface NodeStatusOptions {
  now?: Date;
  /** The mount table and fstab (tests); default /proc/self/mounts and /etc/fstab. */
  mountsText?: string;
  fstabText?: string;
}

const hourMs = 3_600_000;
/** How many finished scans a compacted journal keeps (journal.ts). */
const journalKeepsFinished = 1000;

export async function gatherNodeStatus(config: KdsConfig, o: NodeStatusOptions = {}): Promise<NodeStatus> {
  const now = o.now ?? new Date();
  const dayStart = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const shareList = config.shares;
  const [facts, lock, problems, mounts, fstab] = await Promise.all([
    streamFacts(config.state_dir).catch((): StreamFacts => ({ approval: 'unknown', folders: [] })),
    readDirectoryLock(config.state_dir, stateDirLockName).catch(() => undefined),
    lastLoggedProblems(config.log_file, shareList.length > 1 ? shareList.map((s) => s.name) : []),
    o.mountsText !== undefined ? parseMounts(o.mountsText) : readFile('/proc/self/mounts', 'utf8').then(parseMounts, () => undefined),
    o.fstabText !== undefined ? parseMounts(o.fstabText) : readFile('/etc/fstab', 'utf8').then(parseMounts, () => [] as MountEntry[]),
  ]);
  let finished: ScanEntry[] = [];
  let journalError: string | undefined;
  try {
    finished = readJournal(config.state_dir).finished;
  } catch (err) {
    journalError = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
  const shares: ShareStatus[] = [];
  for (const share of shareList) {
    // A folder event names its share (an event of a one-share service before shares existed names none).
    const problemOf = (folder: FolderKey) => facts.folders.find((f) => (f.share ?? defaultShareName) === share.name && f.folder === folder && !f.available);
    // One share: every line is about it (a one-share service names no share on its lines).
    const shareProblem = shareList.length > 1 ? problems.byShare.get(share.name) : problems.newest;
    shares.push({
      name: share.name,
      ...(await inputCounts(share, config.exclude_case_sensitive)),
      ...countsToday(finished, share.name, dayStart.getTime(), now.getTime()),
      ...(await quarantineCount(share.qrnt_dir)),
      folders: await Promise.all(
        (['in', 'out', 'qrnt'] as const).map((folder) => folderHealth(folder, share[`${folder}_dir`], mounts, fstab, running(lock) ? problemOf(folder)?.reason : undefined)),
      ),
      ...(shareProblem && { lastProblem: shareProblem }),
    });
  }
  const service: NodeServiceState = {
    running: running(lock),
    ...(lock && running(lock) && lock.pid > 0 && { pid: lock.pid }),
    ...(lock && running(lock) && { since: lock.since.toISOString() }),
    ...(facts.lastRecordAt && { lastRecordAt: facts.lastRecordAt }),
    approval: facts.approval,
    systemId: config.system_id,
    ...(facts.fingerprint256 && { fingerprint256: facts.fingerprint256 }),
    ...(facts.start?.version && { runningVersion: facts.start.version }),
  };
  return {
    format: nodeStatusFormat,
    version: kdsVersion,
    time: now.toISOString(),
    dayStart: dayStart.toISOString(),
    configPath: config.configPath,
    service,
    shares,
    ...(problems.newest && { lastProblem: problems.newest }),
    ...(journalError && { journalError }),
  };
}

function running(lock: { alive: boolean } | undefined): boolean {
  return !!lock?.alive;
}

async function inputCounts(share: ShareConfig, caseSensitive: boolean): Promise<{ waiting: number; skipped: number }> {
  let listing;
  try {
    listing = await listInput(share.in_dir);
  } catch {
    return { waiting: 0, skipped: 0 };
  }
  const excludeText = await readFile(share.exclude_list, 'utf8').catch(() => '');
  const excludes = parseExcludeList(excludeText, { caseSensitive });
  const limit = share.max_file_size_mb * 1024 * 1024;
  let waiting = 0;
  let skipped = listing.ignored.length;
  for (const f of listing.files) {
    if (excludes.matches(f.name) || f.stats.size > limit) skipped++;
    else waiting++;
  }
  return { waiting, skipped };
}

/**
 * Today's deliveries of one share from the journal's finished scans. A journal entry without a
 * share name belongs to the share `default` (every journal before shares existed).
 */
export function countsToday(finished: ScanEntry[], share: string, dayStartMs: number, nowMs: number): Pick<ShareStatus, 'outToday' | 'qrntToday' | 'qrntLastHour' | 'countsAtLeast'> {
  let outToday = 0;
  let qrntToday = 0;
  let qrntLastHour = 0;
  let oldest = Infinity;
  for (const e of finished) {
    oldest = Math.min(oldest, e.doneAt ?? 0);
    if (e.outcome !== 'routed' || (e.doneAt ?? 0) < dayStartMs) continue;
    if (((e as { share?: string }).share ?? defaultShareName) !== share) continue;
    if (e.destination === 'out') outToday++;
    else if (e.destination === 'qrnt') {
      qrntToday++;
      if ((e.doneAt ?? 0) >= nowMs - hourMs) qrntLastHour++;
    }
  }
  const countsAtLeast = finished.length >= journalKeepsFinished && oldest >= dayStartMs;
  return { outToday, qrntToday, qrntLastHour, ...(countsAtLeast && { countsAtLeast }) };
}

async function quarantineCount(dir: string): Promise<{ inQuarantine?: number }> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return { inQuarantine: entries.filter((e) => e.isFile() && !e.name.startsWith(partialPrefix)).length };
  } catch {
    return {};
  }
}

/**
 * A folder of a share: exists, is a folder this user may read and write, and — when /etc/fstab
 * mounts something there — is mounted now (an unmounted share's mount point is an empty local
 * folder). `engineProblem` is what the running service last said about it.
 */
export async function folderHealth(folder: FolderKey, path: string, mounts: MountEntry[] | undefined, fstab: MountEntry[], engineProblem?: string): Promise<FolderHealth> {
  const bare = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const bad = (problem: string): FolderHealth => ({ folder, path, ok: false, problem });
  const planned = fstab.find((m) => m.mountPoint === bare && !m.options.includes('noauto'));
  if (planned && mounts && !mounts.some((m) => m.mountPoint === bare)) return bad(`not mounted (/etc/fstab: ${planned.device} ${planned.fsType})`);
  try {
    const st = await stat(path);
    if (!st.isDirectory()) return bad('not a folder');
    await access(path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return bad(code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'no access for this user' : (code ?? (err as Error).message));
  }
  return engineProblem ? bad(engineProblem) : { folder, path, ok: true };
}
