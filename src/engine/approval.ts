import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import { isKataError } from '../kata/errors';
import { backoffDelay } from './backoff';
import type { ApprovalState } from './events';

const warnEveryMs = 60_000;
const probeMaxMs = 60_000;

/**
 * Whether KATA accepts this external system, learnt from every answer: 401 means the integration
 * request waits for the administrator, 403 that it was rejected, anything KATA serves means
 * approved. While it is not approved, uploads wait and one at a time probes (with growing pauses)
 * whether the administrator has acted; the warning naming system_id and the certificate
 * fingerprint is logged at most once a minute, or at once when the state is news.
 */
export class ApprovalTracker {
  private current: ApprovalState = 'unknown';
  private refusals = 0;
  private lastWarnAt = 0;
  /** While not approved: no upload before this time. */
  probeAt = 0;

  constructor(
    private readonly o: {
      logger: Logger;
      systemId: string;
      fingerprint256: string;
      retryBaseMs: number;
      retryMaxMs: number;
      onChange(before: ApprovalState, after: ApprovalState): void;
    },
  ) {}

  get state(): ApprovalState {
    return this.current;
  }

  /** True while KATA refuses this system: uploads are held and only probes go out. */
  get refusing(): boolean {
    return this.current === 'pending' || this.current === 'rejected';
  }

  /** How many uploads may run at once now, given `maxInflight` when approved. */
  uploadSlots(maxInflight: number, now: number): number {
    if (!this.refusing) return maxInflight;
    return now >= this.probeAt ? 1 : 0;
  }

  /** KATA served a request: the system is approved. */
  accepted(): void {
    this.refusals = 0;
    this.probeAt = 0;
    this.set('approved');
  }

  /** Handles a 401/403 and returns true; any other failure is not about approval and returns false. */
  refused(err: unknown, now = Date.now()): boolean {
    const kind = isKataError(err, 'unauthorized') ? 'pending' : isKataError(err, 'forbidden') ? 'rejected' : undefined;
    if (!kind) return false;
    this.refusals++;
    this.probeAt = now + backoffDelay(this.refusals, this.o.retryBaseMs, Math.min(this.o.retryMaxMs, probeMaxMs));
    this.set(kind);
    this.warn(now);
    return true;
  }

  private set(state: ApprovalState): void {
    if (this.current === state) return;
    const before = this.current;
    this.current = state;
    // A new refusal state is news (pending → rejected, say): its warning is not held back.
    if (this.refusing) this.lastWarnAt = 0;
    else if (before === 'pending' || before === 'rejected') this.o.logger.info('approved', t('KATA accepts this external system now'));
    this.o.onChange(before, state);
  }

  private warn(now: number): void {
    if (now - this.lastWarnAt < warnEveryMs) return;
    this.lastWarnAt = now;
    const o = this.o;
    const msg =
      this.current === 'rejected'
        ? t('KATA rejected this external system (403): in the KATA web console, External systems, accept system_id {0} with certificate SHA-256 {1}', o.systemId, o.fingerprint256)
        : t('KATA has not approved this external system yet (401): in the KATA web console, External systems, accept system_id {0} with certificate SHA-256 {1}', o.systemId, o.fingerprint256);
    o.logger.warn('awaiting-approval', msg, { system_id: o.systemId, fingerprint256: o.fingerprint256 });
  }
}
