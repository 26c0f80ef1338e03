/**
 * Every file the engine handled, for the Verdicts panel: the journal's finished scans (history
 * from before this session) plus the engine's live events, with each file's state changes and a
 * bounded ring of its log lines. Pure (no vscode): the extension feeds it and sends its rows to
 * the webview in batches; filtering and sorting happen in the webview (see docs/webviews.md).
 */
import { type LogRecord, formatText } from '../common/log';
import { type EngineEvent, type FileRecord, type RoutedFile, type Verdict as EngineVerdict, verdictOf } from '../engine/events';
import type { ScanEntry } from '../engine/journal';
import { shareFileKey, shareOf } from '../engine/shareName';
import type { StateChange, VerdictDetails } from '../webviewProtocol/verdicts';
import type { Verdict, VerdictRow } from '../webviewProtocol/verdictsQuery';
import { ChangeNotifier } from './changeNotifier';

// The protocol restates the engine's Verdict (the webview cannot import engine code); they must stay equal.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const verdictTypesAgree: Same<Verdict, EngineVerdict> = true;
void verdictTypesAgree;

export interface VerdictHistoryOptions {
  /** Rows kept; the oldest are forgotten first. Default 200 000. */
  maxRows?: number;
  /** Log lines kept per file name. Default 50. */
  maxLogLinesPerFile?: number;
  /** File names whose log lines are kept; the least recently logged are forgotten first. Default 10 000. */
  maxLoggedFiles?: number;
  /** Threat names by SHA-256 (KATA's alerts); consulted for rows with a verdict other than "not detected". */
  threatOf?: (sha256: string) => string | undefined;
  /** Listeners hear of changes at most once per this many ms. Default 250. */
  coalesceMs?: number;
}

/** State changes kept per row (a file retried for hours would otherwise grow without bound). */
const maxChanges = 100;

interface Entry {
  row: VerdictRow;
  scanId?: string;
  path?: string;
  rawState?: string;
  submittedAt?: number;
  changes: StateChange[];
}

/** The fields of a quarantine audit record (src/engine/quarantineActions.ts) the history needs. */
export interface QuarantineAction {
  time: string;
  user: string;
  action: 'release' | 'delete';
  /** Absent in records written before shares: the share `default`. */
  share?: string;
  file: string;
  sha256: string;
  to?: string;
}

export interface VerdictChanges {
  upserted: VerdictRow[];
  removed: string[];
}

export class VerdictHistory {
  private readonly byId = new Map<string, Entry>();
  /** The entry of the version of a file now in input, by share and name (shareFileKey). */
  private readonly current = new Map<string, string>();
  private readonly logs = new Map<string, string[]>();
  private readonly dirty = new Set<string>();
  private readonly removedIds = new Set<string>();
  private cached: VerdictRow[] | undefined;
  private readonly notifier: ChangeNotifier;
  private readonly maxRows: number;
  private readonly maxLines: number;
  private readonly maxLogged: number;
  private threatOf: ((sha256: string) => string | undefined) | undefined;
  private readonly auditApplied = new Set<string>();

  constructor(opts: VerdictHistoryOptions = {}) {
    this.maxRows = opts.maxRows ?? 200_000;
    this.maxLines = opts.maxLogLinesPerFile ?? 50;
    this.maxLogged = opts.maxLoggedFiles ?? 10_000;
    this.threatOf = opts.threatOf;
    this.notifier = new ChangeNotifier(opts.coalesceMs ?? 250);
  }

