import { fsyncDir, fsyncLocalDir } from '../common/fsync';

/**
 * Groups folder fsyncs: a rename or unlink is durable once an fsync of its folder *started after
 * it* has finished. Callers that ask while an fsync of the same folder is running share the next
 * one, so a batch of deliveries into one folder costs one or two fsyncs, not one each.
 */
export class DirSyncer {
  private readonly folders = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();

  constructor(private readonly syncFolder: (dir: string, local: boolean) => Promise<void> = (dir, local) => (local ? fsyncLocalDir(dir) : fsyncDir(dir))) {}

  /** `local`: the folder is on a local file system (folderFs.ts), where opening it does not wait on a network. */
  sync(dir: string, local = false): Promise<void> {
    let f = this.folders.get(dir);
    if (!f) this.folders.set(dir, (f = {}));
    const state = f;
    if (!state.running) {
      state.running = this.run(dir, state, local);
      return state.running;
    }
    state.next ??= state.running.then(
      () => this.startNext(dir, state, local),
      () => this.startNext(dir, state, local),
    );
    return state.next;
  }

  private startNext(dir: string, state: { running?: Promise<void>; next?: Promise<void> }, local: boolean): Promise<void> {
    state.next = undefined;
    state.running = this.run(dir, state, local);
    return state.running;
  }

  private async run(dir: string, state: { running?: Promise<void>; next?: Promise<void> }, local: boolean): Promise<void> {
    try {
      await this.syncFolder(dir, local);
    } finally {
      // Ends this round; a round already queued (state.next) replaces running itself.
      if (!state.next) {
        state.running = undefined;
        if (this.folders.get(dir) === state) this.folders.delete(dir);
      }
    }
  }
}
