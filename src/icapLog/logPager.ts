import { t } from '../common/l10n';
import { IcapLogSourceError, type ByteSource } from './byteSource';
import type { CompiledFilter } from './logFilter';
import { DEFAULT_CHUNK_BYTES, DEFAULT_MAX_DISPLAY_BYTES, DEFAULT_MAX_MATCH_BYTES, makeLine, type IcapLogLine } from './logLine';

export interface PagerOptions {
  /** Bytes per read. Default 64 KiB. */
  chunkBytes?: number;
  /** Bytes of a line decoded for display. Default 16 KiB. */
  maxDisplayBytes?: number;
  /** Bytes of a line a filter looks at. Default 16 MiB. */
  maxMatchBytes?: number;
  /** In follow mode, when more than this was appended since the last poll, skip to the tail. Default 4 MiB. */
  maxFollowBytes?: number;
}

export interface PageOptions {
  /** Only lines this filter accepts are returned (the scan still walks every line). */
  filter?: CompiledFilter;
  /**
   * Stop after roughly this many bytes were read even with fewer than n lines (a sparse filter on
   * a big file); the page then ends at a line boundary and `atStart`/`atEnd` stay false. Default: no limit.
   */
  maxScanBytes?: number;
  /**
   * Stop after about this many milliseconds with the lines found so far (a user regex that is slow
   * on every line): the page ends at a line boundary with `stopped: 'time'`, like maxScanBytes.
   * The regex runs in its worker and is awaited, so the caller's event loop is never held. Default: none.
   */
  timeBudgetMs?: number;
  /** Cancel the search: the page ends where it was (`stopped: 'cancelled'`) with the lines found so far. */
  signal?: AbortSignal;
}

/** A run of consecutive lines of the file (only the matching ones when filtered). */
export interface LogPage {
  /** In file order. */
  lines: IcapLogLine[];
  /** Offset of the first byte this page covers: pass to pageBefore() for the lines before it. */
  startCursor: number;
  /** Offset after the last complete line covered: pass to pageAfter(). A partial last line is not consumed. */
  endCursor: number;
  atStart: boolean;
  atEnd: boolean;
  /** Bytes read from the source for this page. */
  bytesRead: number;
  /** Source generation the offsets belong to (changes on rotation/truncation). */
  generation: number;
  /** File size when the page was read. */
  size: number;
  /** The page ended early because its time budget ran out or it was cancelled; the cursors say where. */
  stopped?: 'time' | 'cancelled';
}

export interface FollowUpdate {
  /** New lines (filtered), in file order. A `partial` line is re-sent, same offset, once completed. */
  lines: IcapLogLine[];
  /** The file was rotated or truncated: earlier lines are gone, offsets restart; `lines` are from the new file. */
  reset?: 'rotated' | 'truncated';
  /** More than maxFollowBytes arrived at once: this many bytes were skipped, `lines` are the tail. */
  skippedBytes?: number;
  generation: number;
  size: number;
}

const ANCHOR_BYTES = 32;

/**
 * Pages through a log of any size without loading it: the tail first, earlier pages on scroll,
 * later pages and new lines in follow mode. Memory is bounded by the page (lines × maxDisplayBytes)
 * and one line of at most maxMatchBytes, never by the file.
 */
export class LogPager {
  readonly chunkBytes: number;
  readonly maxDisplayBytes: number;
  readonly maxMatchBytes: number;
  readonly maxFollowBytes: number;
  private followPos = 0;
  private followGen: number | undefined;
  private anchor: Buffer = Buffer.alloc(0);

  constructor(readonly source: ByteSource, opts: PagerOptions = {}) {
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.maxDisplayBytes = opts.maxDisplayBytes ?? DEFAULT_MAX_DISPLAY_BYTES;
    this.maxMatchBytes = Math.max(opts.maxMatchBytes ?? DEFAULT_MAX_MATCH_BYTES, this.maxDisplayBytes);
    this.maxFollowBytes = opts.maxFollowBytes ?? 4 * 1024 * 1024;
  }

  /** The last n lines (matching `filter`), and follow mode starts after them. */
  async tail(n: number, opts: PageOptions = {}): Promise<LogPage> {
    const st = await this.source.stat();
    const page = await this.backward(st.size, st.size, n, opts, st.generation);
    await this.setFollow(st.size, page, st.generation);
    return page;
  }

  /** Up to n lines ending at `cursor` (a line start, e.g. a page's startCursor, or the file size). */
  async pageBefore(cursor: number, n: number, opts: PageOptions = {}): Promise<LogPage> {
    const st = await this.source.stat();
    return this.backward(Math.min(cursor, st.size), st.size, n, opts, st.generation);
  }

