import { t } from '../common/l10n';
import { GuardedRegex, type RegexRunOptions } from './guardedRegex';
import { extractLineTime, parseTimeInput, type TimeOptions } from './lineTime';

export type IcapMode = 'all' | 'blocking_simple' | 'blocking_advanced';

/** What the viewer filters on. Plain data: safe to post between the webview and the host. */
export interface IcapLogFilter {
  /** 'blocking_simple' = lines containing `blocking_simple mode`, 'blocking_advanced' likewise. */
  mode?: IcapMode;
  /** Only lines containing `verdict` (case-sensitive, like grep without -i). */
  verdictOnly?: boolean;
  /** Substring (default) or JavaScript regular expression. Empty = no search. */
  search?: { text: string; regex?: boolean; ignoreCase?: boolean };
  /** Time range, inclusive, as typed (see parseTimeInput). Lines without a readable time are excluded while either bound is set. */
  timeFrom?: string;
  timeTo?: string;
  /** How to read times without a zone / syslog times without a year. */
  time?: TimeOptions;
}

export const MODE_TEXT: Record<Exclude<IcapMode, 'all'>, string> = {
  blocking_simple: 'blocking_simple mode',
  blocking_advanced: 'blocking_advanced mode',
};
export const VERDICT_TEXT = 'verdict';

export class IcapLogFilterError extends Error {
  override name = 'IcapLogFilterError';
  constructor(message: string, readonly field: 'search' | 'timeFrom' | 'timeTo') {
    super(message);
  }
}

export interface CompiledFilter {
  readonly spec: IcapLogFilter;
  /** True when every line matches (no condition set). */
  readonly matchesAll: boolean;
  /**
   * Case-sensitive substrings every matching line must contain (mode, verdict, plain search);
   * the counter jumps between their occurrences instead of looking at every line.
   */
  readonly requiredLiterals: readonly string[];
  /**
   * Test one line on this thread: its text without the terminating `\n` (a `\r` of CRLF kept, as
   * grep sees it). Only for a filter without a user regex (`hasRegex` false): a regex runs in its
   * worker, through matchLines/countLines, never on the caller's thread.
   */
  test(line: string): boolean;
  /** A user regex is part of the filter: lines must go through matchLines/countLines. */
  readonly hasRegex: boolean;
  /**
   * Which of `lines` pass, in order: the conditions above on this thread, a user regex in its
   * worker (guardedRegex.ts) with a budget per line. Fewer answers than lines when stopped early
   * (signal, deadline). Rejects with RegexTooSlowError past the regex's budget.
   */
  matchLines(lines: string[], opts?: RegexRunOptions): Promise<boolean[]>;
  /** How many of `lines` pass (a batch per exchange with the regex worker); rejects with the signal's reason when it aborts. */
  countLines(lines: string[], opts?: Omit<RegexRunOptions, 'deadline'>): Promise<number>;
  /** Stops the regex worker, if any. */
  dispose(): void;
  /** Epoch-ms bounds when a time range is set. */
  readonly fromMs?: number;
  readonly toMs?: number;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Validate and compile a filter. Throws IcapLogFilterError (message already translated). */
export function compileFilter(spec: IcapLogFilter, opts: { regexBudgetMs?: number } = {}): CompiledFilter {
  const literals: string[] = [];
  let guarded: GuardedRegex | undefined;
  const tests: Array<(line: string) => boolean> = [];
  const mode = spec.mode ?? 'all';
  if (mode !== 'all') literals.push(MODE_TEXT[mode]);
  if (spec.verdictOnly) literals.push(VERDICT_TEXT);
  const search = spec.search;
  if (search && search.text !== '') {
    if (/[\r\n]/.test(search.text)) throw new IcapLogFilterError(t('The search text cannot contain a line break.'), 'search');
    if (search.regex) {
      try {
        new RegExp(search.text, search.ignoreCase ? 'i' : '');
      } catch (err) {
        throw new IcapLogFilterError(t('Invalid regular expression {0}: {1}', search.text, regexProblem(err)), 'search');
      }
      // The user's pattern never runs on this thread: lines come from whoever can reach the proxy.
      guarded = new GuardedRegex(search.text, search.ignoreCase ? 'i' : '', opts.regexBudgetMs);
    } else if (search.ignoreCase) {
      const re = new RegExp(escapeRegExp(search.text), 'i');
      tests.push((line) => re.test(line));
    } else {
      literals.push(search.text);
    }
  }
  let fromMs: number | undefined;
  let toMs: number | undefined;
  if (spec.timeFrom?.trim()) {
    fromMs = parseTimeInput(spec.timeFrom, spec.time);
    if (fromMs === undefined) throw new IcapLogFilterError(t('Cannot read the time "{0}": write it like 2024-05-01 10:00:00 or 2024-05-01T10:00:00+03:00.', spec.timeFrom), 'timeFrom');
  }
  if (spec.timeTo?.trim()) {
    toMs = parseTimeInput(spec.timeTo, spec.time);
    if (toMs === undefined) throw new IcapLogFilterError(t('Cannot read the time "{0}": write it like 2024-05-01 10:00:00 or 2024-05-01T10:00:00+03:00.', spec.timeTo), 'timeTo');
  }
  if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) {
    throw new IcapLogFilterError(t('The time range starts ({0}) after it ends ({1}).', spec.timeFrom!, spec.timeTo!), 'timeTo');
  }
  if (fromMs !== undefined || toMs !== undefined) {
    const lo = fromMs ?? -Infinity;
    const hi = toMs ?? Infinity;
    const opts = spec.time ?? {};
    tests.push((line) => {
      const found = extractLineTime(line, opts);
      return !!found && found.epochMs >= lo && found.epochMs <= hi;
    });
  }
  const matchesAll = literals.length === 0 && tests.length === 0 && !guarded;
  const cheap = (line: string): boolean => {
    for (const lit of literals) if (!line.includes(lit)) return false;
    for (const f of tests) if (!f(line)) return false;
    return true;
  };
  const regex = guarded;
  const out: CompiledFilter = {
    spec,
    matchesAll,
    requiredLiterals: literals,
    hasRegex: !!regex,
    test: regex
      ? () => {
          throw new Error('A filter with a regular expression is tested with matchLines(), in its worker.');
        }
      : cheap,
    async matchLines(lines, o = {}) {
      const pass = lines.map(cheap);
      if (!regex) return pass;
      const candidates = lines.filter((_, i) => pass[i]);
      const tested = await regex.matchLines(candidates, o);
      const answers: boolean[] = [];
      let c = 0;
      for (let i = 0; i < lines.length; i++) {
        if (!pass[i]) answers.push(false);
        else if (c < tested.length) answers.push(tested[c++]!);
        else break;
      }
      return answers;
    },
    async countLines(lines, o = {}) {
      const candidates = lines.filter(cheap);
      return regex ? regex.countMatching(candidates, o) : candidates.length;
    },
    dispose: () => regex?.dispose(),
  };
  return Object.assign(out, fromMs !== undefined ? { fromMs } : {}, toMs !== undefined ? { toMs } : {});
}

