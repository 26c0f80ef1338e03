import { randomUUID } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { FSWatcher } from 'chokidar';
import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import { backoffDelay } from './backoff';
import { deliver, removePartials, removeSource } from './delivery';
import {
  type ApprovalState,
  type EngineEvent,
  type FileRecord,
  type FileStage,
  type IgnoredKind,
  destinationOf,
  verdictOf,
} from './events';
import { type Destination, Journal, type ScanEntry } from './journal';
import { listInput } from './inputListing';
import { DirectoryLockedError, lockDirectory } from '../common/dirLock';

/** What the engine needs from KATA; KataClient provides it, tests may wrap it. */
export interface ScannerApi {
  submit(path: string, opts: { scanId: string; fileName: string; size: number; signal?: AbortSignal }): Promise<{ sha256: string; bytes: number }>;
  states(): Promise<Array<{ scanId: string; state: string }>>;
  deleteResult(scanId: string): Promise<void>;
  filters(): Promise<{ maxObjectSize?: number; version?: string }>;
}

/** The exclude list as the engine sees it: re-read cheaply before every rescan. */
export interface ExcludeSource {
  refresh(): Promise<boolean>;
  matches(name: string): { pattern: string } | undefined;
}

/** Tells whether a folder is currently usable (e.g. its share is mounted). */
export type FolderGuard = (dir: string) => Promise<string | undefined>;

export interface EngineOptions {
  inDir: string;
  outDir: string;
  qrntDir: string;
  stateDir: string;
  systemId: string;
  /** SHA-256 of the client certificate, shown to administrators while approval is pending. */
  fingerprint256: string;
  api: ScannerApi;
  excludes: ExcludeSource;
  logger: Logger;
  maxFileSizeBytes: number;
  stableMs: number;
  pollIntervalMs: number;
  scanTimeoutMs: number;
  maxInflight: number;
  /** Kernel change events are a hint only; rescans every pollIntervalMs find what they miss. */
  useEvents: boolean;
  folderGuard?: FolderGuard;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long stop() waits for uploads and deliveries in progress before aborting them. */
  stopGraceMs?: number;
}

interface Rec extends FileRecord {
  ino: number;
  stableSince: number;
  /** Version key (size, mtime, inode) whose one-time messages were already logged. */
  loggedVersion?: string;
  abort?: AbortController;
}

type Listener = (event: EngineEvent) => void;

const tickMs = 100;
const filtersRefreshMs = 10 * 60_000;
const approvalLogEveryMs = 60_000;
const missingForgetMs = 24 * 3_600_000;

/**
 * The directory-scanning service: finds complete files in input, submits them, polls the
 * verdicts, delivers each file to output or quarantine, and journals every step so a crash
 * at any point loses nothing. Emits typed events and keeps a snapshot for the views.
 */
export class ScannerEngine {
  private readonly records = new Map<string, Rec>();
  private readonly ignoredLogged = new Map<string, IgnoredKind>();
  private readonly listeners = new Set<Listener>();
  private readonly routing = new Set<string>();
  private readonly clearing = new Set<string>();
  private readonly lastLog = new Map<string, number>();
  private journal?: Journal;
  private unlock?: () => Promise<void>;
  private watcher?: FSWatcher;
  private timers: NodeJS.Timeout[] = [];
  private running = false;
  private uploads = 0;
  private pausedUntil = 0;
  private failureStreak = 0;
  private approval: ApprovalState = 'unknown';
  private effectiveMax: number;
  private rescanning?: Promise<void>;
  private rescanAgain = false;
  private polling = false;
  private folderState = new Map<string, string | undefined>();
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;

  constructor(private readonly o: EngineOptions) {
    this.effectiveMax = o.maxFileSizeBytes;
    this.retryBaseMs = o.retryBaseMs ?? 1000;
    this.retryMaxMs = o.retryMaxMs ?? 5 * 60_000;
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): { running: boolean; approval: ApprovalState; files: FileRecord[]; identity: { systemId: string; fingerprint256: string } } {
    return {
      running: this.running,
      approval: this.approval,
      files: [...this.records.values()].map(publicView),
      identity: { systemId: this.o.systemId, fingerprint256: this.o.fingerprint256 },
    };
  }

