import { randomUUID } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import type { DetectionEngine, Technology, Verdict } from './detection';
import { objectMd5 } from './objectMd5';
import type { ScanRecord, ScanStore } from './scanStore';

/** Two cores on the reference machine: more parallel scans would only slow the API down. */
const PARALLEL_SCANS = 2;
/** Scans examined together (one YARA run); more are left for the other runner or the next batch. */
const BATCH = 256;

const importanceOf: Record<Technology, 'high' | 'medium'> = { am: 'high', yara: 'medium' };

/**
 * Turns `processing` into a final state when a scan's verdict is due: runs the detection on the
 * stored object, records alerts, deletes the object. Scans are examined at the due time rather
 * than on arrival so that one still processing at shutdown is simply picked up after a restart.
 */
export class VerdictScheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** The first bytes of a scan's object file as uploaded; lost on restart, when the file is read instead. */
  private readonly heads = new Map<string, Buffer>();
  private readonly waiting: ScanRecord[] = [];
  private running = 0;
  private readonly abort = new AbortController();
  private readonly active = new Set<Promise<void>>();

  constructor(
    private readonly store: ScanStore,
    private readonly engine: DetectionEngine,
    private readonly objectsDir: string,
    private readonly logger: Logger,
  ) {}

  schedule(scan: ScanRecord, head?: Buffer): void {
    this.cancel(scan.key);
    if (head && scan.objectFile) this.heads.set(scan.key, head);
    const timer = setTimeout(() => {
      this.timers.delete(scan.key);
      this.waiting.push(scan);
      this.pump();
    }, Math.max(0, scan.dueAt - Date.now()));
    this.timers.set(scan.key, timer);
  }

  cancel(key: string): void {
    const timer = this.timers.get(key);
    if (timer) clearTimeout(timer);
    this.timers.delete(key);
    this.heads.delete(key);
    const i = this.waiting.findIndex((s) => s.key === key);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  /** Stops timers and running scans; the scans stay `processing` on disk and resume next start. */
  async close(): Promise<void> {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.heads.clear();
    this.waiting.length = 0;
    this.abort.abort();
    await Promise.allSettled([...this.active]);
  }

  private pump(): void {
    while (this.running < PARALLEL_SCANS && this.waiting.length > 0 && !this.abort.signal.aborted) {
      // Everything due goes in one batch (one YARA process for all of it), up to BATCH.
      const batch = this.waiting.splice(0, BATCH);
      this.running++;
      const job = this.finish(batch)
        .catch((err: Error) => {
          if (!this.abort.signal.aborted) this.logger.error('emulator.verdict', t('Recording a verdict failed: {0}', err.message), { scanIds: batch.map((s) => s.scanId) });
        })
        .finally(() => {
          this.running--;
          this.active.delete(job);
          this.pump();
        });
      this.active.add(job);
    }
  }

  private async finish(batch: ScanRecord[]): Promise<void> {
    const withObject = batch.filter((s) => s.objectFile || s.inline !== undefined);
    const objects = withObject.map((s) =>
      s.objectFile
        ? { path: join(this.objectsDir, s.objectFile), size: s.size, sha256: s.sha256, head: this.heads.get(s.key) }
        : { path: join(this.objectsDir, `${s.sha256}-${randomUUID()}.inline`), data: Buffer.from(s.inline!, 'base64'), size: s.size, sha256: s.sha256 },
    );
    for (const s of withObject) this.heads.delete(s.key);
    const examined = await this.engine.examineMany(objects, this.abort.signal);
    const verdicts = new Map(withObject.map((s, i) => [s, examined[i]!]));
    for (const [i, scan] of withObject.entries()) {
      // Only an alert needs MD5 (see objectMd5); the content is still there until record(),
      // unless a DELETE or a reused scanId discarded the scan meanwhile: record() skips it then.
      if (examined[i]!.threats.length && !scan.md5) scan.md5 = await objectMd5(objects[i]!).catch(() => undefined);
    }
    for (const scan of batch) await this.record(scan, verdicts.get(scan) ?? { state: 'error', threats: [] });
  }

  private async record(scan: ScanRecord, verdict: Verdict): Promise<void> {
    const objectFile = scan.objectFile;
    // Shut down meanwhile, or deleted / replaced by a new request with the same scanId.
    if (this.abort.signal.aborted || this.store.get(scan.key) !== scan) return;
    // State and alerts change together in memory, so a client that sees `detect` finds the alert.
    scan.state = verdict.state;
    scan.threats = verdict.threats;
    scan.finishedAt = new Date().toISOString();
    delete scan.objectFile;
    delete scan.inline;
    const byTechnology = new Map<Technology, string[]>();
    for (const threat of verdict.threats) byTechnology.set(threat.technology, [...(byTechnology.get(threat.technology) ?? []), threat.name]);
    this.store.addAlerts(
      [...byTechnology].map(([technology, threats]) => ({
        sensorId: scan.sensorId,
        sensorInstanceId: scan.sensorInstanceId,
        scanId: scan.scanId,
        eventTime: scan.submittedAt,
        detectTime: scan.finishedAt!,
        technology,
        importance: importanceOf[technology],
        fileName: scan.fileName,
        size: scan.size,
        sha256: scan.sha256,
        md5: scan.md5 ?? '',
        threats,
      })),
    );
    this.store.update(scan);
    // Only now: a crash before this point must still find the content after a restart.
    // Not awaited: the next verdict of the batch need not wait for the file system.
    if (objectFile) void unlink(join(this.objectsDir, objectFile)).catch(() => undefined);
    this.logger.info('emulator.verdict', t('Verdict: {0}', verdict.state), {
      scanId: scan.scanId,
      state: verdict.state,
      sha256: scan.sha256,
      size: scan.size,
      sensorId: scan.sensorId,
      threats: verdict.threats.map((x) => x.name),
    });
  }
}
