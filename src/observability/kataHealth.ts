import type { KataRequestObservation } from '../kata/client';

export interface KataHealthOptions {
  /** Failing this long (and at least `minFailures` requests in a row) makes KATA unreachable. Default 60 s. */
  unreachableAfterMs?: number;
  minFailures?: number;
  now?: () => number;
  /** Called when KATA becomes unreachable (with the last failure) or reachable again. */
  onChange?: (reachable: boolean, reason: string) => void;
}

/** Failures that say nothing about KATA: the local file changed during an upload, or KDS itself gave up. */
const notKatasFault = new Set(['changed', 'aborted']);

/**
 * Whether KATA answers, learnt from every request the client makes (its observer is the one
 * place each request ends). KATA "answers" when it sends an HTTP status below 500 (a 401, 404 or
 * 429 is an answer); it is unreachable after failing (no answer, TLS failure, 5xx) for
 * `unreachableAfterMs` with at least `minFailures` failures in a row, so one lost request never
 * flips it. It is reachable again at the first answer.
 */
export class KataHealth {
  /** undefined until the first answer or the first verdict of unreachability. */
  private state: boolean | undefined;
  private failuresInRow = 0;
  private failingSince?: number;
  private lastFailure = '';
  /** When KATA last answered 2xx (or 404, "already gone"). */
  lastSuccessAt?: number;
  /** When the last request (any outcome) ended. */
  lastRequestAt?: number;
  private readonly afterMs: number;
  private readonly minFailures: number;
  private readonly now: () => number;

  constructor(private readonly o: KataHealthOptions = {}) {
    this.afterMs = o.unreachableAfterMs ?? 60_000;
    this.minFailures = o.minFailures ?? 3;
    this.now = o.now ?? Date.now;
  }

  /** true: answering; false: unreachable; undefined: no answer yet and not failing long enough to say. */
  get reachable(): boolean | undefined {
    return this.state;
  }

  /** Why KATA counts as unreachable (the last failure), '' otherwise. */
  get reason(): string {
    return this.state === false ? this.lastFailure : '';
  }

  observe(o: KataRequestObservation): void {
    if (o.failure !== undefined && notKatasFault.has(o.failure)) return;
    const now = this.now();
    this.lastRequestAt = now;
    if (o.status !== undefined && o.status < 500) {
      if ((o.status >= 200 && o.status <= 299) || o.status === 404) this.lastSuccessAt = now;
      this.failuresInRow = 0;
      this.failingSince = undefined;
      this.set(true, '');
      return;
    }
    this.failuresInRow++;
    this.failingSince ??= now;
    this.lastFailure = o.status !== undefined ? `HTTP ${o.status} (${o.operation})` : `${o.failure ?? 'error'} (${o.operation})`;
    this.evaluate();
  }

  /** Re-evaluates with the time now (called periodically: failing long enough needs no new request). */
  evaluate(): void {
    if (this.failingSince === undefined || this.failuresInRow < this.minFailures) return;
    if (this.now() - this.failingSince >= this.afterMs) this.set(false, this.lastFailure);
  }

  private set(reachable: boolean, reason: string): void {
    if (this.state === reachable) return;
    const before = this.state;
    this.state = reachable;
    // "Reachable" at the very first answer is no news; "reachable again" after an outage is.
    if (reachable && before === undefined) return;
    this.o.onChange?.(reachable, reason);
  }
}
