import type { ApprovalState } from '../engine/events';

/** What KDS tells a SIEM about; the value is CEF's Device Event Class ID and RFC 5424's MSGID. */
export type SiemEventClass =
  | 'file-detected'
  | 'file-error'
  | 'file-timeout'
  | 'file-unknown-state'
  | 'file-too-large'
  | 'kata-unreachable'
  | 'kata-reachable'
  | 'approval-lost'
  | 'approval-granted'
  | 'approval-pending'
  | 'folder-down'
  | 'folder-up'
  | 'quarantine-release'
  | 'quarantine-delete'
  | 'service-start'
  | 'service-stop';

/** Name (CEF header, English as CEF receivers expect), severity (CEF 0–10), category and action of each class. */
export const siemClasses: Readonly<Record<SiemEventClass, { name: string; severity: number; category: string; action?: string }>> = {
  'file-detected': { name: 'Threat detected, file quarantined', severity: 8, category: 'detection', action: 'quarantined' },
  'file-error': { name: 'Scan error, file quarantined', severity: 5, category: 'detection', action: 'quarantined' },
  'file-timeout': { name: 'No verdict in time, file quarantined', severity: 5, category: 'detection', action: 'quarantined' },
  'file-unknown-state': { name: 'Unknown scan state, file quarantined', severity: 5, category: 'detection', action: 'quarantined' },
  'file-too-large': { name: 'File too large to scan, left in input', severity: 3, category: 'detection', action: 'skipped' },
  'kata-unreachable': { name: 'KATA unreachable', severity: 7, category: 'health' },
  'kata-reachable': { name: 'KATA reachable again', severity: 3, category: 'health' },
  'approval-lost': { name: 'Integration approval lost', severity: 7, category: 'health' },
  'approval-granted': { name: 'Integration approved', severity: 3, category: 'health' },
  'approval-pending': { name: 'Integration not approved', severity: 6, category: 'health' },
  'folder-down': { name: 'Folder unavailable', severity: 7, category: 'health' },
  'folder-up': { name: 'Folder available again', severity: 3, category: 'health' },
  'quarantine-release': { name: 'File released from quarantine', severity: 6, category: 'audit', action: 'released' },
  'quarantine-delete': { name: 'File deleted from quarantine', severity: 4, category: 'audit', action: 'deleted' },
  'service-start': { name: 'KDS started', severity: 2, category: 'service' },
  'service-stop': { name: 'KDS stopped', severity: 4, category: 'service' },
};

/** One event for the SIEM, before formatting. Every text in it may come from an attacker (file names). */
export interface SiemEvent {
  cls: SiemEventClass;
  /** Milliseconds since the epoch. */
  time: number;
  share?: string;
  file?: { name: string; size?: number; sha256?: string; path?: string };
  threat?: string;
  scanId?: string;
  /** The scan state exactly as KATA sent it (or kds-timeout). */
  verdict?: string;
  folder?: 'in' | 'out' | 'qrnt';
  folderPath?: string;
  reason?: string;
  /** Who released or deleted (the audit's user). */
  user?: string;
  approval?: ApprovalState;
  /** Stable and unique per event where a retry could repeat it (audit records), for deduplication. */
  externalId?: string;
}

/** Facts about this service that every event carries. */
export interface SiemSource {
  /** This machine (the Central Node KDS runs on). */
  hostname: string;
  systemId: string;
  /** kata_cn_addr: the Central Node that scans. */
  centralNode: string;
  version: string;
  pid: number;
}
