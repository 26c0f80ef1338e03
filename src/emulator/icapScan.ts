import { rename, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IcapServerContext } from './icapContext';
import type { Verdict } from './detection';
import type { IcapMode } from './icapServiceLog';

/** An object received whole (spooled to `path`), ready for the detection. */
export interface ReceivedObject {
  scanId: string;
  method: 'REQMOD' | 'RESPMOD';
  url: string;
  peer: string;
  path: string;
  size: number;
  sha256: string;
  md5: string;
  slow: boolean;
}

const verdictWord = (v: Verdict) => (v.state === 'detect' ? 'detected' : v.state === 'not detected' ? 'clean' : v.state);

/** What the answer must say: the verdict to block with, or how long blocking_advanced waited before letting the object through. */
export interface ScanOutcome {
  block?: Verdict;
  waitedOutMs?: number;
}

/**
 * Runs the detection as the mode says. A slow verdict (KDS-TEST-SLOW) gets its own copy of the
 * spool file, since it may outlive the answer (which removes the spool file).
 */
export async function scanObject(ctx: IcapServerContext, o: ReceivedObject, answerMode: IcapMode): Promise<ScanOutcome> {
  const { log, opts } = ctx;
  const report = (verdict: Verdict, action: 'blocked' | 'passed') => {
    if (verdict.state !== 'detect') return;
    ctx.stats.detections++;
    opts.onDetection?.({ scanId: o.scanId, method: o.method, url: o.url, peer: o.peer, size: o.size, sha256: o.sha256, md5: o.md5, verdict, mode: answerMode, action, at: new Date().toISOString() });
  };
  const decide = (verdict: Verdict, waitedMs?: number): Verdict | undefined => {
    const blocking = answerMode !== 'monitoring' && verdict.state === 'detect';
    log.verdict({
      scanId: o.scanId,
      size: o.size,
      sha256: o.sha256,
      verdict: verdictWord(verdict),
      threat: verdict.threats.map((x) => x.name).join(', ') || undefined,
      action: blocking ? 'blocked' : 'passed',
      waitedMs,
      note: verdict.state === 'error' || verdict.state === 'timeout' ? 'no verdict, object let through' : undefined,
    });
    report(verdict, blocking ? 'blocked' : 'passed');
    return blocking ? verdict : undefined;
  };
  if (!o.slow) return { block: decide(await opts.engine.examine({ path: o.path, size: o.size, sha256: o.sha256 }, ctx.stopping)) };

  const path = `${o.path}.slow`;
  await rename(o.path, path);
  const started = Date.now();
  const slowJob = (async () => {
    try {
      await sleep(opts.slowVerdictMs, undefined, { signal: ctx.stopping });
      return await opts.engine.examine({ path, size: o.size, sha256: o.sha256 }, ctx.stopping);
    } finally {
      await unlink(path).catch(() => undefined);
    }
  })();
  const lateResult = () => {
    ctx.track(
      slowJob.then(
        (v) => {
          log.lateResult(o.scanId, verdictWord(v), v.threats[0]?.name);
          report(v, 'passed');
        },
        () => undefined,
      ),
    );
  };
  if (answerMode !== 'blocking_advanced') {
    // Monitoring and blocking_simple do not hold traffic for a slow verdict: the object passes
    // now and the verdict arrives later, as an alert when it is a detection.
    log.verdict({ scanId: o.scanId, size: o.size, sha256: o.sha256, verdict: 'pending', action: 'passed', note: `slow analysis, ${answerMode} mode does not wait` });
    lateResult();
    return {};
  }
  const waitOut = new AbortController();
  const outcome = await Promise.race([slowJob, sleep(opts.advancedWaitMs, 'waited-out' as const, { signal: waitOut.signal }).catch(() => 'aborted' as const)]);
  waitOut.abort();
  if (outcome === 'waited-out' || outcome === 'aborted') {
    const waitedOutMs = Date.now() - started;
    log.verdict({ scanId: o.scanId, size: o.size, sha256: o.sha256, verdict: 'timeout', action: 'passed', waitedMs: waitedOutMs, note: 'no verdict within the blocking_advanced wait, object let through' });
    lateResult();
    return { waitedOutMs };
  }
  return { block: decide(outcome, Date.now() - started) };
}
