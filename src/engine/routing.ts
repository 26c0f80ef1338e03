import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { t } from '../common/l10n';
import { backoffDelay } from './backoff';
import { type DeliveredFrom, DeliveryError, deliver } from './delivery';
import { DestinationPauses, attributeDestinationError } from './destinationHealth';
import { portableName } from './destinationNames';
import { DirSyncer } from './dirSync';
import { verdictOf } from './events';
import { errText } from './folderHealth';
import type { Destination, ScanEntry } from './journal';
import type { ReadableFile } from '../kata/scannerApi';
import { ScannedCopies, keepUpToBytes } from './scannedCopy';
import { StagedCopies, type StagingUpload, stagedPath } from './stagedCopy';
import { fileClockTickMs } from './settleTime';
import { type RemovalOptions, asideName, removeAside, removeLeftoverAsides, returnAside, takeAside } from './sourceRemoval';
import type { RoutingStage, ShareState, StageContext } from './stageContext';

/**
 * Deliveries (copy, fsync, rename, journal, unlink) running at once, by weight: a small file
 * counts 1, a large one 8, so 64 small ones overlap (each mostly waits for grouped fsyncs, and
 * the more wait together the fewer fsyncs there are) while large copies stay at 8 copy buffers
 * of up to 1 MiB (delivery.ts keeps that many for reuse).
 */
const deliveryBudget = 64;
const largeDeliveryBytes = 64 * 1024;
const largeDeliveryWeight = 8;

/**
 * A write to a file of this share's input after its version settled always changes that version
 * (docs/engine-lifecycle.md, "What the delivery copies"): input is a local file system, whose
 * inode numbers are file ids and whose times come from this machine's clock, and stable_ms is
 * longer than that clock's tick for file times (settleTime.ts), so a settled version's mtime is
 * at least a tick before any later write's.
 */
function versionsTellRewrites(share: ShareState): boolean {
  return share.inputFileIds !== false && share.inputClockIsOurs !== false && share.stableMs >= minStableMs;
}
const minStableMs = 2 * fileClockTickMs;

/**
 * The last stage: a file with a journaled verdict leaves input through the removal protocol of
 * sourceRemoval.ts (renamed aside, checked, copied to output or quarantine with its hash
 * verified, journaled as placed, unlinked) and is journaled as done. A failure on the source is
 * this file's and is retried with backoff; only a failure of a destination folder pauses
 * deliveries to that folder (folder health). A file only ever goes to the folders of the share
 * its journal entry names; one share's paused folder does not hold up another share's.
 */
export class Routing implements RoutingStage {
  private readonly routing = new Set<string>();
  private routeQueue: ScanEntry[] = [];
  private readonly routeQueued = new Set<string>();
  /** Weight of the deliveries running (see deliveryBudget). */
  private deliveryLoad = 0;
  private readonly dirSync = new DirSyncer();
  /** Per share and destination (`<share>/<folder>`). */
  private readonly destinationPauses: DestinationPauses<string>;
  /** Scans whose file is under its aside name in input (see sourceRemoval.ts). */
  private readonly asides = new Set<string>();
  /** Deliveries to retry that have no file record (found aside at start): scanId → when, and failures so far. */
  private readonly routeRetries = new Map<string, { at: number; attempts: number }>();
  /** Shares of journal entries that are no longer configured, reported once each. */
  private readonly unknownShares = new Set<string>();
  /** The bytes small uploads read, for their deliveries (scannedCopy.ts). */
  readonly scanned: ScannedCopies;
  /** Copies of large files written while they were uploaded (stagedCopy.ts). */
  readonly stagedCopies: StagedCopies;
  /** Per share: whether large uploads write a staged copy (see stagingAllowed). */
  private readonly staging = new Map<string, Promise<boolean>>();

  constructor(private readonly ctx: StageContext) {
    this.destinationPauses = new DestinationPauses(ctx.retryBaseMs, Math.min(ctx.retryMaxMs, 60_000));
    const isLive = (scanId: string) => {
      const e = ctx.journal.get(scanId);
      return e !== undefined && !e.outcome;
    };
    this.scanned = new ScannedCopies(isLive);
    this.stagedCopies = new StagedCopies(isLive);
  }

  /**
   * Whether the delivery of a file of this size from this share would use the upload's bytes.
   * Only where a version (size, mtime, file id) tells a rewrite after the scan: a local file
   * system, whose times come from this machine's clock and whose inode numbers are file ids.
   * On a share (smbnetfs, CIFS, NFS) the set-aside file is read again and its hash checked.
   */
  wantsScanned(share: ShareState, size: number): boolean {
    return size <= keepUpToBytes && versionsTellRewrites(share);
  }