  /**
   * Up to n lines starting at `cursor` (a line start, e.g. a page's endCursor, or 0). Lines carry
   * lineNo when cursor is 0, or when the caller knows the number of the line at cursor.
   */
  async pageAfter(cursor: number, n: number, opts: PageOptions = {}, firstLineNo?: number): Promise<LogPage> {
    const st = await this.source.stat();
    return this.forward(Math.min(cursor, st.size), st.size, n, opts, st.generation, cursor === 0 ? 1 : firstLineNo);
  }

  /** Start (or restart) follow mode at the end of the file without reading lines. */
  async followFromEnd(): Promise<void> {
    const st = await this.source.stat();
    await this.setFollow(st.size, undefined, st.generation);
  }

  /** Lines appended since the last tail()/pollNew(); detects rotation and truncation. */
  async pollNew(opts: { filter?: CompiledFilter; tailLines?: number; timeBudgetMs?: number } = {}): Promise<FollowUpdate> {
    const st = await this.source.stat();
    let reset: FollowUpdate['reset'];
    if (this.followGen !== undefined && st.generation !== this.followGen) reset = st.lastChange ?? 'rotated';
    else if (st.size < this.followPos) reset = 'truncated';
    else if (this.anchor.length > 0) {
      const now = await this.source.read(this.followPos - this.anchor.length, this.anchor.length);
      if (!now.equals(this.anchor)) reset = 'truncated'; // rewritten in place and grown past us
    }
    if (reset) {
      this.followPos = 0;
      this.anchor = Buffer.alloc(0);
    }
    this.followGen = st.generation;
    const filterOpts: PageOptions = { ...(opts.filter && { filter: opts.filter }), ...(opts.timeBudgetMs !== undefined && { timeBudgetMs: opts.timeBudgetMs }) };
    let page: LogPage;
    let skippedBytes: number | undefined;
    if (st.size - this.followPos > this.maxFollowBytes) {
      page = await this.backward(st.size, st.size, opts.tailLines ?? 1000, filterOpts, st.generation);
      skippedBytes = page.startCursor - this.followPos;
    } else {
      page = await this.forward(this.followPos, st.size, Infinity, filterOpts, st.generation, undefined);
    }
    await this.setFollow(st.size, page, st.generation);
    const out: FollowUpdate = { lines: page.lines, generation: st.generation, size: st.size };
    if (reset) out.reset = reset;
    if (skippedBytes) out.skippedBytes = skippedBytes;
    return out;
  }

  /**
   * Poll every `intervalMs` and hand non-empty updates to `onUpdate` (errors to `onError`).
   * Call tail() or followFromEnd() first. Returns a stop function.
   */
  follow(onUpdate: (u: FollowUpdate) => void, opts: { intervalMs?: number; filter?: CompiledFilter; onError?: (e: unknown) => void } = {}): () => void {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async (): Promise<void> => {
      try {
        const u = await this.pollNew(opts.filter ? { filter: opts.filter } : {});
        if (!stopped && (u.lines.length || u.reset || u.skippedBytes)) onUpdate(u);
      } catch (e) {
        if (!stopped) opts.onError?.(e);
      }
      if (!stopped) timer = setTimeout(() => void tick(), opts.intervalMs ?? 1000);
    };
    timer = setTimeout(() => void tick(), opts.intervalMs ?? 1000);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }

  private async setFollow(size: number, page: LogPage | undefined, generation: number): Promise<void> {
    // Follow from the start of a partial last line (re-sent when completed), else from the end.
    const pos = page ? Math.min(page.endCursor, size) : size;
    this.followPos = pos;
    this.followGen = generation;
    const n = Math.min(ANCHOR_BYTES, pos);
    this.anchor = n > 0 ? await this.source.read(pos - n, n) : Buffer.alloc(0);
  }

  private changed(): Error {
    return new IcapLogSourceError(t('The ICAP log {0} changed while it was being read; open it again.', this.source.label));
  }

