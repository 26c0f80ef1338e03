/**
 * Tells listeners that a model changed, at most once per `intervalMs`. A burst of engine events
 * (a copy of 10 000 files into input) would otherwise make the tree re-render once per event.
 * Listeners are called from a timer, never from inside the engine's own event dispatch.
 */
export class ChangeNotifier {
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private lastFired = -Infinity;
  private disposed = false;

  constructor(private readonly intervalMs: number) {}

  on(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Marks a change; the listeners hear of it soon, together with every change until then. */
  changed(): void {
    if (this.disposed || this.timer) return;
    const delay = Math.max(0, this.lastFired + this.intervalMs - Date.now());
    this.timer = setTimeout(() => this.fire(), delay);
    // A model nobody disposed must not keep a CLI or a test process alive.
    this.timer.unref?.();
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private fire(): void {
    this.timer = undefined;
    this.lastFired = Date.now();
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch {
        // One failing view must not keep the others stale.
      }
    }
  }
}
