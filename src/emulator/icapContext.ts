import type { Logger } from '../common/log';
import type { DetectionEngine, Verdict } from './detection';
import type { PeerLink } from './icapPeerLink';
import type { IcapMode, IcapServiceLog } from './icapServiceLog';

export interface IcapServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  mode: IcapMode;
  dataDir: string;
  engine: DetectionEngine;
  logger: Logger;
  /** Larger bodies are not scanned: 204 when the client allows it, else 413 and close. */
  maxObjectSize: number;
  /** How long a KDS-TEST-SLOW object takes to get its verdict. */
  slowVerdictMs: number;
  /** blocking_advanced waits this long for a slow verdict before letting the object through. */
  advancedWaitMs: number;
  /** More simultaneous connections get 503 and are closed. */
  maxConnections?: number;
  /** The head of a request (with its encapsulated HTTP heads) must arrive within this (slowloris guard). */
  headTimeoutMs?: number;
  /**
   * A connection idle between requests is closed after this; so is one whose peer reads none of
   * our answers for this long. It is also the window of the body's minimum rate.
   */
  idleTimeoutMs?: number;
  /** A body must bring at least this many bytes per idleTimeoutMs window (slow drip guard). */
  minBodyBytesPerWindow?: number;
  /** Called for each detection (the emulator records it as an alert). */
  onDetection?(d: IcapDetection): void;
  version: string;
}

export interface IcapDetection {
  scanId: string;
  method: 'REQMOD' | 'RESPMOD';
  url: string;
  peer: string;
  size: number;
  sha256: string;
  md5: string;
  verdict: Verdict;
  mode: IcapMode;
  action: 'blocked' | 'passed';
  at: string;
}

export interface IcapStats {
  connections: number;
  openConnections: number;
  requests: number;
  byStatus: Map<number, number>;
  detections: number;
  parseErrors: number;
  /** Body bytes held in memory right now, all connections (the echo's start, a held-back last chunk). */
  heldBodyBytes: number;
  /** The most ever held at once. */
  peakHeldBodyBytes: number;
  /** Connections stopped until their peer reads the answers already sent. */
  waitingForPeer: number;
}

/** What one connection needs from the server that accepted it. */
export interface IcapServerContext {
  readonly opts: IcapServerOptions;
  readonly log: IcapServiceLog;
  readonly spoolDir: string;
  readonly maxConnections: number;
  readonly stopping: AbortSignal;
  mode(): IcapMode;
  istag(): string;
  count(status: number): void;
  readonly stats: IcapStats;
  /** The open connections. */
  readonly links: Set<PeerLink>;
  /** Body bytes taken into (positive) or released from (negative) memory. */
  held(delta: number): void;
  /** Work that must end before close() returns (late verdicts). */
  track(job: Promise<unknown>): void;
}