  private async backward(cursor: number, size: number, n: number, opts: PageOptions, generation: number): Promise<LogPage> {
    const filter = opts.filter && !opts.filter.matchesAll ? opts.filter : undefined;
    const need = filter ? this.maxMatchBytes : this.maxDisplayBytes;
    const keep = need + this.chunkBytes + 2;
    const maxScan = opts.maxScanBytes ?? Infinity;
    const stop = stopper(opts);
    let window: Buffer = Buffer.alloc(0);
    let winStart = cursor;
    let partialStart = -1;
    let bytesRead = 0;
    const found: IcapLogLine[] = [];
    // Lines waiting for the regex worker, newest first; `scanned`: every line from here to the cursor was decided.
    const pending = new PendingLines();
    let scanned = cursor;
    const decide = () =>
      pending.decide(filter!, stop, (c, matched) => {
        if (matched) found.push(c.line());
        scanned = c.start;
        return found.length >= n;
      });
    const prepend = async (): Promise<number> => {
      const from = Math.max(0, winStart - this.chunkBytes);
      const chunk = await this.source.read(from, winStart - from);
      if (chunk.length !== winStart - from) throw this.changed();
      bytesRead += chunk.length;
      window = window.length ? Buffer.concat([chunk, window.length > keep ? window.subarray(0, keep) : window]) : chunk;
      winStart = from;
      return chunk.length;
    };
    let lineEnd = cursor;
    while (found.length < n && lineEnd > 0 && bytesRead < maxScan && !stop.stopped) {
      while (winStart > Math.max(0, lineEnd - 2)) await prepend();
      let eol: IcapLogLine['eol'] = '';
      if (window[lineEnd - 1 - winStart] === 0x0a) eol = lineEnd >= 2 && window[lineEnd - 2 - winStart] === 0x0d ? '\r\n' : '\n';
      const hi = lineEnd - 1 - (eol ? 1 : 0); // a previous line's '\n' is at or before hi
      let idx = hi - winStart;
      let lineStart: number;
      for (;;) {
        const p = idx >= 0 ? window.lastIndexOf(0x0a, idx) : -1;
        if (p >= 0) {
          lineStart = winStart + p + 1;
          break;
        }
        if (winStart === 0) {
          lineStart = 0;
          break;
        }
        const len = await prepend();
        idx = Math.min(len - 1, hi - winStart);
      }
      if (!eol) partialStart = lineStart;
      const contentLen = lineEnd - eol.length - lineStart;
      const at = lineStart - winStart;
      const content = window.subarray(at, at + Math.min(contentLen, need));
      const start = lineStart;
      const line = (): IcapLogLine => {
        const l = makeLine(start, content, contentLen, eol, this.maxDisplayBytes);
        if (!eol) l.partial = true;
        return l;
      };
      if (filter?.hasRegex) {
        if (pending.add({ text: matchText(content, contentLen, eol), start, end: lineEnd, line }, content.length)) await decide();
      } else {
        if (!filter || filter.test(matchText(content, contentLen, eol))) found.push(line());
        scanned = lineStart;
        stop.check();
      }
      lineEnd = lineStart;
      window = window.subarray(0, at);
    }
    if (pending.size && found.length < n && !stop.stopped) await decide();
    return {
      lines: found.reverse(),
      startCursor: scanned,
      endCursor: partialStart >= 0 ? partialStart : cursor,
      atStart: scanned === 0,
      atEnd: cursor >= size,
      bytesRead,
      generation,
      size,
      ...(stop.reason && { stopped: stop.reason }),
    };
  }

  private async forward(cursor: number, end: number, n: number, opts: PageOptions, generation: number, firstLineNo: number | undefined): Promise<LogPage> {
    const filter = opts.filter && !opts.filter.matchesAll ? opts.filter : undefined;
    const need = filter ? this.maxMatchBytes : this.maxDisplayBytes;
    const maxScan = opts.maxScanBytes ?? Infinity;
    const stop = stopper(opts);
    const lines: IcapLogLine[] = [];
    let lineNo = firstLineNo;
    let pos = cursor;
    let lineStart = cursor;
    let pending: Buffer[] = [];
    let kept = 0;
    let lineBytes = 0;
    let lastByte = -1;
    let bytesRead = 0;
    let full = false;
    let brokeEarly = false;
    /** A batch filled the page before its last line: lines after the page's end were read but not taken. */
    let dropped = false;
    // Lines waiting for the regex worker, oldest first; `decided`: every line before it was decided.
    const waiting = new PendingLines();
    let decided = cursor;
    const decide = async (): Promise<void> => {
      const r = await waiting.decide(filter!, stop, (c, matched) => {
        if (matched) lines.push(c.line());
        decided = c.end;
        return lines.length >= n;
      });
      if (r === 'full') full = true;
      if (r === 'full-early') full = dropped = true;
    };
    const emit = async (eol: IcapLogLine['eol']): Promise<void> => {
      const contentLen = lineBytes - (eol === '\r\n' ? 1 : 0);
      const content = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      const start = lineStart;
      const no = lineNo;
      const line = (): IcapLogLine => {
        const l = makeLine(start, content, contentLen, eol, this.maxDisplayBytes);
        if (!eol) l.partial = true;
        if (no !== undefined) l.lineNo = no;
        return l;
      };
      // A partial last line is not consumed: the next page or poll starts at it again.
      const lineEnd = eol ? start + lineBytes + 1 : start;
      if (filter?.hasRegex) {
        if (waiting.add({ text: matchText(content, contentLen, eol), start, end: lineEnd, line }, content.length) || !eol) await decide();
      } else {
        if (!filter || filter.test(matchText(content, contentLen, eol))) lines.push(line());
        decided = lineEnd;
        if (lines.length >= n) full = true;
        stop.check();
      }
      if (lineNo !== undefined) lineNo++;
    };
    outer: while (pos < end) {
      const chunk = await this.source.read(pos, Math.min(this.chunkBytes, end - pos));
      if (chunk.length === 0) throw this.changed();
      bytesRead += chunk.length;
      let i = 0;
      while (i < chunk.length) {
        const nl = chunk.indexOf(0x0a, i);
        const stopAt = nl < 0 ? chunk.length : nl;
        if (stopAt > i) {
          const take = Math.min(stopAt - i, need + 1 - kept);
          if (take > 0) {
            pending.push(chunk.subarray(i, i + take));
            kept += take;
          }
          lineBytes += stopAt - i;
          lastByte = chunk[stopAt - 1]!;
        }
        if (nl < 0) break;
        await emit(lineBytes > 0 && lastByte === 0x0d ? '\r\n' : '\n');
        lineStart = pos + nl + 1;
        pending = [];
        kept = 0;
        lineBytes = 0;
        lastByte = -1;
        i = nl + 1;
        if (full || stop.stopped || bytesRead >= maxScan) {
          brokeEarly = true;
          break outer;
        }
      }
      pos += chunk.length;
    }
    if (!brokeEarly && lineBytes > 0 && lines.length < n) await emit('');
    if (waiting.size && !full && !stop.stopped) await decide();
    return {
      lines,
      startCursor: cursor,
      endCursor: decided,
      atStart: cursor === 0,
      atEnd: (!brokeEarly && !dropped && !stop.stopped) || decided >= end,
      bytesRead,
      generation,
      size: end,
      ...(stop.reason && { stopped: stop.reason }),
    };
  }
}

