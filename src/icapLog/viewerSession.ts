/**
 * The ICAP log viewer's host-side session (pure: no vscode, no DOM): one open log with one filter.
 * Loads the tail and earlier pages, follows new lines, counts matching lines (cancelled when the
 * filter changes; kept up to date incrementally while the file grows) and tags everything with an
 * `epoch` that changes with the filter or after rotation, so stale answers are never shown.
 * The panel (src/extension/panels/icapLogPanel.ts) only maps events to messages.
 */
import type { ByteSource, SourceStat } from './byteSource';
import { countMatches, type CountResult } from './countMatches';
import type { TimeOptions } from './lineTime';
import { compileFilter, type CompiledFilter, type IcapLogFilter } from './logFilter';
import type { IcapLogLine } from './logLine';
import { LogPager, type PagerOptions } from './logPager';
import { parseIcapLine } from './parseIcapLine';
import type { IcapLogViewFilter, IcapViewLine } from '../webviewProtocol/icapLog';

export interface SessionPage {
  epoch: number;
  kind: 'tail' | 'before';
  lines: IcapLogLine[];
  startCursor: number;
  atStart: boolean;
  size: number;
}

export interface SessionAppend {
  epoch: number;
  lines: IcapLogLine[];
  skippedBytes?: number;
  size: number;
}

export interface SessionCount {
  epoch: number;
  state: 'running' | 'done' | 'error';
  /** Matching lines (so far, while running). */
  matched: number;
  /** All lines (0 while running). */
  lines: number;
  /** Bytes counted / to count. */
  done: number;
  total: number;
  error?: unknown;
}

export interface ViewerSessionEvents {
  page(p: SessionPage): void;
  append(a: SessionAppend): void;
  /** The file was rotated or truncated: the view restarts (a new epoch and a new tail page follow). */
  reset(kind: 'rotated' | 'truncated', epoch: number): void;
  count(c: SessionCount): void;
  error(err: unknown): void;
}

export interface ViewerSessionOptions {
  /** Lines per page. Default 200. */
  pageLines?: number;
  /** Bytes one page request may scan with a sparse filter. Default 8 MiB. */
  maxScanBytes?: number;
  /** Follow polling interval. Default 1000 ms. */
  followIntervalMs?: number;
  /** Count read size. Default 1 MiB (countMatches' default). */
  countChunkBytes?: number;
  /** At most one `running` count event per this many ms. Default 250. */
  progressIntervalMs?: number;
  pager?: PagerOptions;
}

/** The panel's filter as the core's IcapLogFilter ("Match case" off = grep -i). */
export function toLogFilter(v: IcapLogViewFilter, time?: TimeOptions): IcapLogFilter {
  const spec: IcapLogFilter = { mode: v.mode, verdictOnly: v.verdictOnly };
  if (v.text !== '') spec.search = { text: v.text, regex: v.regex, ignoreCase: !v.matchCase };
  if (v.timeFrom.trim()) spec.timeFrom = v.timeFrom;
  if (v.timeTo.trim()) spec.timeTo = v.timeTo;
  if (time) spec.time = time;
  return spec;
}

/** A log line as the webview shows it: text, highlight spans, verdict colour and fields. */
export function toViewLine(line: IcapLogLine, time?: TimeOptions): IcapViewLine {
  const p = parseIcapLine(line.text, time);
  const out: IcapViewLine = { offset: line.offset, byteLength: line.byteLength, text: line.text, spans: p.highlights.map((s) => [s.start, s.end, s.kind]) };
  if (line.truncated) out.truncated = true;
  if (line.partial) out.partial = true;
  if (p.verdict) out.verdict = p.verdict.class;
  if (p.fields.length) out.fields = p.fields.map((f) => [f.key, f.value]);
  // The columns people read first (issue 23 point 16): mode, threat, URL — wherever on the line they are.
  const mode = p.mode?.value ?? modeWord.exec(line.text)?.[1];
  if (mode) out.mode = mode;
  const threat = p.fields.find((f) => threatKeys.test(f.key) && f.value)?.value;
  if (threat) out.threat = threat;
  const url = p.fields.find((f) => urlKeys.test(f.key) && f.value)?.value ?? objectUrl(p.addresses);
  if (url) out.url = url;
  return out;
}

