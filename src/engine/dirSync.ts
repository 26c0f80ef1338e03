import { fsyncDir } from '../common/fsync';

/**
 * Groups folder fsyncs: a rename or unlink is durable once an fsync of its folder *started after
 * it* has finished. Callers that ask while an fsync of the same folder is running share the next
 * one, so a batch of deliveries into one folder costs one or two fsyncs, not one each.
 */
export class DirSyncer {
  private readonly folders = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();

  constructor(private readonly syncFolder: (dir: string) => Promise<void> = fsyncDir) {}

  sync(dir: string): Promise<void> {
    let f = this.folders.get(dir);
    if (!f) this.folders.set(dir, (f = {}));
    const state = f;
    if (!state.running) {
      state.running = this.run(dir, state);
      return state.running;
    }
    state.next ??= state.running.then(
      () => this.startNext(dir, state),
      () => this.startNext(dir, state),
    );
    return state.next;
  }

  private startNext(dir: string, state: { running?: Promise<void>; next?: Promise<void> }): Promise<void> {
    state.next = undefined;
    state.running = this.run(dir, state);
    return state.running;
  }

  private async run(dir: string, state: { running?: Promise<void>; next?: Promise<void> }): Promise<void> {
    try {
      await this.syncFolder(dir);
    } finally {
      // Ends this round; a round already queued (state.next) replaces running itself.
      if (!state.next) {
        state.running = undefined;
        if (this.folders.get(dir) === state) this.folders.delete(dir);
      }
    }
  }
}