  /** Called (coalesced) after rows changed; take them with takeChanges(). */
  onChange(listener: () => void): () => void {
    return this.notifier.on(listener);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Every row, in insertion order (oldest first). The array is cached until the next change. */
  rows(): VerdictRow[] {
    this.cached ??= [...this.byId.values()].map((e) => e.row);
    return this.cached;
  }

  row(id: string): VerdictRow | undefined {
    return this.byId.get(id)?.row;
  }

  /** Rows added or changed and ids removed since the previous call (or since the last reset). */
  takeChanges(): VerdictChanges {
    const upserted: VerdictRow[] = [];
    for (const id of this.dirty) {
      const e = this.byId.get(id);
      if (e) upserted.push(e.row);
    }
    const removed = [...this.removedIds].filter((id) => !this.byId.has(id));
    this.dirty.clear();
    this.removedIds.clear();
    return { upserted, removed };
  }

  /** Forgets every row (the configuration now points at another state_dir); log lines are kept. */
  clear(): void {
    for (const id of this.byId.keys()) this.removedIds.add(id);
    this.byId.clear();
    this.current.clear();
    this.auditApplied.clear();
    this.dirty.clear();
    this.cached = undefined;
    this.notifier.changed();
  }

  /** Forget pending changes (the caller is about to send the full table). */
  clearChanges(): void {
    this.dirty.clear();
    this.removedIds.clear();
  }

  setThreatLookup(threatOf: ((sha256: string) => string | undefined) | undefined): void {
    this.threatOf = threatOf;
    this.refreshThreats();
  }

  /** Looks threat names up again (KATA's alerts arrive after the verdict). */
  refreshThreats(): void {
    for (const [id, e] of this.byId) {
      const threat = this.threatFor(e.row);
      if (threat !== e.row.threat) {
        e.row = { ...e.row, threat };
        this.touch(id);
      }
    }
  }

  /** Adds the journal's finished scans (readJournal(state_dir).finished); rows already known from events win. */
  loadJournal(finished: readonly ScanEntry[]): void {
    const sorted = [...finished].sort((a, b) => timeOfEntry(a) - timeOfEntry(b));
    for (const j of sorted) {
      if (!j.outcome || this.byId.has(j.scanId)) continue;
      const verdict = j.state !== undefined && j.outcome === 'routed' ? verdictOf(j.state) : undefined;
      const changes: StateChange[] = [{ at: j.intentAt, state: 'intent' }];
      if (j.submittedAt !== undefined) changes.push({ at: j.submittedAt, state: 'submitted' });
      if (j.verdictAt !== undefined) changes.push({ at: j.verdictAt, state: 'verdict', detail: j.state });
      if (j.doneAt !== undefined) changes.push({ at: j.doneAt, state: 'done', detail: j.outcome });
      const row: VerdictRow = {
        id: j.scanId,
        time: timeOfEntry(j),
        share: j.share,
        name: j.name,
        size: j.size,
        sha256: j.sha256,
        verdict,
        stage: verdict ? undefined : j.outcome,
        durationMs: j.verdictAt !== undefined && j.submittedAt !== undefined ? Math.max(0, j.verdictAt - j.submittedAt) : undefined,
        destination: j.outcome === 'routed' ? j.destination : undefined,
      };
      row.threat = this.threatFor(row);
      this.put({ row, scanId: j.scanId, path: j.placedPath, rawState: j.state, submittedAt: j.submittedAt, changes });
    }
  }

  onEngineEvent(e: EngineEvent): void {
    if (e.type === 'file') this.onFile(e.file);
    else if (e.type === 'routed') this.onRouted(e.file);
    else if (e.type === 'file-removed') this.onRemoved(shareOf(e), e.name);
  }

  /** A record from the engine's logger; kept when it names a file (of its share: with several shares the line says which). */
  onLogRecord(r: LogRecord): void {
    if (typeof r.file !== 'string' || r.file === '') return;
    const key = shareFileKey(typeof r.share === 'string' ? r.share : undefined, r.file);
    let lines = this.logs.get(key);
    if (lines) this.logs.delete(key);
    else {
      lines = [];
      if (this.logs.size >= this.maxLogged) this.logs.delete(this.logs.keys().next().value!);
    }
    this.logs.set(key, lines);
    lines.push(formatText(r));
    if (lines.length > this.maxLines) lines.splice(0, lines.length - this.maxLines);
  }

  /** Everything about one row for the details pane; log lines are those of its file name. */
  details(id: string): VerdictDetails | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    const r = e.row;
    return {
      id,
      share: shareOf(r),
      name: r.name,
      size: r.size,
      sha256: r.sha256,
      scanId: e.scanId,
      path: e.path,
      verdict: r.verdict ?? 'pending',
      rawState: e.rawState,
      threat: r.threat,
      destination: r.destination,
      changes: [...e.changes],
      logLines: [...(this.logs.get(shareFileKey(r.share, r.name)) ?? [])],
    };
  }

  /** Where a row's file was placed (its destination folder), when known. */
  placedPath(id: string): string | undefined {
    return this.byId.get(id)?.path;
  }

  scanIdOf(id: string): string | undefined {
    return this.byId.get(id)?.scanId;
  }

  dispose(): void {
    this.notifier.dispose();
  }

  private onFile(f: FileRecord): void {
    const share = shareOf(f);
    const key = shareFileKey(share, f.name);
    let e = f.scanId ? this.byId.get(f.scanId) : undefined;
    if (!e) {
      const curId = this.current.get(key);
      const cur = curId ? this.byId.get(curId) : undefined;
      if (cur && !cur.row.verdict && (!cur.scanId || !f.scanId)) {
        e = cur;
        if (f.scanId && !cur.scanId) this.rekey(cur, f.scanId);
      } else {
        e = this.put({ row: { id: f.scanId ?? `in:${key}`, time: f.changedAt, share, name: f.name, size: f.size }, scanId: f.scanId, changes: [] });
      }
    }
    this.current.set(key, e.row.id);
    const last = e.changes[e.changes.length - 1];
    if (!last || last.state !== f.stage || last.detail !== f.reason) pushChange(e, { at: f.changedAt, state: f.stage, detail: f.reason });
    if (f.submittedAt !== undefined) e.submittedAt = f.submittedAt;
    if (!e.row.verdict) e.row = { ...e.row, time: f.changedAt, size: f.size, stage: f.stage, sha256: f.sha256 ?? e.row.sha256 };
    this.touch(e.row.id);
  }

