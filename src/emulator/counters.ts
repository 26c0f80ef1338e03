import type { ScanRecord } from './scanStore';

/** What happened since this emulator instance started; the numbers tests assert on. */
export class EmulatorCounters {
  postsAccepted = 0;
  readonly uploadsBySha256 = new Map<string, number>();
  deleteRequests = 0;
  scansDeleted = 0;
  apiRequests = 0;
  uploadsInFlight = 0;
  readonly statusCounts = new Map<number, number>();
  readonly faults = { '429': 0, '500': 0, reset: 0, delayed: 0 };

  countStatus(status: number): void {
    this.statusCounts.set(status, (this.statusCounts.get(status) ?? 0) + 1);
  }

  countUpload(sha256: string): void {
    this.postsAccepted++;
    this.uploadsBySha256.set(sha256, (this.uploadsBySha256.get(sha256) ?? 0) + 1);
  }
}

export interface ScanSummary {
  sensorId: string;
  scanId: string;
  sensorInstanceId: string;
  state: ScanRecord['state'];
  fileName: string;
  size: number;
  sha256: string;
  submittedAt: string;
  finishedAt?: string;
  threats: string[];
}

export interface EmulatorStats {
  /** POST /scans answered 200. */
  postsAccepted: number;
  /** SHA-256 of accepted content → how many times it was uploaded. */
  uploadsBySha256: Map<string, number>;
  /** DELETE requests answered 200 (one scan or all). */
  deletes: number;
  /** Scan results removed by those DELETEs. */
  scansDeleted: number;
  apiRequests: number;
  /** HTTP status → responses sent by the API (injected resets have none). */
  statusCounts: Map<number, number>;
  faults: { '429': number; '500': number; reset: number; delayed: number };
  /** Every scan the emulator holds now (persisted ones included), oldest first. */
  scans: ScanSummary[];
}

export function summarise(scan: ScanRecord): ScanSummary {
  return {
    sensorId: scan.sensorId,
    scanId: scan.scanId,
    sensorInstanceId: scan.sensorInstanceId,
    state: scan.state,
    fileName: scan.fileName,
    size: scan.size,
    sha256: scan.sha256,
    submittedAt: scan.submittedAt,
    ...(scan.finishedAt ? { finishedAt: scan.finishedAt } : {}),
    threats: scan.threats.map((x) => x.name),
  };
}
