import type { Stats } from 'node:fs';
import type { EngineEvent, FileRecord, FileStage, IgnoredKind } from './events';
import type { ApprovalTracker } from './approval';
import type { CircuitBreaker } from './circuitBreaker';
import type { Logger } from '../common/log';
import type { EngineOptions, ShareOptions } from './engineOptions';
import type { FileVersion, VersionStats } from './fileVersion';
import type { FolderFs } from './folderFs';
import type { FolderHealth } from './folderHealth';
import type { Journal, ScanEntry } from './journal';
import type { ReadableFile } from '../kata/scannerApi';
import type { StagingUpload } from './stagedCopy';

/**
 * What the engine keeps per file in input: plain values only (no timers, closures, handles or
 * per-file log text), so 100 000 waiting files cost a few hundred bytes each. Timing is done by a
 * handful of engine-wide queues and timers; a file is open only while it is uploaded or copied.
 */
export interface Rec extends FileRecord {
  /** Always set on the engine's own records (FileRecord.share is optional for readers of older streams). */
  share: string;
  ino: number;
  dev: number;
  /** The ctime KDS last saw; on a local input a change of it restarts the stable_ms wait (settleTime.ts). */
  ctimeMs: number;
  /** Unchanged since then: the stable_ms wait ends stable_ms after it. */
  stableSince: number;
  /** One-time messages (excluded, too large, unreadable) were logged for this version. */
  logged: boolean;
  /** In the submission stage's upload queue (not yet taken). */
  inQueue: boolean;
  /** The rescan generation that last saw it in input. */
  seen: number;
  /** Another file came under this name while this one's delivery was under way: look again after it. */
  newerSeen?: boolean;
}

/**
 * One share as the stages see it: its folders and settings (looked up by the share name every
 * record and journal entry carries), its own intake, its records, and the health of its folders.
 * A share's trouble stays in its ShareState: the others' intakes, folders and records go on.
 */
export interface ShareState extends ShareOptions {
  /** How each folder's files are read and written (synchronously on a local file system). */
  readonly fs: { in: FolderFs; out: FolderFs; qrnt: FolderFs };
  readonly folders: FolderHealth;
  /** The files in this share's input, by name. */
  readonly records: Map<string, Rec>;
  readonly intake: IntakeStage;
  /** The engine's logger; with several shares, every line it writes names this share. */
  readonly logger: Logger;
  /** Fields naming the share on a log line written elsewhere (empty with one share, whose log is the original's). */
  readonly tag: { share?: string };
}

/**
 * The stages of a file's life, each a module with one owner (docs/engine-lifecycle.md):
 * intake.ts, submission.ts, verdicts.ts, routing.ts. These are what one stage may ask of another;
 * ScannerEngine (scanner.ts) builds them and hands each the StageContext below.
 */

/** Listing, watching, settling, classifying (intake.ts). */
export interface IntakeStage {
  readonly busy: boolean;
  /** Starts watching the share's input (change events, where they work). */
  start(): void;
  stop(): void;
  /** The next rescan of this share's input (now when `full`, listing everything). */
  rescan(full?: boolean): Promise<void>;
  /** (Re)starts the stable_ms wait of a file. */
  settle(rec: Rec): void;
  /** The next rescan, soon, looks at this name again and decides what it is now. */
  recheck(name: string): void;
  /** A new version of the file: whatever KATA said about the old bytes is dropped. */
  newVersion(rec: Rec, st: Stats): void;
  /** Not a regular single-link file (any more): it leaves the table and is reported once. */
  ignore(name: string, kind: IgnoredKind, nlink?: number): void;
  /** Excluded, too large, or in line for an upload. */
  classify(rec: Rec): void;
}

/** Preparing, uploading, retries, approval (submission.ts). */
export interface SubmissionStage {
  readonly busy: boolean;
  /** The largest object sent from a share: its max_file_size_mb, or KATA's own limit when lower. */
  maxObjectSize(share: ShareState): number;
  /** Puts a complete file in line for an upload (awaiting approval while KATA refuses us). */
  ready(rec: Rec, reason?: string): void;
  /** Starts as many uploads as slots allow. */
  pump(): void;
  abortUpload(rec: Rec): void;
  /** The wait before retrying a request that failed `attempts` times in a row. */
  retryDelay(attempts: number, now: number): number;
}

