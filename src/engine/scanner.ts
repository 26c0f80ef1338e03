import { randomUUID } from 'node:crypto';
import { type Stats, type FSWatcher, watch } from 'node:fs';
import { type FileHandle, lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import { nameProblem, nameProblemText, openNoFollow } from '../common/platform';
import { isKataError } from '../kata/errors';
import type { ScannerApi } from '../kata/scannerApi';
import { ApprovalTracker } from './approval';
import { backoffDelay } from './backoff';
import { CircuitBreaker } from './circuitBreaker';
import { DeliveryError, deliver, removePartials } from './delivery';
import { DestinationPauses, attributeDestinationError } from './destinationHealth';
import { portableName } from './destinationNames';
import { DirSyncer } from './dirSync';
import {
  type ApprovalState,
  type EngineEvent,
  type FileRecord,
  type FileStage,
  type IgnoredKind,
  canMoveStage,
  destinationOf,
  verdictOf,
} from './events';
import { type FileVersion, sameVersion } from './fileVersion';
import { type Destination, Journal, type ScanEntry } from './journal';
import { readInputNames, statsKind } from './inputListing';
import { asideName, isReservedInputName, removeAside, removeLeftoverAsides, returnAside, takeAside } from './sourceRemoval';
import { DirectoryLockedError, lockDirectory } from '../common/dirLock';

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
  /**
   * Input's file times come from this machine's clock (a local file system): a file whose status
   * last changed at least stable_ms ago has already been stable that long, so it skips the wait.
   * Not on a share, whose server's clock may be behind ours.
   */
  inputClockIsOurs?: boolean;
  /** Called after a rescan that listed many files (the service frees the burst's garbage then). */
  afterBurst?: () => void;
  folderGuard?: FolderGuard;
  /** Input's file system has stable file ids (see sameVersion); true unless told otherwise. */
  inputFileIds?: boolean;
  /** Destinations whose names follow Windows' rules (an SMB share): see destinationNames.ts. */
  portableNames?: Partial<Record<Destination, boolean>>;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long stop() waits for uploads and deliveries in progress before aborting them. */
  stopGraceMs?: number;
}

/**
 * What the engine keeps per file in input: plain values only (no timers, closures, handles or
 * per-file log text), so 100 000 waiting files cost a few hundred bytes each. Timing is done by a
 * handful of engine-wide queues and timers; a file is open only while it is uploaded or copied.
 */
interface Rec extends FileRecord {
  ino: number;
  dev: number;
  stableSince: number;
  /** One-time messages (excluded, too large, unreadable) were logged for this version. */
  logged: boolean;
  /** In uploadQueue (not yet taken). */
  inQueue: boolean;
  /** The rescan generation that last saw it in input. */
  seen: number;
  /** Another file came under this name while this one's delivery was under way: look again after it. */
  newerSeen?: boolean;
}

type Listener = (event: EngineEvent) => void;

const filtersRefreshMs = 10 * 60_000;
const missingForgetMs = 24 * 3_600_000;
/** With this many scans outstanding, verdicts are polled more often than poll_interval_s. */
const earlyPollOutstanding = 32;
const earlyPollMs = 250;
/**
 * Deliveries (copy, fsync, rename, journal, unlink) running at once, by weight: a small file
 * counts 1, a large one 8, so 64 small ones overlap (each mostly waits for grouped fsyncs, and
 * the more wait together the fewer fsyncs there are) while large copies stay at 8 × 1 MiB buffers.
 */
const deliveryBudget = 64;
const largeDeliveryBytes = 1 << 20;
const largeDeliveryWeight = 8;
/** DELETEs of results at KATA running at once. */
const maxDeletes = 8;
/**
 * With change events, a rescan stats only new and changed names, plus a rolling slice of the
 * others sized so that each is looked at once in this time: no burst of 100 000 stats at once.
 */
const fullRestatMs = 5 * 60_000;
/** The longest time between two listings of input while change events work. */
const fullListMaxMs = 60_000;
/** A listing of at least this many files counts as a burst (see EngineOptions.afterBurst). */
const burstFiles = 10_000;

/**
 * The directory-scanning service: one state machine per file (stages and their allowed moves are
 * the table in events.ts), driven by events and completions rather than a clock: a file found by
 * a change event or a rescan settles for stable_ms, is opened once and checked, uploaded from
 * that handle, its verdict polled, then delivered from the same handle to output or quarantine.
 * Uploads, polls and deliveries run side by side; every step is journaled (group-committed)
 * before it is acted on, so a crash at any point loses nothing.
 */
export class ScannerEngine {
  private readonly records = new Map<string, Rec>();
  private readonly ignoredLogged = new Map<string, IgnoredKind>();
  private readonly listeners = new Set<Listener>();
  private readonly uploadAborts = new Map<string, AbortController>();
  private readonly routing = new Set<string>();
  private readonly clearing = new Set<string>();
  private readonly lastLog = new Map<string, number>();
  private readonly approval: ApprovalTracker;
  private readonly breaker: CircuitBreaker;
  private readonly dirSync = new DirSyncer();
  private readonly destinationPauses: DestinationPauses<Destination>;
  /** Scans whose file is under its aside name in input (see sourceRemoval.ts). */
  private readonly asides = new Set<string>();
  /** Deliveries to retry that have no file record (found aside at start): scanId → when, and failures so far. */
  private readonly routeRetries = new Map<string, { at: number; attempts: number }>();
  private journal?: Journal;
  private unlock?: () => Promise<void>;
  private watcher?: FSWatcher;
  private running = false;
  private uploads = 0;
  private effectiveMax: number;
  private folderState = new Map<string, string | undefined>();
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;

  // Work queues: FIFO arrays with a head index; entries are checked when taken (lazy removal).
  private settleQueue: Rec[] = [];
  private settleDueAt: number[] = [];
  private settleHead = 0;
  private uploadQueue: Rec[] = [];
  private uploadHead = 0;
  private routeQueue: ScanEntry[] = [];
  private readonly routeQueued = new Set<string>();
  /** Files in `submitted` (waiting for a verdict). */
  private outstanding = 0;
  private deleteQueue: string[] = [];
  /** Uploads opened and journaled, waiting for a request slot (see postSlot). */
  private preparing = 0;
  private readonly postWaiters: Array<(granted: boolean) => void> = [];
  /** Weight of the deliveries running (see deliveryBudget). */
  private deliveryLoad = 0;
  private deletes = 0;
  /** Records with a nextAttemptAt: retries of uploads and deliveries, unreadable files. */
  private readonly waiting = new Set<Rec>();

  // Engine-wide timers, each armed for the earliest thing it waits for.
  private settleTimer?: NodeJS.Timeout;
  private wakeTimer?: NodeJS.Timeout;
  private wakeAt = 0;
  private pollTimer?: NodeJS.Timeout;
  private pollAt = 0;
  private rescanTimer?: NodeJS.Timeout;
  private changeTimer?: NodeJS.Timeout;
  private readonly intervals: NodeJS.Timeout[] = [];

  private rescanning?: Promise<void>;
  private rescanAgain = false;
  private generation = 0;
  private lastFullStat = 0;
  private restatCursor?: Iterator<string>;
  /** Input's own times just before the last listing (see inputUnchangedSinceListing). */
  private listedFolder?: { mtimeMs: number; ctimeMs: number; ino: number; dev: number; at: number };
  private lastList = 0;
  /** Names a change event mentioned since the last rescan. */
  private changed = new Set<string>();
  private polling = false;
  private pollFailures = 0;

