import { Worker } from 'node:worker_threads';
import { t } from '../common/l10n';

/**
 * A user's regular expression run on another thread with a time budget per line. JavaScript's
 * backtracking engine takes exponential time on patterns like `^([\w./:-]+)*\sverdict` against a
 * line an attacker wrote into the log (a URL), and a regex cannot be interrupted on the thread
 * that runs it: on the extension host that froze VS Code for minutes. Here the lines are handed
 * to a worker through shared memory and the caller *awaits* the answer (Atomics.waitAsync): the
 * calling thread's event loop keeps running whatever the pattern does. A line still in progress
 * after `budgetMs` terminates the worker (V8 interrupts the regex) and this and every later call
 * throws RegexTooSlowError. A caller may also stop a batch early (an AbortSignal, a deadline):
 * the worker finishes the line it is on and reports how far it got.
 */
export class RegexTooSlowError extends Error {
  override name = 'RegexTooSlowError';
  constructor(
    readonly pattern: string,
    readonly budgetMs: number,
  ) {
    super(t('The regular expression {0} took longer than {1} ms on one line and was stopped: it backtracks too much (e.g. a nested repetition like (a+)*). Simplify it, or search for plain text.', pattern, budgetMs));
  }
}

export const DEFAULT_REGEX_BUDGET_MS = 1000;
/** How long a worker may take to start (a busy machine); not part of the per-line budget. */
const startBudgetMs = 30_000;

/** Paging and counting each get their own thread, so a long count never holds up a page. */
export type RegexLane = 'page' | 'count';

// Control words (Int32): [0] state, [1] lines matched, [2] text length, [3] 1 once the worker
// runs, then 1 + lines done (progress for the watchdog), [4] pattern length, [5] flags length,
// [6] 1 = stop after the current line, [7] lines done when the batch ended. Then one result byte
// per line (MATCH), then pattern, flags and the lines ('\n'-separated) as UTF-16.
const IDLE = 0;
const MATCH = 1;
const COUNT = 2;
const DONE = 3;
const QUIT = 4;
const ctlBytes = 64;
/** Lines one exchange carries at most. */
const maxBatchLines = 16 * 1024;
const textOffset = ctlBytes + maxBatchLines;
/** Longest text one exchange carries, in UTF-16 code units (a line is cut at the filter's 16 MiB match limit anyway). */
const maxChars = 16 * 1024 * 1024 + 64 * 1024;
/** An idle worker goes away after this long; the next call starts one again. */
const idleMs = 10_000;

const workerSource = `
const { workerData } = require('node:worker_threads');
const { sab } = workerData;
const ctl = new Int32Array(sab, 0, ${ctlBytes / 4});
const results = new Uint8Array(sab, ${ctlBytes}, ${maxBatchLines});
const cache = new Map();
Atomics.store(ctl, 3, 1);
Atomics.notify(ctl, 3);
for (;;) {
  Atomics.wait(ctl, 0, ${IDLE});
  const state = Atomics.load(ctl, 0);
  if (state === ${QUIT}) break;
  if (state !== ${MATCH} && state !== ${COUNT}) continue;
  const len = Atomics.load(ctl, 2);
  const pl = Atomics.load(ctl, 4);
  const fl = Atomics.load(ctl, 5);
  const all = Buffer.from(sab, ${textOffset}, (pl + fl + len) * 2).toString('utf16le');
  const key = all.slice(0, pl + fl);
  let re = cache.get(key);
  if (!re) {
    re = new RegExp(all.slice(0, pl), all.slice(pl, pl + fl));
    if (cache.size > 64) cache.clear();
    cache.set(key, re);
  }
  let n = 0;
  let i = 0;
  for (const line of all.slice(pl + fl).split('\\n')) {
    if (Atomics.load(ctl, 6) === 1) break;
    re.lastIndex = 0;
    const m = re.test(line);
    if (state === ${MATCH}) results[i] = m ? 1 : 0;
    if (m) n++;
    Atomics.store(ctl, 3, ++i + 1);
  }
  Atomics.store(ctl, 1, n);
  Atomics.store(ctl, 7, i);
  Atomics.store(ctl, 0, ${DONE});
  Atomics.notify(ctl, 0);
}
`;

type WaitAsync = (ta: Int32Array, index: number, value: number, timeout?: number) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
// ES2024 (Node 16+); the project's TypeScript lib is ES2022.
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

