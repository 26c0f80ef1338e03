import { existsSync, type FSWatcher, readdirSync, watch } from 'node:fs';
import { join } from 'node:path';

/**
 * When each file named `prefix…` first showed up in output or quarantine, seen from outside
 * (inotify, with a readdir sweep every 250 ms in case events were dropped), so the same
 * measurement works for `kds run` and for the baseline script.
 */
export class DeliveryWatcher {
  /** name → [time first seen (ms), 'out' | 'qrnt'] */
  readonly seen = new Map<string, [number, 'out' | 'qrnt']>();
  private readonly watchers: FSWatcher[] = [];
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(
    private readonly dirs: { out: string; qrnt: string },
    private readonly prefix: string,
  ) {
    for (const where of ['out', 'qrnt'] as const) {
      this.watchers.push(
        watch(dirs[where], (_event, name) => {
          if (name) this.note(String(name), where, Date.now());
        }),
      );
    }
    this.sweepTimer = setInterval(() => this.sweep(), 250);
  }

  private note(name: string, where: 'out' | 'qrnt', at: number): void {
    if (!name.startsWith(this.prefix) || this.seen.has(name)) return;
    // An event for a name also fires when it is removed; only a present file counts.
    if (this.present(where, name)) this.seen.set(name, [at, where]);
  }

  private present(where: 'out' | 'qrnt', name: string): boolean {
    return existsSync(join(this.dirs[where], name));
  }

  /** Names in the folder, read once, for the sweep and the final check. */
  list(where: 'out' | 'qrnt'): string[] {
    return readdirSync(this.dirs[where]).filter((n) => n.startsWith(this.prefix));
  }

  sweep(): void {
    const now = Date.now();
    for (const where of ['out', 'qrnt'] as const) {
      for (const name of this.list(where)) if (!this.seen.has(name)) this.seen.set(name, [now, where]);
    }
  }

  get count(): number {
    return this.seen.size;
  }

  lastAt(): number {
    let last = 0;
    for (const [at] of this.seen.values()) last = Math.max(last, at);
    return last;
  }

  close(): void {
    clearInterval(this.sweepTimer);
    for (const w of this.watchers) w.close();
  }
}