  keepScanned(scanId: string, bytes: Buffer): void {
    this.scanned.keep(scanId, bytes);
  }

  dropScanned(scanId: string): void {
    this.scanned.drop(scanId);
    this.stagedCopies.drop(scanId);
  }

  /**
   * A large upload from a share where versions can be trusted (wantsScanned) writes its copy as it
   * reads (stagedCopy.ts) into the quarantine folder when: quarantine is on a local file system,
   * owned by this process's user and writable by nobody else (no one else can swap the staged
   * file before its rename), and output is on the same device (a clean file is renamed, not copied
   * again). Looked at once per share; an EXDEV at a rename (bind mounts) turns it off.
   */
  startStaging(share: ShareState, scanId: string, size: number, file: ReadableFile): Promise<StagingUpload | undefined> | undefined {
    if (size <= keepUpToBytes || !versionsTellRewrites(share) || !share.fs.qrnt.local) return undefined;
    return this.stagingAllowed(share).then((allowed) => (allowed ? this.stagedCopies.begin(scanId, stagedPath(share.qrntDir, scanId), size, file, share.fs.qrnt) : undefined));
  }

  /** A staged copy could not be renamed into place (EXDEV between bind mounts, say): this share stops staging. */
  private stagingFailed(share: ShareState): void {
    this.staging.set(share.name, Promise.resolve(false));
    share.logger.info('staging-off', t('a copy written while uploading could not be renamed into place; large files are copied from input after their verdicts'), {});
  }

  private stagingAllowed(share: ShareState): Promise<boolean> {
    let allowed = this.staging.get(share.name);
    if (!allowed) {
      const uid = process.getuid?.();
      allowed = Promise.all([share.fs.qrnt.lstat(share.qrntDir), share.fs.out.lstat(share.outDir)]).then(
        ([q, o]) => uid !== undefined && q.isDirectory() && q.uid === uid && (q.mode & 0o022) === 0 && q.dev === o.dev,
        () => false,
      );
      this.staging.set(share.name, allowed);
    }
    return allowed;
  }

  get busy(): boolean {
    return this.routing.size > 0;
  }

  holds(scanId: string): boolean {
    return this.routing.has(scanId) || this.asides.has(scanId);
  }

  /**
   * Deliveries cut after their file was renamed aside: the aside file is in input under a name
   * intake ignores, so no rescan would find it. Each goes on from where it was (the journal says
   * whether its copy was placed).
   */
  async recoverAsides(onlyShare?: string): Promise<void> {
    const { ctx } = this;
    for (const e of ctx.journal.live()) {
      if (!e.state || e.outcome || this.asides.has(e.scanId) || this.routing.has(e.scanId)) continue;
      if (onlyShare !== undefined && e.share !== onlyShare) continue;
      const share = ctx.shares.get(e.share);
      if (!share) continue;
      const there = await share.fs.in.lstatIfAny(join(share.inDir, asideName(e.scanId))).catch(() => undefined);
      if (!there) continue;
      this.asides.add(e.scanId);
      this.enqueueRoute(e);
    }
  }

  /**
   * At start: aside files of deliveries the journal has finished, brought back by a power cut that
   * undid their removal (Windows cannot make that unlink durable): removed if still the delivered
   * version, otherwise back in input as new files (sourceRemoval.ts's removeLeftoverAsides).
   */
  async removeLeftoverAsides(): Promise<void> {
    const { ctx } = this;
    const finished = ctx.journal.finished();
    // Per share: an aside name is looked for only in the input of the share its delivery came from.
    for (const share of ctx.shares.values()) {
      const own = finished.filter((e) => e.share === share.name);
      if (own.length === 0) continue;
      for (const left of await removeLeftoverAsides(share.inDir, own, this.removal(share))) {
        share.logger.info(
          'recovered',
          left.kind === 'removed'
            ? t('a file already delivered was still in input under its set-aside name (a power cut undid its removal); removed')
            : t('a set-aside name of a finished delivery holds other bytes; they are back in input as a new file'),
          { file: left.name, scanId: left.scanId },
        );
      }
    }
  }

