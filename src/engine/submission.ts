import { randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { t } from '../common/l10n';
import { isKataError } from '../kata/errors';
import { backoffDelay } from './backoff';
import type { ApprovalState } from './events';
import type { FileVersion } from './fileVersion';
import type { OpenFile } from './folderFs';
import { KeepingReader } from './scannedCopy';
import type { Rec, ShareState, StageContext, SubmissionStage } from './stageContext';
import type { StagingUpload } from './stagedCopy';
import { UploadCancel } from './uploadCancel';

type OpenProblem = 'missing' | 'not-regular' | 'hard-link' | 'changed';

/**
 * The second stage: a complete file waits in line for one of max_inflight request slots, is
 * opened once and checked, its intent journaled, and uploaded from that handle; a failed request
 * is retried on its own, and while KATA refuses us (approval) files wait as awaiting approval.
 */
export class Submission implements SubmissionStage {
  private uploadQueue: Rec[] = [];
  private uploadHead = 0;
  private readonly uploadAborts = new Map<Rec, UploadCancel>();
  /** Requests on the wire (each holds one of max_inflight slots). */
  private uploads = 0;
  /** Uploads opened and journaled, waiting for a request slot (see postSlot). */
  private preparing = 0;
  private readonly postWaiters: Array<(granted: boolean) => void> = [];
  /** KATA's own limit (maxObjectSize of its filters), once known. */
  private kataMax = Infinity;

  constructor(private readonly ctx: StageContext) {}

  get busy(): boolean {
    return this.uploads > 0 || this.preparing > 0;
  }

  maxObjectSize(share: ShareState): number {
    return Math.min(share.maxFileSizeBytes, this.kataMax);
  }

  abortUpload(rec: Rec): void {
    this.uploadAborts.get(rec)?.abort();
  }

  abortAll(): void {
    for (const a of this.uploadAborts.values()) a.abort();
  }

  ready(rec: Rec, reason?: string): void {
    this.ctx.setStage(rec, this.ctx.approval.refusing ? 'awaiting-approval' : 'queued', reason);
    if (!rec.inQueue) {
      rec.inQueue = true;
      this.uploadQueue.push(rec);
    }
  }

  /** Starts as many uploads as slots allow; called whenever something may have freed one. */
  pump(): void {
    const { ctx } = this;
    if (!ctx.running) return;
    const now = Date.now();
    this.grantPosts(now);
    const allowed = ctx.approval.uploadSlots(ctx.o.maxInflight, now);
    // In normal operation as many files again are prepared ahead of a free slot; while KATA
    // refuses us or the breaker is open, not one more than may be sent.
    const ahead = allowed === ctx.o.maxInflight && !ctx.breaker.isOpen ? ctx.o.maxInflight : 0;
    let slots = allowed + ahead - this.uploads - this.preparing;
    while (slots > 0 && ctx.breaker.allows(now)) {
      const rec = this.nextUpload();
      if (!rec) break;
      ctx.breaker.started();
      void this.upload(rec);
      slots--;
    }
    if (ctx.approval.refusing && now < ctx.approval.probeAt && this.uploadHead < this.uploadQueue.length) ctx.wakeAtTime(ctx.approval.probeAt);
    if (ctx.breaker.isOpen && now < ctx.breaker.pausedUntil) ctx.wakeAtTime(ctx.breaker.pausedUntil);
  }

  private nextUpload(): Rec | undefined {
    while (this.uploadHead < this.uploadQueue.length) {
      const rec = this.uploadQueue[this.uploadHead++]!;
      rec.inQueue = false;
      if (this.ctx.recordOf(rec.share, rec.name) !== rec) continue;
      if (rec.stage === 'queued' || rec.stage === 'awaiting-approval') {
        if (this.uploadHead > 1024 && this.uploadHead * 2 > this.uploadQueue.length) {
          this.uploadQueue = this.uploadQueue.slice(this.uploadHead);
          this.uploadHead = 0;
        }
        return rec;
      }
    }
    this.uploadQueue = [];
    this.uploadHead = 0;
    return undefined;
  }

  private async upload(rec: Rec): Promise<void> {
    const { ctx } = this;
    const { o, journal: j } = ctx;
    const share = ctx.shareOf(rec);
    this.preparing++;
    let phase: 'preparing' | 'cancelled' | 'posting' | 'posted' = 'preparing';
    ctx.setStage(rec, 'uploading');
    const scanId = randomUUID();
    const abort = new UploadCancel();
    this.uploadAborts.set(rec, abort);
    const started = Date.now();
    let intent = false;
    let sent = false;
    let fh: OpenFile | undefined;
    let staging: StagingUpload | undefined;
    try {
      const opened = await this.openVersion(share, rec.name, rec);
      if ('problem' in opened) {
        this.openRefused(rec, opened.problem, opened.st);
        return;
      }
      fh = opened.fh;
      if (abort.aborted) throw abort.reason;
      await j.intent({ scanId, share: rec.share, name: rec.name, size: rec.size, mtimeMs: rec.mtimeMs, ino: rec.ino, dev: rec.dev });
      intent = true;
      const granted = await this.postSlot();
      this.preparing--;
      if (!granted) {
        // KATA started refusing us while this file waited: back in line, nothing was sent.
        phase = 'cancelled';
        void j.done(scanId, 'interrupted');
        void j.cleared(scanId);
        await fh.close().catch(() => undefined);
        ctx.breaker.untried();
        if (ctx.recordOf(rec.share, rec.name) === rec && rec.stage === 'uploading') this.ready(rec);
        return;
      }
      phase = 'posting';
      if (abort.aborted) throw abort.reason;
      rec.scanId = scanId;
      sent = true;
      // What the upload reads is what gets delivered: kept (a small file) or written as it is read
      // into a staged copy (a large one), see scannedCopy.ts and stagedCopy.ts.
      const keeper = ctx.routing.wantsScanned(share, rec.size) ? new KeepingReader(fh, rec.size) : undefined;
      staging = keeper ? undefined : await ctx.routing.startStaging(share, scanId, rec.size, fh);
      const { sha256 } = await o.api.submit(keeper ?? staging?.reader ?? fh, { scanId, fileName: rec.name, size: rec.size, signal: abort });
      // Before anything else can run: the verdict may be polled before the next step is durable.
      const bytes = keeper?.bytes;
      if (bytes) ctx.routing.keepScanned(scanId, bytes);
      const staged = staging;
      staging = undefined;
      await staged?.finish(true);
      // The upload slot is free as soon as KATA has the file; recording it need not hold the slot.
      phase = 'posted';
      this.uploads--;
      this.pump();
      const now = Date.now();
      ctx.breaker.record(true, now);
      ctx.approval.accepted();
      const submitted = j.submitted(scanId, sha256);
      if (ctx.recordOf(rec.share, rec.name) !== rec || rec.scanId !== scanId) {
        // Changed or removed while uploading: this result will never be used.
        ctx.routing.dropScanned(scanId);
        void j.done(scanId, 'abandoned');
        ctx.verdicts.enqueueDelete(scanId);
        await fh.close().catch(() => undefined);
        return;
      }
      await submitted;
      await fh.close().catch(() => undefined);
      // Changed while the step was being made durable: the new version abandoned this scan.
      if (ctx.recordOf(rec.share, rec.name) !== rec || rec.scanId !== scanId) return;
      rec.sha256 = sha256;
      rec.submittedAt = now;
      rec.attempts = 0;
      // Gone from input meanwhile, it stays `missing` (its scan is kept, see Intake.gone); polled
      // already (its verdict came while this step was being made durable), it is `routing`.
      if (rec.stage === 'uploading') ctx.setStage(rec, 'submitted');
      share.logger.info('submitted', t('sent to KATA'), { file: rec.name, scanId, size: rec.size, sha256, durationMs: now - started });
      ctx.verdicts.schedulePoll(ctx.verdicts.pollDelay());
    } catch (err) {
      if (intent) {
        void j.done(scanId, 'interrupted');
        // Only a request KATA may have accepted can leave a result behind.
        if (!sent || definitelyRefused(err)) void j.cleared(scanId);
      }
      if (rec.scanId === scanId) rec.scanId = undefined;
      if (fh) await fh.close().catch(() => undefined);
      await staging?.finish(false);
      this.uploadFailed(rec, err, abort.aborted);
    } finally {
      if (phase === 'preparing') this.preparing--;
      if (phase === 'posting') this.uploads--;
      if (this.uploadAborts.get(rec) === abort) this.uploadAborts.delete(rec);
      this.pump();
    }
  }

  /**
   * Opens this version once (no symlink followed, no FIFO waited on) and checks the handle: a
   * regular file with one link, of exactly the settled device, inode, size and mtime. That handle
   * is what gets hashed and uploaded, and it is closed right after: SMB and Windows refuse to
   * rename or delete a file someone holds open, and the delivery checks the bytes again by hash.
   */
  private async openVersion(share: ShareState, name: string, v: FileVersion & { share: string }): Promise<{ fh: OpenFile; st: Stats } | { problem: OpenProblem; st?: Stats }> {
    let fh: OpenFile;
    try {
      fh = await share.fs.in.openNoFollow(join(share.inDir, name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { problem: 'missing' };
      if (code === 'ELOOP' || code === 'ENXIO' || code === 'EISDIR') return { problem: 'not-regular' };
      throw err;
    }
    let st: Stats;
    try {
      st = await fh.stat();
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    const problem = !st.isFile() ? 'not-regular' : st.nlink !== 1 ? 'hard-link' : !this.ctx.sameVersion(v, st) ? 'changed' : undefined;
    if (problem) {
      await fh.close().catch(() => undefined);
      return { problem, st };
    }
    return { fh, st };
  }

  /**
   * Waits for one of the max_inflight request slots. A file is opened and its intent journaled
   * (an fdatasync) before it gets one, so slots are busy only while requests are on the wire.
   */
  private postSlot(): Promise<boolean> {
    const { approval, o } = this.ctx;
    // While KATA refuses us, a file waits in line (awaiting approval), not holding an open intent.
    if (approval.refusing && this.uploads >= approval.uploadSlots(o.maxInflight, Date.now())) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.postWaiters.push((granted) => {
        if (granted) this.uploads++;
        resolve(granted);
      });
      this.grantPosts(Date.now());
    });
  }

  private grantPosts(now: number): void {
    const allowed = this.ctx.approval.uploadSlots(this.ctx.o.maxInflight, now);
    while (this.postWaiters.length && this.uploads < allowed) this.postWaiters.shift()!(true);
  }

  /** The open found something other than the settled version: never uploaded. */
  private openRefused(rec: Rec, problem: OpenProblem, st?: Stats): void {
    // Nothing was sent: whatever the breaker waits to hear, this tells nothing about KATA.
    this.ctx.breaker.untried();
    if (this.ctx.recordOf(rec.share, rec.name) !== rec) return;
    const { intake } = this.ctx.shareOf(rec);
    if (problem === 'hard-link') {
      intake.ignore(rec.name, 'hard-link', st?.nlink);
      return;
    }
    if (problem === 'changed' && st) {
      intake.newVersion(rec, st);
      return;
    }
    // Gone, or swapped for a symlink, FIFO or folder: the next rescan sees what it is now.
    intake.settle(rec);
    intake.recheck(rec.name);
  }

  private uploadFailed(rec: Rec, err: unknown, aborted: boolean): void {
    const { ctx } = this;
    // A failure of our own file (it changed, was unreadable, its share went away) is not KATA's:
    // it must not count towards pausing every share's uploads.
    if (!isKataError(err) || err.kind === 'changed') ctx.breaker.untried();
    if (ctx.recordOf(rec.share, rec.name) !== rec) return;
    const { intake, logger } = ctx.shareOf(rec);
    const code = (err as NodeJS.ErrnoException)?.code;
    if (aborted || (err as Error)?.name === 'AbortError' || isKataError(err, 'changed')) {
      if (rec.stage === 'uploading') {
        intake.settle(rec);
        intake.recheck(rec.name);
      }
      return;
    }
    if (code === 'ENOENT') {
      intake.settle(rec);
      intake.recheck(rec.name);
      return;
    }
    if (code === 'EBUSY') {
      // Windows: another program holds the file without sharing it (still writing it, say). Not
      // KATA's failure, so the circuit breaker does not hear of it.
      if (!rec.logged) logger.warn('unreadable', t('the file is open in another program that does not share it ({0}); it stays in input and is retried', code), { file: rec.name });
      rec.logged = true;
      rec.attempts++;
      ctx.retryAt(rec, Date.now() + backoffDelay(rec.attempts, ctx.retryBaseMs, 60_000), 'unreadable', code);
      return;
    }
    if (code === 'EACCES' || code === 'EPERM') {
      if (!rec.logged) logger.warn('unreadable', t('cannot read the file ({0}); it stays in input and is retried', code), { file: rec.name });
      rec.logged = true;
      ctx.retryAt(rec, Date.now() + 60_000, 'unreadable', code);
      return;
    }
    if (isKataError(err, 'too-large')) {
      logger.info('too-large', t('KATA refused the file as too large (413); it stays in input untouched'), { file: rec.name, size: rec.size });
      rec.logged = true;
      ctx.setStage(rec, 'too-large', '413');
      return;
    }
    const now = Date.now();
    if (ctx.approval.refused(err, now)) {
      ctx.breaker.record(true, now); // KATA answered; approval is tracked on its own
      this.ready(rec, String((err as { status?: number }).status ?? ''));
      return;
    }
    // One failed request is retried on its own; the others keep flowing (the breaker steps in
    // only when KATA's failures are the rule).
    const retryAfter = isKataError(err) ? err.retryAfterMs : undefined;
    if (isKataError(err)) ctx.breaker.record(false, now, retryAfter);
    rec.attempts++;
    const delay = Math.max(this.retryDelay(rec.attempts, now), Math.min(retryAfter ?? 0, ctx.retryMaxMs));
    const kind = isKataError(err) ? err.kind : (code ?? 'error');
    ctx.retryAt(rec, now + delay, 'retrying', kind);
    ctx.logLimited(`upload-${kind}`, 'warn', 'upload-failed', t('upload failed ({0}): {1}; the file stays in input and is retried', kind, (err as Error)?.message ?? String(err)), {
      file: rec.name,
      retryInMs: delay,
      ...ctx.shareOf(rec).tag,
    });
  }

  /**
   * The wait before retrying a request that failed `attempts` times in a row. While KATA answers
   * most requests and this one's failures are within what its failure rate explains, the retry is
   * prompt (a fraction of retry_base); beyond that, exponential backoff counts only the failures
   * that bad luck does not explain. Failures as the rule are the circuit breaker's business.
   */
  retryDelay(attempts: number, now: number): number {
    const excess = attempts - this.ctx.breaker.explainedRun(now);
    if (excess <= 0) {
      const prompt = Math.max(1, Math.round(this.ctx.retryBaseMs / 4));
      return backoffDelay(0, prompt, prompt);
    }
    return backoffDelay(excess, this.ctx.retryBaseMs, this.ctx.retryMaxMs);
  }

  /** KATA started or stopped refusing us: files in line change between queued and awaiting approval. */
  approvalChanged(before: ApprovalState, after: ApprovalState): void {
    const shares = [...this.ctx.shares.values()];
    if (after === 'pending' || after === 'rejected') {
      for (const waiter of this.postWaiters.splice(0)) waiter(false);
      for (const { records } of shares) for (const rec of records.values()) if (rec.stage === 'queued') this.ctx.setStage(rec, 'awaiting-approval');
    }
    if (after === 'approved' && (before === 'pending' || before === 'rejected')) {
      for (const { records } of shares) for (const rec of records.values()) if (rec.stage === 'awaiting-approval' && !rec.scanId) this.ready(rec);
      queueMicrotask(() => this.pump());
    }
  }

  /** KATA's own limits (maxObjectSize), read at start and every few minutes. */
  async refreshFilters(): Promise<void> {
    const { ctx } = this;
    try {
      const f = await ctx.o.api.filters();
      ctx.approval.accepted();
      if (f.maxObjectSize && f.maxObjectSize > 0 && f.maxObjectSize < this.kataMax) {
        this.kataMax = f.maxObjectSize;
        ctx.o.logger.info('limits', t('KATA accepts objects up to {0} bytes', f.maxObjectSize), { version: f.version });
        for (const share of ctx.shares.values()) {
          if (share.maxFileSizeBytes <= f.maxObjectSize) continue;
          for (const rec of share.records.values()) if (rec.stage === 'queued') share.intake.classify(rec);
        }
      }
    } catch (err) {
      if (!ctx.approval.refused(err)) ctx.o.logger.debug('limits', t("could not read KATA's limits: {0}", (err as Error).message));
    }
    this.pump();
  }
}

/** KATA answered and did not take the object, so no result can appear for this scanId. */
function definitelyRefused(err: unknown): boolean {
  return isKataError(err) && ['unauthorized', 'forbidden', 'too-large', 'busy', 'bad-request', 'tls', 'changed'].includes(err.kind);
}