/**
 * The grep pipeline that counts the same lines, one argv (without "grep") per stage; the file
 * goes after the first stage's arguments, the last stage carries -c. `-a` makes grep treat the
 * log as text even with invalid UTF-8 or NUL bytes (otherwise it prints "Binary file matches").
 * Search regexes are JavaScript's; `grep -P` (PCRE) reads the common subset the same way.
 * The time range has no grep form and is left out (`timeRangeOmitted`).
 */
export function grepPipeline(spec: IcapLogFilter): { stages: string[][]; timeRangeOmitted: boolean } {
  const stages: string[][] = [];
  const mode = spec.mode ?? 'all';
  if (mode !== 'all') stages.push(['-a', '-F', '--', MODE_TEXT[mode]]);
  if (spec.verdictOnly) stages.push(['-a', '-F', '--', VERDICT_TEXT]);
  const s = spec.search;
  if (s && s.text !== '') stages.push(['-a', s.regex ? '-P' : '-F', ...(s.ignoreCase ? ['-i'] : []), '--', s.text]);
  if (stages.length === 0) stages.push(['-a', '--', '']);
  const last = stages[stages.length - 1]!;
  last.splice(1, 0, '-c');
  return { stages, timeRangeOmitted: !!(spec.timeFrom?.trim() || spec.timeTo?.trim()) };
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The same pipeline as one shell command line, e.g. for a "copy as grep" button. */
export function grepCommandLine(spec: IcapLogFilter, file: string): string {
  const { stages } = grepPipeline(spec);
  return stages
    .map((argv, i) => ['grep', ...argv.map(shellQuote), ...(i === 0 ? [shellQuote(file)] : [])].join(' '))
    .join(' | ');
}

/** V8's reason without its own "Invalid regular expression: /…/: " prefix, which would say it twice. */
export function regexProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, '');
}