  constructor(private readonly o: EngineOptions) {
    this.effectiveMax = o.maxFileSizeBytes;
    this.retryBaseMs = o.retryBaseMs ?? 1000;
    this.retryMaxMs = o.retryMaxMs ?? 5 * 60_000;
    this.approval = new ApprovalTracker({
      logger: o.logger,
      systemId: o.systemId,
      fingerprint256: o.fingerprint256,
      retryBaseMs: this.retryBaseMs,
      retryMaxMs: this.retryMaxMs,
      onChange: (before, after) => this.approvalChanged(before, after),
    });
    this.destinationPauses = new DestinationPauses(this.retryBaseMs, Math.min(this.retryMaxMs, 60_000));
    this.breaker = new CircuitBreaker({ windowMs: 30_000, windowSize: 40, minSamples: 10, openRatio: 0.8, baseMs: this.retryBaseMs, maxMs: Math.min(this.retryMaxMs, 60_000) });
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): { running: boolean; approval: ApprovalState; files: FileRecord[]; identity: { systemId: string; fingerprint256: string } } {
    return {
      running: this.running,
      approval: this.approval.state,
      files: [...this.records.values()].map(publicView),
      identity: { systemId: this.o.systemId, fingerprint256: this.o.fingerprint256 },
    };
  }

