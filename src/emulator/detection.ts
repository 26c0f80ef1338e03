import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import { Sha256Blocklist } from './blocklist';
import { EICAR_MAX_FILE_SIZE, isEicarTestFile } from './eicar';
import { ScanTimeoutError, YaraScanner } from './yaraScanner';
import { findEicarInZip, looksLikeZip, zipLimits } from './zipScan';

export type Technology = 'am' | 'yara';
export type FinalState = 'detect' | 'not detected' | 'error' | 'timeout';

export interface Threat {
  name: string;
  technology: Technology;
}

export interface Verdict {
  state: FinalState;
  threats: Threat[];
}

export const threatNames = Object.freeze({
  eicar: 'EICAR-Test-File',
  blocklist: 'KDS:BlockList.SHA256',
  yaraPrefix: 'YARA:',
});

/**
 * Emulator-only markers at the very start of the content, so tests and demos can reach the
 * states a real KATA produces only under load or failure.
 */
export type TestMarker = 'error' | 'timeout' | 'slow';
const markers: Array<[string, TestMarker]> = [
  ['KDS-TEST-ERROR', 'error'],
  ['KDS-TEST-TIMEOUT', 'timeout'],
  ['KDS-TEST-SLOW', 'slow'],
];
/** `KDS-TEST-SLOW` keeps a scan processing this many times the verdict delay. */
export const SLOW_FACTOR = 10;

/** How many leading bytes of an upload are kept for the marker and format checks. */
export const HEAD_BYTES = 64;

export function testMarkerOf(head: Uint8Array): TestMarker | undefined {
  const text = Buffer.from(head.subarray(0, 32)).toString('latin1');
  return markers.find(([prefix]) => text.startsWith(prefix))?.[1];
}

export interface StoredObject {
  path: string;
  /** The content itself, for an object kept in memory (then `path` is only used for YARA). */
  data?: Buffer;
  size: number;
  sha256: string;
  /** Its first HEAD_BYTES bytes when they are known already (kept from the upload), so a big object's file is not opened just for them. */
  head?: Buffer;
}

/** Objects up to this size are read whole in one synchronous call. */
const SMALL_READ = 64 * 1024;

/** The small real engine: EICAR (plain and in ZIP), a SHA-256 block list and YARA rules. */
export class DetectionEngine {
  readonly blocklist: Sha256Blocklist;
  readonly yara: YaraScanner;

  constructor(
    dataDir: string,
    private readonly logger: Logger,
    yaraProgram?: string,
  ) {
    this.blocklist = new Sha256Blocklist(join(dataDir, 'blocklist.sha256'), logger);
    this.yara = new YaraScanner(join(dataDir, 'rules'), logger, yaraProgram);
  }

  async examine(obj: StoredObject, signal?: AbortSignal): Promise<Verdict> {
    return (await this.examineMany([obj], signal))[0]!;
  }

  /**
   * Verdicts for a batch of objects, in order: each is checked on its own for the test
   * markers, EICAR (plain and in ZIP) and the block list; YARA then runs once for all of them.
   */
  async examineMany(objs: StoredObject[], signal?: AbortSignal): Promise<Verdict[]> {
    const verdicts: Array<Verdict | Threat[]> = [];
    for (const obj of objs) verdicts.push(await this.examineOwn(obj, signal));
    const forYara = objs.filter((_, i) => Array.isArray(verdicts[i]));
    let yara: Map<string, string[] | ScanTimeoutError>;
    // yara reads files: objects kept in memory get one for the run, only when there are rules.
    const written = this.yara.hasRules() ? forYara.filter((o) => o.data) : [];
    try {
      for (const o of written) writeFileSync(o.path, o.data!, { flag: 'wx', mode: 0o600 });
      yara = await this.yara.scanMany(forYara.map((o) => o.path), signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      const timedOut = err instanceof ScanTimeoutError;
      if (!timedOut) this.logger.error('emulator.detect', t('Scanning an object failed: {0}', (err as Error).message), { objects: forYara.length });
      return verdicts.map((v) => (Array.isArray(v) ? { state: timedOut ? 'timeout' : 'error', threats: [] } : v));
    } finally {
      for (const o of written) rmSync(o.path, { force: true });
    }
    return verdicts.map((v, i) => {
      if (!Array.isArray(v)) return v;
      const rules = yara.get(objs[i]!.path);
      if (rules instanceof ScanTimeoutError) return { state: 'timeout', threats: [] };
      const threats = [...v, ...(rules ?? []).map((rule) => ({ name: threatNames.yaraPrefix + rule, technology: 'yara' as const }))];
      return { state: threats.length ? 'detect' : 'not detected', threats };
    });
  }

  /** The final verdict, or the threats found so far when YARA still has to look. */
  private async examineOwn(obj: StoredObject, signal?: AbortSignal): Promise<Verdict | Threat[]> {
    try {
      // A small object is read whole, once, synchronously (microseconds from the page cache,
      // no thread-pool trips); a big one only as far as its head, unless it is a ZIP.
      const small = obj.data ?? (obj.size <= SMALL_READ ? readFileSync(obj.path) : undefined);
      const head = small ? small.subarray(0, HEAD_BYTES) : (obj.head ?? (await readHead(obj.path, HEAD_BYTES)));
      const marker = testMarkerOf(head);
      if (marker === 'error') return { state: 'error', threats: [] };
      if (marker === 'timeout') return { state: 'timeout', threats: [] };

      const threats: Threat[] = [];
      if (small && small.length <= EICAR_MAX_FILE_SIZE) {
        if (isEicarTestFile(small)) threats.push({ name: threatNames.eicar, technology: 'am' });
      } else if (obj.size <= zipLimits.maxArchiveBytes && looksLikeZip(head)) {
        if (findEicarInZip(small ?? (await readFile(obj.path))) !== undefined) threats.push({ name: threatNames.eicar, technology: 'am' });
      }
      if (this.blocklist.has(obj.sha256)) threats.push({ name: threatNames.blocklist, technology: 'am' });
      return threats;
    } catch (err) {
      if (signal?.aborted) throw err;
      this.logger.error('emulator.detect', t('Scanning an object failed: {0}', (err as Error).message), { sha256: obj.sha256 });
      return { state: 'error', threats: [] };
    }
  }
}

async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
