import type { ApprovalState, EngineEvent, FileRecord, FileStage, Verdict } from '../engine/events';
import type { KdsMetrics } from './metricsRegistry';

const stages: readonly FileStage[] = ['settling', 'queued', 'excluded', 'too-large', 'unreadable', 'uploading', 'submitted', 'awaiting-approval', 'retrying', 'routing', 'missing'];
/** Stages a file waits in by design (until someone acts): not "on its way", so not in the oldest-file age. */
const parked = new Set<FileStage>(['excluded', 'too-large', 'unreadable', 'missing']);
const outcomeOf: Record<Verdict, string> = { 'not detected': 'not_detected', detect: 'detected', error: 'error', timeout: 'timeout', unknown: 'unknown' };
const outcomes = ['not_detected', 'detected', 'error', 'timeout', 'unknown', 'too_large', 'excluded'];
const approvalStates: readonly ApprovalState[] = ['unknown', 'approved', 'pending', 'rejected'];
/** Completion times kept after a file leaves the table, for the `routed` event that follows its removal. */
const recentlyRemovedMax = 1024;

interface Tracked {
  stage: FileStage;
  firstSeen: number;
  /** When it left `settling`: complete in input. */
  completeAt?: number;
}

/**
 * The engine's metrics, computed from what it already tells every listener: its typed events and
 * its snapshot. One instance per share (one engine). Per file it keeps the stage, when the file
 * was first seen and when it was complete — three plain values, like the engine's own record.
 */
export class EngineMetrics {
  private readonly files = new Map<string, Tracked>();
  private readonly stageCounts = new Map<FileStage, number>();
  private readonly removedCompleteAt = new Map<string, number>();

  constructor(
    private readonly m: KdsMetrics,
    readonly share: string,
    private readonly now: () => number = Date.now,
  ) {
    const labels = { share: this.share };
    // Every series exists from the start, so rate() and absent() work before the first file.
    for (const outcome of outcomes) m.files.inc({ ...labels, outcome }, 0);
    for (const operation of ['upload', 'delivery']) m.retries.inc({ ...labels, operation }, 0);
    m.scannedBytes.inc(labels, 0);
    for (const folder of ['in', 'out', 'qrnt']) m.folderUp.set({ ...labels, folder }, 1);
    for (const s of approvalStates) m.approval.set({ state: s }, s === 'unknown' ? 1 : 0);
  }

  /** Starts from the engine's state (files already in input when observation begins). */
  seed(snapshot: { running: boolean; approval: ApprovalState; files: FileRecord[] }): void {
    for (const f of snapshot.files) this.track(f, true);
    this.setApproval(snapshot.approval);
    this.m.running.set(snapshot.running ? 1 : 0);
  }

  handle(e: EngineEvent): void {
    const share = { share: this.share };
    switch (e.type) {
      case 'file':
        this.track(e.file);
        break;
      case 'file-removed':
      case 'ignored':
        this.untrack(e.name);
        break;
      case 'routed': {
        this.m.files.inc({ ...share, outcome: outcomeOf[e.file.verdict] });
        this.m.scannedBytes.inc(share, e.file.size);
        const complete = this.files.get(e.file.name)?.completeAt ?? this.removedCompleteAt.get(e.file.name);
        this.removedCompleteAt.delete(e.file.name);
        // A file already under way when the service started has no known completion time.
        if (complete !== undefined && e.file.routedAt >= complete) this.m.routeLatency.observe(share, (e.file.routedAt - complete) / 1000);
        break;
      }
      case 'approval':
        this.setApproval(e.state);
        break;
      case 'folder':
        this.m.folderUp.set({ ...share, folder: e.folder }, e.available ? 1 : 0);
        break;
      case 'running':
        this.m.running.set(e.running ? 1 : 0);
        break;
    }
  }

  /** Called at each scrape: the gauges that are counts over the files. */
  collect(): void {
    const share = { share: this.share };
    for (const s of stages) this.m.filesWaiting.set({ ...share, stage: s }, this.stageCounts.get(s) ?? 0);
    let oldest = Infinity;
    for (const f of this.files.values()) if (!parked.has(f.stage) && f.firstSeen < oldest) oldest = f.firstSeen;
    this.m.oldestWaiting.set(share, oldest === Infinity ? 0 : Math.max(0, (this.now() - oldest) / 1000));
  }

  private track(f: FileRecord, seeding = false): void {
    const t = this.files.get(f.name);
    const prev = t?.stage;
    if (prev !== f.stage) {
      if (prev !== undefined) this.count(prev, -1);
      this.count(f.stage, 1);
      if (prev !== undefined) this.transition(prev, f.stage);
      else if (f.stage === 'excluded' || f.stage === 'too-large') this.skipped(f.stage);
    }
    const rec: Tracked = t ?? { stage: f.stage, firstSeen: f.firstSeen };
    rec.stage = f.stage;
    rec.firstSeen = f.firstSeen;
    // A new version goes back to settling and is complete again later. A file found already
    // complete (its times old enough) skips settling: it was complete when it last changed.
    if (f.stage === 'settling') rec.completeAt = undefined;
    else if (rec.completeAt === undefined && prev === 'settling') rec.completeAt = this.now();
    else if (rec.completeAt === undefined && prev === undefined && !seeding && (f.stage === 'queued' || f.stage === 'awaiting-approval')) rec.completeAt = f.changedAt;
    this.files.set(f.name, rec);
  }

  private transition(from: FileStage, to: FileStage): void {
    const share = { share: this.share };
    if (to === 'retrying' && from !== 'retrying') this.m.retries.inc({ ...share, operation: from === 'routing' ? 'delivery' : 'upload' });
    if ((to === 'excluded' || to === 'too-large') && from !== to) this.skipped(to);
  }

  private skipped(stage: 'excluded' | 'too-large'): void {
    this.m.files.inc({ share: this.share, outcome: stage === 'excluded' ? 'excluded' : 'too_large' });
  }

  private untrack(name: string): void {
    const before = this.files.get(name);
    if (!before) return;
    this.count(before.stage, -1);
    this.files.delete(name);
    // The engine says a delivered file left the table just before it says where it went.
    if (before.completeAt !== undefined) {
      this.removedCompleteAt.delete(name);
      this.removedCompleteAt.set(name, before.completeAt);
      if (this.removedCompleteAt.size > recentlyRemovedMax) this.removedCompleteAt.delete(this.removedCompleteAt.keys().next().value!);
    }
  }

  private count(stage: FileStage, delta: number): void {
    this.stageCounts.set(stage, (this.stageCounts.get(stage) ?? 0) + delta);
  }

  private setApproval(state: ApprovalState): void {
    for (const s of approvalStates) this.m.approval.set({ state: s }, s === state ? 1 : 0);
  }
}
