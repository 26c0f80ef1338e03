/**
 * The background rounds of the Central Nodes view: every saved CN probed at a modest rate, a few
 * at a time, each within its own deadline. While the view is visible the SSH sessions stay open
 * between rounds (one per CN); while it is hidden rounds are rarer and every session is closed
 * after each, so the status bar still counts the CNs that need attention without holding
 * connections nobody looks at. Rounds never overlap: a refresh asked for during one follows it.
 */
import { type CentralNodeEntry, cnId } from './fleetList';
import { type FleetConnector, probeFleet } from './fleetProbe';
import type { CnProbe } from '../viewModel/fleetStatus';

export interface FleetMonitorOptions {
  connector: FleetConnector & { closeAll(): Promise<void>; keepOnly(entries: CentralNodeEntry[]): Promise<void> };
  /** Between rounds while the view is visible (default 60 s) and while it is not (default 5 min). */
  visibleEveryMs?: number;
  hiddenEveryMs?: number;
  /** Per CN, connecting included (default 45 s). */
  timeoutMs?: number;
  /** CNs probed at once (default 4). */
  concurrency?: number;
  /** Rounds run only while this says so (a trusted workspace). */
  enabled?: () => boolean;
  now?: () => number;
}

export class FleetMonitor {
  private entries: CentralNodeEntry[] = [];
  private readonly probes = new Map<string, CnProbe>();
  private readonly checking = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private visible = false;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private disposed = false;

  constructor(private readonly o: FleetMonitorOptions) {}

  onDidChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The last probe of a CN (undefined: not probed yet). */
  probeOf(entry: CentralNodeEntry): CnProbe | undefined {
    return this.probes.get(cnId(entry));
  }

  isChecking(entry: CentralNodeEntry): boolean {
    return this.checking.has(cnId(entry));
  }

  get list(): readonly CentralNodeEntry[] {
    return this.entries;
  }

  /** The saved list changed: forget what is gone, look at what is new now. */
  setEntries(entries: CentralNodeEntry[]): void {
    const before = new Set(this.entries.map(cnId));
    this.entries = entries;
    const ids = new Set(entries.map(cnId));
    for (const id of [...this.probes.keys()]) if (!ids.has(id)) this.probes.delete(id);
    void this.o.connector.keepOnly(entries);
    this.fire();
    if (entries.some((e) => !before.has(cnId(e)))) void this.refresh();
    else this.schedule();
  }

  /** The view became visible (look now, keep sessions) or hidden (close them). */
  setVisible(visible: boolean): void {
    if (visible === this.visible) return;
    this.visible = visible;
    if (visible) void this.refresh();
    else {
      void this.o.connector.closeAll();
      this.schedule();
    }
  }

  /** A round now, or right after the one running; resolves when a round that started after this call ended. */
  refresh(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (this.round) {
      this.next ??= this.round.then(() => {
        this.next = undefined;
        return this.refresh();
      });
      return this.next;
    }
    this.round = this.run().finally(() => {
      this.round = undefined;
      if (!this.next) this.schedule();
    });
    return this.round;
  }

  private async run(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.o.enabled && !this.o.enabled()) return;
    const entries = [...this.entries];
    if (!entries.length) return;
    for (const e of entries) this.checking.add(cnId(e));
    this.fire();
    try {
      await probeFleet(entries, this.o.connector, {
        concurrency: this.o.concurrency ?? 4,
        timeoutMs: this.o.timeoutMs ?? 45_000,
        ...(this.o.now && { now: this.o.now }),
        onResult: (e, p) => {
          this.checking.delete(cnId(e));
          // A CN removed during the round is not brought back.
          if (this.entries.some((x) => cnId(x) === cnId(e))) this.probes.set(cnId(e), p);
          this.fire();
        },
      });
    } finally {
      for (const e of entries) this.checking.delete(cnId(e));
      if (!this.visible) await this.o.connector.closeAll();
      this.fire();
    }
  }

  private schedule(): void {
    if (this.disposed || this.round) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.entries.length) return;
    this.timer = setTimeout(() => void this.refresh(), this.visible ? (this.o.visibleEveryMs ?? 60_000) : (this.o.hiddenEveryMs ?? 300_000));
    this.timer.unref?.();
  }

  private fire(): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch {
        // A listener's failure is not the monitor's.
      }
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
    await this.round?.catch(() => undefined);
    await this.o.connector.closeAll();
  }
}