  get approvalState(): ApprovalState {
    return this.approval;
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
      this.journal = Journal.open(o.stateDir);
    } catch (err) {
      await this.unlock();
      throw err;
    }
    for (const dir of [o.outDir, o.qrntDir]) {
      const removed = await removePartials(dir);
      if (removed.length) o.logger.info('recovered', t('removed {0} incomplete copies left by an interruption', removed.length), { dir });
    }
    this.recoverJournal();
    this.running = true;
    this.emit({ type: 'running', running: true });
    // A delivery cut between removing the source and journaling "done" never shows up in input
    // again, so no rescan would finish it: finish those now (route() sees the source is gone).
    for (const e of this.journal.live()) if (e.placedPath && !e.outcome) void this.route(e);
    o.logger.info('started', t('scanning'), {
      in_dir: o.inDir,
      out_dir: o.outDir,
      qrnt_dir: o.qrntDir,
      mode: o.useEvents ? 'events+rescan' : 'polling',
      poll_interval_ms: o.pollIntervalMs,
    });
    if (o.useEvents) await this.startWatcher();
    void this.refreshFilters();
    await this.rescan();
    this.every(tickMs, () => this.tick());
    this.every(o.pollIntervalMs, () => {
      void this.rescan();
      void this.poll();
    });
    this.every(filtersRefreshMs, () => void this.refreshFilters());
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.watcher?.close();
    this.watcher = undefined;
    const deadline = Date.now() + (this.o.stopGraceMs ?? 5000);
    while ((this.uploads > 0 || this.routing.size > 0 || this.rescanning) && Date.now() < deadline) await sleep(50);
    for (const rec of this.records.values()) rec.abort?.abort();
    while ((this.uploads > 0 || this.routing.size > 0) && Date.now() < deadline + 2000) await sleep(50);
    this.journal?.close();
    await this.unlock?.();
    this.o.logger.info('stopped', t('scanning stopped'));
    this.emit({ type: 'running', running: false });
  }

  /** Forces a rescan now (e.g. after the user dropped files, or from the Rescan command). */
  requestRescan(): void {
    void this.rescan();
  }

  // ---------------------------------------------------------------- recovery

  private recoverJournal(): void {
    const j = this.journal!;
    for (const e of j.live()) {
      if (e.outcome) continue;
      if (!e.submittedAt) {
        // Cut between intent and KATA's answer: KATA may or may not have it. Upload again under a
        // new scanId; the old one is deleted if a result for it ever shows up.
        j.done(e.scanId, 'interrupted');
        this.o.logger.info('recovered', t('upload was interrupted; the file will be submitted again'), { file: e.name, scanId: e.scanId });
      }
    }
  }

  /** The active (unfinished) journal entry for a name, if any. */
  private activeEntry(name: string): ScanEntry | undefined {
    let found: ScanEntry | undefined;
    for (const e of this.journal!.live()) if (!e.outcome && e.name === name && (!found || e.intentAt > found.intentAt)) found = e;
    return found;
  }

  // ---------------------------------------------------------------- intake

  private async startWatcher(): Promise<void> {
    try {
      const { watch } = await import('chokidar');
      const w = watch(this.o.inDir, { depth: 0, ignoreInitial: true, followSymlinks: false, ignorePermissionErrors: true });
      w.on('all', () => this.scheduleRescan());
      w.on('error', (err) => this.o.logger.debug('watch-error', String(err)));
      this.watcher = w;
    } catch (err) {
      this.o.logger.warn('watch-error', t('change events unavailable, relying on rescans: {0}', String(err)));
    }
  }

  private rescanTimer?: NodeJS.Timeout;
  private scheduleRescan(): void {
    if (this.rescanTimer) return;
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = undefined;
      void this.rescan();
    }, 50);
  }

  private rescan(): Promise<void> {
    if (!this.running) return Promise.resolve();
    if (this.rescanning) {
      this.rescanAgain = true;
      return this.rescanning;
    }
    this.rescanning = (async () => {
      try {
        do {
          this.rescanAgain = false;
          await this.rescanOnce();
        } while (this.rescanAgain && this.running);
      } catch (err) {
        this.o.logger.error('internal', t('rescan failed: {0}', (err as Error).stack ?? String(err)));
      } finally {
        this.rescanning = undefined;
      }
    })();
    return this.rescanning;
  }

  private async rescanOnce(): Promise<void> {
    const o = this.o;
    if (await o.excludes.refresh()) {
      o.logger.info('exclude-list', t('exclude list changed; re-evaluating files in input'));
      for (const rec of this.records.values()) {
        if (['excluded', 'queued', 'retrying', 'awaiting-approval', 'too-large'].includes(rec.stage)) this.classify(rec);
      }
    }
    const unusable = await this.folderProblem(o.inDir);
    if (unusable !== undefined) {
      this.setFolder('in', o.inDir, unusable);
      return;
    }
    let listing;
    try {
      listing = await listInput(o.inDir);
    } catch (err) {
      this.setFolder('in', o.inDir, errText(err));
      return;
    }
    const wasDown = this.folderState.get('in') !== undefined;
    this.setFolder('in', o.inDir, undefined);
    if (wasDown && o.useEvents && !this.watcher) await this.startWatcher();

    const seen = new Set<string>();
    for (const ig of listing.ignored) {
      seen.add(ig.name);
      if (this.ignoredLogged.get(ig.name) !== ig.kind) {
        this.ignoredLogged.set(ig.name, ig.kind);
        o.logger.info('ignored', t('not a regular file in input ({0}); it is never scanned', ig.kind), { file: ig.name });
        this.emit({ type: 'ignored', name: ig.name, kind: ig.kind });
      }
      if (this.records.has(ig.name)) this.gone(ig.name);
    }
    for (const name of [...this.ignoredLogged.keys()]) if (!seen.has(name)) this.ignoredLogged.delete(name);
    for (const f of listing.files) {
      seen.add(f.name);
      this.observe(f.name, f.stats);
    }
    for (const name of [...this.records.keys()]) if (!seen.has(name)) this.gone(name);
  }

  private observe(name: string, st: Stats): void {
    const now = Date.now();
    let rec = this.records.get(name);
    if (!rec) {
      rec = { name, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, stage: 'settling', firstSeen: now, changedAt: now, stableSince: now, attempts: 0 };
      this.records.set(name, rec);
      const e = this.activeEntry(name);
      if (e && sameVersion(e, st)) {
        rec.scanId = e.scanId;
        rec.sha256 = e.sha256;
        rec.submittedAt = e.submittedAt;
        this.setStage(rec, e.state ? 'routing' : 'submitted');
        if (e.state) void this.route(e);
        return;
      }
      if (e) this.abandon(e, t('file changed while KATA was scanning it'));
      this.setStage(rec, 'settling');
      return;
    }
    if (rec.size === st.size && rec.mtimeMs === st.mtimeMs && rec.ino === st.ino) {
      if (rec.stage === 'missing') {
        const e = rec.scanId ? this.journal!.get(rec.scanId) : undefined;
        this.setStage(rec, e?.state ? 'routing' : 'submitted', 'back in input');
        if (e?.state) void this.route(e);
      }
      return;
    }
    // A new version: whatever KATA said about the old bytes does not apply to these.
    rec.abort?.abort();
    if (rec.scanId) {
      const e = this.journal!.get(rec.scanId);
      if (e && !e.outcome) this.abandon(e, t('file changed after it was submitted; it will be submitted again'));
    }
    Object.assign(rec, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, changedAt: now, stableSince: now, attempts: 0 });
    rec.scanId = undefined;
    rec.sha256 = undefined;
    rec.submittedAt = undefined;
    rec.nextAttemptAt = undefined;
    this.setStage(rec, 'settling');
  }

  private gone(name: string): void {
    const rec = this.records.get(name)!;
    const e = rec.scanId ? this.journal!.get(rec.scanId) : undefined;
    if (e && !e.outcome && !this.routing.has(e.scanId)) {
      // Keep the scan: a share that was unmounted for a moment must not cost a rescan of everything.
      if (rec.stage !== 'missing') {
        this.setStage(rec, 'missing', 'no longer in input');
        this.o.logger.info('missing', t('file left input while KATA had it; its scan is kept for 24 h'), { file: name, scanId: e.scanId });
      }
      if (Date.now() - rec.changedAt > missingForgetMs) {
        this.abandon(e, t('gone from input for 24 hours'));
        this.forget(name);
      }
      return;
    }
    if (this.routing.has(rec.scanId ?? '')) return;
    rec.abort?.abort();
    this.forget(name);
  }

  private forget(name: string): void {
    this.records.delete(name);
    this.emit({ type: 'file-removed', name });
  }

  // ---------------------------------------------------------------- per-file decisions

  private ticking = false;
  private async tick(): Promise<void> {
    if (!this.running || this.ticking) return;
    this.ticking = true;
    try {
      const now = Date.now();
      for (const rec of [...this.records.values()]) {
        if (rec.stage === 'settling' && now - rec.stableSince >= this.o.stableMs) await this.checkStable(rec);
        else if (rec.stage === 'unreadable' && rec.nextAttemptAt !== undefined && now >= rec.nextAttemptAt) this.setStage(rec, 'queued');
      }
      this.pump();
    } finally {
      this.ticking = false;
    }
  }

  private async checkStable(rec: Rec): Promise<void> {
    let st: Stats;
    try {
      st = await lstat(join(this.o.inDir, rec.name));
    } catch {
      return; // the next rescan decides whether it is gone
    }
    if (!st.isFile()) return;
    if (st.size !== rec.size || st.mtimeMs !== rec.mtimeMs || st.ino !== rec.ino) {
      Object.assign(rec, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, changedAt: Date.now(), stableSince: Date.now() });
      return;
    }
    if (rec.stage === 'settling') this.classify(rec);
  }

  /** Decides what a complete file is: excluded, too large, or ready to submit. */
  private classify(rec: Rec): void {
    const version = `${rec.size}:${rec.mtimeMs}:${rec.ino}`;
    const firstTime = rec.loggedVersion !== version;
    const hit = this.o.excludes.matches(rec.name);
    if (hit) {
      if (firstTime || rec.stage !== 'excluded') this.o.logger.info('excluded', t('matches exclude list entry "{0}"; stays in input', hit.pattern), { file: rec.name, size: rec.size });
      rec.loggedVersion = version;
      this.setStage(rec, 'excluded', hit.pattern);
      return;
    }
    // KATA refused this very version with 413: re-evaluating (an exclude-list edit) must not upload it again.
    if (rec.stage === 'too-large' && rec.reason === '413' && !firstTime) return;
    if (rec.size > this.effectiveMax) {
      if (firstTime || rec.stage !== 'too-large')
        this.o.logger.info('too-large', t('larger than the {0} byte limit; stays in input untouched', this.effectiveMax), { file: rec.name, size: rec.size });
      rec.loggedVersion = version;
      this.setStage(rec, 'too-large', `limit ${this.effectiveMax}`);
      return;
    }
    // While KATA refuses this system, a complete file waits for the approval, and says so.
    const ready: FileStage = this.approval === 'pending' || this.approval === 'rejected' ? 'awaiting-approval' : 'queued';
    if (rec.stage !== ready) this.setStage(rec, ready);
  }

  // ---------------------------------------------------------------- uploads

  private pump(): void {
    if (!this.running) return;
    const now = Date.now();
    if (now < this.pausedUntil) return;
    const candidates = [...this.records.values()]
      .filter(
        (r) =>
          r.stage === 'queued' ||
          ((r.stage === 'retrying' || r.stage === 'awaiting-approval') && !r.scanId && (r.nextAttemptAt ?? 0) <= now),
      )
      .sort((a, b) => a.firstSeen - b.firstSeen);
    for (const rec of candidates) {
      // While KATA refuses us, one upload at a time probes whether the administrator has approved.
      const limit = this.approval === 'approved' || this.approval === 'unknown' ? this.o.maxInflight : 1;
      if (this.uploads >= limit || Date.now() < this.pausedUntil) break;
      void this.upload(rec);
    }
  }

  private async upload(rec: Rec): Promise<void> {
    const o = this.o;
    const j = this.journal!;
    const path = join(o.inDir, rec.name);
    this.uploads++;
    this.setStage(rec, 'uploading');
    const scanId = randomUUID();
    const abort = new AbortController();
    rec.abort = abort;
    const started = Date.now();
    let entry: ScanEntry | undefined;
    try {
      const st = await lstat(path);
      if (!st.isFile() || st.size !== rec.size || st.mtimeMs !== rec.mtimeMs || st.ino !== rec.ino) {
        this.requeue(rec);
        return;
      }
      await assertReadable(path);
      entry = j.intent({ scanId, name: rec.name, size: rec.size, mtimeMs: rec.mtimeMs, ino: rec.ino });
      rec.scanId = scanId;
      const { sha256 } = await o.api.submit(path, { scanId, fileName: rec.name, size: rec.size, signal: abort.signal });
      j.submitted(scanId, sha256);
      if (this.records.get(rec.name) !== rec || rec.scanId !== scanId) {
        // Changed or removed while uploading: this result will never be used.
        j.done(scanId, 'abandoned');
        void this.clearResult(scanId);
        return;
      }
      rec.sha256 = sha256;
      rec.submittedAt = Date.now();
      rec.attempts = 0;
      this.failureStreak = 0;
      this.setApproval('approved');
      this.setStage(rec, 'submitted');
      o.logger.info('submitted', t('sent to KATA'), { file: rec.name, scanId, size: rec.size, sha256, durationMs: Date.now() - started });
    } catch (err) {
      if (entry) {
        j.done(scanId, 'interrupted');
        // Only a request KATA may have accepted can leave a result behind.
        if (definitelyRefused(err)) j.cleared(scanId);
      }
      if (rec.scanId === scanId) rec.scanId = undefined;
      this.uploadFailed(rec, err);
    } finally {
      this.uploads--;
      if (rec.abort === abort) rec.abort = undefined;
    }
  }

  private uploadFailed(rec: Rec, err: unknown): void {
    const o = this.o;
    const kind = errKind(err);
    const code = (err as NodeJS.ErrnoException).code;
    if (this.records.get(rec.name) !== rec) return;
    if (kind === 'aborted' || kind === 'changed' || abortedByUs(err, rec)) {
      if (rec.stage === 'uploading') this.requeue(rec);
      return;
    }
    if (code === 'ENOENT') return; // the next rescan removes it
    if (code === 'EACCES' || code === 'EPERM' || code === 'EISDIR') {
      const version = `${rec.size}:${rec.mtimeMs}:${rec.ino}`;
      if (rec.loggedVersion !== version) o.logger.warn('unreadable', t('cannot read the file ({0}); it stays in input and is retried', code ?? ''), { file: rec.name });
      rec.loggedVersion = version;
      rec.nextAttemptAt = Date.now() + 60_000;
      this.setStage(rec, 'unreadable', code);
      return;
    }
    if (kind === 'too-large') {
      o.logger.info('too-large', t('KATA refused the file as too large (413); it stays in input untouched'), { file: rec.name, size: rec.size });
      rec.loggedVersion = `${rec.size}:${rec.mtimeMs}:${rec.ino}`;
      this.setStage(rec, 'too-large', '413');
      return;
    }
    rec.attempts++;
    const now = Date.now();
    if (kind === 'unauthorized' || kind === 'forbidden') {
      this.setApproval(kind === 'unauthorized' ? 'pending' : 'rejected');
      this.failureStreak++;
      this.pausedUntil = now + backoffDelay(this.failureStreak, this.retryBaseMs, Math.min(this.retryMaxMs, 60_000));
      rec.nextAttemptAt = this.pausedUntil;
      this.setStage(rec, 'awaiting-approval', String(statusOf(err) ?? kind));
      this.logApproval();
      return;
    }
    const retryAfter = (err as { retryAfterMs?: number }).retryAfterMs;
    this.failureStreak++;
    const delay = retryAfter && retryAfter > 0 ? Math.min(retryAfter, this.retryMaxMs) : backoffDelay(this.failureStreak, this.retryBaseMs, this.retryMaxMs);
    // 429 and transport failures concern KATA as a whole, not this file: hold every upload.
    this.pausedUntil = Math.max(this.pausedUntil, now + delay);
    rec.nextAttemptAt = now + Math.max(delay, backoffDelay(rec.attempts, this.retryBaseMs, this.retryMaxMs));
    this.setStage(rec, 'retrying', kind ?? code ?? 'error');
    this.logLimited(`upload-${kind}`, 'warn', 'upload-failed', t('upload failed ({0}): {1}; the file stays in input and is retried', kind ?? code ?? 'error', (err as Error).message), {
      file: rec.name,
      retryInMs: delay,
    });
  }

  private requeue(rec: Rec): void {
    if (this.records.get(rec.name) === rec && rec.stage === 'uploading') this.setStage(rec, 'settling');
  }

  private logApproval(): void {
    const now = Date.now();
    if (now - (this.lastLog.get('approval') ?? 0) < approvalLogEveryMs) return;
    this.lastLog.set('approval', now);
    const o = this.o;
    const msg =
      this.approval === 'rejected'
        ? t('KATA rejected this external system (403): in the KATA web console, External systems, accept system_id {0} with certificate SHA-256 {1}', o.systemId, o.fingerprint256)
        : t('KATA has not approved this external system yet (401): in the KATA web console, External systems, accept system_id {0} with certificate SHA-256 {1}', o.systemId, o.fingerprint256);
    o.logger.warn('awaiting-approval', msg, {
      system_id: o.systemId,
      fingerprint256: o.fingerprint256,
    });
  }

  private setApproval(state: ApprovalState): void {
    if (this.approval === state) return;
    const before = this.approval;
    this.approval = state;
    if (state === 'pending' || state === 'rejected') {
      // A new state is news (pending → rejected, say): the next warning is not held back by the last one.
      this.lastLog.delete('approval');
      for (const rec of this.records.values()) if (rec.stage === 'queued') this.setStage(rec, 'awaiting-approval');
    }
    if (state === 'approved' && (before === 'pending' || before === 'rejected')) {
      this.o.logger.info('approved', t('KATA accepts this external system now'));
      this.failureStreak = 0;
      this.pausedUntil = 0;
      for (const rec of this.records.values()) {
        if (rec.stage !== 'awaiting-approval' || rec.scanId) continue;
        rec.nextAttemptAt = undefined;
        this.setStage(rec, 'queued');
      }
    }
    this.emit({ type: 'approval', state, systemId: this.o.systemId, fingerprint256: this.o.fingerprint256 });
  }

  private async refreshFilters(): Promise<void> {
    try {
      const f = await this.o.api.filters();
      this.setApproval('approved');
      if (f.maxObjectSize && f.maxObjectSize > 0 && f.maxObjectSize < this.effectiveMax) {
        this.effectiveMax = f.maxObjectSize;
        this.o.logger.info('limits', t('KATA accepts objects up to {0} bytes', f.maxObjectSize), { version: f.version });
        for (const rec of this.records.values()) if (rec.stage === 'queued') this.classify(rec);
      }
    } catch (err) {
      const kind = errKind(err);
      if (kind === 'unauthorized' || kind === 'forbidden') {
        this.setApproval(kind === 'unauthorized' ? 'pending' : 'rejected');
        this.logApproval();
      } else this.o.logger.debug('limits', t("could not read KATA's limits: {0}", (err as Error).message));
    }
  }

  // ---------------------------------------------------------------- verdicts

  private async poll(): Promise<void> {
    if (!this.running || this.polling) return;
    const j = this.journal!;
    const live = j.live();
    const waiting = live.filter((e) => e.submittedAt && !e.outcome && !e.state);
    const strays = live.filter((e) => (e.outcome || e.state) && !e.resultCleared);
    if (waiting.length === 0 && strays.length === 0) return;
    this.polling = true;
    try {
      let results: Array<{ scanId: string; state: string }> = [];
      try {
        results = await this.o.api.states();
        if (waiting.length) this.setApproval('approved');
      } catch (err) {
        const kind = errKind(err);
        if (kind === 'unauthorized' || kind === 'forbidden') {
          this.setApproval(kind === 'unauthorized' ? 'pending' : 'rejected');
          this.logApproval();
        } else this.logLimited(`poll-${kind}`, 'warn', 'poll-failed', t('could not read scan results ({0}): {1}; will retry', kind ?? 'error', (err as Error).message));
      }
      const now = Date.now();
      for (const r of results) {
        const e = j.get(r.scanId);
        if (!e) continue; // not ours: another instance may share this system_id
        if (e.outcome || e.state) {
          if (!e.resultCleared) void this.clearResult(e.scanId);
          continue;
        }
        if (!e.submittedAt) continue;
        if (r.state.trim().toLowerCase() === 'processing') continue;
        this.verdictFor(e, r.state);
      }
      for (const e of waiting) {
        if (!e.state && !e.outcome && now - e.submittedAt! > this.o.scanTimeoutMs) {
          this.o.logger.warn('scan-timeout', t('no verdict within {0} s; the file goes to quarantine', Math.round(this.o.scanTimeoutMs / 1000)), { file: e.name, scanId: e.scanId });
          this.verdictFor(e, 'kds-timeout');
        }
      }
      for (const e of live) {
        // A scan whose file never came back (deleted while the service was down) cannot be delivered.
        if (!e.outcome && !this.records.has(e.name) && now - e.intentAt > missingForgetMs) this.abandon(e, t('gone from input for 24 hours'));
      }
      for (const e of strays) {
        // A result we wait for forever would keep the journal entry alive: give up after the scan timeout.
        if (!e.resultCleared && now - e.intentAt > this.o.scanTimeoutMs) j.cleared(e.scanId);
      }
    } finally {
      this.polling = false;
    }
  }

  private verdictFor(e: ScanEntry, rawState: string): void {
    const verdict = rawState === 'kds-timeout' ? 'timeout' : verdictOf(rawState);
    const destination = destinationOf(verdict);
    this.journal!.verdict(e.scanId, rawState, destination);
    const rec = this.records.get(e.name);
    this.o.logger.info('verdict', destination === 'out' ? t('{0} → output', verdict) : t('{0} → quarantine', verdict), {
      file: e.name,
      scanId: e.scanId,
      state: rawState,
      size: e.size,
      sha256: e.sha256,
      durationMs: Date.now() - (e.submittedAt ?? e.intentAt),
    });
    void this.clearResult(e.scanId);
    if (rec && rec.scanId === e.scanId && rec.stage !== 'missing') {
      this.setStage(rec, 'routing');
      void this.route(e);
    }
  }

  private async clearResult(scanId: string): Promise<void> {
    if (this.clearing.has(scanId)) return;
    this.clearing.add(scanId);
    try {
      await this.o.api.deleteResult(scanId);
      this.journal?.cleared(scanId);
    } catch (err) {
      this.o.logger.debug('delete-failed', t('could not delete the result at KATA: {0}; will retry', (err as Error).message), { scanId });
    } finally {
      this.clearing.delete(scanId);
    }
  }

  private abandon(e: ScanEntry, why: string): void {
    this.journal!.done(e.scanId, 'abandoned');
    this.o.logger.info('abandoned', why, { file: e.name, scanId: e.scanId });
    void this.clearResult(e.scanId);
  }

  // ---------------------------------------------------------------- delivery

  private async route(e: ScanEntry): Promise<void> {
    if (this.routing.has(e.scanId) || !this.running) return;
    this.routing.add(e.scanId);
    const o = this.o;
    const j = this.journal!;
    const rec = this.records.get(e.name);
    const source = join(o.inDir, e.name);
    const destDir = e.destination === 'out' ? o.outDir : o.qrntDir;
    const folder: Destination = e.destination ?? 'qrnt';
    try {
      let st: Stats | undefined;
      try {
        st = await lstat(source);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (!st || !sameVersion(e, st)) {
        if (e.placedPath) {
          // Delivered before a crash; what is in input now is something else (or nothing).
          j.done(e.scanId, 'routed');
          o.logger.info('recovered', t('delivered before an interruption; finished'), { file: e.name, scanId: e.scanId, path: e.placedPath });
        } else if (st) {
          this.abandon(e, t('file changed after it was scanned; it will be submitted again'));
        } else if (rec) this.setStage(rec, 'missing', 'no longer in input');
        return;
      }
      const problem = await this.folderProblem(destDir);
      if (problem !== undefined) {
        this.setFolder(folder, destDir, problem);
        if (rec) this.routeLater(rec, problem);
        return;
      }
      let path = e.placedPath;
      if (!path) {
        const res = await deliver({ source, destDir, name: e.name, expectedSha256: e.sha256, tag: e.scanId });
        if (!res.ok) {
          if (res.reason === 'missing') {
            if (rec) this.setStage(rec, 'missing', 'no longer in input');
          } else this.abandon(e, res.reason === 'changed' ? t('file content changed after it was scanned; it will be submitted again') : t('file is no longer a regular file; it will be submitted again when it is one'));
          return;
        }
        path = res.path;
        j.placed(e.scanId, path);
      }
      await removeSource(source);
      j.done(e.scanId, 'routed');
      this.setFolder(folder, destDir, undefined);
      if (rec && this.records.get(e.name) === rec) this.forget(e.name);
      const verdict = e.state === 'kds-timeout' ? 'timeout' : verdictOf(e.state ?? '');
      o.logger.info('routed', folder === 'out' ? t('moved to output') : t('moved to quarantine'), {
        file: e.name,
        scanId: e.scanId,
        state: e.state,
        size: e.size,
        sha256: e.sha256,
        durationMs: Date.now() - e.intentAt,
      });
      this.emit({
        type: 'routed',
        file: {
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
    } catch (err) {
      this.setFolder(folder, destDir, errText(err));
      if (rec) this.routeLater(rec, errText(err));
    } finally {
      this.routing.delete(e.scanId);
    }
  }

  private routeLater(rec: Rec, why: string): void {
    rec.attempts++;
    rec.nextAttemptAt = Date.now() + backoffDelay(rec.attempts, this.retryBaseMs, this.retryMaxMs);
    this.setStage(rec, 'retrying', why);
    const scanId = rec.scanId;
    const t = setTimeout(() => {
      this.timers = this.timers.filter((x) => x !== t);
      const e = scanId ? this.journal?.get(scanId) : undefined;
      if (this.running && e && e.state && !e.outcome && this.records.get(rec.name) === rec) {
        this.setStage(rec, 'routing');
        void this.route(e);
      }
    }, rec.nextAttemptAt - Date.now());
    this.timers.push(t);
  }

  // ---------------------------------------------------------------- helpers

  private async folderProblem(dir: string): Promise<string | undefined> {
    if (this.o.folderGuard) {
      const p = await this.o.folderGuard(dir);
      if (p !== undefined) return p;
    }
    try {
      const st = await lstat(dir);
      if (!st.isDirectory()) return 'not a folder';
    } catch (err) {
      return errText(err);
    }
    return undefined;
  }

  private setFolder(folder: 'in' | 'out' | 'qrnt', path: string, problem: string | undefined): void {
    const before = this.folderState.has(folder) ? this.folderState.get(folder) : null;
    if (before === problem) return;
    this.folderState.set(folder, problem);
    if (problem !== undefined) this.o.logger.warn('folder-unavailable', t('{0} folder is unavailable ({1}); waiting for it, nothing is moved meanwhile', folder, problem), { path });
    else if (before !== null && before !== undefined) this.o.logger.info('folder-available', t('{0} folder is available again', folder), { path });
    this.emit({ type: 'folder', folder, available: problem === undefined, path, ...(problem !== undefined ? { reason: problem } : {}) });
  }

  private setStage(rec: Rec, stage: FileStage, reason?: string): void {
    rec.stage = stage;
    rec.reason = reason;
    this.emit({ type: 'file', file: publicView(rec) });
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
    this.timers.push(
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
  const { ino: _ino, stableSince: _s, loggedVersion: _l, abort: _a, ...view } = rec;
  return { ...view };
}

function sameVersion(e: { size: number; mtimeMs: number; ino: number }, st: Stats): boolean {
  return st.isFile() && st.size === e.size && st.mtimeMs === e.mtimeMs && st.ino === e.ino;
}

function errKind(err: unknown): string | undefined {
  return (err as { kind?: string })?.kind;
}

function statusOf(err: unknown): number | undefined {
  return (err as { status?: number })?.status;
}

/** KATA answered and did not take the object, so no result can appear for this scanId. */
function definitelyRefused(err: unknown): boolean {
  const kind = errKind(err);
  return ['unauthorized', 'forbidden', 'too-large', 'busy', 'bad-request', 'tls', 'changed'].includes(kind ?? '');
}

function abortedByUs(err: unknown, rec: Rec): boolean {
  return (err as Error)?.name === 'AbortError' || (rec.abort?.signal.aborted ?? false);
}

function errText(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);
}

async function assertReadable(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  await fh.close();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
