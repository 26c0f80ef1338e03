import { t } from '../common/l10n';
import { DirectoryLockedError, lockDirectory } from '../common/dirLock';
import { ApprovalTracker } from './approval';
import { CircuitBreaker } from './circuitBreaker';
import { removePartials } from './delivery';
import type { EngineOptions, ShareOptions } from './engineOptions';
import { type FileVersion, type VersionStats, sameVersion } from './fileVersion';
import { type ApprovalState, type EngineEvent, type FileRecord, type FileStage, canMoveStage } from './events';
import { folderFs } from './folderFs';
import { FolderHealth } from './folderHealth';
import type { FolderState } from './shareName';
import { Intake } from './intake';
import { Journal } from './journal';
import { Routing } from './routing';
import { withFields } from '../common/log';
import type { Rec, ShareState, StageContext } from './stageContext';
import { Submission } from './submission';
import { Verdicts } from './verdicts';

type Listener = (event: EngineEvent) => void;

const filtersRefreshMs = 10 * 60_000;
/** EngineOptions.manyFiles: on at this many files in input, off again below half of it. */
const manyFilesAt = 10_000;

/**
 * The directory-scanning service: one state machine per file (stages and their allowed moves are
 * the table in events.ts), driven by events and completions rather than a clock. Each stage of a
 * file's life is a module with one owner — Intake (listing, watching, settling, classifying),
 * Submission (preparing, uploading, retries), Verdicts (polling, deleting results), Routing
 * (delivery, quarantine) — and this class is their coordinator: it owns the records, every stage
 * change (through the table), the events, the journal's lifecycle and the one timer for retries.
 * Every step is journaled (group-committed) before it is acted on, so a crash at any point loses
 * nothing. See docs/engine-lifecycle.md.
 *
 * Several shares (folder triples) are one engine: one KATA identity, one upload queue and one
 * verdict poll for all, and per share an intake, its records and its folders' health. Records
 * and journal entries carry their share's name, which is how each file finds its way back to
 * its own share's folders.
 */
export class ScannerEngine {
  private readonly shares = new Map<string, ShareState>();
  private readonly approval: ApprovalTracker;
  private readonly breaker: CircuitBreaker;
  private readonly submission: Submission;
  private readonly verdicts: Verdicts;
  private readonly routing: Routing;
  /** What the stages see of the engine (and of each other). */
  private readonly ctx: StageContext;
  private running = false;
  /** Files in `submitted` (waiting for a verdict). */
  private outstanding = 0;
  private readonly listeners = new Set<Listener>();
  private readonly lastLog = new Map<string, number>();
  private openJournal?: Journal;
  private unlock?: () => Promise<void>;
  private readonly intervals: NodeJS.Timeout[] = [];
  /** Records with a nextAttemptAt: retries of uploads and deliveries, unreadable files. */
  private readonly waiting = new Set<Rec>();
  private wakeTimer?: NodeJS.Timeout;
  private wakeAt = 0;
  private many = false;
  /** Files in input, every share's. */
  private files = 0;