  wakeDue(now: number): number {
    let next = Infinity;
    for (const [scanId, r] of this.routeRetries) {
      if (r.at > now) {
        next = Math.min(next, r.at);
        continue;
      }
      r.at = Infinity; // due: taken now; set again if it fails again
      const e = this.ctx.journal.get(scanId);
      if (e?.state && !e.outcome) this.enqueueRoute(e);
      else this.routeRetries.delete(scanId);
    }
    return next;
  }

  enqueueRoute(e: ScanEntry): void {
    if (this.routing.has(e.scanId) || this.routeQueued.has(e.scanId)) return;
    this.routeQueued.add(e.scanId);
    this.routeQueue.push(e);
    this.pumpRoutes();
  }

  private pumpRoutes(): void {
    while (this.ctx.running && this.routeQueue.length) {
      const e = this.routeQueue[0]!;
      const weight = e.size >= largeDeliveryBytes ? largeDeliveryWeight : 1;
      if (this.deliveryLoad + weight > deliveryBudget && this.routing.size > 0) break;
      this.routeQueue.shift();
      this.routeQueued.delete(e.scanId);
      if (e.outcome || this.routing.has(e.scanId)) continue;
      this.routing.add(e.scanId);
      this.deliveryLoad += weight;
      void this.route(e).finally(() => {
        this.routing.delete(e.scanId);
        this.deliveryLoad -= weight;
        this.pumpRoutes();
      });
    }
  }

  private removal(share: ShareState): RemovalOptions {
    return { fileIds: share.inputFileIds !== false, syncDir: (d: string) => this.dirSync.sync(d, share.fs.in.local), fs: share.fs.in };
  }

  /** The share an entry goes back to; undefined (reported once) when the configuration no longer has it. */
  private shareOf(e: ScanEntry): ShareState | undefined {
    const share = this.ctx.shares.get(e.share);
    if (!share && !this.unknownShares.has(e.share)) {
      this.unknownShares.add(e.share);
      this.ctx.o.logger.warn('share-unknown', t('the journal has files of the share "{0}", which the configuration no longer lists; they stay where they are until it lists the share again', e.share), {
        share: e.share,
      });
    }
    return share;
  }

  /**
   * Moves a scanned file out of input (see sourceRemoval.ts): its handles are closed, it is
   * renamed aside and checked, copied (hash checked), the copy journaled as placed, then the aside
   * file is checked again and unlinked. A failure on the source is this file's (retried with
   * backoff); only a failure of the destination folder pauses deliveries to that folder.
   */
  private async route(e: ScanEntry): Promise<void> {
    const { ctx } = this;
    const share = this.shareOf(e);
    if (!share) return;
    const { journal: j } = ctx;
    const { folders, intake, inDir, logger } = share;
    const folder: Destination = e.destination ?? 'qrnt';
    const pauseKey = `${share.name}/${folder}`;
    const destDir = folder === 'out' ? share.outDir : share.qrntDir;
    const removal = this.removal(share);
    // Placed by an earlier process: nothing vouches for the bytes in input now but their hash.
    const recovering = e.placedPath !== undefined;
    let path = e.placedPath;
    let copiedFrom: DeliveredFrom | undefined;
    try {
      if (!path) {
        const wait = this.destinationPauses.waitFor(pauseKey, Date.now());
        if (wait) {
          this.routeLater(e, wait.until, wait.reason, false);
          return;
        }
        const problem = await folders.destinationProblem(destDir);
        if (problem !== undefined) {
          this.destinationDown(e, share, folder, destDir, problem);
          return;
        }
        const taken = await takeAside(inDir, e.name, e.scanId, e, removal);
        if (taken.kind === 'missing') {
          this.dropScanned(e.scanId);
          this.destinationPauses.untried(pauseKey);
          this.asides.delete(e.scanId);
          const rec = share.records.get(e.name);
          if (rec && rec.scanId === e.scanId) ctx.setStage(rec, 'missing', 'no longer in input');
          return;
        }
        if (taken.kind === 'changed') {
          this.destinationPauses.untried(pauseKey);
          this.sentBack(e, share, taken.returnedAs, t('file changed after it was scanned; it will be submitted again'));
          return;
        }
        this.asides.add(e.scanId);
        const placed = await this.copyOut(e, share, folder, destDir, taken.path, taken.stats);
        if (placed === undefined) return;
        path = placed.path;
        copiedFrom = placed.from;
        await j.placed(e.scanId, path);
      }
      let removed = await removeAside(inDir, e.name, e.scanId, e, removal, recovering ? e.sha256 : undefined);
      if (removed.kind === 'gone' && recovering) {
        // Placed before an interruption that came before the rename aside (a journal written by
        // the engine before it set files aside): the source may still be under its name.
        const taken = await takeAside(inDir, e.name, e.scanId, e, removal);
        if (taken.kind === 'aside') removed = await removeAside(inDir, e.name, e.scanId, e, removal, e.sha256);
        else if (taken.kind === 'changed') removed = { kind: 'returned', returnedAs: taken.returnedAs };
      }
      this.asides.delete(e.scanId);
      this.routeRetries.delete(e.scanId);
      this.dropScanned(e.scanId);
      await j.done(e.scanId, 'routed');
      if (removed.kind === 'returned') {
        logger.info('returned', t('the file changed while it was moved out of input; the scanned version was delivered, the new one stays in input as {0} and will be scanned', removed.returnedAs), {
          file: e.name,
          scanId: e.scanId,
        });
        intake.recheck(removed.returnedAs);
      }
      const now = share.records.get(e.name);
      if (now && now.scanId === e.scanId) {
        const look = now.newerSeen || removed.kind === 'returned';
        ctx.forget(now);
        if (look) intake.recheck(e.name);
      }
      if (recovering && removed.kind !== 'returned') {
        logger.info('recovered', t('delivered before an interruption; finished'), { file: e.name, scanId: e.scanId, path });
      }
      this.routedEvent(e, share, folder, path, copiedFrom);
    } catch (err) {
      this.destinationPauses.untried(pauseKey);
      this.routeFailed(e, share, errText(err), err);
    }
  }

