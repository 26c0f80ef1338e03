import { t } from '../common/l10n';

/**
 * The time limit of a running capture, as the person sees and changes it: when it stops, how
 * long is left, extended or lifted at any time. The capture itself (tcpdump) runs without a
 * limit of its own; whoever holds the clock stops it when `expired()`.
 */
export class CaptureClock {
  private stopAtMs: number | undefined;

  /** `durationS` undefined or 0: no time limit (the size limit still holds). */
  constructor(
    readonly startedAt: number,
    durationS: number | undefined,
  ) {
    this.stopAtMs = durationS ? startedAt + durationS * 1000 : undefined;
  }

  /** When it stops (epoch ms), undefined: when the person stops it. */
  get stopAt(): number | undefined {
    return this.stopAtMs;
  }

  /** More time, counted from the later of now and the current end. */
  extend(seconds: number, now: number): void {
    this.stopAtMs = Math.max(now, this.stopAtMs ?? now) + seconds * 1000;
  }

  /** No time limit any more. */
  unlimited(): void {
    this.stopAtMs = undefined;
  }

  remainingMs(now: number): number | undefined {
    return this.stopAtMs === undefined ? undefined : Math.max(0, this.stopAtMs - now);
  }

  expired(now: number): boolean {
    return this.stopAtMs !== undefined && now >= this.stopAtMs;
  }

  /** "0:42 left", "12:05 left", "no time limit". */
  label(now: number): string {
    const left = this.remainingMs(now);
    return left === undefined ? t('no time limit') : t('{0} left', clock(left));
  }
}

/** m:ss (h:mm:ss past an hour), rounded up so that "0:00" shows only at the end. */
export function clock(ms: number): string {
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