  constructor(private readonly o: EngineOptions) {
    const retryBaseMs = o.retryBaseMs ?? 1000;
    const retryMaxMs = o.retryMaxMs ?? 5 * 60_000;
    this.approval = new ApprovalTracker({
      logger: o.logger,
      systemId: o.systemId,
      fingerprint256: o.fingerprint256,
      retryBaseMs,
      retryMaxMs,
      onChange: (before, after) => {
        this.submission.approvalChanged(before, after);
        this.emit({ type: 'approval', state: after, systemId: o.systemId, fingerprint256: o.fingerprint256 });
      },
    });
    this.breaker = new CircuitBreaker({ windowMs: 30_000, windowSize: 40, minSamples: 10, openRatio: 0.8, baseMs: retryBaseMs, maxMs: Math.min(retryMaxMs, 60_000) });
    const engine = this;
    this.ctx = {
      o,
      shares: this.shares,
      approval: this.approval,
      breaker: this.breaker,
      retryBaseMs,
      retryMaxMs,
      get running() {
        return engine.running;
      },
      get journal() {
        return engine.journal;
      },
      get outstanding() {
        return engine.outstanding;
      },
      get submission() {
        return engine.submission;
      },
      get verdicts() {
        return engine.verdicts;
      },
      get routing() {
        return engine.routing;
      },
      shareOf: (rec) => this.shares.get(rec.share)!,
      recordOf: (share, name) => this.shares.get(share)?.records.get(name),
      track: (rec) => this.track(rec),
      forget: (rec) => this.forget(rec),
      setStage: (rec, stage, reason) => this.setStage(rec, stage, reason),
      emitFile: (rec) => this.emitFile(rec),
      emit: (event) => this.emit(event),
      retryAt: (rec, at, stage, reason) => this.retryAt(rec, at, stage, reason),
      cancelRetry: (rec) => this.cancelRetry(rec),
      wakeAtTime: (at) => this.wakeAtTime(at),
      logLimited: (key, level, event, msg, fields) => this.logLimited(key, level, event, msg, fields),
      sameVersion: (v: FileVersion & { share: string }, st: VersionStats) => sameVersion(v, st, this.shares.get(v.share)?.inputFileIds !== false),
    };
    const several = o.shares.length > 1;
    for (const options of o.shares) this.shares.set(options.name, this.shareState(options, several));
    this.submission = new Submission(this.ctx);
    this.verdicts = new Verdicts(this.ctx);
    this.routing = new Routing(this.ctx);
  }

  private shareState(options: ShareOptions, several: boolean): ShareState {
    const o = this.o;
    const local = options.localFolders ?? {};
    const tag = several ? { share: options.name } : {};
    const logger = several ? withFields(o.logger, tag) : o.logger;
    const share = {
      ...options,
      fs: { in: folderFs(local.in === true), out: folderFs(local.out === true), qrnt: folderFs(local.qrnt === true) },
      folders: new FolderHealth({ share: options.name, logger, guard: o.folderGuard, emit: (e) => this.emit(e) }),
      records: new Map<string, Rec>(),
      logger,
      tag,
    } as Omit<ShareState, 'intake'> & { intake: Intake };
    share.intake = new Intake(this.ctx, share);
    return share;
  }

  private get journal(): Journal {
    if (!this.openJournal) throw new Error('the engine is not started');
    return this.openJournal;
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): { running: boolean; approval: ApprovalState; files: FileRecord[]; folders: FolderState[]; identity: { systemId: string; fingerprint256: string } } {
    const shares = [...this.shares.values()];
    return {
      running: this.running,
      approval: this.approval.state,
      files: shares.flatMap((s) => [...s.records.values()].map(publicView)),
      folders: shares.flatMap((s) => s.folders.states()),
      identity: { systemId: this.o.systemId, fingerprint256: this.o.fingerprint256 },
    };
  }

  get approvalState(): ApprovalState {
    return this.approval.state;
  }

  /** One request to KATA now (its limits), e.g. a health probe while idle; the answer updates approval like any other. */
  probeKata(): Promise<void> {
    return this.submission.refreshFilters();
  }