/** Lines a regex filter decides in one exchange with its worker, at most. */
const batchLines = 256;
const batchBytes = 1024 * 1024;

/** Lines read but not decided yet: the regex worker answers for a batch of them at once. */
class PendingLines {
  private items: Candidate[] = [];
  private bytes = 0;

  get size(): number {
    return this.items.length;
  }

  /** Adds a line; true when the batch is full and should be decided now. */
  add(c: Candidate, bytes: number): boolean {
    this.items.push(c);
    this.bytes += bytes;
    return this.items.length >= batchLines || this.bytes >= batchBytes;
  }

  /**
   * Asks the worker about the batch and hands each answer to `take`, in order, until `take` says
   * the page is full ('full', or 'full-early' when lines after it were read but not taken).
   * Fewer answers than lines: the page's budget or cancel stopped the worker ('stopped').
   */
  async decide(filter: CompiledFilter, stop: ReturnType<typeof stopper>, take: (c: Candidate, matched: boolean) => boolean): Promise<'done' | 'full' | 'full-early' | 'stopped'> {
    const batch = this.items;
    this.items = [];
    this.bytes = 0;
    const answers = await filter.matchLines(batch.map((c) => c.text), { lane: 'page', ...stop.run });
    for (let i = 0; i < answers.length; i++) {
      if (take(batch[i]!, answers[i]!)) return i + 1 < batch.length ? 'full-early' : 'full';
    }
    if (answers.length < batch.length) {
      stop.early();
      return 'stopped';
    }
    return 'done';
  }
}

/** A line read but not yet decided (its regex answer is pending). */
interface Candidate {
  text: string;
  /** Its first byte, and the offset after its terminator (the start for a partial line). */
  start: number;
  end: number;
  line(): IcapLogLine;
}

/** A page's time budget and cancellation: why and whether it stops early. */
function stopper(opts: PageOptions) {
  const deadline = opts.timeBudgetMs !== undefined ? Date.now() + opts.timeBudgetMs : undefined;
  const s = {
    reason: undefined as LogPage['stopped'],
    get stopped(): boolean {
      return s.reason !== undefined;
    },
    /** For the regex worker: stop after the current line when either comes. */
    run: { ...(opts.signal && { signal: opts.signal }), ...(deadline !== undefined && { deadline }) },
    /** The worker stopped before the batch ended: say why. */
    early(): void {
      s.reason ??= opts.signal?.aborted ? 'cancelled' : 'time';
    },
    /** Between lines decided on this thread. */
    check(): void {
      if (opts.signal?.aborted) s.reason ??= 'cancelled';
      else if (deadline !== undefined && Date.now() >= deadline) s.reason ??= 'time';
    },
  };
  return s;
}

/** The text a filter sees: the line without '\n' (CR of CRLF kept, as grep sees it), up to the match limit. */
function matchText(content: Buffer, contentLen: number, eol: IcapLogLine['eol']): string {
  const n = Math.min(content.length, contentLen);
  const s = content.toString('utf8', 0, n);
  return eol === '\r\n' && n === contentLen ? s + '\r' : s;
}
