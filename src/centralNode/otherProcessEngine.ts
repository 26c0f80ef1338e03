import type { EngineEvent } from '../engine/events';
import { type OwnerProbeOptions, type StateDirOwner, stateDirOwner } from '../engine/stateDirOwner';
import type { EngineSnapshot, EngineSource } from '../viewModel/contracts';
import { type EventFileReader, localEventFileReader } from './eventFollower';
import { RemoteEngineSource } from './remoteEngineSource';

export interface OtherProcessEngineOptions {
  /** How often the state_dir lock is looked at (default 3 s). */
  checkMs?: number;
  /** How often the event stream is read while another process runs (default 1 s). */
  pollMs?: number;
  /** The event stream's files (default: this machine's file system). */
  reader?: EventFileReader;
  /** Who holds the lock (default stateDirOwner). */
  owner?: (stateDir: string) => Promise<StateDirOwner | undefined>;
  probe?: OwnerProbeOptions;
}

const idle: EngineSnapshot = { running: false, approval: 'unknown', files: [] };

/**
 * An engine running in another process on this machine (`kds run`, `kds demo`, the service,
 * another VS Code window) on the configuration this window shows: recognised from the state_dir
 * lock, followed through its event stream — the Central Node's follower (RemoteEngineSource,
 * EventFollower) with the local file system as its byte source. While nobody else holds the
 * lock it is an idle source; when the owner goes away, its input files are taken off the views.
 */
export class OtherProcessEngine implements EngineSource {
  private current: { owner: StateDirOwner; source: RemoteEngineSource; unsubscribe: Array<() => void> } | undefined;
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private readonly changeListeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private disposed = false;

  constructor(
    readonly stateDir: string,
    private readonly o: OtherProcessEngineOptions = {},
  ) {}

  /** The other process, while one holds the state_dir. */
  get owner(): StateDirOwner | undefined {
    return this.current?.owner;
  }

  /** Whether the other process writes an event stream that was read (false: only its folders can be shown). */
  get hasStream(): boolean {
    return this.current?.source.hasStream ?? false;
  }

  /** Checks now, then every checkMs. */
  start(): void {
    if (this.timer || this.disposed) return;
    void this.check();
    this.timer = setInterval(() => void this.check(), this.o.checkMs ?? 3000);
    this.timer.unref?.();
  }

  /** One look at the lock (tests, and before Start Scanning decides). Rounds never overlap. */
  check(): Promise<void> {
    this.checking ??= this.checkOnce().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /** One read of the stream now (tests, Rescan). */
  async poll(): Promise<void> {
    await this.current?.source.poll().catch(() => 0);
  }

  onEvent(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Fires when another process appeared or went away, or its running/approval state changed. */
  onDidChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  snapshot(): EngineSnapshot {
    return this.current?.source.snapshot() ?? idle;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.checking?.catch(() => undefined);
    await this.drop(false);
    this.listeners.clear();
    this.changeListeners.clear();
  }

  private async checkOnce(): Promise<void> {
    if (this.disposed) return;
    const owner = await (this.o.owner ?? ((dir) => stateDirOwner(dir, this.o.probe)))(this.stateDir).catch(() => undefined);
    if (this.disposed) return;
    const cur = this.current;
    if (owner && cur && owner.pid === cur.owner.pid && owner.since.getTime() === cur.owner.since.getTime()) {
      // The same process: its kind may become known (a /proc read that failed before).
      if (owner.kind !== cur.owner.kind || owner.canStop !== cur.owner.canStop) {
        cur.owner = owner;
        this.changed();
      }
      return;
    }
    if (cur) await this.drop(true);
    if (!owner || this.disposed) return;
    const source = new RemoteEngineSource(this.o.reader ?? localEventFileReader, this.stateDir, { start: 'current-file', pollMs: this.o.pollMs ?? 1000 });
    const next = { owner, source, unsubscribe: [] as Array<() => void> };
    next.unsubscribe.push(
      source.onEvent((e) => this.emit(e)),
      source.onDidChangeState(() => this.changed()),
    );
    this.current = next;
    source.start();
    // Read the head of the stream now, so the views show its files at once.
    await source.poll().catch(() => 0);
    this.changed();
  }

  /** The other process is gone (or another one took its place): its input files leave the views. */
  private async drop(tell: boolean): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    for (const u of cur.unsubscribe) u();
    await cur.source.stop();
    if (!tell) return;
    const last = cur.source.snapshot();
    for (const f of last.files) this.emit({ type: 'file-removed', name: f.name });
    if (last.running) this.emit({ type: 'running', running: false });
    this.changed();
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

  private changed(): void {
    for (const l of [...this.changeListeners]) {
      try {
        l();
      } catch {
        // ignore
      }
    }
  }
}
