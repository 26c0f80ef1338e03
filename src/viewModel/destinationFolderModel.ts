import { partialPrefix } from '../engine/delivery';
import { type EngineEvent, type RoutedFile, verdictOf } from '../engine/events';
import { defaultShareName, shareOf } from '../engine/shareName';
import type { ThreatNameLookup } from '../kata/threatNames';
import { ChangeNotifier } from './changeNotifier';
import type { EngineSource, FolderItem } from './contracts';
import { type FolderLister, localFolderLister } from './folderLister';
import { type ScanHistorySource, localScanHistory } from './scanHistory';

export interface DestinationFolderModelOptions {
  folder: 'out' | 'qrnt';
  dir: string;
  /** The share whose folder this is: only its events, scans and audit records count. Default `default`. */
  share?: string;
  /** The engine's state_dir: its journal tells verdict, hash and scan of files routed earlier. */
  stateDir?: string;
  /** The same history read elsewhere (a Central Node's state_dir over SFTP); wins over stateDir. */
  history?: ScanHistorySource;
  source?: EngineSource;
  threats?: ThreatNameLookup;
  /** How the folder is listed and watched; default the local file system (remote mode: SFTP). */
  lister?: FolderLister;
  /** Quiet time after a folder change or routed event before the folder is listed again. Default 250. */
  debounceMs?: number;
  /** Listeners hear of changes at most once per this many ms. Default 100. */
  coalesceMs?: number;
}

/** What is known of a file from the engine, whichever told it (journal or live event). */
interface ScanFacts {
  size: number;
  released?: { by: string; at: number };
  sha256?: string;
  scanId?: string;
  rawState?: string;
  submittedAt?: number;
  routedAt?: number;
}

/**
 * The output or quarantine folder: its regular files, with what KDS knows about each. Unlike
 * input, these folders are also changed by people and other programs, so the truth is a
 * listing of the folder, redone (debounced) when it changes or the engine routes a file.
 */
export class DestinationFolderModel {
  private list: FolderItem[] = [];
  /** Decorations ask per file; a Map keeps that O(1) with 10 000 files. */
  private byName = new Map<string, FolderItem>();
  private readonly fromEvents = new Map<string, ScanFacts>();
  private readonly notifier: ChangeNotifier;
  private readonly unsubscribe: (() => void) | undefined;
  private stopWatching: (() => void) | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private disposed = false;
  private localHistory: ScanHistorySource | undefined;

  constructor(private readonly opts: DestinationFolderModelOptions) {
    this.notifier = new ChangeNotifier(opts.coalesceMs ?? 100);
    this.unsubscribe = opts.source?.onEvent((e) => this.onEngineEvent(e));
  }

  get folder(): 'out' | 'qrnt' {
    return this.opts.folder;
  }

  /** Newest arrival first. */
  items(): FolderItem[] {
    return this.list;
  }

  get(name: string): FolderItem | undefined {
    return this.byName.get(name);
  }

  onChange(listener: () => void): () => void {
    return this.notifier.on(listener);
  }

  /** Lists the folder again; concurrent calls share one listing, plus one more if asked during it. */
  refresh(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.listOnce();
        } while (this.again && !this.disposed);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  dispose(): void {
    this.disposed = true;
    this.unsubscribe?.();
    this.stopWatching?.();
    this.stopWatching = undefined;
    if (this.debounce) clearTimeout(this.debounce);
    this.notifier.dispose();
  }

  private setList(items: FolderItem[]): void {
    this.list = items;
    this.byName = new Map(items.map((i) => [i.name, i]));
  }

  private get share(): string {
    return this.opts.share ?? defaultShareName;
  }

  private onEngineEvent(e: EngineEvent): void {
    if (e.type === 'routed' && e.file.destination === this.opts.folder && shareOf(e.file) === this.share) {
      this.fromEvents.set(e.file.name, factsOfRouted(e.file));
      this.soon();
    } else if (e.type === 'folder' && e.folder === this.opts.folder && shareOf(e) === this.share) {
      this.soon();
    }
  }

