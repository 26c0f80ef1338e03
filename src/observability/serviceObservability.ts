import { readFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import { kdsVersion } from '../common/version';
import type { KdsConfig } from '../engine/config';
import type { ApprovalState, EngineEvent, FileRecord } from '../engine/events';
import { journalFileName } from '../engine/journal';
import type { KataRequestObserver } from '../kata/client';
import { AuditFollower } from './auditFollower';
import { EngineMetrics } from './engineMetrics';
import { EngineSiemEvents, auditSiemEvent } from './engineSiemEvents';
import { KataHealth } from './kataHealth';
import { MetricsEndpoint } from './metricsEndpoint';
import { KdsMetrics } from './metricsRegistry';
import { type FolderKey, readiness } from './readiness';
import type { SiemEvent, SiemSource } from './siemEvent';
import { formatSyslog } from './syslogMessage';
import { SyslogSender } from './syslogSender';

/** Until several shares per service exist, the one folder triple is the share "default". */
export const defaultShare = 'default';

/** What observability needs of the engine: its events, its state, and a way to ask KATA while idle. */
export interface ObservedEngine {
  onEvent(listener: (e: EngineEvent) => void): () => void;
  snapshot(): { running: boolean; approval: ApprovalState; files: FileRecord[] };
  /** One request to KATA now (its limits), whose answer also tells the engine about approval. */
  probeKata(): Promise<void>;
}

export interface ObservedClient {
  observeRequests(observer: KataRequestObserver): () => void;
}

export interface ServiceObservabilityOptions {
  config: KdsConfig;
  engine: ObservedEngine;
  client: ObservedClient;
  logger: Logger;
  /** SHA-256 of the client certificate, named by /readyz while approval is missing. */
  fingerprint256: string;
  share?: string;
  /** Shorter timings for tests. */
  tuning?: {
    kataUnreachableAfterMs?: number;
    /** Without any request to KATA for this long, the engine is asked to make one (default 30 s). */
    probeIdleMs?: number;
    auditIntervalMs?: number;
    siemRetryBaseMs?: number;
    siemRetryMaxMs?: number;
    bindRetryMs?: number;
  };
}

/**
 * Metrics, health and SIEM events of `kds run`, built on what the engine already tells every
 * listener (its events and snapshot) and on the KATA client's request observer — nothing inside
 * the engine counts for them. Nothing here can slow scanning: the metrics are counters updated
 * in O(1) per event, the SIEM sender only queues, and a failure of either is logged and retried.
 */
export class ServiceObservability {
  private readonly unsubscribe: Array<() => void> = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private metrics?: { m: KdsMetrics; engine: EngineMetrics; endpoint: MetricsEndpoint };
  private siem?: { sender: SyslogSender; engine: EngineSiemEvents; audit: AuditFollower; source: SiemSource };
  private readonly kata: KataHealth;
  private running = false;
  private approval: ApprovalState = 'unknown';
  private readonly foldersDown = new Map<FolderKey, { path: string; reason: string }>();

  private constructor(private readonly o: ServiceObservabilityOptions) {
    this.kata = new KataHealth({
      ...(o.tuning?.kataUnreachableAfterMs !== undefined && { unreachableAfterMs: o.tuning.kataUnreachableAfterMs }),
      onChange: (reachable, reason) => this.kataChanged(reachable, reason),
    });
  }

  /** Builds what the configuration asks for (undefined: neither metrics_listen nor siem is set). Call before engine.start(). */
  static async start(o: ServiceObservabilityOptions): Promise<ServiceObservability | undefined> {
    if (!o.config.metrics_listen && !o.config.siem) return undefined;
    const s = new ServiceObservability(o);
    await s.init();
    return s;
  }

  /** The listening endpoint's address (tests bind port 0). */
  get metricsAddress(): string | undefined {
    return this.metrics?.endpoint.where;
  }

  private async init(): Promise<void> {
    const { config, engine, client, logger } = this.o;
    const share = this.o.share ?? defaultShare;
    const snap = engine.snapshot();
    this.running = snap.running;
    this.approval = snap.approval;
    this.unsubscribe.push(engine.onEvent((e) => this.engineEvent(e)));
    this.unsubscribe.push(client.observeRequests((r) => {
      this.kata.observe(r);
      if (this.metrics) {
        this.metrics.m.kataRequests.inc({ operation: r.operation, code: r.status !== undefined ? String(r.status) : (r.failure ?? 'error') });
        this.metrics.m.kataDuration.observe({ operation: r.operation }, r.durationMs / 1000);
      }
    }));

    if (config.siem) {
      const s = config.siem;
      const tls =
        s.transport === 'tls'
          ? {
              ...(s.ca !== undefined && { ca: await readFile(s.ca, 'utf8') }),
              ...(s.client_cert && { cert: await readFile(config.cert_pem, 'utf8'), key: await readFile(config.cert_key, 'utf8') }),
            }
          : undefined;
      const sender = new SyslogSender({
        transport: s.transport,
        host: s.host,
        port: s.port,
        framing: s.framing,
        queueSize: s.queue_size,
        ...(tls && { tls }),
        logger,
        ...(this.o.tuning?.siemRetryBaseMs !== undefined && { retryBaseMs: this.o.tuning.siemRetryBaseMs }),
        ...(this.o.tuning?.siemRetryMaxMs !== undefined && { retryMaxMs: this.o.tuning.siemRetryMaxMs }),
        onSent: () => this.metrics?.m.siemSent.inc(),
        onDropped: () => this.metrics?.m.siemDropped.inc(),
      });
      const source: SiemSource = { hostname: hostname(), systemId: config.system_id, centralNode: config.kata_cn_addr, version: kdsVersion, pid: process.pid };
      const audit = new AuditFollower({
        stateDir: config.state_dir,
        logger,
        ...(this.o.tuning?.auditIntervalMs !== undefined && { intervalMs: this.o.tuning.auditIntervalMs }),
        // Audit records wait rather than be dropped: the cursor only moves past what was sent.
        deliver: (record, id, sent) => sender.hasRoom() && sender.send(this.format(auditSiemEvent(record, id, share)), sent),
      });
      this.siem = { sender, engine: new EngineSiemEvents(share, (e) => this.sendSiem(e)), audit, source };
      sender.start();
      audit.start();
    }

    if (config.metrics_listen) {
      const m = new KdsMetrics();
      const em = new EngineMetrics(m, share);
      em.seed(snap);
      const endpoint = new MetricsEndpoint({
        address: config.metrics_listen,
        contentType: m.contentType,
        metrics: () => {
          this.refreshGauges();
          return m.text();
        },
        readiness: () => this.readiness(),
        logger,
        ...(this.o.tuning?.bindRetryMs !== undefined && { bindRetryMs: this.o.tuning.bindRetryMs }),
      });
      this.metrics = { m, engine: em, endpoint };
      await endpoint.start();
    }

    // While nothing goes to KATA (no files), one request now and then keeps "reachable" and the
    // approval state true; the engine's own request, so its approval tracking sees the answer.
    const idleMs = this.o.tuning?.probeIdleMs ?? 30_000;
    const tick = setInterval(() => {
      this.kata.evaluate();
      if (this.running && Date.now() - (this.kata.lastRequestAt ?? 0) >= idleMs) void engine.probeKata().catch(() => undefined);
    }, Math.min(5000, idleMs));
    tick.unref();
    this.timers.push(tick);
  }

  /**
   * The engine's events as the service publishes them (detections with their threat names):
   * the SIEM's source. Metrics take the engine's events directly, without the name lookup's delay.
   */
  published(e: EngineEvent): void {
    this.siem?.engine.handle(e);
  }

  readiness(): { ready: boolean; reasons: string[] } {
    return readiness({
      running: this.running,
      foldersDown: this.foldersDown,
      kataReachable: this.kata.reachable,
      kataReason: this.kata.reason,
      approval: this.approval,
      systemId: this.o.config.system_id,
      fingerprint256: this.o.fingerprint256,
    });
  }

  /** Stops following, sends what the SIEM queue holds (service-stop included) for up to `flushMs`, closes the endpoint. */
  async close(flushMs = 3000): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    for (const tm of this.timers.splice(0)) clearInterval(tm);
    if (this.siem) {
      this.siem.audit.stop();
      await this.siem.sender.flush(flushMs);
      this.siem.sender.close();
    }
    await this.metrics?.endpoint.close();
  }

  private engineEvent(e: EngineEvent): void {
    this.metrics?.engine.handle(e);
    if (e.type === 'running') this.running = e.running;
    else if (e.type === 'approval') this.approval = e.state;
    else if (e.type === 'folder') {
      if (e.available) this.foldersDown.delete(e.folder);
      else this.foldersDown.set(e.folder, { path: e.path, reason: e.reason ?? '' });
    }
  }

  private kataChanged(reachable: boolean, reason: string): void {
    if (reachable) this.o.logger.info('kata-reachable', t('KATA answers again'));
    else this.o.logger.warn('kata-unreachable', t('KATA has not answered for {0} s: {1}', Math.round((this.o.tuning?.kataUnreachableAfterMs ?? 60_000) / 1000), reason));
    this.sendSiem(reachable ? { cls: 'kata-reachable', time: Date.now() } : { cls: 'kata-unreachable', time: Date.now(), reason });
  }

  private sendSiem(e: SiemEvent): void {
    if (this.siem) this.siem.sender.send(this.format(e));
  }

  private format(e: SiemEvent): string {
    const s = this.o.config.siem!;
    return formatSyslog(e, this.siem!.source, { format: s.format, facility: s.facility });
  }

  private refreshGauges(): void {
    const mm = this.metrics!;
    mm.engine.collect();
    mm.m.kataUp.set(this.kata.reachable === true ? 1 : 0);
    mm.m.kataLastSuccess.set(this.kata.lastSuccessAt !== undefined ? this.kata.lastSuccessAt / 1000 : 0);
    try {
      mm.m.journalBytes.set(statSync(join(this.o.config.state_dir, journalFileName)).size);
    } catch {
      mm.m.journalBytes.set(0);
    }
    if (this.siem) {
      mm.m.siemQueued.set(this.siem.sender.queued);
      mm.m.siemConnected.set(this.siem.sender.isConnected ? 1 : 0);
    }
  }
}