  private onRouted(f: RoutedFile): void {
    const share = shareOf(f);
    const key = shareFileKey(share, f.name);
    let e = this.byId.get(f.scanId);
    if (!e) {
      const curId = this.current.get(key);
      const cur = curId ? this.byId.get(curId) : undefined;
      if (cur && !cur.scanId && !cur.row.verdict) {
        e = cur;
        this.rekey(cur, f.scanId);
      } else {
        e = this.put({ row: { id: f.scanId, time: f.routedAt, share, name: f.name, size: f.size }, scanId: f.scanId, changes: [] });
      }
    }
    if (this.current.get(key) === e.row.id) this.current.delete(key);
    e.scanId = f.scanId;
    e.path = f.path;
    e.rawState = f.rawState;
    e.submittedAt = f.submittedAt;
    pushChange(e, { at: f.routedAt, state: 'routed', detail: f.rawState });
    const row: VerdictRow = {
      id: e.row.id,
      time: f.routedAt,
      share,
      name: f.name,
      size: f.size,
      sha256: f.sha256,
      verdict: f.verdict,
      durationMs: Math.max(0, f.routedAt - f.submittedAt),
      destination: f.destination,
    };
    row.threat = this.threatFor(row);
    e.row = row;
    this.touch(row.id);
  }

  private onRemoved(share: string, name: string): void {
    const key = shareFileKey(share, name);
    const id = this.current.get(key);
    this.current.delete(key);
    const e = id ? this.byId.get(id) : undefined;
    if (!e || e.row.verdict) return;
    if (!e.scanId) {
      // Never sent to KATA (settling, excluded, too large…): nothing was handled.
      this.byId.delete(e.row.id);
      this.removed(e.row.id);
      return;
    }
    pushChange(e, { at: Date.now(), state: 'removed' });
    this.touch(e.row.id);
  }

  /**
   * Releases and deletions from the quarantine audit (oldest first; each applied once): the row of
   * the version that was in quarantine then says where the file is now, so the panel stops
   * offering "Release" for a file that is gone.
   */
  applyQuarantineAudit(records: readonly QuarantineAction[]): void {
    for (const r of records) {
      const at = Date.parse(r.time);
      const share = shareOf(r);
      const key = `${r.time}\u0000${r.action}\u0000${share}\u0000${r.file}\u0000${r.sha256}`;
      if (this.auditApplied.has(key) || !Number.isFinite(at)) continue;
      this.auditApplied.add(key);
      const sha = r.sha256.toLowerCase();
      for (const [id, e] of this.byId) {
        if (e.row.destination !== 'qrnt' || e.row.name !== r.file || shareOf(e.row) !== share || e.row.sha256?.toLowerCase() !== sha || e.row.time > at) continue;
        e.row = { ...e.row, destination: r.action === 'release' ? 'released' : 'deleted' };
        if (r.action === 'release') e.path = r.to;
        else e.path = undefined;
        pushChange(e, { at, state: r.action === 'release' ? 'released' : 'deleted', detail: r.user });
        this.touch(id);
      }
    }
  }

  private threatFor(row: VerdictRow): string | undefined {
    if (!row.sha256 || !row.verdict || row.verdict === 'not detected') return row.threat;
    return this.threatOf?.(row.sha256) ?? row.threat;
  }

  private put(e: Entry): Entry {
    this.byId.set(e.row.id, e);
    while (this.byId.size > this.maxRows) {
      const oldest = this.byId.keys().next().value!;
      this.byId.delete(oldest);
      this.removed(oldest);
    }
    this.touch(e.row.id);
    return e;
  }

  private rekey(e: Entry, scanId: string): void {
    const old = e.row.id;
    this.byId.delete(old);
    this.removed(old);
    e.scanId = scanId;
    e.row = { ...e.row, id: scanId };
    this.byId.set(scanId, e);
    const key = shareFileKey(e.row.share, e.row.name);
    if (this.current.get(key) === old) this.current.set(key, scanId);
    this.touch(scanId);
  }

  private touch(id: string): void {
    this.dirty.add(id);
    this.removedIds.delete(id);
    this.cached = undefined;
    this.notifier.changed();
  }

  private removed(id: string): void {
    this.dirty.delete(id);
    this.removedIds.add(id);
    this.cached = undefined;
    this.notifier.changed();
  }
}

function pushChange(e: Entry, c: StateChange): void {
  e.changes.push(c);
  if (e.changes.length > maxChanges) e.changes.splice(0, e.changes.length - maxChanges);
}

function timeOfEntry(j: ScanEntry): number {
  return j.verdictAt ?? j.doneAt ?? j.submittedAt ?? j.intentAt;
}