/** KATA names its mode "<mode> mode"; the parser knows the two blocking ones, the emulator also writes monitoring. */
const modeWord = /\b(monitoring|blocking_simple|blocking_advanced)\s+mode\b/;
const threatKeys = /^(threat|threats|threat_name|virus|virus_name|malware|detection)$/i;
const urlKeys = /^(url|uri|request_url|object_url)$/i;

/** The object's http(s)/ftp URL when the line names one, else the ICAP service's. */
function objectUrl(addresses: ReturnType<typeof parseIcapLine>['addresses']): string | undefined {
  const urls = addresses.filter((a) => a.kind === 'url').map((a) => a.value);
  return urls.find((u) => !/^icaps?:/i.test(u)) ?? urls[0];
}

/** Bytes [from, to) of another source, as a source of its own (to count an appended range). */
class SliceSource implements ByteSource {
  constructor(
    private readonly inner: ByteSource,
    private readonly from: number,
    private readonly to: number,
  ) {}
  get label(): string {
    return this.inner.label;
  }
  async stat(): Promise<SourceStat> {
    const st = await this.inner.stat();
    return { size: Math.max(0, Math.min(st.size, this.to) - this.from), generation: st.generation };
  }
  read(position: number, length: number): Promise<Buffer> {
    const len = Math.max(0, Math.min(length, this.to - this.from - position));
    return this.inner.read(this.from + position, len);
  }
  async close(): Promise<void> {}
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err instanceof Error && err.name === 'AbortError');
}

interface Counted {
  epoch: number;
  generation: number;
  /** Complete lines up to here are in matched/lines. */
  boundary: number;
  matched: number;
  lines: number;
}

export class IcapLogViewerSession {
  private readonly pager: LogPager;
  private filter: CompiledFilter;
  private epochN = 0;
  private generation = -1;
  private countAbort: AbortController | undefined;
  /** Counts run one after another (a full count, then increments). */
  private countChain: Promise<void> = Promise.resolve();
  private counted: Counted | undefined;
  /** tail() and pollNew() share the pager's follow position: never run them at the same time. */
  private pagerChain: Promise<void> = Promise.resolve();
  private followTimer: ReturnType<typeof setTimeout> | undefined;
  private following = false;
  private disposed = false;
  private invalidFilter = false;
  private readonly pageLines: number;
  private readonly maxScanBytes: number;

  /** Throws IcapLogFilterError for an invalid filter (nothing started). Call start() next. */
  constructor(
    readonly source: ByteSource,
    spec: IcapLogFilter,
    private readonly events: ViewerSessionEvents,
    private readonly opts: ViewerSessionOptions = {},
  ) {
    this.filter = compileFilter(spec);
    this.pager = new LogPager(source, opts.pager);
    this.pageLines = opts.pageLines ?? 200;
    this.maxScanBytes = opts.maxScanBytes ?? 8 * 1024 * 1024;
  }

  get epoch(): number {
    return this.epochN;
  }

  get spec(): IcapLogFilter {
    return this.filter.spec;
  }

  get follow(): boolean {
    return this.following;
  }

  /** Loads the tail and starts the count. Resolves when the tail page was delivered (rejects when the file cannot be opened). */
  async start(): Promise<void> {
    // One stat first: LocalFileSource opens its handle lazily, and two first calls at once (tail and count) would each open one.
    await this.source.stat();
    await this.restart();
  }

