import { type Stats, type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { t } from '../common/l10n';
import { nameProblem, nameProblemText } from '../common/platform';
import { errText } from './folderHealth';
import type { IgnoredKind } from './events';
import { readInputNames, statsKind } from './inputListing';
import { changedSinceSeen, unchangedSince } from './settleTime';
import { isReservedInputName } from './sourceRemoval';
import type { IntakeStage, Rec, ShareState, StageContext } from './stageContext';

const missingForgetMs = 24 * 3_600_000;
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
 * Longest run of lstats without letting other work in: on a local file system they are
 * synchronous (folderFs.ts), and in local mode the event loop is VS Code's extension host's. A
 * cold cache (100 000 waiting files after a reboot) makes each one a disk read.
 */
const sliceMs = 8;

/**
 * The first stage of a file's life: finding it in input (one inotify watch and rescans every
 * poll_interval_s), waiting until it has not changed for stable_ms, and deciding what it is:
 * ignored (not a regular single-link file), excluded, too large, or in line for an upload. It
 * also notices when a file changes or leaves input at any later stage. Each share has its own
 * intake, on its own input folder: one share's slow or missing folder does not hold up the others.
 */
export class Intake implements IntakeStage {
  private readonly ignoredLogged = new Map<string, IgnoredKind>();
  private watcher?: FSWatcher;
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
  private changeTimer?: NodeJS.Timeout;
  // The stable_ms wait: a FIFO in due order (every push is due stable_ms from now), one timer.
  private settleQueue: Rec[] = [];
  private settleDueAt: number[] = [];
  private settleHead = 0;
  private settleTimer?: NodeJS.Timeout;

  constructor(
    private readonly ctx: StageContext,
    private readonly share: ShareState,
  ) {}

  get busy(): boolean {
    return this.rescanning !== undefined;
  }

  start(): void {
    if (this.share.useEvents) this.startWatcher();
  }

  stop(): void {
    for (const tm of [this.settleTimer, this.changeTimer]) if (tm) clearTimeout(tm);
    this.watcher?.close();
    this.watcher = undefined;
  }

  // ---------------------------------------------------------------- finding files

  /**
   * One inotify watch on the input folder (not one per file): each event names the entry that
   * changed, so a rescan stats only those. Events are a hint; periodic rescans catch what they miss.
   */
  private startWatcher(): void {
    try {
      const w = watch(this.share.inDir, { persistent: false, encoding: 'utf8' }, (_type, name) => {
        if (name && isReservedInputName(name)) return;
        if (name) this.changed.add(name);
        else {
          this.lastFullStat = 0;
          this.lastList = 0;
        }
        this.rescanSoon();
      });
      w.on('error', (err) => {
        this.share.logger.debug('watch-error', String(err));
        w.close();
        if (this.watcher === w) this.watcher = undefined;
        this.lastFullStat = 0;
        this.lastList = 0;
      });
      this.watcher = w;
    } catch (err) {
      this.share.logger.warn('watch-error', t('change events unavailable, relying on rescans: {0}', String(err)));
    }
  }

  rescan(full = false): Promise<void> {
    if (!this.ctx.running) return Promise.resolve();
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
        } while (this.rescanAgain && this.ctx.running);
      } catch (err) {
        this.share.logger.error('internal', t('rescan failed: {0}', (err as Error).stack ?? String(err)));
      } finally {
        this.rescanning = undefined;
      }
    })();
    return this.rescanning;
  }

  private async rescanOnce(): Promise<void> {
    const { o } = this.ctx;
    const { records, folders, inDir } = this.share;
    if (await this.share.excludes.refresh()) {
      this.share.logger.info('exclude-list', t('exclude list changed; re-evaluating files in input'));
      for (const rec of records.values()) {
        if (['excluded', 'queued', 'retrying', 'awaiting-approval', 'too-large'].includes(rec.stage) && !rec.scanId) this.classify(rec);
      }
    }
    if (this.watcher) this.addRestatSlice();
    const unusable = await folders.problem(inDir);
    if (unusable !== undefined) {
      folders.set('in', inDir, unusable);
      return;
    }
    const watching = this.watcher && folders.isUp('in');
    if (watching && (Date.now() - this.lastList < this.listEveryMs() || (this.lastList !== 0 && (await this.inputUnchangedSinceListing())))) {
      await this.rescanChanged();
      this.ctx.submission.pump();
      return;
    }
    this.lastList = Date.now();
    this.listedFolder = await stat(inDir).then(
      (st) => ({ mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev, at: this.lastList }),
      () => undefined,
    );
    let listing;
    try {
      listing = await readInputNames(inDir);
    } catch (err) {
      folders.set('in', inDir, errText(err));
      return;
    }
    const wasDown = folders.isDown('in');
    folders.set('in', inDir, undefined);
    if (wasDown) {
      // The folder may be another one now (renamed back, share remounted): watch it afresh, stat all.
      this.watcher?.close();
      this.watcher = undefined;
      this.lastFullStat = 0;
      // Files set aside before an interruption, when the start could not look (the share was down).
      void this.ctx.routing.recoverAsides(this.share.name);
    }
    // Not once stop() began: a watcher opened now would hold input open (on Windows nobody could
    // remove or rename the folder).
    if (this.share.useEvents && !this.watcher && this.ctx.running) {
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
      const rec = records.get(name);
      if (rec && !statAll && !changed.has(name) && rec.stage !== 'missing') rec.seen = gen;
      else toStat.push(name);
    }
    let sliceStart = performance.now();
    for (let i = 0; i < toStat.length; i += 64) {
      // On a local file system the lstats do not wait (folderFs.ts): let other work run.
      if (i > 0 && performance.now() - sliceStart > sliceMs) sliceStart = await yieldToLoop(performance.now());
      const batch = toStat.slice(i, i + 64);
      const stats = await Promise.all(batch.map((name) => this.share.fs.in.lstatIfAny(join(inDir, name)).catch(() => undefined)));
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
    for (const rec of records.values()) if (rec.seen !== gen) this.gone(rec);
    this.ctx.submission.pump();
    // Once this rescan's locals are gone: what they held is what the callback frees.
    if (listing.candidates.length >= burstFiles && o.afterBurst) setTimeout(o.afterBurst, 0);
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
    const st = await stat(this.share.inDir).catch(() => undefined);
    if (!st || st.mtimeMs !== before.mtimeMs || st.ctimeMs !== before.ctimeMs || st.ino !== before.ino || st.dev !== before.dev) return false;
    this.lastList = Date.now();
    return true;
  }

  /** Queues the next few known names for an lstat (see fullRestatMs). */
  private addRestatSlice(): void {
    const records = this.share.records;
    let n = Math.ceil((records.size * this.ctx.o.pollIntervalMs) / fullRestatMs);
    while (n > 0 && records.size > 0) {
      this.restatCursor ??= records.keys();
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
    return Math.min(fullListMaxMs, this.ctx.o.pollIntervalMs * Math.max(1, Math.floor(this.share.records.size / 1000)));
  }

  private async rescanChanged(): Promise<void> {
    const names = [...this.changed];
    this.changed = new Set();
    let sliceStart = performance.now();
    for (let i = 0; i < names.length; i += 64) {
      if (i > 0 && performance.now() - sliceStart > sliceMs) sliceStart = await yieldToLoop(performance.now());
      const batch = names.slice(i, i + 64);
      const stats = await Promise.all(batch.map((name) => this.share.fs.in.lstatIfAny(join(this.share.inDir, name)).catch(() => undefined)));
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
          const rec = this.share.records.get(name);
          if (rec) this.gone(rec);
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

  recheck(name: string): void {
    this.changed.add(name);
    this.rescanSoon();
  }

  private rescanSoon(): void {
    if (this.changeTimer || !this.ctx.running) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = undefined;
      void this.rescan();
    }, 20);
  }

  ignore(name: string, kind: IgnoredKind, nlink?: number): void {
    if (this.ignoredLogged.get(name) !== kind) {
      this.ignoredLogged.set(name, kind);
      if (kind === 'hard-link')
        this.share.logger.warn('ignored', t('the file has {0} hard links; a file with other names elsewhere is never scanned or moved, and stays in input', nlink ?? 2), { file: name });
      else if (kind === 'forbidden-name')
        this.share.logger.warn('ignored', t('{0}; the file is never scanned or moved, and stays in input until it is renamed', nameProblemText(nameProblem(name) ?? 'forbidden-character')), { file: name });
      else this.share.logger.info('ignored', t('not a regular file in input ({0}); it is never scanned', kind), { file: name });
      this.ctx.emit({ type: 'ignored', share: this.share.name, name, kind });
    }
    const rec = this.share.records.get(name);
    if (rec) this.gone(rec, true);
  }

  private observe(name: string, st: Stats, gen: number): void {
    const { ctx } = this;
    const now = Date.now();
    const { share } = this;
    let rec = share.records.get(name);
    if (!rec) {
      const e = ctx.journal.activeFor(share.name, name);
      const known = e !== undefined && ctx.sameVersion(e, st);
      rec = {
        share: share.name,
        name,
        size: st.size,
        mtimeMs: st.mtimeMs,
        ctimeMs: st.ctimeMs,
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
      if (known) {
        rec.scanId = e.scanId;
        rec.sha256 = e.sha256;
        rec.submittedAt = e.submittedAt;
        ctx.track(rec);
        ctx.emitFile(rec);
        if (e.state) ctx.routing.enqueueRoute(e);
        return;
      }
      ctx.track(rec);
      // Not while that scan's file is being delivered from its aside name: this is another file.
      if (e && !ctx.routing.holds(e.scanId)) ctx.verdicts.abandon(e, t('file changed while KATA was scanning it'));
      // ctime, not mtime: a copy tool may set an old mtime first and write afterwards; any write,
      // rename or metadata change moves ctime to now, and nobody can set it back.
      if (share.inputClockIsOurs && now - st.ctimeMs >= share.stableMs && now - st.mtimeMs >= share.stableMs) {
        this.classify(rec);
        return;
      }
      ctx.emitFile(rec);
      // What of its wait the file has already served in input before KDS saw it.
      this.settle(rec, st);
      return;
    }
    rec.seen = gen;
    if (ctx.sameVersion(rec, st)) {
      if (rec.stage === 'missing') {
        const e = rec.scanId ? ctx.journal.get(rec.scanId) : undefined;
        if (e?.state) {
          ctx.setStage(rec, 'routing', 'back in input');
          ctx.routing.enqueueRoute(e);
        } else ctx.setStage(rec, 'submitted', 'back in input');
      }
      return;
    }
    if (rec.scanId && ctx.routing.holds(rec.scanId)) {
      // The scanned file is being moved out under its aside name; this one is looked at after that.
      rec.newerSeen = true;
      return;
    }
    this.newVersion(rec, st);
  }

  newVersion(rec: Rec, st: Stats): void {
    const { ctx } = this;
    ctx.submission.abortUpload(rec);
    if (rec.scanId) {
      const e = ctx.journal.get(rec.scanId);
      if (e && !e.outcome) ctx.verdicts.abandon(e, t('file changed after it was submitted; it will be submitted again'));
    }
    const now = Date.now();
    Object.assign(rec, { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev, changedAt: now, attempts: 0, logged: false });
    rec.scanId = undefined;
    rec.sha256 = undefined;
    rec.submittedAt = undefined;
    ctx.cancelRetry(rec);
    this.settle(rec);
  }

  private gone(rec: Rec, notRegular = false): void {
    const { ctx } = this;
    const name = rec.name;
    const e = rec.scanId ? ctx.journal.get(rec.scanId) : undefined;
    if (e && !e.outcome && ctx.routing.holds(e.scanId)) return;
    if (e && !e.outcome && !notRegular) {
      // Keep the scan: a share that was unmounted for a moment must not cost a rescan of everything.
      if (rec.stage !== 'missing') {
        ctx.setStage(rec, 'missing', 'no longer in input');
        this.share.logger.info('missing', t('file left input while KATA had it; its scan is kept for 24 h'), { file: name, scanId: e.scanId });
      }
      if (Date.now() - rec.changedAt > missingForgetMs) {
        ctx.verdicts.abandon(e, t('gone from input for 24 hours'));
        ctx.forget(rec);
      }
      return;
    }
    if (e && !e.outcome) ctx.verdicts.abandon(e, t('file is no longer a regular file; it will be submitted again when it is one'));
    ctx.submission.abortUpload(rec);
    ctx.forget(rec);
  }

  // ---------------------------------------------------------------- settling

  /** Waits until the file has been unchanged for stable_ms: from now, or on a local input from its last change (`st`). */
  settle(rec: Rec, st?: Stats): void {
    const now = Date.now();
    // The queue stays in due order: never before the file queued last.
    const lastSince = this.settleDueAt.length > this.settleHead ? this.settleDueAt[this.settleDueAt.length - 1]! - this.share.stableMs : -Infinity;
    rec.stableSince = st ? unchangedSince(now, st, this.share.inputClockIsOurs === true, lastSince) : now;
    this.ctx.setStage(rec, 'settling');
    this.settleQueue.push(rec);
    this.settleDueAt.push(rec.stableSince + this.share.stableMs);
    this.armSettle();
  }

  /** An entry is stale when its file left settling or was pushed again (changed) since. */
  private settleEntryLive(i: number): boolean {
    const rec = this.settleQueue[i]!;
    return rec.stage === 'settling' && this.share.records.get(rec.name) === rec && rec.stableSince + this.share.stableMs === this.settleDueAt[i];
  }

  private armSettle(): void {
    if (this.settleTimer || !this.ctx.running) return;
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
      void this.settleDue().catch((err) => this.share.logger.error('internal', String((err as Error)?.stack ?? err)));
    }, delay);
  }

  private async settleDue(): Promise<void> {
    if (!this.ctx.running) return;
    const now = Date.now();
    const due: Rec[] = [];
    while (this.settleHead < this.settleQueue.length && this.settleDueAt[this.settleHead]! <= now) {
      if (this.settleEntryLive(this.settleHead)) due.push(this.settleQueue[this.settleHead]!);
      this.settleHead++;
    }
    for (let i = 0; i < due.length; i += 64) {
      const batch = due.slice(i, i + 64);
      const stats = await Promise.all(batch.map((r) => this.share.fs.in.lstatIfAny(join(this.share.inDir, r.name)).catch(() => undefined)));
      batch.forEach((rec, k) => this.checkStable(rec, stats[k]));
    }
    this.armSettle();
    this.ctx.submission.pump();
  }

  private checkStable(rec: Rec, st: Stats | undefined): void {
    if (this.share.records.get(rec.name) !== rec || rec.stage !== 'settling') return;
    if (!st || statsKind(st)) {
      this.recheck(rec.name); // the next rescan decides whether it is gone, or what it is now
      return;
    }
    if (!this.ctx.sameVersion(rec, st) || changedSinceSeen(st, rec.ctimeMs, this.share.inputClockIsOurs === true)) {
      Object.assign(rec, { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev, changedAt: Date.now() });
      this.settle(rec, st);
      return;
    }
    this.classify(rec);
  }

  // ---------------------------------------------------------------- classifying

  classify(rec: Rec): void {
    const { ctx } = this;
    const hit = this.share.excludes.matches(rec.name);
    if (hit) {
      if (!rec.logged || rec.stage !== 'excluded') this.share.logger.info('excluded', t('matches exclude list entry "{0}"; stays in input', hit.pattern), { file: rec.name, size: rec.size });
      rec.logged = true;
      ctx.setStage(rec, 'excluded', hit.pattern);
      return;
    }
    // KATA refused this very version with 413: re-evaluating (an exclude-list edit) must not upload it again.
    if (rec.stage === 'too-large' && rec.reason === '413' && rec.logged) return;
    const limit = ctx.submission.maxObjectSize(this.share);
    if (rec.size > limit) {
      if (!rec.logged || rec.stage !== 'too-large') this.share.logger.info('too-large', t('larger than the {0} byte limit; stays in input untouched', limit), { file: rec.name, size: rec.size });
      rec.logged = true;
      ctx.setStage(rec, 'too-large', `limit ${limit}`);
      return;
    }
    ctx.cancelRetry(rec);
    ctx.submission.ready(rec);
  }
}
