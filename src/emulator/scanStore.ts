import { closeSync, fdatasync, openSync, writeSync } from 'node:fs';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from './atomicFile';
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
  /** Only once the object is detected (its alert carries it); records from before issue 20 have it always. */
  md5?: string;
  /** The content, in the objects folder, kept only while the scan is processing. */
  objectFile?: string;
  /**
   * Instead of objectFile for a small object: its content, base64, kept only while the scan is
   * processing. It saves creating, reading and deleting a file per object, and travels in the
   * journal line that records the scan, so it survives a restart the same way.
   */
  inline?: string;
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

/** Before the journal: one whole file each, rewritten on every change. Still read, once. */
interface LegacyScansFile {
  version: 1;
  scans: ScanRecord[];
}

interface LegacyAlertsFile {
  version: 1;
  nextAlertId: number;
  alerts: AlertRecord[];
}

/** `<data>/store.json`: everything up to the start of journal number `journal`. */
interface Snapshot {
  version: 2;
  journal: number;
  nextAlertId: number;
  scans: ScanRecord[];
  alerts: AlertRecord[];
}

/** One line of `<data>/store-N.log`. */
type JournalEntry = { put: ScanRecord } | { del: string[] } | { alerts: AlertRecord[] };

const SNAPSHOT = 'store.json';
const journalName = (n: number) => `store-${n}.log`;
const JOURNAL = /^store-(\d+)\.log$/;
/** The journal is folded into a new snapshot once it holds this many entries more than there are live records. */
const COMPACT_AFTER = 20_000;
/** At most this long between a change and its fdatasync (a power cut may lose that much; a crash loses nothing). */
const SYNC_EVERY_MS = 1000;

/**
 * Scans and alerts, in memory and on disk as a snapshot (`store.json`) plus an append-only
 * journal (`store-N.log`, one JSON line a change). A change is written to the journal (a
 * single write(2), no await) before the call that made it returns, so a client that got its
 * answer finds the change after any crash or restart of the process; the journal is
 * fdatasync'ed in the background at most SYNC_EVERY_MS later, and on close. That one cheap
 * write per request is what lets a sequential client reach hundreds of requests a second;
 * the previous design rewrote and fsync'ed the whole scan list on every request.
 */
export class ScanStore {
  private readonly scans = new Map<string, ScanRecord>();
  /** sensorId → its scans in submission order, so GET scans/state does not walk other sensors'. */
  private readonly bySensor = new Map<string, Map<string, ScanRecord>>();
  private readonly processing = new Set<string>();
  private alerts: AlertRecord[] = [];
  private nextAlertId = 1;
  private journalNo = 1;
  private fd: number | undefined;
  private entries = 0;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private compacting: Promise<void> | undefined;
  private syncing: Promise<void> | undefined;

  constructor(private readonly dataDir: string) {}

  async load(): Promise<void> {
    const snapshot = await readJsonFile<Snapshot>(join(this.dataDir, SNAPSHOT));
    if (snapshot?.version === 2) {
      for (const s of snapshot.scans) this.setScan(s);
      this.alerts = snapshot.alerts;
      this.nextAlertId = snapshot.nextAlertId;
      this.journalNo = snapshot.journal;
    } else {
      const scans = await readJsonFile<LegacyScansFile>(join(this.dataDir, 'scans.json'));
      for (const s of scans?.scans ?? []) if (s && typeof s.key === 'string') this.setScan(s);
      const alerts = await readJsonFile<LegacyAlertsFile>(join(this.dataDir, 'alerts.json'));
      this.alerts = Array.isArray(alerts?.alerts) ? alerts.alerts : [];
      this.nextAlertId = alerts?.nextAlertId ?? 1;
    }
    // Journals from the snapshot's on, oldest first: a crash during compaction leaves two.
    const journals = (await readdir(this.dataDir))
      .map((n) => Number(JOURNAL.exec(n)?.[1] ?? NaN))
      .filter((n) => Number.isSafeInteger(n))
      .sort((a, b) => a - b);
    for (const n of journals) {
      if (n < this.journalNo) {
        await unlink(join(this.dataDir, journalName(n))).catch(() => undefined);
        continue;
      }
      this.replay(await readFile(join(this.dataDir, journalName(n)), 'utf8'));
      this.journalNo = n;
    }
    this.trimAlerts();
    this.nextAlertId = Math.max(this.nextAlertId, (this.alerts.at(-1)?.alertID ?? 0) + 1);
    // Start from a fresh snapshot: the journal then only holds what happens from now on.
    await this.compact();
  }