  /**
   * Replaces the filter; returns the new epoch. An invalid one throws IcapLogFilterError, and the
   * lines, count and grep command of the previous filter are stale from then on: a new epoch
   * starts, the count is cancelled and nothing more (follow included) is delivered until a valid
   * filter is set — the view must not show results that no longer answer what was typed.
   */
  setFilter(spec: IcapLogFilter): number {
    let next: CompiledFilter;
    try {
      next = compileFilter(spec);
    } catch (err) {
      this.invalidate();
      throw err;
    }
    this.invalidFilter = false;
    this.filter.dispose();
    this.filter = next;
    void this.restart();
    return this.epochN;
  }

  /** The last filter set was invalid: nothing is delivered until a valid one. */
  get invalid(): boolean {
    return this.invalidFilter;
  }

  private invalidate(): void {
    this.invalidFilter = true;
    this.epochN++;
    this.countAbort?.abort();
    this.counted = undefined;
  }

  /** Earlier lines before `cursor` (a page's startCursor) for the view of `epoch`; stale requests are ignored. */
  async pageBefore(epoch: number, cursor: number): Promise<void> {
    if (epoch !== this.epochN || this.disposed) return;
    try {
      const page = await this.pager.pageBefore(cursor, this.pageLines, { filter: this.filter, maxScanBytes: this.maxScanBytes });
      if (epoch !== this.epochN || this.disposed || page.generation !== this.generation) return;
      this.events.page({ epoch, kind: 'before', lines: page.lines, startCursor: page.startCursor, atStart: page.atStart, size: page.size });
    } catch (err) {
      if (epoch === this.epochN && !this.disposed) this.events.error(err);
    }
  }

  /** Follow mode: poll for new lines every followIntervalMs. */
  setFollow(on: boolean): void {
    this.following = on;
    if (!on && this.followTimer) {
      clearTimeout(this.followTimer);
      this.followTimer = undefined;
    }
    if (on) this.scheduleFollow();
  }

  /** One follow step (the timer calls it; tests call it directly): new lines, rotation, count update. */
  poll(): Promise<void> {
    return this.onPager(async () => {
      if (this.disposed || this.invalidFilter) return;
      const epoch = this.epochN;
      const u = await this.pager.pollNew({ filter: this.filter, tailLines: this.pageLines });
      if (epoch !== this.epochN || this.disposed) return;
      if (u.reset) {
        this.events.reset(u.reset, epoch);
        void this.restart();
        return;
      }
      this.generation = u.generation;
      if (u.lines.length || u.skippedBytes) {
        const a: SessionAppend = { epoch, lines: u.lines, size: u.size };
        if (u.skippedBytes) a.skippedBytes = u.skippedBytes;
        this.events.append(a);
      }
      this.countAppended(epoch, u.size);
    });
  }

  /** Resolves when the counts queued so far have finished (tests). */
  async idle(): Promise<void> {
    let chain: Promise<void>;
    do {
      chain = this.countChain;
      await Promise.all([chain, this.pagerChain]);
    } while (chain !== this.countChain);
  }

  dispose(): void {
    this.disposed = true;
    this.setFollow(false);
    this.countAbort?.abort();
    this.filter.dispose();
    void this.source.close();
  }

  private onPager(fn: () => Promise<void>): Promise<void> {
    const run = this.pagerChain.then(fn).catch((err: unknown) => {
      if (!this.disposed) this.events.error(err);
    });
    this.pagerChain = run;
    return run;
  }

  private scheduleFollow(): void {
    if (this.followTimer || !this.following || this.disposed) return;
    this.followTimer = setTimeout(() => {
      this.followTimer = undefined;
      void this.poll().finally(() => this.scheduleFollow());
    }, this.opts.followIntervalMs ?? 1000);
  }

  /** New epoch: stop the running count, load the tail, count again. */
  private restart(): Promise<void> {
    const epoch = ++this.epochN;
    this.countAbort?.abort();
    this.counted = undefined;
    const tail = this.onPager(async () => {
      if (epoch !== this.epochN || this.disposed) return;
      const page = await this.pager.tail(this.pageLines, { filter: this.filter, maxScanBytes: this.maxScanBytes });
      if (epoch !== this.epochN || this.disposed) return;
      this.generation = page.generation;
      this.events.page({ epoch, kind: 'tail', lines: page.lines, startCursor: page.startCursor, atStart: page.atStart, size: page.size });
    });
    this.fullCount(epoch);
    return tail;
  }

