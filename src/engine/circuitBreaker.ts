import { backoffDelay } from './backoff';

/** However flaky KATA is, a file that failed this many times in a row backs off on its own. */
const maxExplainedRun = 16;

export interface CircuitBreakerOptions {
  /** Outcomes older than this do not count. */
  windowMs: number;
  /** At most this many recent outcomes are kept. */
  windowSize: number;
  /** Fewer outcomes than this never open the breaker. */
  minSamples: number;
  /** Failure share (0..1) at or above which failures are "the rule". */
  openRatio: number;
  baseMs: number;
  maxMs: number;
  random?: () => number;
}

/**
 * Global back-off for requests to KATA, only when failures are the rule. Each failed request is
 * retried on its own (the caller's per-request backoff); this breaker opens when, over the recent
 * window, most requests failed, and then lets nothing through until its pause (exponential with
 * jitter, and never shorter than a Retry-After KATA sent) ends. After the pause one request goes
 * through as a probe ("half-open"): a success closes the breaker, a failure opens it again longer.
 */
export class CircuitBreaker {
  private readonly at: number[] = [];
  private readonly ok: boolean[] = [];
  private openUntil = 0;
  private trips = 0;
  private probing = false;

  constructor(private readonly o: CircuitBreakerOptions) {}

  get isOpen(): boolean {
    return this.openUntil > 0;
  }

  /** When the current pause ends (0 when closed). */
  get pausedUntil(): number {
    return this.openUntil;
  }

  /**
   * How many failures in a row one request may see from a KATA that fails only now and then at
   * the recent rate before that stops being bad luck (a run that long has a chance below 1 in
   * 10 000): up to there a file is retried promptly; past it, its own backoff grows. 0 when the
   * window is too small to tell or nothing failed, so a lone failure backs off as before.
   */
  explainedRun(now: number): number {
    let n = 0;
    let failures = 0;
    for (let i = 0; i < this.at.length; i++) {
      if (now - this.at[i]! > this.o.windowMs) continue;
      n++;
      if (!this.ok[i]) failures++;
    }
    if (n < this.o.minSamples || failures === 0 || failures === n) return 0;
    return Math.min(maxExplainedRun, Math.ceil(Math.log(1e-4) / Math.log(failures / n)));
  }

  /** May a request start now? In half-open state, only the one probe. */
  allows(now: number): boolean {
    if (this.openUntil === 0) return true;
    if (now < this.openUntil || this.probing) return false;
    return true;
  }

  /** Call when a request allowed by allows() starts. */
  started(): void {
    if (this.openUntil !== 0) this.probing = true;
  }

  /**
   * A request allowed by allows() ended without asking KATA anything (its own file failed or
   * changed first): it says nothing about KATA, and a probe it was is owed to the next request.
   */
  untried(): void {
    this.probing = false;
  }

  record(success: boolean, now: number, retryAfterMs?: number): void {
    if (this.openUntil !== 0 && (this.probing || now >= this.openUntil)) {
      this.probing = false;
      if (success) {
        this.openUntil = 0;
        this.trips = 0;
        this.at.length = 0;
        this.ok.length = 0;
      } else this.open(now, retryAfterMs);
      return;
    }
    this.at.push(now);
    this.ok.push(success);
    while (this.at.length > this.o.windowSize || (this.at.length && now - this.at[0]! > this.o.windowMs)) {
      this.at.shift();
      this.ok.shift();
    }
    if (success || this.openUntil !== 0 || this.at.length < this.o.minSamples) return;
    const failures = this.ok.reduce((n, v) => (v ? n : n + 1), 0);
    if (failures / this.ok.length >= this.o.openRatio) this.open(now, retryAfterMs);
  }

  private open(now: number, retryAfterMs?: number): void {
    this.trips++;
    const pause = Math.max(backoffDelay(this.trips, this.o.baseMs, this.o.maxMs, this.o.random), Math.min(retryAfterMs ?? 0, this.o.maxMs));
    this.openUntil = now + pause;
  }
}
