import { Worker } from 'node:worker_threads';
import { t } from '../common/l10n';

/**
 * A user's regular expression run on another thread with a time budget per line. JavaScript's
 * backtracking engine takes exponential time on patterns like `^([\w./:-]+)*\sverdict` against a
 * line an attacker wrote into the log (a URL), and a regex cannot be interrupted on the thread
 * that runs it: on the extension host that froze VS Code for minutes. Here the line is handed to
 * a worker through shared memory and the caller waits at most `budgetMs`; past it the worker is
 * terminated (V8 interrupts the regex) and this and every later test throws RegexTooSlowError.
 *
 * The caller still waits synchronously (Atomics.wait, allowed in Node's main thread), so the
 * pager and counter keep their synchronous `test(line)`; the wait is bounded by the budget.
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

// Control words: [0] state, [1] result (a boolean, or a count), [2] length in UTF-16 code units,
// [3] 1 once the worker runs, then 1 + lines done in a batch (progress for the watchdog).
const IDLE = 0;
const REQUEST = 1;
const DONE = 2;
const STOP = 3;
const BATCH = 4;
const header = 16;

const workerSource = `
const { workerData } = require('node:worker_threads');
const { sab, source, flags } = workerData;
const ctl = new Int32Array(sab, 0, 4);
const re = new RegExp(source, flags);
Atomics.store(ctl, 3, 1);
Atomics.notify(ctl, 3);
for (;;) {
  Atomics.wait(ctl, 0, ${IDLE});
  const state = Atomics.load(ctl, 0);
  if (state === ${STOP}) break;
  if (state !== ${REQUEST} && state !== ${BATCH}) continue;
  const len = Atomics.load(ctl, 2);
  const text = Buffer.from(sab, ${header}, len * 2).toString('utf16le');
  if (state === ${REQUEST}) {
    re.lastIndex = 0;
    Atomics.store(ctl, 1, re.test(text) ? 1 : 0);
  } else {
    // Many lines, newline-separated: count the matches; [3] counts lines done so the host sees progress.
    let n = 0;
    let i = 0;
    for (const line of text.split('\\n')) {
      re.lastIndex = 0;
      if (re.test(line)) n++;
      Atomics.store(ctl, 3, ++i + 1);
    }
    Atomics.store(ctl, 1, n);
  }
  Atomics.store(ctl, 0, ${DONE});
  Atomics.notify(ctl, 0);
}
`;

export class GuardedRegex {
  private readonly sab: SharedArrayBuffer;
  private readonly ctl: Int32Array;
  private worker: Worker | undefined;
  private failed: RegexTooSlowError | undefined;
  private readonly maxChars: number;

  /** `source`/`flags` must already compile (compileFilter checks them first, with a clear message). */
  constructor(
    readonly source: string,
    readonly flags: string,
    readonly budgetMs = DEFAULT_REGEX_BUDGET_MS,
    /** Longest line in UTF-16 code units (the filter's match limit). */
    maxChars = 16 * 1024 * 1024,
  ) {
    // Untouched pages of a SharedArrayBuffer cost no memory: the size is the longest line's.
    this.sab = new SharedArrayBuffer(header + maxChars * 2);
    this.maxChars = maxChars;
    this.ctl = new Int32Array(this.sab, 0, 4);
  }

  private start(): Worker {
    // No inherited execArgv: a loader hook (--import …) would wait on this thread, which waits on the worker.
    const w = new Worker(workerSource, { eval: true, execArgv: [], workerData: { sab: this.sab, source: this.source, flags: this.flags } });
    // Never keeps the host alive; a crash shows up as a timeout of the next test.
    w.unref();
    w.on('error', () => undefined);
    this.worker = w;
    return w;
  }

  test(line: string): boolean {
    return this.exchange(REQUEST, line, () => 0) === 1;
  }

  /**
   * How many of `lines` (none holding '\n') match, in one exchange: what the counter uses, far
   * cheaper than a wake-up per line. The budget still holds per line: the worker reports each
   * line done, and a line that stays in progress longer than the budget stops it.
   */
  countMatching(lines: string[]): number {
    let n = 0;
    let group: string[] = [];
    let chars = 0;
    const flush = () => {
      if (group.length) n += this.exchange(BATCH, group.join('\n'), () => Atomics.load(this.ctl, 3));
      group = [];
      chars = 0;
    };
    for (const line of lines) {
      if (chars + line.length + 1 > this.maxChars) flush();
      group.push(line.length > this.maxChars ? line.slice(0, this.maxChars) : line);
      chars += line.length + 1;
    }
    flush();
    return n;
  }

  private exchange(kind: number, text: string, progress: () => number): number {
    if (this.failed) throw this.failed;
    const worker = this.worker ?? this.start();
    if (Atomics.load(this.ctl, 3) === 0 && Atomics.wait(this.ctl, 3, 0, startBudgetMs) === 'timed-out') {
      throw new Error(t('The regular expression worker did not start.'));
    }
    const fits = Math.min(text.length, this.maxChars);
    Buffer.from(this.sab, header, fits * 2).write(fits < text.length ? text.slice(0, fits) : text, 'utf16le');
    Atomics.store(this.ctl, 2, fits);
    Atomics.store(this.ctl, 3, 1);
    Atomics.store(this.ctl, 0, kind);
    Atomics.notify(this.ctl, 0);
    let seen = progress();
    let deadline = Date.now() + this.budgetMs;
    for (;;) {
      const left = deadline - Date.now();
      if (Atomics.load(this.ctl, 0) === DONE) break;
      if (left <= 0 || Atomics.wait(this.ctl, 0, kind, left) === 'timed-out') {
        if (Atomics.load(this.ctl, 0) === DONE) break;
        const now = progress();
        if (now !== seen) {
          // Another line was finished within the budget: the budget starts again for the next one.
          seen = now;
          deadline = Date.now() + this.budgetMs;
          continue;
        }
        this.failed = new RegexTooSlowError(this.source, this.budgetMs);
        void worker.terminate();
        this.worker = undefined;
        throw this.failed;
      }
    }
    const result = Atomics.load(this.ctl, 1);
    Atomics.store(this.ctl, 0, IDLE);
    return result;
  }

  dispose(): void {
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    Atomics.store(this.ctl, 0, STOP);
    Atomics.notify(this.ctl, 0);
    void w.terminate();
  }
}