async function waitWhile(ctl: Int32Array, index: number, value: number, timeoutMs: number): Promise<void> {
  const r = waitAsync(ctl, index, value, Math.max(1, timeoutMs));
  if (r.async) await r.value;
}

interface BatchResult {
  /** Lines tested (fewer than sent when stopped early). */
  done: number;
  matched: number;
  /** Per line, 1 = matches (MATCH only). */
  results?: Uint8Array;
}

interface BatchOptions {
  budgetMs: number;
  signal?: AbortSignal;
  /** Epoch ms: after it, the worker stops after the current line. */
  deadline?: number;
}

/** One worker thread and its shared memory; one exchange at a time (callers queue). */
class RegexWorker {
  private readonly worker: Worker;
  private readonly sab: SharedArrayBuffer;
  private readonly ctl: Int32Array;
  private queue: Promise<unknown> = Promise.resolve();
  private idle: ReturnType<typeof setTimeout> | undefined;
  stopped = false;

  constructor(private readonly onStop: (w: RegexWorker) => void) {
    // Untouched pages of a SharedArrayBuffer cost no memory: the size is the longest batch's.
    this.sab = new SharedArrayBuffer(textOffset + maxChars * 2);
    this.ctl = new Int32Array(this.sab, 0, ctlBytes / 4);
    // No inherited execArgv: a loader hook (--import …) in the worker is not wanted.
    this.worker = new Worker(workerSource, { eval: true, execArgv: [], workerData: { sab: this.sab } });
    // Never keeps the process alive; a crash shows up as a timeout of the next batch.
    this.worker.unref();
    this.worker.on('error', () => this.stop());
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.idle) clearTimeout(this.idle);
    Atomics.store(this.ctl, 0, QUIT);
    Atomics.notify(this.ctl, 0);
    void this.worker.terminate();
    this.onStop(this);
  }

  run(kind: typeof MATCH | typeof COUNT, head: { source: string; flags: string }, lines: string[], o: BatchOptions): Promise<BatchResult> {
    const next = this.queue.then(() => this.exchange(kind, head, lines, o));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async exchange(kind: typeof MATCH | typeof COUNT, head: { source: string; flags: string }, lines: string[], o: BatchOptions): Promise<BatchResult> {
    if (this.stopped) throw new Error(t('The regular expression worker did not start.'));
    if (o.signal?.aborted || (o.deadline !== undefined && Date.now() >= o.deadline)) return { done: 0, matched: 0, ...(kind === MATCH && { results: new Uint8Array(0) }) };
    if (this.idle) clearTimeout(this.idle);
    // A pending Atomics.waitAsync does not keep the event loop alive; the worker does, while it works.
    this.worker.ref();
    try {
      return await this.exchangeRef(kind, head, lines, o);
    } finally {
      this.worker.unref();
    }
  }

  private async exchangeRef(kind: typeof MATCH | typeof COUNT, head: { source: string; flags: string }, lines: string[], o: BatchOptions): Promise<BatchResult> {
    const ctl = this.ctl;
    const startBy = Date.now() + startBudgetMs;
    while (Atomics.load(ctl, 3) === 0) {
      if (Date.now() >= startBy) {
        this.stop();
        throw new Error(t('The regular expression worker did not start.'));
      }
      await waitWhile(ctl, 3, 0, startBy - Date.now());
    }
    const text = lines.join('\n');
    const prefix = head.source + head.flags;
    Buffer.from(this.sab, textOffset, (prefix.length + text.length) * 2).write(prefix + text, 'utf16le');
    Atomics.store(ctl, 2, text.length);
    Atomics.store(ctl, 4, head.source.length);
    Atomics.store(ctl, 5, head.flags.length);
    Atomics.store(ctl, 6, 0);
    Atomics.store(ctl, 3, 1);
    Atomics.store(ctl, 0, kind);
    Atomics.notify(ctl, 0);
    let stopAsked = false;
    const askStop = () => {
      if (stopAsked) return;
      stopAsked = true;
      Atomics.store(ctl, 6, 1);
      // Wakes the wait below at once (the worker is busy, not waiting on [0]).
      Atomics.notify(ctl, 0);
    };
    o.signal?.addEventListener('abort', askStop);
    try {
      let seen = Atomics.load(ctl, 3);
      let lineDeadline = Date.now() + o.budgetMs;
      for (;;) {
        if (Atomics.load(ctl, 0) === DONE) break;
        const now = Date.now();
        if (o.signal?.aborted || (o.deadline !== undefined && now >= o.deadline)) askStop();
        if (now >= lineDeadline) {
          const progress = Atomics.load(ctl, 3);
          if (progress === seen) {
            // One line has run for the whole budget; V8 interrupts the regex when the worker is terminated.
            this.stop();
            throw new RegexTooSlowError(head.source, o.budgetMs);
          }
          // Another line was finished within the budget: the budget starts again for the next one.
          seen = progress;
          lineDeadline = now + o.budgetMs;
          continue;
        }
        const untilDeadline = !stopAsked && o.deadline !== undefined ? o.deadline - now : Infinity;
        await waitWhile(ctl, 0, kind, Math.min(lineDeadline - now, untilDeadline));
      }
    } finally {
      o.signal?.removeEventListener('abort', askStop);
    }
    const done = Atomics.load(ctl, 7);
    const out: BatchResult = { done, matched: Atomics.load(ctl, 1) };
    if (kind === MATCH) out.results = new Uint8Array(this.sab, ctlBytes, done).slice();
    Atomics.store(ctl, 0, IDLE);
    this.idle = setTimeout(() => this.stop(), idleMs);
    this.idle.unref();
    return out;
  }
}

