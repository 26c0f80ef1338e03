import { lstat } from 'node:fs/promises';
import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import type { FolderGuard } from './engineOptions';
import type { EngineEvent } from './events';
import type { FolderState } from './shareName';

export type FolderName = 'in' | 'out' | 'qrnt';

/**
 * Whether a share's input, output and quarantine are usable, as the engine last found them:
 * checks a folder (its share still mounted, still a folder), and reports each change once, in
 * the log and as a `folder` event naming the share. Each share has its own.
 */
export class FolderHealth {
  private readonly state = new Map<FolderName, string | undefined>();
  private readonly paths = new Map<FolderName, string>();
  /** Destination checks passed within the last second are not repeated for every file of a batch. */
  private readonly okAt = new Map<string, number>();
  /** The destination check under way, per folder. */
  private readonly checking = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly o: { share: string; logger: Logger; guard?: FolderGuard; emit: (event: EngineEvent) => void },
  ) {}

  /** Why the folder cannot be used now, or undefined when it can. */
  async problem(dir: string): Promise<string | undefined> {
    if (this.o.guard) {
      const p = await this.o.guard(dir);
      if (p !== undefined) return p;
    }
    try {
      const st = await lstat(dir);
      if (!st.isDirectory()) return 'not a folder';
    } catch (err) {
      return errText(err);
    }
    return undefined;
  }

  /** problem(), for a destination: a check passed within the last second counts. */
  async destinationProblem(dir: string): Promise<string | undefined> {
    const now = Date.now();
    if (now - (this.okAt.get(dir) ?? 0) < 1000) return undefined;
    // A poll's verdicts start their deliveries together: one check answers them all.
    const running = this.checking.get(dir);
    if (running) return running;
    const check: Promise<string | undefined> = this.problem(dir).then(
      (problem) => {
        if (this.checking.get(dir) === check) {
          this.checking.delete(dir);
          if (problem === undefined) this.okAt.set(dir, now);
          else this.okAt.delete(dir);
        }
        return problem;
      },
      (err: unknown) => {
        if (this.checking.get(dir) === check) this.checking.delete(dir);
        throw err;
      },
    );
    this.checking.set(dir, check);
    return check;
  }

  /** A delivery into the folder failed: the next one checks it again. */
  doubt(dir: string): void {
    this.okAt.delete(dir);
    this.checking.delete(dir);
  }

  /** The folder was found usable at the last look. */
  isUp(folder: FolderName): boolean {
    return this.state.has(folder) && this.state.get(folder) === undefined;
  }

  /** The folder was found unusable at the last look. */
  isDown(folder: FolderName): boolean {
    return this.state.get(folder) !== undefined;
  }

  /** Each folder as last found (those not looked at yet are left out), for the engine's snapshot. */
  states(): FolderState[] {
    return [...this.state].map(([folder, problem]) => ({
      share: this.o.share,
      folder,
      available: problem === undefined,
      path: this.paths.get(folder) ?? '',
      ...(problem !== undefined && { reason: problem }),
    }));
  }

  set(folder: FolderName, path: string, problem: string | undefined): void {
    const before = this.state.has(folder) ? this.state.get(folder) : null;
    if (before === problem) return;
    this.state.set(folder, problem);
    this.paths.set(folder, path);
    if (problem !== undefined) this.o.logger.warn('folder-unavailable', t('{0} folder is unavailable ({1}); waiting for it, nothing is moved meanwhile', folder, problem), { path });
    else if (before !== null && before !== undefined) this.o.logger.info('folder-available', t('{0} folder is available again', folder), { path });
    this.o.emit({ type: 'folder', share: this.o.share, folder, available: problem === undefined, path, ...(problem !== undefined ? { reason: problem } : {}) });
  }
}

/** An error as a folder problem: its errno code when it has one. */
export function errText(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);
}
