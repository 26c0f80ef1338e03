import { t } from '../common/l10n';
import { isKataError } from '../kata/errors';
import { destinationOf, verdictOf } from './events';
import type { ScanEntry } from './journal';
import type { StageContext, VerdictStage } from './stageContext';

const missingForgetMs = 24 * 3_600_000;
/** With this many scans outstanding, verdicts are polled more often than poll_interval_s. */
const earlyPollOutstanding = 32;
const earlyPollMs = 250;
/** DELETEs of results at KATA running at once. */
const maxDeletes = 8;

/**
 * The third stage: one `GET scans/state` for every outstanding scan, each verdict journaled
 * before anything acts on it, then KATA's result deleted and the file handed to routing. Scans
 * that never get a verdict go to quarantine after scan_timeout_s; results nobody will use are
 * deleted at KATA.
 */
export class Verdicts implements VerdictStage {
  private pollTimer?: NodeJS.Timeout;
  private pollAt = 0;
  private polling = false;
  private pollFailures = 0;
  private deleteQueue: string[] = [];
  private readonly clearing = new Set<string>();
  private deletes = 0;

  constructor(private readonly ctx: StageContext) {}

  get busy(): boolean {
    return this.polling || this.deletes > 0;
  }

  stop(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
  }

  /** Polls sooner than poll_interval_s while many scans are outstanding, so verdicts do not pile up. */
  pollDelay(): number {
    return this.ctx.outstanding >= earlyPollOutstanding ? Math.min(earlyPollMs, this.ctx.o.pollIntervalMs) : this.ctx.o.pollIntervalMs;
  }

  schedulePoll(delay: number): void {
    if (!this.ctx.running) return;
    const at = Date.now() + delay;
    if (this.pollTimer && this.pollAt <= at) return;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollAt = at;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      void this.poll();
    }, delay);
  }

  private async poll(): Promise<void> {
    const { ctx } = this;
    if (!ctx.running || this.polling) return;
    const j = ctx.journal;
    const live = j.live();
    const waiting = live.filter((e) => e.submittedAt && !e.outcome && !e.state);
    const strays = live.filter((e) => (e.outcome || e.state) && !e.resultCleared);
    if (waiting.length === 0 && strays.length === 0) {
      this.schedulePoll(ctx.o.pollIntervalMs);
      return;
    }
    this.polling = true;
    let ok = false;
    try {
      let results: Array<{ scanId: string; state: string }> = [];
      try {
        results = await ctx.o.api.states();
        ok = true;
        this.pollFailures = 0;
        ctx.approval.accepted();
      } catch (err) {
        this.pollFailures++;
        if (!ctx.approval.refused(err)) {
          const kind = isKataError(err) ? err.kind : 'error';
          ctx.logLimited(`poll-${kind}`, 'warn', 'poll-failed', t('could not read scan results ({0}): {1}; will retry', kind, (err as Error).message));
        }
      }
      const now = Date.now();
      const verdicts: Array<Promise<void>> = [];
      for (const r of results) {
        const e = j.get(r.scanId);
        // Not ours: another instance may share this system_id. Ours come back to the share the
        // journal says they came from, whichever share they are of.
        if (!e) continue;
        if (e.outcome || e.state) {
          if (!e.resultCleared) this.enqueueDelete(e.scanId);
          continue;
        }
        if (!e.submittedAt) continue;
        // States come normalised (stateParser.ts): trimmed, lower-case.
        if (r.state === 'processing') continue;
        verdicts.push(this.verdictFor(e, r.state));
      }
      for (const e of waiting) {
        if (!e.state && !e.outcome && now - e.submittedAt! > ctx.o.scanTimeoutMs) {
          ctx.o.logger.warn('scan-timeout', t('no verdict within {0} s; the file goes to quarantine', Math.round(ctx.o.scanTimeoutMs / 1000)), { file: e.name, scanId: e.scanId, ...this.tag(e.share) });
          verdicts.push(this.verdictFor(e, 'kds-timeout'));
        }
      }
      for (const e of live) {
        // A scan whose file never came back (deleted while the service was down) cannot be delivered.
        if (!e.outcome && !ctx.recordOf(e.share, e.name) && !ctx.routing.holds(e.scanId) && now - e.intentAt > missingForgetMs) this.abandon(e, t('gone from input for 24 hours'));
      }
      for (const e of strays) {
        // A result we wait for forever would keep the journal entry alive: give up after the scan timeout.
        if (!e.resultCleared && now - e.intentAt > ctx.o.scanTimeoutMs) void j.cleared(e.scanId);
      }
      await Promise.all(verdicts);
    } finally {
      this.polling = false;
      const delay = ok ? this.pollDelay() : Math.min(ctx.o.pollIntervalMs, ctx.submission.retryDelay(this.pollFailures, Date.now()));
      this.schedulePoll(delay);
    }
  }

  /** Records the verdict durably, then (and only then) deletes KATA's result and delivers. */
  private async verdictFor(e: ScanEntry, rawState: string): Promise<void> {
    const { ctx } = this;
    const verdict = rawState === 'kds-timeout' ? 'timeout' : verdictOf(rawState);
    const destination = destinationOf(verdict);
    try {
      await ctx.journal.verdict(e.scanId, rawState, destination);
    } catch (err) {
      ctx.o.logger.error('journal', t('cannot write the journal: {0}', (err as Error).message));
      return;
    }
    ctx.o.logger.info('verdict', destination === 'out' ? t('{0} → output', verdict) : t('{0} → quarantine', verdict), {
      file: e.name,
      scanId: e.scanId,
      state: rawState,
      size: e.size,
      sha256: e.sha256,
      durationMs: Date.now() - (e.submittedAt ?? e.intentAt),
      ...this.tag(e.share),
    });
    this.enqueueDelete(e.scanId);
    const rec = ctx.recordOf(e.share, e.name);
    if (rec && rec.scanId === e.scanId && rec.stage !== 'missing') {
      ctx.setStage(rec, 'routing');
      ctx.routing.enqueueRoute(e);
    }
  }

  enqueueDelete(scanId: string): void {
    if (this.clearing.has(scanId)) return;
    this.clearing.add(scanId);
    this.deleteQueue.push(scanId);
    this.pumpDeletes();
  }

  private pumpDeletes(): void {
    while (this.deletes < maxDeletes && this.deleteQueue.length) {
      const scanId = this.deleteQueue.shift()!;
      this.deletes++;
      void this.clearResult(scanId).finally(() => {
        this.deletes--;
        this.clearing.delete(scanId);
        this.pumpDeletes();
      });
    }
  }

  private async clearResult(scanId: string): Promise<void> {
    try {
      await this.ctx.o.api.deleteResult(scanId);
      // Not awaited: if it is lost in a crash, the next poll asks KATA again and a 404 is fine.
      void this.ctx.journal.cleared(scanId).catch(() => undefined);
    } catch (err) {
      // A result still there shows up in the next poll, which asks again.
      this.ctx.o.logger.debug('delete-failed', t('could not delete the result at KATA: {0}; will retry', (err as Error).message), { scanId });
    }
  }

  abandon(e: ScanEntry, why: string): void {
    void this.ctx.journal.done(e.scanId, 'abandoned');
    this.ctx.o.logger.info('abandoned', why, { file: e.name, scanId: e.scanId, ...this.tag(e.share) });
    this.enqueueDelete(e.scanId);
  }

  /** Log fields naming an entry's share (its own share's, or the bare name of one no longer configured). */
  private tag(share: string): { share?: string } {
    return this.ctx.shares.get(share)?.tag ?? { share };
  }
}
