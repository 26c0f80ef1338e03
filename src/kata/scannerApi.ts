import type { ScanState } from './stateParser';

/**
 * An open file read at explicit positions (never moving a shared offset): a FileHandle, or the
 * engine's own descriptor of a file in input.
 */
export interface ReadableFile {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

export interface SubmitOptions {
  scanId: string;
  /** Sent as the file part's name; any characters are allowed. */
  fileName: string;
  /** The size the caller saw; the upload fails with kind `changed` if the file is not exactly this long. */
  size: number;
  signal?: AbortLike;
}

/**
 * What a request can be cancelled through: an AbortSignal, or an object as small that behaves
 * alike for the one listener the client adds (the engine's own per upload, uploadCancel.ts).
 */
export interface AbortLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface SubmitResult {
  /** SHA-256 (lower-case hex) of exactly the bytes sent. */
  sha256: string;
  bytes: number;
}

export interface KataFilters {
  /** Largest object KATA accepts; bytes assumed (the docs give no unit). */
  maxObjectSize?: number;
  version?: string;
}

/**
 * What the scanning engine needs from KATA, and all it depends on: KataClient provides it, tests
 * may wrap or fake it. Failures are KataError (errors.ts) with a kind the engine reacts to;
 * an abort through `signal` rejects with the signal's reason.
 */
export interface ScannerApi {
  /**
   * Uploads `size` bytes of an already open file, read from offset 0 (the handle is neither moved
   * nor closed), so what KATA scans is the file the caller checked, never a path reopened.
   */
  submit(file: ReadableFile, opts: SubmitOptions): Promise<SubmitResult>;
  states(): Promise<ScanState[]>;
  deleteResult(scanId: string): Promise<void>;
  filters(): Promise<KataFilters>;
}