  /**
   * Copies the aside file to the destination. A refused copy (other bytes than the scanned ones)
   * sends the file back to input; a failure of the destination folder pauses that folder; any
   * other failure is this file's. Returns the placed path, or undefined when it was not placed.
   */
  private async copyOut(e: ScanEntry, share: ShareState, folder: Destination, destDir: string, source: string, stats: Stats): Promise<{ path: string; from: DeliveredFrom } | undefined> {
    const pauseKey = `${share.name}/${folder}`;
    let name = share.portableNames?.[folder] ? portableName(e.name) : e.name;
    // The upload's own bytes, when kept (taken once: a retry after a failure copies from input).
    const kept = e.sha256 && this.wantsScanned(share, e.size) ? this.scanned.take(e.scanId) : undefined;
    const scanned = kept && kept.length === e.size ? { bytes: kept, stats } : undefined;
    const copy = e.sha256 ? this.stagedCopies.take(e.scanId) : undefined;
    let staged = copy && copy.size === e.size ? { copy, fs: share.fs.qrnt, stats } : undefined;
    if (copy && !staged) void share.fs.qrnt.unlink(copy.path).catch(() => undefined);
    for (;;) {
      // Each is used by the first try only: a retry under another name copies from input.
      const using = staged;
      staged = undefined;
      try {
        const res = await deliver({
          source,
          scanned,
          staged: using,
          expect: e,
          fileIds: share.inputFileIds !== false,
          destDir,
          name,
          expectedSha256: e.sha256,
          tag: e.scanId,
          permissions: folder === 'qrnt' ? 'private' : 'source',
          syncDir: (d) => this.dirSync.sync(d, share.fs[folder].local),
          sourceFs: share.fs.in,
          fs: share.fs[folder],
        });
        if (using && (!res.ok || res.from !== 'staged')) this.stagingFailed(share);
        if (!res.ok) {
          this.destinationPauses.untried(pauseKey);
          const back = await returnAside(share.inDir, e.name, e.scanId, this.removal(share));
          const why =
            res.reason === 'not-regular'
              ? t('file is no longer a regular file; it will be submitted again when it is one')
              : t('file content changed after it was scanned; it will be submitted again');
          this.sentBack(e, share, back.kind === 'returned' ? back.returnedAs : e.name, why);
          return undefined;
        }
        this.destinationPauses.ok(pauseKey);
        share.folders.set(folder, destDir, undefined);
        if (name !== e.name) {
          share.logger.warn('renamed', t('the {0} folder does not accept this name; delivered as {1}', folder, name), { file: e.name, scanId: e.scanId, path: res.path });
        }
        return { path: res.path, from: res.from };
      } catch (err) {
        if (!(err instanceof DeliveryError) || err.side !== 'destination') throw err;
        const fault = await attributeDestinationError(destDir, err.code);
        if (fault.scope === 'folder') {
          this.destinationDown(e, share, folder, destDir, fault.reason);
          return undefined;
        }
        this.destinationPauses.ok(pauseKey);
        // A name the folder refuses (EINVAL, EIO through smbnetfs…): once more under a name it takes.
        if (err.step === 'rename' && portableName(name) !== name) {
          name = portableName(name);
          continue;
        }
        throw new Error(t('{0} in the {1} folder failed for this file: {2}', err.step, folder, fault.reason), { cause: err });
      }
    }
  }

