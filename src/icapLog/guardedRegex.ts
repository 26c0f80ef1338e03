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

// Control words: [0] state, [1] result (a boolean, or a count), [2] text length, [3] 1 once the
// worker runs, then 1 + lines done in a batch (progress for the watchdog), [4] pattern length,
// [5] flags length (all lengths in UTF-16 code units: pattern, flags, text follow the header).
const IDLE = 0;
const REQUEST = 1;
const DONE = 2;
const STOP = 3;
const BATCH = 4;
const header = 32;

const workerSource = `
const { workerData } = require('node:worker_threads');
const { sab } = workerData;
const ctl = new Int32Array(sab, 0, 8);
const cache = new Map();
Atomics.store(ctl, 3, 1);
Atomics.notify(ctl, 3);
for (;;) {
  Atomics.wait(ctl, 0, ${IDLE});
  const state = Atomics.load(ctl, 0);
  if (state === ${STOP}) break;
  if (state !== ${REQUEST} && state !== ${BATCH}) continue;
  const len = Atomics.load(ctl, 2);
  const pl = Atomics.load(ctl, 4);
  const fl = Atomics.load(ctl, 5);
  const all = Buffer.from(sab, ${header}, (pl + fl + len) * 2).toString('utf16le');
  const key = all.slice(0, pl + fl);
  let re = cache.get(key);
  if (!re) {
    re = new RegExp(all.slice(0, pl), all.slice(pl, pl + fl));
    if (cache.size > 64) cache.clear();
    cache.set(key, re);
  }
  const text = all.slice(pl + fl);
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

/** Longest text one exchange carries, in UTF-16 code units (a line is cut at the filter's 16 MiB match limit anyway). */
const maxChars = 16 * 1024 * 1024 + 64 * 1024;
/** An idle worker goes away after this long; the next test starts one again. */
const idleMs = 10_000;

/**
 * One worker for every GuardedRegex of the process (starting a thread per filter would cost more
 * than most counts); it keeps compiled patterns by source and flags.
 */
interface Shared {
  worker: Worker;
  sab: SharedArrayBuffer;
  ctl: Int32Array;
  idle?: ReturnType<typeof setTimeout>;
}
let shared: Shared | undefined;

function stopShared(s: Shared): void {
  if (shared === s) shared = undefined;
  if (s.idle) clearTimeout(s.idle);
  Atomics.store(s.ctl, 0, STOP);
  Atomics.notify(s.ctl, 0);
  void s.worker.terminate();
}

function startShared(): Shared {
  // Untouched pages of a SharedArrayBuffer cost no memory: the size is the longest line's.
  const sab = new SharedArrayBuffer(header + maxChars * 2);
  // No inherited execArgv: a loader hook (--import …) would wait on this thread, which waits on the worker.
  const worker = new Worker(workerSource, { eval: true, execArgv: [], workerData: { sab } });
  // Never keeps the host alive; a crash shows up as a timeout of the next test.
  worker.unref();
  const s: Shared = { worker, sab, ctl: new Int32Array(sab, 0, 8) };
  worker.on('error', () => stopShared(s));
  shared = s;
  return s;
}

export class GuardedRegex {
  private failed: RegexTooSlowError | undefined;

  /** `source`/`flags` must already compile (compileFilter checks them first, with a clear message). */
  constructor(
    readonly source: string,
    readonly flags: string,
    readonly budgetMs = DEFAULT_REGEX_BUDGET_MS,
  ) {}

  test(line: string): boolean {
    return this.exchange(REQUEST, line) === 1;
  }

  /**
   * How many of `lines` (none holding '\n') match, in as few exchanges as fit: what the counter
   * uses, far cheaper than a wake-up per line. The budget still holds per line: the worker reports
   * each line done, and a line that stays in progress longer than the budget stops it.
   */
  countMatching(lines: string[]): number {
    let n = 0;
    let group: string[] = [];
    let chars = 0;
    const room = maxChars - this.source.length - this.flags.length - 1;
    const flush = () => {
      if (group.length) n += this.exchange(BATCH, group.join('\n'));
      group = [];
      chars = 0;
    };
    for (const line of lines) {
      if (chars + line.length + 1 > room) flush();
      group.push(line.length > room ? line.slice(0, room) : line);
      chars += line.length + 1;
    }
    flush();
    return n;
  }

  private exchange(kind: number, text: string): number {
    if (this.failed) throw this.failed;
    const s = shared ?? startShared();
    if (s.idle) clearTimeout(s.idle);
    if (Atomics.load(s.ctl, 3) === 0 && Atomics.wait(s.ctl, 3, 0, startBudgetMs) === 'timed-out') {
      stopShared(s);
      throw new Error(t('The regular expression worker did not start.'));
    }
    const head = this.source + this.flags;
    const fits = Math.min(text.length, maxChars - head.length);
    Buffer.from(s.sab, header, (head.length + fits) * 2).write(head + (fits < text.length ? text.slice(0, fits) : text), 'utf16le');
    Atomics.store(s.ctl, 2, fits);
    Atomics.store(s.ctl, 4, this.source.length);
    Atomics.store(s.ctl, 5, this.flags.length);
    Atomics.store(s.ctl, 3, 1);
    Atomics.store(s.ctl, 0, kind);
    Atomics.notify(s.ctl, 0);
    const progress = () => (kind === BATCH ? Atomics.load(s.ctl, 3) : 0);
    let seen = progress();
    let deadline = Date.now() + this.budgetMs;
    for (;;) {
      const left = deadline - Date.now();
      if (Atomics.load(s.ctl, 0) === DONE) break;
      if (left <= 0 || Atomics.wait(s.ctl, 0, kind, left) === 'timed-out') {
        if (Atomics.load(s.ctl, 0) === DONE) break;
        const now = progress();
        if (now !== seen) {
          // Another line was finished within the budget: the budget starts again for the next one.
          seen = now;
          deadline = Date.now() + this.budgetMs;
          continue;
        }
        // V8 interrupts the running regex when the worker is terminated.
        this.failed = new RegexTooSlowError(this.source, this.budgetMs);
        stopShared(s);
        throw this.failed;
      }
    }
    const result = Atomics.load(s.ctl, 1);
    Atomics.store(s.ctl, 0, IDLE);
    s.idle = setTimeout(() => stopShared(s), idleMs);
    s.idle.unref();
    return result;
  }

  /** Nothing of its own to release: the shared worker stops when idle. */
  dispose(): void {}
}