  private replay(text: string): void {
    for (const line of text.split('\n')) {
      if (!line) continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        // Only the last line can be torn (a power cut mid-write): everything before it is whole.
        continue;
      }
      if ('put' in entry) this.setScan(entry.put);
      else if ('del' in entry) for (const key of entry.del) this.deleteScan(key);
      else if ('alerts' in entry) this.alerts.push(...entry.alerts);
    }
  }

  all(): ScanRecord[] {
    return [...this.scans.values()];
  }

  /** The sensor's scans, oldest first (a replaced scanId counts from its latest request). */
  ofSensor(sensorId: string): Iterable<ScanRecord> {
    return this.bySensor.get(sensorId)?.values() ?? [];
  }

  get(key: string): ScanRecord | undefined {
    return this.scans.get(key);
  }

  countProcessing(): number {
    return this.processing.size;
  }

  /** Adds or replaces (a reused scanId replaces the earlier request); returns the replaced one. */
  put(record: ScanRecord): ScanRecord | undefined {
    const previous = this.scans.get(record.key);
    this.setScan(record);
    this.append({ put: record });
    return previous;
  }

  /**
   * Records a scan whose state changed in place (processing → final). Only the record the
   * store holds counts: a replaced or deleted one is not brought back.
   */
  update(record: ScanRecord): void {
    if (this.scans.get(record.key) !== record) return;
    this.setScan(record);
    this.append({ put: record });
  }

  remove(records: ScanRecord[]): void {
    const keys = records.filter((r) => this.scans.get(r.key) === r).map((r) => r.key);
    for (const key of keys) this.deleteScan(key);
    if (keys.length) this.append({ del: keys });
  }

  /** Visible to readers at once; none is a no-op. */
  addAlerts(alerts: Array<Omit<AlertRecord, 'alertID'>>): AlertRecord[] {
    if (alerts.length === 0) return [];
    const added = alerts.map((a) => ({ alertID: this.nextAlertId++, ...a }));
    this.alerts.push(...added);
    this.trimAlerts();
    this.append({ alerts: added });
    return added;
  }

  /** The sensor's alerts with an ID above `afterId`, oldest first. */
  alertsAfter(sensorId: string, afterId: number): AlertRecord[] {
    return this.alerts.filter((a) => a.sensorId === sensorId && a.alertID > afterId);
  }

  recentAlerts(n: number): AlertRecord[] {
    return this.alerts.slice(-n).reverse();
  }

  /** Everything so far is on disk (fdatasync'ed) when this resolves. */
  async flush(): Promise<void> {
    await this.compacting;
    await this.sync();
  }

  /** Folds the journal into the snapshot and closes it; the store is not used afterwards. */
  async close(): Promise<void> {
    await this.flush();
    await this.compact();
    clearTimeout(this.syncTimer);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private setScan(s: ScanRecord): void {
    this.scans.set(s.key, s);
    let m = this.bySensor.get(s.sensorId);
    if (!m) this.bySensor.set(s.sensorId, (m = new Map()));
    m.set(s.key, s);
    if (s.state === 'processing') this.processing.add(s.key);
    else this.processing.delete(s.key);
  }

  private deleteScan(key: string): void {
    const s = this.scans.get(key);
    if (!s) return;
    this.scans.delete(key);
    const m = this.bySensor.get(s.sensorId)!;
    m.delete(key);
    if (m.size === 0) this.bySensor.delete(s.sensorId);
    this.processing.delete(key);
  }

  private trimAlerts(): void {
    if (this.alerts.length > MAX_ALERTS) this.alerts.splice(0, this.alerts.length - MAX_ALERTS);
  }

  private append(entry: JournalEntry): void {
    if (this.fd === undefined) throw new Error('the scan store is closed');
    writeSync(this.fd, JSON.stringify(entry) + '\n');
    this.entries++;
    this.dirty = true;
    this.syncTimer ??= setTimeout(() => {
      this.syncTimer = undefined;
      void this.sync().catch(() => undefined);
    }, SYNC_EVERY_MS).unref();
    if (!this.compacting && this.entries > COMPACT_AFTER + this.scans.size + this.alerts.length) {
      this.compacting = this.compact().finally(() => (this.compacting = undefined));
      this.compacting.catch(() => undefined);
    }
  }

  private sync(): Promise<void> {
    if (!this.dirty || this.fd === undefined) return this.syncing ?? Promise.resolve();
    this.dirty = false;
    const fd = this.fd;
    const run = (this.syncing ?? Promise.resolve()).then(() => new Promise<void>((done, fail) => fdatasync(fd, (err) => (err ? fail(err) : done()))));
    const tracked: Promise<void> = run.finally(() => {
      if (this.syncing === tracked) this.syncing = undefined;
    });
    tracked.catch(() => undefined);
    this.syncing = tracked;
    return run;
  }

  /**
   * A new journal takes the changes from now on; the state as of this moment becomes the
   * snapshot, written atomically; then the older journals go. A crash at any point leaves a
   * snapshot and the journals from its number on, which load() replays.
   */
  private async compact(): Promise<void> {
    const previous = this.fd;
    const previousNo = this.journalNo;
    const next = this.journalNo + 1;
    this.fd = openSync(join(this.dataDir, journalName(next)), 'a', 0o600);
    this.journalNo = next;
    this.entries = 0;
    const text = JSON.stringify({
      version: 2,
      journal: next,
      nextAlertId: this.nextAlertId,
      scans: [...this.scans.values()],
      alerts: this.alerts,
    } satisfies Snapshot);
    await writeFileAtomic(join(this.dataDir, SNAPSHOT), text);
    // A background fdatasync may still hold the old descriptor; closing under it could hand
    // the number to another file.
    await this.syncing?.catch(() => undefined);
    if (previous !== undefined) closeSync(previous);
    await unlink(join(this.dataDir, journalName(previousNo))).catch(() => undefined);
    for (const legacy of ['scans.json', 'alerts.json']) await unlink(join(this.dataDir, legacy)).catch(() => undefined);
  }
}