  async start(): Promise<void> {
    const o = this.o;
    try {
      this.unlock = await lockDirectory(o.stateDir, 'lock');
    } catch (err) {
      if (err instanceof DirectoryLockedError)
        throw Object.assign(new Error(t('state_dir {0} is in use by another KDS process (pid {1})', o.stateDir, err.pid)), { code: err.code });
      throw err;
    }
    try {
      this.openJournal = Journal.open(o.stateDir);
    } catch (err) {
      await this.unlock();
      throw err;
    }
    for (const share of this.shares.values()) {
      for (const dir of [share.outDir, share.qrntDir]) {
        const removed = await removePartials(dir);
        if (removed.length) share.logger.info('recovered', t('removed {0} incomplete copies left by an interruption', removed.length), { dir });
      }
    }
    await this.recoverJournal();
    this.running = true;
    this.emit({ type: 'running', running: true });
    await this.routing.recoverAsides();
    await this.routing.removeLeftoverAsides();
    // A delivery cut between removing the source and journaling "done" never shows up in input
    // again, so no rescan would finish it: finish those now (route() sees the source is gone).
    for (const e of this.journal.live()) if (e.placedPath && !e.outcome) this.routing.enqueueRoute(e);
    for (const share of this.shares.values()) {
      share.logger.info('started', t('scanning'), {
        in_dir: share.inDir,
        out_dir: share.outDir,
        qrnt_dir: share.qrntDir,
        mode: share.useEvents ? 'events+rescan' : 'polling',
        poll_interval_ms: o.pollIntervalMs,
      });
      share.intake.start();
    }
    void this.submission.refreshFilters();
    await this.rescanAll();
    this.verdicts.schedulePoll(o.pollIntervalMs);
    this.every(o.pollIntervalMs, () => void this.rescanAll());
    this.every(filtersRefreshMs, () => void this.submission.refreshFilters());
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const i of this.intervals) clearInterval(i);
    this.intervals.length = 0;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    for (const share of this.shares.values()) share.intake.stop();
    this.verdicts.stop();
    const busy = () => this.submission.busy || this.routing.busy || this.verdicts.busy || [...this.shares.values()].some((s) => s.intake.busy);
    const deadline = Date.now() + (this.o.stopGraceMs ?? 5000);
    while (busy() && Date.now() < deadline) await sleep(20);
    this.submission.abortAll();
    while (busy() && Date.now() < deadline + 2000) await sleep(20);
    // Once every rescan has ended, nothing may hold input open (on Windows nobody could remove or
    // rename the folder while a watcher does): closed again, whatever ran in between.
    for (const share of this.shares.values()) share.intake.stop();
    await this.openJournal?.flushed().catch(() => undefined);
    this.openJournal?.close();
    await this.unlock?.();
    this.o.logger.info('stopped', t('scanning stopped'));
    this.emit({ type: 'running', running: false });
  }

  /** Forces a rescan now (e.g. after the user dropped files, or from the Rescan command): of one share, or of all. */
  requestRescan(share?: string): void {
    for (const s of this.shares.values()) if (share === undefined || s.name === share) void s.intake.rescan(true);
  }

  /** Each share's input on its own: a share whose folder hangs does not hold up the others' rescans. */
  private rescanAll(): Promise<void> {
    return Promise.all([...this.shares.values()].map((s) => s.intake.rescan())).then(() => undefined);
  }

  private async recoverJournal(): Promise<void> {
    const j = this.journal;
    let interrupted = 0;
    for (const e of j.live()) {
      if (e.outcome || e.submittedAt) continue;
      // Cut between intent and KATA's answer: KATA may or may not have it. Upload again under a
      // new scanId; the old one is deleted if a result for it ever shows up.
      void j.done(e.scanId, 'interrupted');
      interrupted++;
      if (interrupted <= 20) this.o.logger.info('recovered', t('upload was interrupted; the file will be submitted again'), { file: e.name, scanId: e.scanId, ...(this.shares.get(e.share)?.tag ?? { share: e.share }) });
    }
    await j.flushed();
  }

  // ---------------------------------------------------------------- the records

  private track(rec: Rec): void {
    this.shares.get(rec.share)!.records.set(rec.name, rec);
    this.files++;
    if (rec.stage === 'submitted') this.outstanding++;
    if (!this.many && this.files >= manyFilesAt) {
      this.many = true;
      this.o.manyFiles?.(true);
    }
  }

  private forget(rec: Rec): void {
    const records = this.shares.get(rec.share)!.records;
    if (records.get(rec.name) !== rec) return;
    this.waiting.delete(rec);
    if (rec.stage === 'submitted') this.outstanding--;
    records.delete(rec.name);
    this.files--;
    if (this.many && this.files < manyFilesAt / 2) {
      this.many = false;
      this.o.manyFiles?.(false);
    }
    this.emit({ type: 'file-removed', share: rec.share, name: rec.name });
  }

  private setStage(rec: Rec, stage: FileStage, reason?: string): void {
    if (!canMoveStage(rec.stage, stage)) {
      this.o.logger.error('internal', `stage change ${rec.stage} → ${stage} is not in the lifecycle table`, { file: rec.name, share: rec.share });
    }
    if (rec.stage === stage && rec.reason === reason) return;
    if (rec.stage === 'submitted') this.outstanding--;
    if (stage === 'submitted') this.outstanding++;
    rec.stage = stage;
    rec.reason = reason;
    this.emitFile(rec);
  }

  // ---------------------------------------------------------------- one timer for all retries

  private retryAt(rec: Rec, at: number, stage: 'retrying' | 'unreadable', reason: string): void {
    rec.nextAttemptAt = at;
    this.setStage(rec, stage, reason);
    this.waiting.add(rec);
    this.wakeAtTime(at);
  }

  private cancelRetry(rec: Rec): void {
    rec.nextAttemptAt = undefined;
    this.waiting.delete(rec);
  }

  private wakeAtTime(at: number): void {
    if (!this.running) return;
    if (this.wakeTimer && this.wakeAt <= at) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wake();
    }, Math.max(0, at - Date.now()));
  }

  private wake(): void {
    if (!this.running) return;
    const now = Date.now();
    let next = Infinity;
    for (const rec of [...this.waiting]) {
      const at = rec.nextAttemptAt ?? 0;
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      this.cancelRetry(rec);
      if (this.shares.get(rec.share)!.records.get(rec.name) !== rec) continue;
      const e = rec.scanId ? this.journal.get(rec.scanId) : undefined;
      if (e?.state && !e.outcome) {
        this.setStage(rec, 'routing');
        this.routing.enqueueRoute(e);
      } else if (!rec.scanId && (rec.stage === 'retrying' || rec.stage === 'unreadable')) this.submission.ready(rec);
    }
    next = Math.min(next, this.routing.wakeDue(now));
    if (next < Infinity) this.wakeAtTime(next);
    this.submission.pump();
  }

  // ---------------------------------------------------------------- events and the log

  private emitFile(rec: Rec): void {
    if (this.listeners.size) this.emit({ type: 'file', file: publicView(rec) });
  }

  private emit(event: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A failing view must not stop the scanner.
      }
    }
  }

  private logLimited(key: string, level: 'warn' | 'info', event: string, msg: string, fields?: Record<string, unknown>): void {
    const now = Date.now();
    if (now - (this.lastLog.get(key) ?? 0) < 10_000) {
      this.o.logger.debug(event, msg, fields);
      return;
    }
    this.lastLog.set(key, now);
    this.o.logger[level](event, msg, fields);
  }

  private every(ms: number, fn: () => unknown): void {
    this.intervals.push(
      setInterval(() => {
        try {
          const r = fn();
          if (r instanceof Promise) r.catch((err) => this.o.logger.error('internal', String((err as Error)?.stack ?? err)));
        } catch (err) {
          this.o.logger.error('internal', String((err as Error)?.stack ?? err));
        }
      }, ms),
    );
  }
}

function publicView(rec: Rec): FileRecord {
  const view: FileRecord = {
    share: rec.share,
    name: rec.name,
    size: rec.size,
    mtimeMs: rec.mtimeMs,
    stage: rec.stage,
    firstSeen: rec.firstSeen,
    changedAt: rec.changedAt,
    attempts: rec.attempts,
  };
  if (rec.reason !== undefined) view.reason = rec.reason;
  if (rec.scanId !== undefined) view.scanId = rec.scanId;
  if (rec.sha256 !== undefined) view.sha256 = rec.sha256;
  if (rec.submittedAt !== undefined) view.submittedAt = rec.submittedAt;
  if (rec.nextAttemptAt !== undefined) view.nextAttemptAt = rec.nextAttemptAt;
  return view;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
