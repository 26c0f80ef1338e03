import type { Logger } from '../common/log';
import type { ScannerApi } from '../kata/scannerApi';
import type { Destination } from './journal';

/** The exclude list as the engine sees it: re-read cheaply before every rescan. */
export interface ExcludeSource {
  refresh(): Promise<boolean>;
  matches(name: string): { pattern: string } | undefined;
}

/** Tells whether a folder is currently usable (e.g. its share is mounted). */
export type FolderGuard = (dir: string) => Promise<string | undefined>;

/**
 * One folder triple the engine serves, with what it may set for itself. Every share's files are
 * uploaded under the same system_id, their verdicts come from the same poll, and each is only
 * ever moved into its own share's folders.
 */
export interface ShareOptions {
  /** A short identifier, unique (case-insensitively); `default` for the one share of a one-share configuration. */
  name: string;
  inDir: string;
  outDir: string;
  qrntDir: string;
  excludes: ExcludeSource;
  maxFileSizeBytes: number;
  stableMs: number;
  /** Kernel change events are a hint only; rescans every pollIntervalMs find what they miss. */
  useEvents: boolean;
  /**
   * Input's file times come from this machine's clock (a local file system): a file whose status
   * last changed at least stable_ms ago has already been stable that long, so it skips the wait.
   * Not on a share, whose server's clock may be behind ours.
   */
  inputClockIsOurs?: boolean;
  /**
   * Folders on a local file system (folderFs.ts): file calls there are made synchronously, which
   * costs a fraction of a trip through the thread pool; on a share they never are.
   */
  localFolders?: { in?: boolean; out?: boolean; qrnt?: boolean };
  /** Input's file system has stable file ids (see sameVersion); true unless told otherwise. */
  inputFileIds?: boolean;
  /** Destinations whose names follow Windows' rules (an SMB share): see destinationNames.ts. */
  portableNames?: Partial<Record<Destination, boolean>>;
}

export interface EngineOptions {
  /** At least one; names unique. */
  shares: ShareOptions[];
  stateDir: string;
  systemId: string;
  /** SHA-256 of the client certificate, shown to administrators while approval is pending. */
  fingerprint256: string;
  api: ScannerApi;
  logger: Logger;
  pollIntervalMs: number;
  scanTimeoutMs: number;
  maxInflight: number;
  /** Called after a rescan that listed many files (the service frees the burst's garbage then). */
  afterBurst?: () => void;
  /**
   * Called when the files in input reach 10 000, and again when they fall below 5 000: the
   * service trades speed for memory while it holds that many (heapRelease.ts).
   */
  manyFiles?: (many: boolean) => void;
  folderGuard?: FolderGuard;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long stop() waits for uploads and deliveries in progress before aborting them. */
  stopGraceMs?: number;
}
