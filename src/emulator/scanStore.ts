import { join } from 'node:path';
import { CoalescingWriter, readJsonFile, writeFileAtomic } from './atomicFile';
import type { FinalState, Technology, Threat } from './detection';

export type ScanState = 'processing' | FinalState;
export const scanStates: readonly ScanState[] = ['detect', 'not detected', 'processing', 'timeout', 'error'];

export interface ScanRecord {
  /** `sensorId NUL scanId`, or `sensorId NUL #uuid` for an object sent without a scanId. */
  key: string;
  sensorId: string;
  /** '' when the client sent none: such results cannot be polled, as the documentation warns. */
  scanId: string;
  sensorInstanceId: string;
  state: ScanState;
  submittedAt: string;
  /** When the verdict is due (epoch ms); survives restarts so a scan finishes after one. */
  dueAt: number;
  /** Sent with the KDS-TEST-SLOW marker. */
  slow?: boolean;
  finishedAt?: string;
  fileName: string;
  size: number;
  sha256: string;
  md5: string;
  /** The content, in the objects folder, kept only while the scan is processing. */
  objectFile?: string;
  threats: Threat[];
}

export interface AlertRecord {
  alertID: number;
  sensorId: string;
  sensorInstanceId: string;
  scanId: string;
  /** When the object arrived. */
  eventTime: string;
  /** When the verdict was recorded. */
  detectTime: string;
  technology: Technology;
  importance: 'high' | 'medium' | 'low';
  fileName: string;
  size: number;
  sha256: string;
  md5: string;
  threats: string[];
}

/** Older alerts are dropped beyond this; alert IDs keep counting, so cursors stay valid. */
export const MAX_ALERTS = 10_000;

export function scanKey(sensorId: string, scanId: string): string {
  return `${sensorId}\u0000${scanId}`;
}

interface ScansFile {
  version: 1;
  scans: ScanRecord[];
}

interface AlertsFile {
  version: 1;
  nextAlertId: number;
  alerts: AlertRecord[];
}

/**
 * Scans and alerts, in memory and in `<data>/scans.json` / `<data>/alerts.json`. Every change
 * is on disk before the call that made it returns (group-committed, see CoalescingWriter).
 */
export class ScanStore {
  private readonly scans = new Map<string, ScanRecord>();
  private alerts: AlertRecord[] = [];
  private nextAlertId = 1;
  private readonly scansWriter: CoalescingWriter;
  private readonly alertsWriter: CoalescingWriter;
  private readonly scansPath: string;
  private readonly alertsPath: string;

  constructor(dataDir: string) {
    this.scansPath = join(dataDir, 'scans.json');
    this.alertsPath = join(dataDir, 'alerts.json');
    this.scansWriter = new CoalescingWriter(() =>
      writeFileAtomic(this.scansPath, JSON.stringify({ version: 1, scans: [...this.scans.values()] } satisfies ScansFile)),
    );
    this.alertsWriter = new CoalescingWriter(() =>
      writeFileAtomic(this.alertsPath, JSON.stringify({ version: 1, nextAlertId: this.nextAlertId, alerts: this.alerts } satisfies AlertsFile)),
    );
  }

  async load(): Promise<void> {
    const scans = await readJsonFile<ScansFile>(this.scansPath);
    for (const s of scans?.scans ?? []) if (s && typeof s.key === 'string') this.scans.set(s.key, s);
    const alerts = await readJsonFile<AlertsFile>(this.alertsPath);
    this.alerts = Array.isArray(alerts?.alerts) ? alerts.alerts : [];
    this.nextAlertId = Math.max(alerts?.nextAlertId ?? 1, (this.alerts.at(-1)?.alertID ?? 0) + 1);
  }

  all(): ScanRecord[] {
    return [...this.scans.values()];
  }

  get(key: string): ScanRecord | undefined {
    return this.scans.get(key);
  }

  countProcessing(): number {
    let n = 0;
    for (const s of this.scans.values()) if (s.state === 'processing') n++;
    return n;
  }

  /** Adds or replaces (a reused scanId replaces the earlier request); returns the replaced one. */
  async put(record: ScanRecord): Promise<ScanRecord | undefined> {
    const previous = this.scans.get(record.key);
    this.scans.set(record.key, record);
    await this.scansWriter.flush();
    return previous;
  }

  async update(): Promise<void> {
    await this.scansWriter.flush();
  }

  async remove(records: ScanRecord[]): Promise<void> {
    for (const r of records) this.scans.delete(r.key);
    await this.scansWriter.flush();
  }

  /** Visible to readers at once (before the returned promise settles); none is a no-op. */
  async addAlerts(alerts: Array<Omit<AlertRecord, 'alertID'>>): Promise<AlertRecord[]> {
    if (alerts.length === 0) return [];
    const added = alerts.map((a) => ({ alertID: this.nextAlertId++, ...a }));
    this.alerts.push(...added);
    if (this.alerts.length > MAX_ALERTS) this.alerts.splice(0, this.alerts.length - MAX_ALERTS);
    await this.alertsWriter.flush();
    return added;
  }

  /** The sensor's alerts with an ID above `afterId`, oldest first. */
  alertsAfter(sensorId: string, afterId: number): AlertRecord[] {
    return this.alerts.filter((a) => a.sensorId === sensorId && a.alertID > afterId);
  }

  recentAlerts(n: number): AlertRecord[] {
    return this.alerts.slice(-n).reverse();
  }

  async flush(): Promise<void> {
    await Promise.all([this.scansWriter.flush(), this.alertsWriter.flush()]);
  }
}