  /** The file under this scan is not the scanned version: it went back to input (as `returnedAs`) to be scanned anew. */
  private sentBack(e: ScanEntry, share: ShareState, returnedAs: string, why: string): void {
    const { ctx } = this;
    this.dropScanned(e.scanId);
    this.asides.delete(e.scanId);
    this.routeRetries.delete(e.scanId);
    ctx.verdicts.abandon(e, returnedAs === e.name ? why : `${why} (${returnedAs})`);
    const rec = share.records.get(e.name);
    if (rec && rec.scanId === e.scanId) {
      rec.scanId = undefined;
      rec.sha256 = undefined;
      rec.submittedAt = undefined;
      rec.newerSeen = undefined;
      share.intake.settle(rec);
    }
    share.intake.recheck(e.name);
    share.intake.recheck(returnedAs);
  }

  /** The destination folder failed as a folder: deliveries to it (and only to it) pause. */
  private destinationDown(e: ScanEntry, share: ShareState, folder: Destination, destDir: string, reason: string): void {
    const at = this.destinationPauses.failed(`${share.name}/${folder}`, reason, Date.now());
    share.folders.doubt(destDir);
    share.folders.set(folder, destDir, reason);
    this.routeLater(e, at, reason, false);
  }

  /** This file's delivery failed (its source, a name the destination refuses…): it alone retries, with backoff. */
  private routeFailed(e: ScanEntry, share: ShareState, reason: string, err: unknown): void {
    const { ctx } = this;
    const rec = share.records.get(e.name);
    const own = rec && rec.scanId === e.scanId && rec.stage !== 'missing' ? rec : undefined;
    const attempts = own ? ++own.attempts : (this.routeRetries.get(e.scanId)?.attempts ?? 0) + 1;
    const at = this.routeLater(e, Date.now() + backoffDelay(attempts, ctx.retryBaseMs, ctx.retryMaxMs), reason, true);
    // The first failure and then every doubling: a file stuck for hours does not flood the log.
    const level = (attempts & (attempts - 1)) === 0 ? 'warn' : 'debug';
    const detail = (err as Error)?.message ?? reason;
    share.logger[level]('delivery-failed', t('could not move the file out of input ({0}): {1}; it is retried', reason, detail), {
      file: e.name,
      scanId: e.scanId,
      attempts,
      retryInMs: at - Date.now(),
    });
  }

  /** Retries the delivery at `at`: through the file's record, or on its own when it has none (found aside at start). */
  private routeLater(e: ScanEntry, at: number, why: string, counted: boolean): number {
    const rec = this.ctx.recordOf(e.share, e.name);
    if (rec && rec.scanId === e.scanId && rec.stage !== 'missing') {
      this.ctx.retryAt(rec, at, 'retrying', why);
      return at;
    }
    const before = this.routeRetries.get(e.scanId);
    this.routeRetries.set(e.scanId, { at, attempts: (before?.attempts ?? 0) + (counted ? 1 : 0) });
    this.ctx.wakeAtTime(at);
    return at;
  }

  /** `copy`: how the delivered copy was made (delivery.ts's DeliveryResult.from); absent when placed before a restart. */
  private routedEvent(e: ScanEntry, share: ShareState, folder: Destination, path: string, copy?: DeliveredFrom): void {
    const verdict = e.state === 'kds-timeout' ? 'timeout' : verdictOf(e.state ?? '');
    share.logger.info('routed', folder === 'out' ? t('moved to output') : t('moved to quarantine'), {
      file: e.name,
      scanId: e.scanId,
      state: e.state,
      size: e.size,
      sha256: e.sha256,
      durationMs: Date.now() - e.intentAt,
      ...(copy ? { copy } : {}),
    });
    this.ctx.emit({
      type: 'routed',
      file: {
        share: e.share,
        name: e.name,
        size: e.size,
        sha256: e.sha256 ?? '',
        scanId: e.scanId,
        verdict,
        rawState: e.state ?? '',
        destination: folder,
        path,
        submittedAt: e.submittedAt ?? e.intentAt,
        routedAt: Date.now(),
      },
    });
  }
}
