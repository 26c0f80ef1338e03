import type { ApprovalState, EngineEvent, FileRecord } from '../engine/events';
import type { EventStreamRecord } from '../engine/eventStream';
import { type FolderState, shareFileKey, shareOf } from '../engine/shareName';
import type { EngineSnapshot, EngineSource } from '../viewModel/contracts';
import { EventFollower, type EventFileReader, type FollowStart } from './eventFollower';

export interface RemoteEngineSourceOptions {
  /** How often events.jsonl is polled (default 1 s). */
  pollMs?: number;
  start?: FollowStart;
  /** A poll failed (connection down, file unreadable); the follower retries on its next poll. */
  onError?: (err: Error) => void;
  /** Records were rotated away unread (the follower fell behind by more than a file). */
  onGap?: (from: number, to: number) => void;
  now?: () => number;
}

/**
 * The engine on the Central Node as an EngineSource: the service's event stream
 * (<state_dir>/events.jsonl, engine/eventStream.ts) followed through an EventFileReader (SFTP in
 * the extension), resumed after reconnects without loss or duplicates (remote/eventFollower.ts).
 * It keeps the same state a local engine's snapshot() has (running, approval, input files) and
 * passes every event on to the views. A `snapshot` record in the stream (a new file after
 * rotation, a restarted service) replaces the state; the differences are told to listeners as
 * ordinary events, so views built earlier stay right.
 */
export class RemoteEngineSource implements EngineSource {
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private readonly stateListeners = new Set<() => void>();
  /** By share and name (shareFileKey): a name in two shares is two files. */
  private readonly files = new Map<string, FileRecord>();
  /** By share and folder. */
  private readonly folders = new Map<string, FolderState>();
  private running = false;
  private approval: ApprovalState = 'unknown';
  private approvalInfo = { systemId: '', fingerprint256: '' };
  private readonly follower: EventFollower;
  private lastRecord: EventStreamRecord | undefined;
  private lastRecordAtMs: number | undefined;
  private started = false;
  private readonly now: () => number;

  constructor(
    reader: EventFileReader,
    readonly stateDir: string,
    o: RemoteEngineSourceOptions = {},
  ) {
    this.now = o.now ?? Date.now;
    this.follower = new EventFollower(reader, stateDir, {
      start: o.start ?? 'current-file',
      pollMs: o.pollMs ?? 1000,
      onRecord: (r) => this.onRecord(r),
      onReset: () => this.clear(),
      onError: (e) => o.onError?.(e),
      onGap: (from, to) => o.onGap?.(from, to),
    });
  }

  /** The seq of the last record applied. */
  get lastSeq(): number | undefined {
    return this.follower.lastSeq;
  }

  /** When the last record (event, heartbeat, snapshot) was read; undefined before the first. */
  get lastRecordAt(): number | undefined {
    return this.lastRecordAtMs;
  }

  /** Whether anything was read from the stream yet (false: the service never ran, or state_dir is wrong). */
  get hasStream(): boolean {
    return this.lastRecord !== undefined;
  }

  get approvalDetails(): { systemId: string; fingerprint256: string } {
    return this.approvalInfo;
  }

  start(): void {
    this.started = true;
    this.follower.start();
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.follower.stop();
  }

  /** One poll now (tests, and "Rescan" in remote mode). Resolves with the number of records read. */
  poll(): Promise<number> {
    return this.follower.poll();
  }

  get isStarted(): boolean {
    return this.started;
  }

  onEvent(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Fires after running or approval changed (status bar, context keys). */
  onDidChangeState(listener: () => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  snapshot(): EngineSnapshot {
    const snap: EngineSnapshot = { running: this.running, approval: this.approval, files: [...this.files.values()], folders: [...this.folders.values()] };
    if (this.approvalInfo) snap.identity = this.approvalInfo;
    return snap;
  }

  private emit(e: EngineEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // A view's failure must not stop the stream.
      }
    }
  }

  private stateChanged(): void {
    for (const l of [...this.stateListeners]) {
      try {
        l();
      } catch {
        // ignore
      }
    }
  }

  private onRecord(r: EventStreamRecord): void {
    this.lastRecord = r;
    this.lastRecordAtMs = this.now();
    if (r.kind === 'snapshot') this.applySnapshot(r.snapshot);
    else if (r.kind === 'event') this.applyEvent(r.event);
  }

  private applyEvent(e: EngineEvent): void {
    let state = false;
    switch (e.type) {
      case 'file':
        this.files.set(shareFileKey(e.file.share, e.file.name), e.file);
        break;
      case 'file-removed':
      case 'ignored':
        this.files.delete(shareFileKey(e.share, e.name));
        break;
      case 'routed':
        this.files.delete(shareFileKey(e.file.share, e.file.name));
        break;
      case 'folder':
        this.folders.set(`${shareOf(e)}/${e.folder}`, { share: shareOf(e), folder: e.folder, available: e.available, path: e.path, ...(e.reason !== undefined && { reason: e.reason }) });
        break;
      case 'running':
        state = this.running !== e.running;
        this.running = e.running;
        break;
      case 'approval':
        state = this.approval !== e.state;
        this.approval = e.state;
        this.approvalInfo = { systemId: e.systemId, fingerprint256: e.fingerprint256 };
        break;
      default:
        break;
    }
    this.emit(e);
    if (state) this.stateChanged();
  }

  /** Replaces the state with a snapshot and tells listeners the difference as events. */
  private applySnapshot(s: EngineSnapshot): void {
    const next = new Map(s.files.map((f) => [shareFileKey(f.share, f.name), f]));
    for (const [key, f] of [...this.files]) {
      if (!next.has(key)) {
        this.files.delete(key);
        this.emit({ type: 'file-removed', share: shareOf(f), name: f.name });
      }
    }
    for (const [key, f] of next) {
      const old = this.files.get(key);
      this.files.set(key, f);
      if (old !== f) this.emit({ type: 'file', file: f });
    }
    for (const f of s.folders ?? []) {
      const key = `${f.share}/${f.folder}`;
      const old = this.folders.get(key);
      this.folders.set(key, f);
      if (old?.available !== f.available || old.reason !== f.reason) this.emit({ type: 'folder', ...f });
    }
    let state = false;
    if (s.running !== this.running) {
      this.running = s.running;
      this.emit({ type: 'running', running: s.running });
      state = true;
    }
    if (s.approval !== this.approval) {
      this.approval = s.approval;
      this.emit({ type: 'approval', state: s.approval, ...this.approvalInfo });
      state = true;
    }
    if (state) this.stateChanged();
  }

  /** The stream started over (state_dir emptied): forget everything; the new file's snapshot follows. */
  private clear(): void {
    for (const f of [...this.files.values()]) this.emit({ type: 'file-removed', share: shareOf(f), name: f.name });
    this.files.clear();
    this.folders.clear();
    const was = this.running;
    this.running = false;
    this.approval = 'unknown';
    if (was) this.emit({ type: 'running', running: false });
    this.stateChanged();
  }
}