  private soon(): void {
    if (this.disposed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.refresh();
    }, this.opts.debounceMs ?? 250);
    this.debounce.unref?.();
  }

  private get lister(): FolderLister {
    return this.opts.lister ?? localFolderLister;
  }

  /** (Re)starts watching; a folder that was missing or unmounted is picked up on a later refresh. */
  private ensureWatching(): void {
    if (this.stopWatching || this.disposed || !this.lister.watch) return;
    let stop: (() => void) | undefined;
    stop = this.lister.watch(this.opts.dir, (dead) => {
      if (dead && this.stopWatching === stop) this.stopWatching = undefined;
      this.soon();
    });
    this.stopWatching = stop;
  }

  private async listOnce(): Promise<void> {
    const dir = this.opts.dir;
    const startedAt = Date.now();
    let entries: Awaited<ReturnType<FolderLister['list']>> = [];
    try {
      entries = await this.lister.list(dir);
    } catch {
      entries = [];
    }
    this.ensureWatching();
    const journal = await this.journalFacts();
    const items: FolderItem[] = [];
    const arrived = new Map<string, number>();
    for (const st of entries) {
      const name = st.name;
      if (name.startsWith(partialPrefix) || !st.isFile) continue;
      const item: FolderItem = { folder: this.opts.folder, share: this.share, name, path: this.lister.join(dir, name), size: st.size, mtimeMs: st.mtimeMs };
      const facts = this.factsFor(name, st.size, journal);
      if (facts) {
        item.sha256 = facts.sha256;
        item.scanId = facts.scanId;
        item.rawState = facts.rawState;
        item.verdict = facts.rawState !== undefined ? verdictOf(facts.rawState) : undefined;
        item.submittedAt = facts.submittedAt;
        item.routedAt = facts.routedAt;
        if (facts.sha256) item.threat = this.opts.threats?.lookup(facts.sha256);
        if (facts.released) item.released = facts.released;
      }
      items.push(item);
      arrived.set(name, item.routedAt ?? st.ctimeMs);
    }
    if (this.disposed) return;
    items.sort((a, b) => arrived.get(b.name)! - arrived.get(a.name)! || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const changed = !sameItems(this.list, items);
    if (changed) this.setList(items);
    // Facts of files gone from the folder are dropped, except those routed while it was being listed.
    for (const [name, f] of this.fromEvents) if (!arrived.has(name) && (f.routedAt ?? 0) < startedAt) this.fromEvents.delete(name);
    if (changed) this.notifier.changed();
    this.fetchThreatsIfMissing();
  }

  /** Journal first (history across restarts), then live events, which are newer by construction. */
  private factsFor(name: string, size: number, journal: Map<string, ScanFacts>): ScanFacts | undefined {
    // A size that differs means the file of that name is not the one the engine placed (replaced since).
    const live = this.fromEvents.get(name);
    if (live && live.size === size) return live;
    const old = journal.get(name);
    if (old && old.size === size) return old;
    return undefined;
  }

  private async journalFacts(): Promise<Map<string, ScanFacts>> {
    const out = new Map<string, ScanFacts>();
    const source = this.opts.history ?? (this.opts.stateDir ? (this.localHistory ??= localScanHistory(this.opts.stateDir)) : undefined);
    if (!source) return out;
    let finished;
    let audit;
    try {
      ({ finished, audit } = await source());
    } catch {
      return out;
    }
    // finished is newest first: the first entry per name is the one that placed the current file.
    const share = this.share;
    for (const e of finished) {
      if (e.outcome !== 'routed' || e.destination !== this.opts.folder || e.share !== share || out.has(e.name)) continue;
      out.set(e.name, { size: e.size, sha256: e.sha256, scanId: e.scanId, rawState: e.state, submittedAt: e.submittedAt, routedAt: e.doneAt });
    }
    if (this.opts.folder === 'out') {
      // A file released from quarantine keeps KATA's verdict, and says who released it. The
      // audit is oldest first, so a later release of the same name wins.
      for (const r of audit) {
        if (r.action !== 'release' || shareOf(r) !== share) continue;
        const scan = finished.find((e) => e.share === share && e.name === r.file && e.sha256 === r.sha256 && e.destination === 'qrnt');
        const at = Date.parse(r.time);
        const prev = out.get(r.file);
        if (prev && (prev.routedAt ?? 0) > at) continue;
        out.set(r.file, {
          size: scan?.size ?? prev?.size ?? -1,
          sha256: r.sha256,
          scanId: scan?.scanId,
          rawState: scan?.state,
          submittedAt: scan?.submittedAt,
          routedAt: at,
          released: { by: r.user, at },
        });
      }
    }
    return out;
  }

  /** Detected files without a threat name yet: ask KATA's alerts (rate-limited there), then relabel. */
  private fetchThreatsIfMissing(): void {
    const threats = this.opts.threats;
    if (!threats || !this.list.some((i) => i.sha256 && !i.threat && i.verdict === 'detect')) return;
    void threats.refreshSoon().then((added) => {
      if (!added || this.disposed) return;
      let changed = false;
      const relabelled = this.list.map((i) => {
        const threat = i.sha256 ? threats.lookup(i.sha256) : undefined;
        if (threat === i.threat) return i;
        changed = true;
        return { ...i, threat };
      });
      if (!changed) return;
      this.setList(relabelled);
      this.notifier.changed();
    });
  }
}

function factsOfRouted(f: RoutedFile): ScanFacts {
  return { size: f.size, sha256: f.sha256, scanId: f.scanId, rawState: f.rawState, submittedAt: f.submittedAt, routedAt: f.routedAt };
}

const compared: Array<keyof FolderItem> = ['name', 'size', 'mtimeMs', 'sha256', 'scanId', 'rawState', 'threat', 'routedAt'];

function sameItems(a: FolderItem[], b: FolderItem[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) for (const k of compared) if (a[i]![k] !== b[i]![k]) return false;
  return true;
}