  private queueCount(epoch: number, fn: (signal: AbortSignal) => Promise<void>): void {
    const ac = this.countAbort && !this.countAbort.signal.aborted ? this.countAbort : new AbortController();
    this.countAbort = ac;
    this.countChain = this.countChain.then(async () => {
      if (ac.signal.aborted || this.disposed) return;
      try {
        await fn(ac.signal);
      } catch (err) {
        if (!isAbort(err, ac.signal) && !this.disposed && epoch === this.epochN) this.events.count({ epoch, state: 'error', matched: 0, lines: 0, done: 0, total: 0, error: err });
      }
    });
  }

  private fullCount(epoch: number): void {
    this.countAbort = new AbortController();
    const filter = this.filter;
    this.queueCount(epoch, async (signal) => {
      const st = await this.source.stat();
      const boundary = await this.lineBoundary(st.size);
      const total = st.size;
      let last = 0;
      const every = this.opts.progressIntervalMs ?? 250;
      const base = await countMatches(this.source, filter, {
        end: boundary,
        signal,
        ...(this.opts.countChunkBytes ? { chunkBytes: this.opts.countChunkBytes } : {}),
        onProgress: (done, _t, matched) => {
          const now = Date.now();
          if (now - last < every || epoch !== this.epochN) return;
          last = now;
          this.events.count({ epoch, state: 'running', matched, lines: 0, done, total });
        },
      });
      signal.throwIfAborted();
      const rest = await this.countRange(filter, boundary, st.size, signal);
      if (epoch !== this.epochN || this.disposed) return;
      this.counted = { epoch, generation: base.generation, boundary, matched: base.matched, lines: base.lines };
      this.events.count({ epoch, state: 'done', matched: base.matched + rest.matched, lines: base.lines + rest.lines, done: total, total });
    });
  }

  /** The file grew to `size`: count only the new complete lines (and the partial last one). */
  private countAppended(epoch: number, size: number): void {
    const filter = this.filter;
    this.queueCount(epoch, async (signal) => {
      const c = this.counted;
      if (!c || c.epoch !== epoch || epoch !== this.epochN) return; // the full count (queued) covers it
      if (size < c.boundary) return; // truncated: a reset follows
      const boundary = await this.lineBoundary(size);
      if (boundary > c.boundary) {
        const add = await this.countRange(filter, c.boundary, boundary, signal);
        c.matched += add.matched;
        c.lines += add.lines;
        c.boundary = boundary;
      }
      const rest = await this.countRange(filter, boundary, size, signal);
      if (epoch !== this.epochN || this.disposed) return;
      this.events.count({ epoch, state: 'done', matched: c.matched + rest.matched, lines: c.lines + rest.lines, done: size, total: size });
    });
  }

  private async countRange(filter: CompiledFilter, from: number, to: number, signal: AbortSignal): Promise<Pick<CountResult, 'matched' | 'lines'>> {
    if (to <= from) return { matched: 0, lines: 0 };
    const opts = { signal, ...(this.opts.countChunkBytes ? { chunkBytes: this.opts.countChunkBytes } : {}) };
    return countMatches(new SliceSource(this.source, from, to), filter, opts);
  }

  /** Offset after the last '\n' at or before `size` (0 when none): complete lines end there. */
  private async lineBoundary(size: number): Promise<number> {
    const chunk = 64 * 1024;
    let end = size;
    while (end > 0) {
      const from = Math.max(0, end - chunk);
      const buf = await this.source.read(from, end - from);
      const nl = buf.lastIndexOf(0x0a);
      if (nl >= 0) return from + nl + 1;
      end = from;
    }
    return 0;
  }
}