/** Polling verdicts, deleting results at KATA (verdicts.ts). */
export interface VerdictStage {
  readonly busy: boolean;
  schedulePoll(delay: number): void;
  pollDelay(): number;
  /** Deletes the scan's result at KATA (soon, a few at a time). */
  enqueueDelete(scanId: string): void;
  /** This scan's result will never be used: journaled as abandoned, its result deleted. */
  abandon(e: ScanEntry, why: string): void;
}

/** Delivery to output or quarantine, removal from input (routing.ts). */
export interface RoutingStage {
  readonly busy: boolean;
  enqueueRoute(e: ScanEntry): void;
  /** The scan's file is being delivered, or lies in input under its aside name (sourceRemoval.ts). */
  holds(scanId: string): boolean;
  /** Deliveries cut after their file was set aside: found by their aside names (in one share's input, or every one's) and resumed. */
  recoverAsides(share?: string): Promise<void>;
  /** Starts the deliveries without a file record whose retry is due; the next due time (Infinity: none). */
  wakeDue(now: number): number;
  /** Whether the upload of a file of this size should keep the bytes it reads for the delivery (scannedCopy.ts). */
  wantsScanned(share: ShareState, size: number): boolean;
  /** The bytes an upload read, hashed and sent, for the delivery of that scan. */
  keepScanned(scanId: string, bytes: Buffer): void;
  /**
   * For a large upload: a reader over `file` that writes what the upload reads into a staged copy
   * (stagedCopy.ts), and `finish`, called once the upload is over (`used`: KATA has the file).
   * Undefined when this share does not stage.
   */
  startStaging(share: ShareState, scanId: string, size: number, file: ReadableFile): Promise<StagingUpload | undefined> | undefined;
  /** The scan's result will never be delivered: its kept bytes or staged copy go. */
  dropScanned(scanId: string): void;
}

/** What ScannerEngine gives every stage: the records, the journal, the events and the other stages. */
export interface StageContext {
  readonly o: EngineOptions;
  readonly running: boolean;
  /** Every share, by name. */
  readonly shares: ReadonlyMap<string, ShareState>;
  readonly journal: Journal;
  readonly approval: ApprovalTracker;
  readonly breaker: CircuitBreaker;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** Files in `submitted` (waiting for a verdict). */
  readonly outstanding: number;
  readonly submission: SubmissionStage;
  readonly verdicts: VerdictStage;
  readonly routing: RoutingStage;
  /** A new file in the table (its first stage set already). */
  track(rec: Rec): void;
  /** The share of a record (a record exists only in a configured share). */
  shareOf(rec: Rec): ShareState;
  /** The record of a file in a share's input (undefined for a share no longer configured). */
  recordOf(share: string, name: string): Rec | undefined;
  /** The file leaves the table. */
  forget(rec: Rec): void;
  /** Every stage change goes through the table in events.ts. */
  setStage(rec: Rec, stage: FileStage, reason?: string): void;
  emitFile(rec: Rec): void;
  emit(event: EngineEvent): void;
  /** The file waits until `at`, then goes back to routing (it has a verdict) or in line for an upload. */
  retryAt(rec: Rec, at: number, stage: 'retrying' | 'unreadable', reason: string): void;
  /** The file no longer waits for a retry. */
  cancelRetry(rec: Rec): void;
  /** Wakes the engine at `at` (approval probes, the circuit breaker's pause). */
  wakeAtTime(at: number): void;
  /** The same version of a file in its share's input (inode numbers count only where they identify files). */
  sameVersion(v: FileVersion & { share: string }, st: VersionStats): boolean;
  /** A warning at most every 10 s per key (debug in between). */
  logLimited(key: string, level: 'warn' | 'info', event: string, msg: string, fields?: Record<string, unknown>): void;
}