export interface RegexRunOptions {
  /** Stop early: the worker finishes its current line, the answer covers the lines tested so far. */
  signal?: AbortSignal;
  /** Epoch ms after which the batch stops early the same way (a page's time budget). */
  deadline?: number;
  lane?: RegexLane;
}

export class GuardedRegex {
  private failed: RegexTooSlowError | undefined;
  private readonly workers = new Map<RegexLane, RegexWorker>();

  /** `source`/`flags` must already compile (compileFilter checks them first, with a clear message). */
  constructor(
    readonly source: string,
    readonly flags: string,
    readonly budgetMs = DEFAULT_REGEX_BUDGET_MS,
  ) {}

  /**
   * Which of `lines` (none holding '\n') match, in order. Fewer answers than lines when the
   * signal aborted or the deadline passed first: the rest were not tested.
   */
  async matchLines(lines: string[], o: RegexRunOptions = {}): Promise<boolean[]> {
    const out: boolean[] = [];
    for (const group of this.groups(lines)) {
      const r = await this.batch(MATCH, group, o);
      for (let i = 0; i < r.done; i++) out.push(r.results![i] === 1);
      if (r.done < group.length) break;
    }
    return out;
  }

  /**
   * How many of `lines` match, in as few exchanges as fit. The budget still holds per line: the
   * worker reports each line done, and a line that stays in progress longer than the budget
   * stops it. Rejects with the signal's reason when it aborts.
   */
  async countMatching(lines: string[], o: Omit<RegexRunOptions, 'deadline'> = {}): Promise<number> {
    let n = 0;
    for (const group of this.groups(lines)) {
      const r = await this.batch(COUNT, group, o);
      n += r.matched;
      if (r.done < group.length) o.signal?.throwIfAborted();
    }
    return n;
  }

  /** Stops this pattern's workers. */
  dispose(): void {
    for (const w of [...this.workers.values()]) w.stop();
  }

  private async batch(kind: typeof MATCH | typeof COUNT, lines: string[], o: RegexRunOptions): Promise<BatchResult> {
    if (this.failed) throw this.failed;
    const lane = o.lane ?? 'page';
    let w = this.workers.get(lane);
    if (!w || w.stopped) {
      const created: RegexWorker = new RegexWorker((stopped) => {
        if (this.workers.get(lane) === stopped) this.workers.delete(lane);
      });
      this.workers.set(lane, created);
      w = created;
    }
    try {
      return await w.run(kind, { source: this.source, flags: this.flags }, lines, { budgetMs: this.budgetMs, ...(o.signal && { signal: o.signal }), ...(o.deadline !== undefined && { deadline: o.deadline }) });
    } catch (err) {
      if (err instanceof RegexTooSlowError) {
        this.failed = err;
        this.dispose();
      }
      throw err;
    }
  }

  /** `lines` cut into exchanges that fit the shared memory (an over-long line is matched on its start). */
  private *groups(lines: string[]): Generator<string[]> {
    const room = maxChars - this.source.length - this.flags.length - 1;
    let group: string[] = [];
    let chars = 0;
    for (const line of lines) {
      if (group.length && (chars + line.length + 1 > room || group.length >= maxBatchLines)) {
        yield group;
        group = [];
        chars = 0;
      }
      group.push(line.length > room ? line.slice(0, room) : line);
      chars += Math.min(line.length, room) + 1;
    }
    if (group.length) yield group;
  }
}
