import { t } from '../common/l10n';
import type { Logger } from '../common/log';

/** The part of KataApi.detects() this module needs, so tests and the extension can pass anything shaped like it. */
export interface DetectsSource {
  detects(opts?: { token?: string; limit?: number }): Promise<{
    detects: Array<{ threats: string[]; processedObject?: { sha256?: string }; detectedObject?: { sha256?: string } }>;
    token?: string;
  }>;
}

export interface ThreatNameLookupOptions {
  /** refresh() asks KATA at most once per this many ms. Default 10 000. */
  minIntervalMs?: number;
  /** Alerts per page. Default 1000 (KATA's own default). */
  pageSize?: number;
  /** Pages fetched by one refresh(); the rest wait for the next one. Default 20. */
  maxPages?: number;
  /** Hashes remembered; the oldest are forgotten first. Default 50 000. */
  maxEntries?: number;
  logger?: Logger;
}

/**
 * Threat names by SHA-256. KATA's scan state has no threat name; only its alerts (GET detects)
 * carry one, keyed by the object's hash. KATA's cursor token is followed so each alert is
 * fetched once, and the calls are rate-limited because every tree refresh may ask.
 */
export class ThreatNameLookup {
  private readonly names = new Map<string, string[]>();
  private token: string | undefined;
  private lastAttempt = -Infinity;
  private running: Promise<boolean> | undefined;
  private deferred: Promise<boolean> | undefined;
  private lastError: string | undefined;
  private readonly minIntervalMs: number;
  private readonly pageSize: number;
  private readonly maxPages: number;
  private readonly maxEntries: number;

  constructor(
    private readonly api: DetectsSource,
    private readonly opts: ThreatNameLookupOptions = {},
  ) {
    this.minIntervalMs = opts.minIntervalMs ?? 10_000;
    this.pageSize = opts.pageSize ?? 1000;
    this.maxPages = opts.maxPages ?? 20;
    this.maxEntries = opts.maxEntries ?? 50_000;
  }

  /** Threat names joined with ", ", or undefined when no alert for this hash was seen yet. */
  lookup(sha256: string): string | undefined {
    return this.names.get(sha256.toLowerCase())?.join(', ');
  }

  /**
   * Fetches alerts raised since the last call. Resolves true when a hash or a name was added.
   * Never rejects: a failure is logged and the next call (after the interval) tries again from
   * the same cursor. Concurrent calls share one fetch.
   */
  refresh(): Promise<boolean> {
    if (this.running) return this.running;
    if (Date.now() - this.lastAttempt < this.minIntervalMs) return Promise.resolve(false);
    this.lastAttempt = Date.now();
    this.running = this.fetch().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Like refresh(), but a call inside the rate-limit window is not dropped: it runs once the
   * window ends (callers waiting meanwhile share it). For a detection that has no name yet.
   */
  refreshSoon(): Promise<boolean> {
    const wait = this.lastAttempt + this.minIntervalMs - Date.now();
    if (this.running || wait <= 0) return this.refresh();
    this.deferred ??= new Promise<void>((resolve) => setTimeout(resolve, wait)).then(() => {
      this.deferred = undefined;
      return this.refresh();
    });
    return this.deferred;
  }

  private async fetch(): Promise<boolean> {
    let added = false;
    try {
      for (let page = 0; page < this.maxPages; page++) {
        const answer = await this.api.detects({ token: this.token, limit: this.pageSize });
        for (const d of answer.detects) {
          for (const hash of [d.processedObject?.sha256, d.detectedObject?.sha256]) {
            if (hash && this.remember(hash.toLowerCase(), d.threats)) added = true;
          }
        }
        // The cursor moves only after a page was taken in, so a failure re-reads nothing twice and loses nothing.
        const moved = answer.token !== undefined && answer.token !== '' && answer.token !== this.token;
        if (moved) this.token = answer.token;
        if (!moved || answer.detects.length < this.pageSize) break;
      }
      this.lastError = undefined;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      // The same failure every ten seconds (KATA down for an hour) is said once, then quietly.
      const level = msg === this.lastError ? 'debug' : 'warn';
      this.lastError = msg;
      this.opts.logger?.log(level, 'threats.failed', t('Cannot fetch threat names from KATA: {0}', msg));
    }
    return added;
  }

  private remember(hash: string, threats: string[]): boolean {
    const fresh = threats.map((s) => s.trim()).filter(Boolean);
    if (fresh.length === 0) return false;
    const known = this.names.get(hash);
    if (!known) {
      if (this.names.size >= this.maxEntries) this.names.delete(this.names.keys().next().value!);
      this.names.set(hash, [...new Set(fresh)]);
      return true;
    }
    let added = false;
    for (const name of fresh) {
      if (!known.includes(name)) {
        known.push(name);
        added = true;
      }
    }
    return added;
  }
}
