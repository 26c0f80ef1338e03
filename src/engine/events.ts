import type { Destination } from './journal';

/** Where a file in input stands; the extension shows these as item states. */
export type FileStage =
  /** Seen; waiting until size and mtime stay unchanged for stable_ms. */
  | 'settling'
  /** Complete; waiting for an upload slot. */
  | 'queued'
  | 'excluded'
  | 'too-large'
  /** Cannot be opened for reading (permissions); retried when it changes. */
  | 'unreadable'
  | 'uploading'
  /** With KATA; waiting for the verdict. */
  | 'submitted'
  /** Upload refused with 401/403: the integration is not approved yet. */
  | 'awaiting-approval'
  /** Upload or delivery failed for a reason that is not a verdict; will be retried. */
  | 'retrying'
  | 'routing'
  /** Gone from input while KATA had it (share unmounted, renamed away); its scan is kept. */
  | 'missing';

/**
 * The life of a file in input, in one place: for each stage, the stages it may move to. The
 * scanner changes a stage only through this table (ScannerEngine.setStage). Staying in a stage
 * with a new reason is always allowed. A new version of the file (other size, mtime, inode) sends
 * any stage back to `settling`. A file starts in `settling`, or, when the journal says KATA
 * already has this very version, in `submitted` or `routing`. It leaves the table when it is
 * delivered, gone from input, or no longer a regular single-link file. See docs/engine-lifecycle.md.
 */
export const stageTransitions: Readonly<Record<FileStage, readonly FileStage[]>> = {
  settling: ['queued', 'awaiting-approval', 'excluded', 'too-large'],
  queued: ['uploading', 'awaiting-approval', 'excluded', 'too-large', 'settling'],
  'awaiting-approval': ['uploading', 'queued', 'excluded', 'too-large', 'settling'],
  excluded: ['queued', 'awaiting-approval', 'too-large', 'settling'],
  'too-large': ['queued', 'awaiting-approval', 'excluded', 'settling'],
  unreadable: ['queued', 'excluded', 'settling'],
  // routing: the verdict can be polled before the upload's own journal step is durable.
  uploading: ['submitted', 'routing', 'awaiting-approval', 'retrying', 'unreadable', 'too-large', 'settling'],
  retrying: ['queued', 'routing', 'awaiting-approval', 'excluded', 'too-large', 'missing', 'settling'],
  submitted: ['routing', 'missing', 'settling'],
  routing: ['retrying', 'missing', 'settling'],
  missing: ['submitted', 'routing', 'settling'],
};

/** Stages a file can be first seen in. */
export const initialStages: readonly FileStage[] = ['settling', 'submitted', 'routing'];

export function canMoveStage(from: FileStage, to: FileStage): boolean {
  return from === to || stageTransitions[from].includes(to);
}

/** The normalised outcome of a scan. `unknown` covers any state KATA documents nowhere. */
export type Verdict = 'not detected' | 'detect' | 'error' | 'timeout' | 'unknown';

export interface FileRecord {
  /**
   * The share whose input holds the file. Written by every engine since shares exist; a reader
   * of an older stream takes a record without it as the share `default` (shareName.ts).
   */
  share?: string;
  name: string;
  size: number;
  mtimeMs: number;
  stage: FileStage;
  /** Why it is in this stage, in English for logs (e.g. the HTTP status of a refused upload). */
  reason?: string;
  scanId?: string;
  sha256?: string;
  firstSeen: number;
  changedAt: number;
  submittedAt?: number;
  attempts: number;
  nextAttemptAt?: number;
}

export interface RoutedFile {
  /** The share the file came from and went to (`default` when absent, see FileRecord.share). */
  share?: string;
  name: string;
  size: number;
  sha256: string;
  scanId: string;
  verdict: Verdict;
  /** The state string exactly as KATA sent it (or `kds-timeout` when KDS gave up waiting). */
  rawState: string;
  destination: Destination;
  path: string;
  submittedAt: number;
  routedAt: number;
  /**
   * Threat name(s) from KATA's alerts, joined with ", " — only in the service's event stream
   * (`kds run` looks them up for detected files), so remote views can show them. Optional.
   */
  threat?: string;
}

export type ApprovalState = 'unknown' | 'approved' | 'pending' | 'rejected';

/** Why a directory entry in input is never scanned. */
export type IgnoredKind =
  | 'directory'
  | 'symlink'
  | 'fifo'
  | 'socket'
  | 'device'
  | 'bad-name'
  | 'hard-link'
  /** A name this OS cannot write to output unchanged (Windows: `a:b`, `CON`, `report.`), listed by a share. */
  | 'forbidden-name';

/**
 * What the engine tells its host. Events about a file or a folder name their share (`default`
 * when absent: a stream written before shares existed); approval and running are the service's.
 */
export type EngineEvent =
  | { type: 'file'; file: FileRecord }
  | { type: 'file-removed'; share?: string; name: string }
  | { type: 'ignored'; share?: string; name: string; kind: IgnoredKind }
  | { type: 'routed'; file: RoutedFile }
  | { type: 'approval'; state: ApprovalState; systemId: string; fingerprint256: string }
  | { type: 'folder'; share?: string; folder: 'in' | 'out' | 'qrnt'; available: boolean; path: string; reason?: string }
  | { type: 'running'; running: boolean };

export function verdictOf(rawState: string): Verdict {
  const s = rawState.trim().toLowerCase();
  if (s === 'not detected' || s === 'detect' || s === 'error' || s === 'timeout') return s;
  return 'unknown';
}

/** The rule of the original service: only "not detected" is clean; everything else is quarantined. */
export function destinationOf(verdict: Verdict): Destination {
  return verdict === 'not detected' ? 'out' : 'qrnt';
}