  get approvalState(): ApprovalState {
    return this.approval.state;
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
    await this.recoverJournal();
    this.running = true;
    this.emit({ type: 'running', running: true });
    await this.recoverAsides();
    for (const left of await removeLeftoverAsides(o.inDir, this.journal.finished(), { fileIds: o.inputFileIds !== false })) {
      o.logger.info(
        'recovered',
        left.kind === 'removed'
          ? t('a file already delivered was still in input under its set-aside name (a power cut undid its removal); removed')
          : t('a set-aside name of a finished delivery holds other bytes; they are back in input as a new file'),
        { file: left.name, scanId: left.scanId },
      );
    }
    // A delivery cut between removing the source and journaling "done" never shows up in input
    // again, so no rescan would finish it: finish those now (route() sees the source is gone).
    for (const e of this.journal.live()) if (e.placedPath && !e.outcome) this.enqueueRoute(e);
    o.logger.info('started', t('scanning'), {
      in_dir: o.inDir,
      out_dir: o.outDir,
      qrnt_dir: o.qrntDir,
      mode: o.useEvents ? 'events+rescan' : 'polling',
      poll_interval_ms: o.pollIntervalMs,
    });
    if (o.useEvents) this.startWatcher();
    void this.refreshFilters();
    await this.rescan();
    this.schedulePoll(o.pollIntervalMs);
    this.every(o.pollIntervalMs, () => void this.rescan());
    this.every(filtersRefreshMs, () => void this.refreshFilters());
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const i of this.intervals) clearInterval(i);
    this.intervals.length = 0;
    for (const tm of [this.settleTimer, this.wakeTimer, this.pollTimer, this.rescanTimer, this.changeTimer]) if (tm) clearTimeout(tm);
    this.closeWatcher();
    const busy = () => this.uploads > 0 || this.preparing > 0 || this.routing.size > 0 || this.deletes > 0 || this.rescanning !== undefined || this.polling;
    const deadline = Date.now() + (this.o.stopGraceMs ?? 5000);
    while (busy() && Date.now() < deadline) await sleep(20);
    for (const a of this.uploadAborts.values()) a.abort();
    while (busy() && Date.now() < deadline + 2000) await sleep(20);
    // A rescan that was running when stop began may have started a watcher after the close above;
    // left open, it would hold the input folder (on Windows nobody could remove or rename it).
    this.closeWatcher();
    await this.journal?.flushed().catch(() => undefined);
    this.journal?.close();
    await this.unlock?.();
    this.o.logger.info('stopped', t('scanning stopped'));
    this.emit({ type: 'running', running: false });
  }

  private closeWatcher(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Forces a rescan now (e.g. after the user dropped files, or from the Rescan command). */
  requestRescan(): void {
    void this.rescan(true);
  }

  // ---------------------------------------------------------------- recovery

  private async recoverJournal(): Promise<void> {
    const j = this.journal!;
    let interrupted = 0;
    for (const e of j.live()) {
      if (e.outcome || e.submittedAt) continue;
      // Cut between intent and KATA's answer: KATA may or may not have it. Upload again under a
      // new scanId; the old one is deleted if a result for it ever shows up.
      void j.done(e.scanId, 'interrupted');
      interrupted++;
      if (interrupted <= 20) this.o.logger.info('recovered', t('upload was interrupted; the file will be submitted again'), { file: e.name, scanId: e.scanId });
    }
    await j.flushed();
  }

  /**
   * Deliveries cut after their file was renamed aside: the aside file is in input under a name
   * intake ignores, so no rescan would find it. Each goes on from where it was (the journal says
   * whether its copy was placed).
   */
  private async recoverAsides(): Promise<void> {
    for (const e of this.journal!.live()) {
      if (!e.state || e.outcome || this.asides.has(e.scanId) || this.routing.has(e.scanId)) continue;
      const there = await lstat(join(this.o.inDir, asideName(e.scanId))).then(
        () => true,
        () => false,
      );
      if (!there) continue;
      this.asides.add(e.scanId);
      this.enqueueRoute(e);
    }
  }

  // ---------------------------------------------------------------- intake

  /**
   * One inotify watch on the input folder (not one per file): each event names the entry that
   * changed, so a rescan stats only those. Events are a hint; periodic rescans catch what they miss.
   */
  private startWatcher(): void {
    try {
      const w = watch(this.o.inDir, { persistent: false, encoding: 'utf8' }, (_type, name) => {
        if (name && isReservedInputName(name)) return;
        if (name) this.changed.add(name);
        else {
          this.lastFullStat = 0;
          this.lastList = 0;
        }
        if (!this.changeTimer) {
          this.changeTimer = setTimeout(() => {
            this.changeTimer = undefined;
            void this.rescan();
          }, 20);
        }
      });
      w.on('error', (err) => {
        this.o.logger.debug('watch-error', String(err));
        w.close();
        if (this.watcher === w) this.watcher = undefined;
        this.lastFullStat = 0;
        this.lastList = 0;
      });
      this.watcher = w;
    } catch (err) {
      this.o.logger.warn('watch-error', t('change events unavailable, relying on rescans: {0}', String(err)));
    }
  }

  private rescan(full = false): Promise<void> {
    if (!this.running) return Promise.resolve();
    if (full) {
      this.lastFullStat = 0;
      this.lastList = 0;
    }
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
        if (['excluded', 'queued', 'retrying', 'awaiting-approval', 'too-large'].includes(rec.stage) && !rec.scanId) this.classify(rec);
      }
    }
    if (this.watcher) this.addRestatSlice();
    const unusable = await this.folderProblem(o.inDir);
    if (unusable !== undefined) {
      this.setFolder('in', o.inDir, unusable);
      return;
    }
    const watching = this.watcher && this.folderState.has('in') && this.folderState.get('in') === undefined;
    if (watching && (Date.now() - this.lastList < this.listEveryMs() || (this.lastList !== 0 && (await this.inputUnchangedSinceListing())))) {
      await this.rescanChanged();
      this.pump();
      return;
    }
    this.lastList = Date.now();
    this.listedFolder = await stat(o.inDir).then(
      (st) => ({ mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev, at: this.lastList }),
      () => undefined,
    );
    let listing;
    try {
      listing = await readInputNames(o.inDir);
    } catch (err) {
      this.setFolder('in', o.inDir, errText(err));
      return;
    }
    const wasDown = this.folderState.get('in') !== undefined;
    this.setFolder('in', o.inDir, undefined);
    if (wasDown) {
      // The folder may be another one now (renamed back, share remounted): watch it afresh, stat all.
      this.watcher?.close();
      this.watcher = undefined;
      this.lastFullStat = 0;
      // Files set aside before an interruption, when the start could not look (the share was down).
      void this.recoverAsides();
    }
    if (o.useEvents && !this.watcher && this.running) {
      this.startWatcher();
      this.lastFullStat = 0;
    }
    const now = Date.now();
    // Without change events every name is stat'ed each time; with them only new and changed ones.
    const statAll = !this.watcher || this.lastFullStat === 0;
    if (statAll) this.lastFullStat = now;
    const changed = this.changed;
    this.changed = new Set();
    const gen = ++this.generation;

    const ignoredNow = new Set<string>();
    for (const ig of listing.ignored) {
      ignoredNow.add(ig.name);
      this.ignore(ig.name, ig.kind);
    }
    const toStat: string[] = [];
    for (const name of listing.candidates) {
      const rec = this.records.get(name);
      if (rec && !statAll && !changed.has(name) && rec.stage !== 'missing') rec.seen = gen;
      else toStat.push(name);
    }
    for (let i = 0; i < toStat.length; i += 64) {
      const batch = toStat.slice(i, i + 64);
      const stats = await Promise.all(batch.map((name) => lstat(join(o.inDir, name)).catch(() => undefined)));
      for (let k = 0; k < batch.length; k++) {
        const name = batch[k]!;
        const st = stats[k];
        if (!st) continue; // vanished between readdir and lstat
        const kind = statsKind(st);
        if (kind) {
          ignoredNow.add(name);
          this.ignore(name, kind, st.nlink);
          continue;
        }
        this.observe(name, st, gen);
      }
    }
    for (const name of [...this.ignoredLogged.keys()]) if (!ignoredNow.has(name)) this.ignoredLogged.delete(name);
    for (const rec of this.records.values()) if (rec.seen !== gen) this.gone(rec.name);
    this.pump();
    // Once this rescan's locals are gone: what they held is what the callback frees.
    if (listing.candidates.length >= burstFiles && this.o.afterBurst) setTimeout(this.o.afterBurst, 0);
  }

  /**
   * No name was added, removed or renamed in input since the last listing: its folder's times
   * are those seen just before it, and they were already a second old then (file times are
   * coarse, so a change in the same tick as that look would not show). The periodic listing is
   * a safety net under change events; this spares a folder of 100 000 waiting files from being
   * read again and again for nothing.
   */
  private async inputUnchangedSinceListing(): Promise<boolean> {
    const before = this.listedFolder;
    if (!before || before.at - Math.max(before.mtimeMs, before.ctimeMs) < 1000) return false;
    const st = await stat(this.o.inDir).catch(() => undefined);
    if (!st || st.mtimeMs !== before.mtimeMs || st.ctimeMs !== before.ctimeMs || st.ino !== before.ino || st.dev !== before.dev) return false;
    this.lastList = Date.now();
    return true;
  }

  /** Queues the next few known names for an lstat (see fullRestatMs). */
  private addRestatSlice(): void {
    let n = Math.ceil((this.records.size * this.o.pollIntervalMs) / fullRestatMs);
    while (n > 0 && this.records.size > 0) {
      this.restatCursor ??= this.records.keys();
      const next = this.restatCursor.next();
      if (next.done) {
        this.restatCursor = undefined;
        continue;
      }
      this.changed.add(next.value);
      n--;
    }
  }

  /**
   * With change events, a folder of many files is listed only now and then (a listing of 100 000
   * names is 100 ms of CPU and tens of MB of garbage); in between, only the names events reported
   * are looked at. Small folders are listed at every rescan, as without events.
   */
  private listEveryMs(): number {
    return Math.min(fullListMaxMs, this.o.pollIntervalMs * Math.max(1, Math.floor(this.records.size / 1000)));
  }

  private async rescanChanged(): Promise<void> {
    const names = [...this.changed];
    this.changed = new Set();
    for (let i = 0; i < names.length; i += 64) {
      const batch = names.slice(i, i + 64);
      const stats = await Promise.all(batch.map((name) => lstat(join(this.o.inDir, name)).catch(() => undefined)));
      for (let k = 0; k < batch.length; k++) {
        const name = batch[k]!;
        const st = stats[k];
        if (name.includes('/') || isReservedInputName(name)) continue;
        if (st && nameProblem(name)) {
          this.ignore(name, 'forbidden-name');
          continue;
        }
        if (!st) {
          this.ignoredLogged.delete(name);
          if (this.records.has(name)) this.gone(name);
          continue;
        }
        const kind = statsKind(st);
        if (kind) this.ignore(name, kind, st.nlink);
        else {
          this.ignoredLogged.delete(name);
          this.observe(name, st, this.generation);
        }
      }
    }
  }

  private ignore(name: string, kind: IgnoredKind, nlink?: number): void {
    if (this.ignoredLogged.get(name) !== kind) {
      this.ignoredLogged.set(name, kind);
      if (kind === 'hard-link')
        this.o.logger.warn('ignored', t('the file has {0} hard links; a file with other names elsewhere is never scanned or moved, and stays in input', nlink ?? 2), { file: name });
      else if (kind === 'forbidden-name')
        this.o.logger.warn('ignored', t('{0}; the file is never scanned or moved, and stays in input until it is renamed', nameProblemText(nameProblem(name) ?? 'forbidden-character')), { file: name });
      else this.o.logger.info('ignored', t('not a regular file in input ({0}); it is never scanned', kind), { file: name });
      this.emit({ type: 'ignored', name, kind });
    }
    if (this.records.has(name)) this.gone(name, true);
  }

  private observe(name: string, st: Stats, gen: number): void {
    const now = Date.now();
    let rec = this.records.get(name);
    if (!rec) {
      const e = this.journal!.activeFor(name);
      const known = e !== undefined && this.sameVersion(e, st);
      rec = {
        name,
        size: st.size,
        mtimeMs: st.mtimeMs,
        ino: st.ino,
        dev: st.dev,
        stage: known ? (e.state ? 'routing' : 'submitted') : 'settling',
        firstSeen: now,
        changedAt: now,
        stableSince: now,
        attempts: 0,
        logged: false,
        inQueue: false,
        seen: gen,
      };
      this.records.set(name, rec);
      if (known) {
        rec.scanId = e.scanId;
        rec.sha256 = e.sha256;
        rec.submittedAt = e.submittedAt;
        if (rec.stage === 'submitted') this.outstanding++;
        this.emitFile(rec);
        if (e.state) this.enqueueRoute(e);
        return;
      }
      // Not while that scan's file is being delivered from its aside name: this is another file.
      if (e && !this.routing.has(e.scanId) && !this.asides.has(e.scanId)) this.abandon(e, t('file changed while KATA was scanning it'));
      // ctime, not mtime: a copy tool may set an old mtime first and write afterwards; any write,
      // rename or metadata change moves ctime to now, and nobody can set it back.
      if (this.o.inputClockIsOurs && now - st.ctimeMs >= this.o.stableMs && now - st.mtimeMs >= this.o.stableMs) {
        this.classify(rec);
        return;
      }
      this.emitFile(rec);
      this.settle(rec);
      return;
    }
    rec.seen = gen;
    if (this.sameVersion(rec, st)) {
      if (rec.stage === 'missing') {
        const e = rec.scanId ? this.journal!.get(rec.scanId) : undefined;
        if (e?.state) {
          this.setStage(rec, 'routing', 'back in input');
          this.enqueueRoute(e);
        } else this.setStage(rec, 'submitted', 'back in input');
      }
      return;
    }
    if (rec.scanId && (this.routing.has(rec.scanId) || this.asides.has(rec.scanId))) {
      // The scanned file is being moved out under its aside name; this one is looked at after that.
      rec.newerSeen = true;
      return;
    }
    this.newVersion(rec, st);
  }

  /** A new version: whatever KATA said about the old bytes does not apply to these. */
  private newVersion(rec: Rec, st: Stats): void {
    this.uploadAborts.get(rec.name)?.abort();
    if (rec.scanId) {
      const e = this.journal!.get(rec.scanId);
      if (e && !e.outcome) this.abandon(e, t('file changed after it was submitted; it will be submitted again'));
    }
    const now = Date.now();
    Object.assign(rec, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev, changedAt: now, attempts: 0, logged: false });
    rec.scanId = undefined;
    rec.sha256 = undefined;
    rec.submittedAt = undefined;
    rec.nextAttemptAt = undefined;
    this.waiting.delete(rec);
    this.settle(rec);
  }

  private gone(name: string, notRegular = false): void {
    const rec = this.records.get(name)!;
    const e = rec.scanId ? this.journal!.get(rec.scanId) : undefined;
    if (e && !e.outcome && (this.routing.has(e.scanId) || this.asides.has(e.scanId))) return;
    if (e && !e.outcome && !notRegular) {
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
    if (e && !e.outcome) this.abandon(e, t('file is no longer a regular file; it will be submitted again when it is one'));
    this.uploadAborts.get(name)?.abort();
    this.forget(name);
  }

  private forget(name: string): void {
    const rec = this.records.get(name);
    if (rec) this.waiting.delete(rec);
    if (rec?.stage === 'submitted') this.outstanding--;
    this.records.delete(name);
    this.emit({ type: 'file-removed', name });
  }

  // ---------------------------------------------------------------- settling

  /** (Re)starts the stable_ms wait. The queue is in due order: every push is due stable_ms from now. */
  private settle(rec: Rec): void {
    rec.stableSince = Date.now();
    this.setStage(rec, 'settling');
    this.settleQueue.push(rec);
    this.settleDueAt.push(rec.stableSince + this.o.stableMs);
    this.armSettle();
  }

  /** An entry is stale when its file left settling or was pushed again (changed) since. */
  private settleEntryLive(i: number): boolean {
    const rec = this.settleQueue[i]!;
    return rec.stage === 'settling' && this.records.get(rec.name) === rec && rec.stableSince + this.o.stableMs === this.settleDueAt[i];
  }

  private armSettle(): void {
    if (this.settleTimer || !this.running) return;
    while (this.settleHead < this.settleQueue.length && !this.settleEntryLive(this.settleHead)) this.settleHead++;
    if (this.settleHead > 1024 && this.settleHead * 2 > this.settleQueue.length) {
      this.settleQueue = this.settleQueue.slice(this.settleHead);
      this.settleDueAt = this.settleDueAt.slice(this.settleHead);
      this.settleHead = 0;
    }
    if (this.settleHead >= this.settleQueue.length) {
      this.settleQueue = [];
      this.settleDueAt = [];
      this.settleHead = 0;
      return;
    }
    const delay = Math.max(0, this.settleDueAt[this.settleHead]! - Date.now());
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      void this.settleDue().catch((err) => this.o.logger.error('internal', String((err as Error)?.stack ?? err)));
    }, delay);
  }

  private async settleDue(): Promise<void> {
    if (!this.running) return;
    const now = Date.now();
    const due: Rec[] = [];
    while (this.settleHead < this.settleQueue.length && this.settleDueAt[this.settleHead]! <= now) {
      if (this.settleEntryLive(this.settleHead)) due.push(this.settleQueue[this.settleHead]!);
      this.settleHead++;
    }
    for (let i = 0; i < due.length; i += 64) {
      const batch = due.slice(i, i + 64);
      const stats = await Promise.all(batch.map((r) => lstat(join(this.o.inDir, r.name)).catch(() => undefined)));
      batch.forEach((rec, k) => this.checkStable(rec, stats[k]));
    }
    this.armSettle();
    this.pump();
  }

  private checkStable(rec: Rec, st: Stats | undefined): void {
    if (this.records.get(rec.name) !== rec || rec.stage !== 'settling') return;
    if (!st) {
      this.changed.add(rec.name); // the next rescan decides whether it is gone
      this.scheduleRescanSoon();
      return;
    }
    if (statsKind(st)) {
      this.changed.add(rec.name);
      this.scheduleRescanSoon();
      return;
    }
    if (!this.sameVersion(rec, st)) {
      Object.assign(rec, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev, changedAt: Date.now() });
      this.settle(rec);
      return;
    }
    this.classify(rec);
  }

  private scheduleRescanSoon(): void {
    if (this.changeTimer || !this.running) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = undefined;
      void this.rescan();
    }, 20);
  }

  /** Decides what a complete file is: excluded, too large, or ready to submit. */
  private classify(rec: Rec): void {
    const hit = this.o.excludes.matches(rec.name);
    if (hit) {
      if (!rec.logged || rec.stage !== 'excluded') this.o.logger.info('excluded', t('matches exclude list entry "{0}"; stays in input', hit.pattern), { file: rec.name, size: rec.size });
      rec.logged = true;
      this.setStage(rec, 'excluded', hit.pattern);
      return;
    }
    // KATA refused this very version with 413: re-evaluating (an exclude-list edit) must not upload it again.
    if (rec.stage === 'too-large' && rec.reason === '413' && rec.logged) return;
    if (rec.size > this.effectiveMax) {
      if (!rec.logged || rec.stage !== 'too-large')
        this.o.logger.info('too-large', t('larger than the {0} byte limit; stays in input untouched', this.effectiveMax), { file: rec.name, size: rec.size });
      rec.logged = true;
      this.setStage(rec, 'too-large', `limit ${this.effectiveMax}`);
      return;
    }
    this.waiting.delete(rec);
    rec.nextAttemptAt = undefined;
    this.ready(rec);
  }

  /** Puts a complete file in line for an upload (waiting for approval while KATA refuses us). */
  private ready(rec: Rec, reason?: string): void {
    this.setStage(rec, this.approval.refusing ? 'awaiting-approval' : 'queued', reason);
    if (!rec.inQueue) {
      rec.inQueue = true;
      this.uploadQueue.push(rec);
    }
  }

  // ---------------------------------------------------------------- uploads

  /** Starts as many uploads as slots allow; called whenever something may have freed one. */
  private pump(): void {
    if (!this.running) return;
    const now = Date.now();
    this.grantPosts(now);
    const allowed = this.approval.uploadSlots(this.o.maxInflight, now);
    // In normal operation as many files again are prepared ahead of a free slot; while KATA
    // refuses us or the breaker is open, not one more than may be sent.
    const ahead = allowed === this.o.maxInflight && !this.breaker.isOpen ? this.o.maxInflight : 0;
    let slots = allowed + ahead - this.uploads - this.preparing;
    while (slots > 0 && this.breaker.allows(now)) {
      const rec = this.nextUpload();
      if (!rec) break;
      this.breaker.started();
      void this.upload(rec);
      slots--;
    }
    if (this.approval.refusing && now < this.approval.probeAt && this.uploadHead < this.uploadQueue.length) this.wakeAtTime(this.approval.probeAt);
    if (this.breaker.isOpen && now < this.breaker.pausedUntil) this.wakeAtTime(this.breaker.pausedUntil);
  }

  private nextUpload(): Rec | undefined {
    while (this.uploadHead < this.uploadQueue.length) {
      const rec = this.uploadQueue[this.uploadHead++]!;
      rec.inQueue = false;
      if (this.records.get(rec.name) !== rec) continue;
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

  /**
   * Opens this version once (no symlink followed, no FIFO waited on) and checks the handle: a
   * regular file with one link, of exactly the settled device, inode, size and mtime. That handle
   * is what gets hashed and uploaded, and it is closed right after: SMB and Windows refuse to
   * rename or delete a file someone holds open, and the delivery checks the bytes again by hash.
   */
  private async openVersion(name: string, v: FileVersion): Promise<{ fh: FileHandle; st: Stats } | { problem: 'missing' | 'not-regular' | 'hard-link' | 'changed'; st?: Stats }> {
    let fh: FileHandle;
    try {
      fh = await openNoFollow(join(this.o.inDir, name));
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
    const problem = !st.isFile() ? 'not-regular' : st.nlink !== 1 ? 'hard-link' : !this.sameVersion(v, st) ? 'changed' : undefined;
    if (problem) {
      await fh.close().catch(() => undefined);
      return { problem, st };
    }
    return { fh, st };
  }

  /** Same version of a file in input (inode numbers count only where they identify files). */
  private sameVersion(v: FileVersion, st: Stats | Required<FileVersion>): boolean {
    return sameVersion(v, st, this.o.inputFileIds !== false);
  }

  private async upload(rec: Rec): Promise<void> {
    const o = this.o;
    const j = this.journal!;
    this.preparing++;
    let phase: 'preparing' | 'cancelled' | 'posting' | 'posted' = 'preparing';
    this.setStage(rec, 'uploading');
    const scanId = randomUUID();
    const abort = new AbortController();
    this.uploadAborts.set(rec.name, abort);
    const started = Date.now();
    let intent = false;
    let sent = false;
    let fh: FileHandle | undefined;
    try {
      const opened = await this.openVersion(rec.name, rec);
      if ('problem' in opened) {
        this.openRefused(rec, opened.problem, opened.st);
        return;
      }
      fh = opened.fh;
      if (abort.signal.aborted) throw abort.signal.reason;
      await j.intent({ scanId, name: rec.name, size: rec.size, mtimeMs: rec.mtimeMs, ino: rec.ino, dev: rec.dev });
      intent = true;
      const granted = await this.postSlot();
      this.preparing--;
      if (!granted) {
        // KATA started refusing us while this file waited: back in line, nothing was sent.
        phase = 'cancelled';
        void j.done(scanId, 'interrupted');
        void j.cleared(scanId);
        await fh.close().catch(() => undefined);
        if (this.records.get(rec.name) === rec && rec.stage === 'uploading') this.ready(rec);
        return;
      }
      phase = 'posting';
      if (abort.signal.aborted) throw abort.signal.reason;
      rec.scanId = scanId;
      sent = true;
      const { sha256 } = await o.api.submit(fh, { scanId, fileName: rec.name, size: rec.size, signal: abort.signal });
      // The upload slot is free as soon as KATA has the file; recording it need not hold the slot.
      phase = 'posted';
      this.uploads--;
      this.pump();
      const now = Date.now();
      this.breaker.record(true, now);
      this.approval.accepted();
      const submitted = j.submitted(scanId, sha256);
      if (this.records.get(rec.name) !== rec || rec.scanId !== scanId) {
        // Changed or removed while uploading: this result will never be used.
        void j.done(scanId, 'abandoned');
        this.enqueueDelete(scanId);
        await fh.close().catch(() => undefined);
        return;
      }
      await submitted;
      await fh.close().catch(() => undefined);
      // Changed while the step was being made durable: the new version abandoned this scan.
      if (this.records.get(rec.name) !== rec || rec.scanId !== scanId) return;
      rec.sha256 = sha256;
      rec.submittedAt = now;
      rec.attempts = 0;
      // Gone from input meanwhile, it stays `missing` (its scan is kept, see gone()).
      if (rec.stage === 'uploading') this.setStage(rec, 'submitted');
      o.logger.info('submitted', t('sent to KATA'), { file: rec.name, scanId, size: rec.size, sha256, durationMs: now - started });
      this.schedulePoll(this.pollDelay());
    } catch (err) {
      if (intent) {
        void j.done(scanId, 'interrupted');
        // Only a request KATA may have accepted can leave a result behind.
        if (!sent || definitelyRefused(err)) void j.cleared(scanId);
      }
      if (rec.scanId === scanId) rec.scanId = undefined;
      if (fh) await fh.close().catch(() => undefined);
      this.uploadFailed(rec, err, abort.signal.aborted);
    } finally {
      if (phase === 'preparing') this.preparing--;
      if (phase === 'posting') this.uploads--;
      if (this.uploadAborts.get(rec.name) === abort) this.uploadAborts.delete(rec.name);
      this.pump();
    }
  }

  /**
   * Waits for one of the max_inflight request slots. A file is opened and its intent journaled
   * (an fdatasync) before it gets one, so slots are busy only while requests are on the wire.
   */
  private postSlot(): Promise<boolean> {
    // While KATA refuses us, a file waits in line (awaiting approval), not holding an open intent.
    if (this.approval.refusing && this.uploads >= this.approval.uploadSlots(this.o.maxInflight, Date.now())) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.postWaiters.push((granted) => {
        if (granted) this.uploads++;
        resolve(granted);
      });
      this.grantPosts(Date.now());
    });
  }

  private grantPosts(now: number): void {
    const allowed = this.approval.uploadSlots(this.o.maxInflight, now);
    while (this.postWaiters.length && this.uploads < allowed) this.postWaiters.shift()!(true);
  }

  /** The open found something other than the settled version: never uploaded. */
  private openRefused(rec: Rec, problem: 'missing' | 'not-regular' | 'hard-link' | 'changed', st?: Stats): void {
    if (this.records.get(rec.name) !== rec) return;
    if (problem === 'hard-link') {
      this.ignore(rec.name, 'hard-link', st?.nlink);
      return;
    }
    if (problem === 'changed' && st) {
      this.newVersion(rec, st);
      return;
    }
    // Gone, or swapped for a symlink, FIFO or folder: the next rescan sees what it is now.
    this.settle(rec);
    this.changed.add(rec.name);
    this.scheduleRescanSoon();
  }

  private uploadFailed(rec: Rec, err: unknown, aborted: boolean): void {
    const o = this.o;
    if (this.records.get(rec.name) !== rec) return;
    const code = (err as NodeJS.ErrnoException)?.code;
    if (aborted || (err as Error)?.name === 'AbortError' || isKataError(err, 'changed')) {
      if (rec.stage === 'uploading') {
        this.settle(rec);
        this.changed.add(rec.name);
        this.scheduleRescanSoon();
      }
      return;
    }
    if (code === 'ENOENT') {
      this.settle(rec);
      this.changed.add(rec.name);
      this.scheduleRescanSoon();
      return;
    }
    if (code === 'EBUSY') {
      // Windows: another program holds the file without sharing it (still writing it, say). Not
      // KATA's failure, so the circuit breaker does not hear of it.
      if (!rec.logged) o.logger.warn('unreadable', t('the file is open in another program that does not share it ({0}); it stays in input and is retried', code), { file: rec.name });
      rec.logged = true;
      rec.attempts++;
      this.retryAt(rec, Date.now() + backoffDelay(rec.attempts, this.retryBaseMs, 60_000), 'unreadable', code);
      return;
    }
    if (code === 'EACCES' || code === 'EPERM') {
      if (!rec.logged) o.logger.warn('unreadable', t('cannot read the file ({0}); it stays in input and is retried', code), { file: rec.name });
      rec.logged = true;
      this.retryAt(rec, Date.now() + 60_000, 'unreadable', code);
      return;
    }
    if (isKataError(err, 'too-large')) {
      o.logger.info('too-large', t('KATA refused the file as too large (413); it stays in input untouched'), { file: rec.name, size: rec.size });
      rec.logged = true;
      this.setStage(rec, 'too-large', '413');
      return;
    }
    const now = Date.now();
    if (this.approval.refused(err, now)) {
      this.breaker.record(true, now); // KATA answered; approval is tracked on its own
      this.ready(rec, String((err as { status?: number }).status ?? ''));
      return;
    }
    // One failed request is retried on its own; the others keep flowing (the breaker steps in
    // only when failures are the rule).
    const retryAfter = isKataError(err) ? err.retryAfterMs : undefined;
    this.breaker.record(false, now, retryAfter);
    rec.attempts++;
    const delay = Math.max(this.retryDelay(rec.attempts, now), Math.min(retryAfter ?? 0, this.retryMaxMs));
    const kind = isKataError(err) ? err.kind : (code ?? 'error');
    this.retryAt(rec, now + delay, 'retrying', kind);
    this.logLimited(`upload-${kind}`, 'warn', 'upload-failed', t('upload failed ({0}): {1}; the file stays in input and is retried', kind, (err as Error)?.message ?? String(err)), {
      file: rec.name,
      retryInMs: delay,
    });
  }

  /**
   * The wait before retrying a request that failed `attempts` times in a row. While KATA answers
   * most requests and this one's failures are within what its failure rate explains, the retry is
   * prompt (a fraction of retry_base); beyond that, exponential backoff counts only the failures
   * that bad luck does not explain. Failures as the rule are the circuit breaker's business.
   */
  private retryDelay(attempts: number, now: number): number {
    const excess = attempts - this.breaker.explainedRun(now);
    if (excess <= 0) {
      const prompt = Math.max(1, Math.round(this.retryBaseMs / 4));
      return backoffDelay(0, prompt, prompt);
    }
    return backoffDelay(excess, this.retryBaseMs, this.retryMaxMs);
  }

  private retryAt(rec: Rec, at: number, stage: 'retrying' | 'unreadable', reason: string): void {
    rec.nextAttemptAt = at;
    this.setStage(rec, stage, reason);
    this.waiting.add(rec);
    this.wakeAtTime(at);
  }

  // ---------------------------------------------------------------- one timer for all retries

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
      this.waiting.delete(rec);
      rec.nextAttemptAt = undefined;
      if (this.records.get(rec.name) !== rec) continue;
      const e = rec.scanId ? this.journal!.get(rec.scanId) : undefined;
      if (e?.state && !e.outcome) {
        this.setStage(rec, 'routing');
        this.enqueueRoute(e);
      } else if (!rec.scanId && (rec.stage === 'retrying' || rec.stage === 'unreadable')) this.ready(rec);
    }
    for (const [scanId, r] of this.routeRetries) {
      if (r.at > now) {
        next = Math.min(next, r.at);
        continue;
      }
      r.at = Infinity; // due: taken now; set again if it fails again
      const e = this.journal!.get(scanId);
      if (e?.state && !e.outcome) this.enqueueRoute(e);
      else this.routeRetries.delete(scanId);
    }
    if (next < Infinity) this.wakeAtTime(next);
    this.pump();
  }

  private approvalChanged(before: ApprovalState, after: ApprovalState): void {
    if (after === 'pending' || after === 'rejected') {
      for (const waiter of this.postWaiters.splice(0)) waiter(false);
      for (const rec of this.records.values()) if (rec.stage === 'queued') this.setStage(rec, 'awaiting-approval');
    }
    if (after === 'approved' && (before === 'pending' || before === 'rejected')) {
      for (const rec of this.records.values()) if (rec.stage === 'awaiting-approval' && !rec.scanId) this.ready(rec);
      queueMicrotask(() => this.pump());
    }
    this.emit({ type: 'approval', state: after, systemId: this.o.systemId, fingerprint256: this.o.fingerprint256 });
  }

  private async refreshFilters(): Promise<void> {
    try {
      const f = await this.o.api.filters();
      this.approval.accepted();
      if (f.maxObjectSize && f.maxObjectSize > 0 && f.maxObjectSize < this.effectiveMax) {
        this.effectiveMax = f.maxObjectSize;
        this.o.logger.info('limits', t('KATA accepts objects up to {0} bytes', f.maxObjectSize), { version: f.version });
        for (const rec of this.records.values()) if (rec.stage === 'queued') this.classify(rec);
      }
    } catch (err) {
      if (!this.approval.refused(err)) this.o.logger.debug('limits', t("could not read KATA's limits: {0}", (err as Error).message));
    }
    this.pump();
  }

  // ---------------------------------------------------------------- verdicts

  /** Polls sooner than poll_interval_s while many scans are outstanding, so verdicts do not pile up. */
  private pollDelay(): number {
    return this.outstanding >= earlyPollOutstanding ? Math.min(earlyPollMs, this.o.pollIntervalMs) : this.o.pollIntervalMs;
  }

  private schedulePoll(delay: number): void {
    if (!this.running && this.journal) return;
    const at = Date.now() + delay;
    if (this.pollTimer && this.pollAt <= at) return;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollAt = at;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      void this.poll();
    }, delay);
  }

  private async poll(): Promise<void> {
    if (!this.running || this.polling) return;
    const j = this.journal!;
    const live = j.live();
    const waiting = live.filter((e) => e.submittedAt && !e.outcome && !e.state);
    const strays = live.filter((e) => (e.outcome || e.state) && !e.resultCleared);
    if (waiting.length === 0 && strays.length === 0) {
      this.schedulePoll(this.o.pollIntervalMs);
      return;
    }
    this.polling = true;
    let ok = false;
    try {
      let results: Array<{ scanId: string; state: string }> = [];
      try {
        results = await this.o.api.states();
        ok = true;
        this.pollFailures = 0;
        this.approval.accepted();
      } catch (err) {
        this.pollFailures++;
        if (!this.approval.refused(err)) {
          const kind = isKataError(err) ? err.kind : 'error';
          this.logLimited(`poll-${kind}`, 'warn', 'poll-failed', t('could not read scan results ({0}): {1}; will retry', kind, (err as Error).message));
        }
      }
      const now = Date.now();
      const verdicts: Array<Promise<void>> = [];
      for (const r of results) {
        const e = j.get(r.scanId);
        if (!e) continue; // not ours: another instance may share this system_id
        if (e.outcome || e.state) {
          if (!e.resultCleared) this.enqueueDelete(e.scanId);
          continue;
        }
        if (!e.submittedAt) continue;
        if (r.state.trim().toLowerCase() === 'processing') continue;
        verdicts.push(this.verdictFor(e, r.state));
      }
      for (const e of waiting) {
        if (!e.state && !e.outcome && now - e.submittedAt! > this.o.scanTimeoutMs) {
          this.o.logger.warn('scan-timeout', t('no verdict within {0} s; the file goes to quarantine', Math.round(this.o.scanTimeoutMs / 1000)), { file: e.name, scanId: e.scanId });
          verdicts.push(this.verdictFor(e, 'kds-timeout'));
        }
      }
      for (const e of live) {
        // A scan whose file never came back (deleted while the service was down) cannot be delivered.
        if (!e.outcome && !this.records.has(e.name) && !this.routing.has(e.scanId) && !this.asides.has(e.scanId) && now - e.intentAt > missingForgetMs) this.abandon(e, t('gone from input for 24 hours'));
      }
      for (const e of strays) {
        // A result we wait for forever would keep the journal entry alive: give up after the scan timeout.
        if (!e.resultCleared && now - e.intentAt > this.o.scanTimeoutMs) void j.cleared(e.scanId);
      }
      await Promise.all(verdicts);
    } finally {
      this.polling = false;
      const delay = ok ? this.pollDelay() : Math.min(this.o.pollIntervalMs, this.retryDelay(this.pollFailures, Date.now()));
      this.schedulePoll(delay);
    }
  }

  /** Records the verdict durably, then (and only then) deletes KATA's result and delivers. */
  private async verdictFor(e: ScanEntry, rawState: string): Promise<void> {
    const verdict = rawState === 'kds-timeout' ? 'timeout' : verdictOf(rawState);
    const destination = destinationOf(verdict);
    try {
      await this.journal!.verdict(e.scanId, rawState, destination);
    } catch (err) {
      this.o.logger.error('journal', t('cannot write the journal: {0}', (err as Error).message));
      return;
    }
    this.o.logger.info('verdict', destination === 'out' ? t('{0} → output', verdict) : t('{0} → quarantine', verdict), {
      file: e.name,
      scanId: e.scanId,
      state: rawState,
      size: e.size,
      sha256: e.sha256,
      durationMs: Date.now() - (e.submittedAt ?? e.intentAt),
    });
    this.enqueueDelete(e.scanId);
    const rec = this.records.get(e.name);
    if (rec && rec.scanId === e.scanId && rec.stage !== 'missing') {
      this.setStage(rec, 'routing');
      this.enqueueRoute(e);
    }
  }

  private enqueueDelete(scanId: string): void {
    if (this.clearing.has(scanId)) return;
    this.clearing.add(scanId);
    this.deleteQueue.push(scanId);
    this.pumpDeletes();
  }

  private pumpDeletes(): void {
    while (this.deletes < maxDeletes && this.deleteQueue.length) {
      const scanId = this.deleteQueue.shift()!;
      this.deletes++;
      void this.clearResult(scanId).finally(() => {
        this.deletes--;
        this.clearing.delete(scanId);
        this.pumpDeletes();
      });
    }
  }

  private async clearResult(scanId: string): Promise<void> {
    try {
      await this.o.api.deleteResult(scanId);
      // Not awaited: if it is lost in a crash, the next poll asks KATA again and a 404 is fine.
      void this.journal?.cleared(scanId).catch(() => undefined);
    } catch (err) {
      // A result still there shows up in the next poll, which asks again.
      this.o.logger.debug('delete-failed', t('could not delete the result at KATA: {0}; will retry', (err as Error).message), { scanId });
    }
  }

  private abandon(e: ScanEntry, why: string): void {
    void this.journal!.done(e.scanId, 'abandoned');
    this.o.logger.info('abandoned', why, { file: e.name, scanId: e.scanId });
    this.enqueueDelete(e.scanId);
  }

  // ---------------------------------------------------------------- delivery

  private enqueueRoute(e: ScanEntry): void {
    if (this.routing.has(e.scanId) || this.routeQueued.has(e.scanId)) return;
    this.routeQueued.add(e.scanId);
    this.routeQueue.push(e);
    this.pumpRoutes();
  }

  private pumpRoutes(): void {
    while (this.running && this.routeQueue.length) {
      const e = this.routeQueue[0]!;
      const weight = e.size > largeDeliveryBytes ? largeDeliveryWeight : 1;
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

  /**
   * Moves a scanned file out of input (see sourceRemoval.ts): its handles are closed, it is
   * renamed aside and checked, copied (hash checked), the copy journaled as placed, then the aside
   * file is checked again and unlinked. A failure on the source is this file's (retried with
   * backoff); only a failure of the destination folder pauses deliveries to that folder.
   */
  private async route(e: ScanEntry): Promise<void> {
    const o = this.o;
    const j = this.journal!;
    const folder: Destination = e.destination ?? 'qrnt';
    const destDir = folder === 'out' ? o.outDir : o.qrntDir;
    const removal = { fileIds: o.inputFileIds !== false, syncDir: (d: string) => this.dirSync.sync(d) };
    // Placed by an earlier process: nothing vouches for the bytes in input now but their hash.
    const recovering = e.placedPath !== undefined;
    let path = e.placedPath;
    try {
      if (!path) {
        const wait = this.destinationPauses.waitFor(folder, Date.now());
        if (wait) {
          this.routeLater(e, wait.until, wait.reason, false);
          return;
        }
        const problem = await this.destinationProblem(destDir);
        if (problem !== undefined) {
          this.destinationDown(e, folder, destDir, problem);
          return;
        }
        const taken = await takeAside(o.inDir, e.name, e.scanId, e, removal);
        if (taken.kind === 'missing') {
          this.destinationPauses.untried(folder);
          this.asides.delete(e.scanId);
          const rec = this.records.get(e.name);
          if (rec && rec.scanId === e.scanId) this.setStage(rec, 'missing', 'no longer in input');
          return;
        }
        if (taken.kind === 'changed') {
          this.destinationPauses.untried(folder);
          this.sentBack(e, taken.returnedAs, t('file changed after it was scanned; it will be submitted again'));
          return;
        }
        this.asides.add(e.scanId);
        path = await this.copyOut(e, folder, destDir, taken.path);
        if (path === undefined) return;
        await j.placed(e.scanId, path);
      }
      let removed = await removeAside(o.inDir, e.name, e.scanId, e, removal, recovering ? e.sha256 : undefined);
      if (removed.kind === 'gone' && recovering) {
        // Placed before an interruption that came before the rename aside (a journal written by
        // the engine before it set files aside): the source may still be under its name.
        const taken = await takeAside(o.inDir, e.name, e.scanId, e, removal);
        if (taken.kind === 'aside') removed = await removeAside(o.inDir, e.name, e.scanId, e, removal, e.sha256);
        else if (taken.kind === 'changed') removed = { kind: 'returned', returnedAs: taken.returnedAs };
      }
      this.asides.delete(e.scanId);
      this.routeRetries.delete(e.scanId);
      await j.done(e.scanId, 'routed');
      if (removed.kind === 'returned') {
        o.logger.info('returned', t('the file changed while it was moved out of input; the scanned version was delivered, the new one stays in input as {0} and will be scanned', removed.returnedAs), {
          file: e.name,
          scanId: e.scanId,
        });
        this.changed.add(removed.returnedAs);
      }
      const now = this.records.get(e.name);
      if (now && now.scanId === e.scanId) {
        const look = now.newerSeen || removed.kind === 'returned';
        this.forget(e.name);
        if (look) this.changed.add(e.name);
      }
      if (this.changed.size) this.scheduleRescanSoon();
      if (recovering && removed.kind !== 'returned') {
        o.logger.info('recovered', t('delivered before an interruption; finished'), { file: e.name, scanId: e.scanId, path });
      }
      this.routedEvent(e, folder, path);
    } catch (err) {
      this.destinationPauses.untried(folder);
      this.routeFailed(e, errText(err), err);
    }
  }

  /**
   * Copies the aside file to the destination. A refused copy (other bytes than the scanned ones)
   * sends the file back to input; a failure of the destination folder pauses that folder; any
   * other failure is this file's. Returns the placed path, or undefined when it was not placed.
   */
  private async copyOut(e: ScanEntry, folder: Destination, destDir: string, source: string): Promise<string | undefined> {
    const o = this.o;
    let name = this.o.portableNames?.[folder] ? portableName(e.name) : e.name;
    for (;;) {
      try {
        const res = await deliver({
          source,
          expect: e,
          fileIds: o.inputFileIds !== false,
          destDir,
          name,
          expectedSha256: e.sha256,
          tag: e.scanId,
          permissions: folder === 'qrnt' ? 'private' : 'source',
          syncDir: (d) => this.dirSync.sync(d),
        });
        if (!res.ok) {
          this.destinationPauses.untried(folder);
          const back = await returnAside(o.inDir, e.name, e.scanId, { fileIds: o.inputFileIds !== false, syncDir: (d) => this.dirSync.sync(d) });
          const why =
            res.reason === 'not-regular'
              ? t('file is no longer a regular file; it will be submitted again when it is one')
              : t('file content changed after it was scanned; it will be submitted again');
          this.sentBack(e, back.kind === 'returned' ? back.returnedAs : e.name, why);
          return undefined;
        }
        this.destinationPauses.ok(folder);
        this.setFolder(folder, destDir, undefined);
        if (name !== e.name) {
          o.logger.warn('renamed', t('the {0} folder does not accept this name; delivered as {1}', folder, name), { file: e.name, scanId: e.scanId, path: res.path });
        }
        return res.path;
      } catch (err) {
        if (!(err instanceof DeliveryError) || err.side !== 'destination') throw err;
        const fault = await attributeDestinationError(destDir, err.code);
        if (fault.scope === 'folder') {
          this.destinationDown(e, folder, destDir, fault.reason);
          return undefined;
        }
        this.destinationPauses.ok(folder);
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
  private sentBack(e: ScanEntry, returnedAs: string, why: string): void {
    this.asides.delete(e.scanId);
    this.routeRetries.delete(e.scanId);
    this.abandon(e, returnedAs === e.name ? why : `${why} (${returnedAs})`);
    const rec = this.records.get(e.name);
    if (rec && rec.scanId === e.scanId) {
      rec.scanId = undefined;
      rec.sha256 = undefined;
      rec.submittedAt = undefined;
      rec.newerSeen = undefined;
      this.settle(rec);
    }
    this.changed.add(e.name);
    this.changed.add(returnedAs);
    this.scheduleRescanSoon();
  }

  /** The destination folder failed as a folder: deliveries to it (and only to it) pause. */
  private destinationDown(e: ScanEntry, folder: Destination, destDir: string, reason: string): void {
    const at = this.destinationPauses.failed(folder, reason, Date.now());
    this.folderOkAt.delete(destDir);
    this.setFolder(folder, destDir, reason);
    this.routeLater(e, at, reason, false);
  }

  /** This file's delivery failed (its source, a name the destination refuses…): it alone retries, with backoff. */
  private routeFailed(e: ScanEntry, reason: string, err: unknown): void {
    const rec = this.records.get(e.name);
    const own = rec && rec.scanId === e.scanId && rec.stage !== 'missing' ? rec : undefined;
    const attempts = own ? ++own.attempts : (this.routeRetries.get(e.scanId)?.attempts ?? 0) + 1;
    const at = this.routeLater(e, Date.now() + backoffDelay(attempts, this.retryBaseMs, this.retryMaxMs), reason, true);
    // The first failure and then every doubling: a file stuck for hours does not flood the log.
    const level = (attempts & (attempts - 1)) === 0 ? 'warn' : 'debug';
    const detail = (err as Error)?.message ?? reason;
    this.o.logger[level]('delivery-failed', t('could not move the file out of input ({0}): {1}; it is retried', reason, detail), {
      file: e.name,
      scanId: e.scanId,
      attempts,
      retryInMs: at - Date.now(),
    });
  }

  /** Retries the delivery at `at`: through the file's record, or on its own when it has none (found aside at start). */
  private routeLater(e: ScanEntry, at: number, why: string, counted: boolean): number {
    const rec = this.records.get(e.name);
    if (rec && rec.scanId === e.scanId && rec.stage !== 'missing') {
      this.retryAt(rec, at, 'retrying', why);
      return at;
    }
    const before = this.routeRetries.get(e.scanId);
    this.routeRetries.set(e.scanId, { at, attempts: (before?.attempts ?? 0) + (counted ? 1 : 0) });
    this.wakeAtTime(at);
    return at;
  }

  private routedEvent(e: ScanEntry, folder: Destination, path: string): void {
    const verdict = e.state === 'kds-timeout' ? 'timeout' : verdictOf(e.state ?? '');
    this.o.logger.info('routed', folder === 'out' ? t('moved to output') : t('moved to quarantine'), {
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
  }

  // ---------------------------------------------------------------- helpers

  /** Destination checks passed within the last second are not repeated for every file of a batch. */
  private readonly folderOkAt = new Map<string, number>();

  private async destinationProblem(dir: string): Promise<string | undefined> {
    const now = Date.now();
    if (now - (this.folderOkAt.get(dir) ?? 0) < 1000) return undefined;
    const problem = await this.folderProblem(dir);
    if (problem === undefined) this.folderOkAt.set(dir, now);
    else this.folderOkAt.delete(dir);
    return problem;
  }

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

  /** Every stage change goes through the table in events.ts. */
  private setStage(rec: Rec, stage: FileStage, reason?: string): void {
    if (!canMoveStage(rec.stage, stage)) {
      this.o.logger.error('internal', `stage change ${rec.stage} → ${stage} is not in the lifecycle table`, { file: rec.name });
    }
    if (rec.stage === stage && rec.reason === reason) return;
    if (rec.stage === 'submitted') this.outstanding--;
    if (stage === 'submitted') this.outstanding++;
    rec.stage = stage;
    rec.reason = reason;
    this.emitFile(rec);
  }

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

/** KATA answered and did not take the object, so no result can appear for this scanId. */
function definitelyRefused(err: unknown): boolean {
  return isKataError(err) && ['unauthorized', 'forbidden', 'too-large', 'busy', 'bad-request', 'tls', 'changed'].includes(err.kind);
}

function errText(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

