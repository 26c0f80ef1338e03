import { join } from 'node:path';
import { t } from '../common/l10n';
import { backoffDelay } from './backoff';
import { deliver, removeSource } from './delivery';
import { DirSyncer } from './dirSync';
import { verdictOf } from './events';
import { errText } from './folderHealth';
import type { Destination, ScanEntry } from './journal';
import type { Rec, RoutingStage, StageContext } from './stageContext';

/**
 * Deliveries (copy, fsync, rename, journal, unlink) running at once, by weight: a small file
 * counts 1, a large one 8, so 64 small ones overlap (each mostly waits for grouped fsyncs, and
 * the more wait together the fewer fsyncs there are) while large copies stay at 8 × 1 MiB buffers.
 */
const deliveryBudget = 64;
const largeDeliveryBytes = 1 << 20;
const largeDeliveryWeight = 8;

/**
 * The last stage: a file with a journaled verdict is copied from its held handle to output or
 * quarantine (verified against the SHA-256 KATA scanned, fsync'ed), journaled as placed, removed
 * from input, and journaled as done. A destination that is unavailable pauses deliveries into it
 * (folder health) and the file is retried with backoff.
 */
export class Routing implements RoutingStage {
  private readonly routing = new Set<string>();
  private routeQueue: ScanEntry[] = [];
  private readonly routeQueued = new Set<string>();
  /** Weight of the deliveries running (see deliveryBudget). */
  private deliveryLoad = 0;
  private readonly dirSync = new DirSyncer();

  constructor(private readonly ctx: StageContext) {}

  get busy(): boolean {
    return this.routing.size > 0;
  }

  isRouting(scanId: string): boolean {
    return this.routing.has(scanId);
  }

  enqueueRoute(e: ScanEntry): void {
    if (this.routing.has(e.scanId) || this.routeQueued.has(e.scanId)) return;
    this.routeQueued.add(e.scanId);
    this.routeQueue.push(e);
    this.pumpRoutes();
  }

  private pumpRoutes(): void {
    while (this.ctx.running && this.routeQueue.length) {
      const e = this.routeQueue[0]!;
      const weight = e.size > largeDeliveryBytes ? largeDeliveryWeight : 1;
      if (this.deliveryLoad + weight > deliveryBudget && this.routing.size > 0) break;
      this.routeQueue.shift();
      this.routeQueued.delete(e.scanId);
      if (e.outcome || this.routing.has(e.scanId)) continue;
      this.routing.add(e.scanId);
      this.deliveryLoad += weight;
      void this.route(e).finally(() => {
        this.routing.delete(e.scanId);
        this.deliveryLoad -= weight;
        this.pumpRoutes();
      });
    }
  }

  private async route(e: ScanEntry): Promise<void> {
    const { ctx } = this;
    const { o, journal: j, folders, intake, handles } = ctx;
    const rec = ctx.records.get(e.name);
    const source = join(o.inDir, e.name);
    const destDir = e.destination === 'out' ? o.outDir : o.qrntDir;
    const folder: Destination = e.destination ?? 'qrnt';
    try {
      let path = e.placedPath;
      if (!path) {
        // Delivered only while this very version is in input: not when it was renamed away (or
        // its share unmounted) after the upload, even though its handle is still open.
        const st = await ctx.fs.in.lstatIfAny(source);
        if (!st) {
          if (rec && rec.scanId === e.scanId) ctx.setStage(rec, 'missing', 'no longer in input');
          return;
        }
        const problem = await folders.destinationProblem(destDir);
        if (problem !== undefined) {
          folders.set(folder, destDir, problem);
          if (rec) this.routeLater(rec, problem);
          return;
        }
        // The handle held since the upload, unless the file in input is now another version.
        const opened = await handles.open(e.name, e);
        if ('problem' in opened) {
          if (opened.problem === 'missing') {
            if (rec && rec.scanId === e.scanId) ctx.setStage(rec, 'missing', 'no longer in input');
          } else {
            ctx.verdicts.abandon(e, opened.problem === 'changed' ? t('file changed after it was scanned; it will be submitted again') : t('file is no longer a regular file; it will be submitted again when it is one'));
            if (rec && rec.scanId === e.scanId) {
              if (opened.problem === 'hard-link') intake.ignore(e.name, 'hard-link', opened.st?.nlink);
              else if (opened.st && opened.problem === 'changed') intake.newVersion(rec, opened.st);
              else ctx.forget(e.name);
            }
          }
          return;
        }
        const res = await deliver({
          source: opened.fh,
          size: e.size,
          sourceStats: opened.st,
          destDir,
          name: e.name,
          expectedSha256: e.sha256,
          tag: e.scanId,
          permissions: folder === 'qrnt' ? 'private' : 'source',
          syncDir: (d) => this.dirSync.sync(d),
          fs: ctx.fs[folder],
        });
        await handles.closeUnlessHeld(e.name, opened.fh);
        if (!res.ok) {
          ctx.verdicts.abandon(e, res.reason === 'changed' ? t('file content changed after it was scanned; it will be submitted again') : t('file is no longer a regular file; it will be submitted again when it is one'));
          if (rec && rec.scanId === e.scanId) {
            handles.drop(e.name);
            intake.settle(rec);
            intake.recheck(e.name);
          }
          return;
        }
        path = res.path;
        await j.placed(e.scanId, path);
      }
      // Only the version that was delivered leaves input; a file put in its place stays.
      const removed = await removeSource(source, { expect: e, syncDir: (d) => this.dirSync.sync(d), fs: ctx.fs.in });
      handles.drop(e.name);
      await j.done(e.scanId, 'routed');
      folders.set(folder, destDir, undefined);
      const now = ctx.records.get(e.name);
      if (now && now.scanId === e.scanId) {
        if (removed === 'replaced') {
          now.scanId = undefined;
          intake.recheck(e.name);
          intake.settle(now);
        } else ctx.forget(e.name);
      }
      if (e.placedPath && !rec && removed === 'gone') {
        o.logger.info('recovered', t('delivered before an interruption; finished'), { file: e.name, scanId: e.scanId, path });
      }
      const verdict = e.state === 'kds-timeout' ? 'timeout' : verdictOf(e.state ?? '');
      o.logger.info('routed', folder === 'out' ? t('moved to output') : t('moved to quarantine'), {
        file: e.name,
        scanId: e.scanId,
        state: e.state,
        size: e.size,
        sha256: e.sha256,
        durationMs: Date.now() - e.intentAt,
      });
      ctx.emit({
        type: 'routed',
        file: {
          name: e.name,
          size: e.size,
          sha256: e.sha256 ?? '',
          scanId: e.scanId,
          verdict,
          rawState: e.state ?? '',
          destination: folder,
          path,
          submittedAt: e.submittedAt ?? e.intentAt,
          routedAt: Date.now(),
        },
      });
    } catch (err) {
      folders.doubt(destDir);
      folders.set(folder, destDir, errText(err));
      if (rec && rec.scanId === e.scanId) this.routeLater(rec, errText(err));
    }
  }

  private routeLater(rec: Rec, why: string): void {
    rec.attempts++;
    this.ctx.retryAt(rec, Date.now() + backoffDelay(rec.attempts, this.ctx.retryBaseMs, this.ctx.retryMaxMs), 'retrying', why);
  }
}
