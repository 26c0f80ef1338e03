import { Minimatch, type MinimatchOptions } from 'minimatch';
import { readFile, stat } from 'node:fs/promises';
import { t, tn } from '../common/l10n';
import type { Logger } from '../common/log';

export interface ExcludeEntry {
  /** 1-based line in the file, for messages and the editor's quick edit. */
  line: number;
  pattern: string;
}

export interface InvalidExcludeLine {
  line: number;
  text: string;
  reason: string;
}

export interface ExcludeList {
  entries: ExcludeEntry[];
  invalid: InvalidExcludeLine[];
  /** The first entry that excludes a file with this bare name, if any. */
  matches(name: string): ExcludeEntry | undefined;
}

export interface ExcludeOptions {
  caseSensitive?: boolean;
}

function matcherOptions(caseSensitive: boolean): MinimatchOptions {
  return {
    nocase: !caseSensitive,
    dot: true,
    // "!x" and "#x" would otherwise negate or silence a line; here they are plain name characters.
    nonegate: true,
    nocomment: true,
    // Names are matched on their own, the same way on every host the engine runs on.
    platform: 'linux',
  };
}

/** Splits the file into lines, tolerating a BOM and CRLF; keeps the line numbers. */
function lines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r?\n/);
}

function isCommentOrBlank(trimmed: string): boolean {
  return trimmed === '' || trimmed.startsWith('#');
}

/** Why `pattern` cannot be an exclude-list entry, or undefined when it can. */
export function validatePattern(pattern: string): string | undefined {
  const p = pattern.trim();
  if (p === '') return t('an empty entry excludes nothing');
  if (p.startsWith('#')) return t('a line starting with # is a comment; write [#] to match a name starting with #');
  if (p.includes('/')) return t('only names of files directly in the input folder are checked, so an entry cannot contain "/"');
  if (/[\u0000-\u001f\u007f]/.test(p)) return t('an entry cannot contain control characters');
  if (p.length > 1024) return t('an entry cannot be longer than 1024 characters');
  if (new Minimatch(p, matcherOptions(true)).makeRe() === false) return t('not a valid mask');
  return undefined;
}

export function parseExcludeList(text: string, options: ExcludeOptions = {}): ExcludeList {
  const caseSensitive = options.caseSensitive ?? false;
  const entries: ExcludeEntry[] = [];
  const invalid: InvalidExcludeLine[] = [];
  const compiled: Array<{ entry: ExcludeEntry; literal: string; mm: Minimatch }> = [];
  const fold = (s: string) => (caseSensitive ? s : s.toLowerCase());

  lines(text).forEach((raw, index) => {
    const trimmed = raw.trim();
    if (isCommentOrBlank(trimmed)) return;
    const line = index + 1;
    const reason = validatePattern(trimmed);
    if (reason) {
      invalid.push({ line, text: raw, reason });
      return;
    }
    // Names from macOS clients arrive decomposed (NFD); compare both sides in one form.
    const pattern = trimmed.normalize('NFC');
    const entry = { line, pattern: trimmed };
    entries.push(entry);
    compiled.push({ entry, literal: fold(pattern), mm: new Minimatch(pattern, matcherOptions(caseSensitive)) });
  });

  return {
    entries,
    invalid,
    matches(name: string) {
      const n = name.normalize('NFC');
      const folded = fold(n);
      // A listed file name matches itself even when it holds mask characters such as [1] or *.
      return compiled.find((c) => c.literal === folded || c.mm.match(n))?.entry;
    },
  };
}

/**
 * Appends `pattern` as a new line, keeping comments, other lines, the BOM and the line-ending
 * style. Returns the text unchanged when the exact entry is already there. Throws on an invalid
 * pattern (check with validatePattern first to show the reason).
 */
export function addEntry(text: string, pattern: string): string {
  const p = pattern.trim();
  const reason = validatePattern(p);
  if (reason) throw new Error(reason);
  if (lines(text).some((l) => l.trim() === p)) return text;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const body = text.replace(/^\uFEFF/, '');
  const needsBreak = body !== '' && !body.endsWith('\n');
  return `${text}${needsBreak ? eol : ''}${p}${eol}`;
}

/** Removes every line that is exactly this entry; comments and other lines stay as they are. */
export function removeEntry(text: string, pattern: string): string {
  const p = pattern.trim();
  if (p === '' || p.startsWith('#')) return text;
  // Split keeping each line's own ending so that mixed endings survive.
  const parts = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  let bom = '';
  const kept = parts.filter((part, i) => {
    let content = part.replace(/\r?\n$/, '');
    if (i === 0 && content.startsWith('\uFEFF')) {
      bom = '\uFEFF';
      content = content.slice(1);
    }
    return content.trim() !== p;
  });
  const out = kept.join('');
  return bom && !out.startsWith('\uFEFF') ? bom + out : out;
}

interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

function sameFile(a: FileIdentity | undefined, b: FileIdentity): boolean {
  return !!a && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

type Problem = { kind: 'missing' } | { kind: 'unreadable'; detail: string };

/**
 * Holds the exclude list of one file and re-reads it when the file changed. refresh() costs one
 * stat while nothing changed, so the engine calls it on every rescan and edits apply without a
 * restart. A missing file is an empty list; an unreadable one keeps the last good list. Each
 * problem is logged once, until the situation changes.
 */
export class ExcludeListWatcher {
  private list: ExcludeList;
  private identity: FileIdentity | undefined;
  private problem: Problem | undefined;
  private pending: Promise<ExcludeList> | undefined;

  constructor(
    readonly path: string,
    private readonly options: ExcludeOptions & { logger?: Logger } = {},
  ) {
    this.list = parseExcludeList('', options);
  }

  /** The list as of the last refresh(). */
  get current(): ExcludeList {
    return this.list;
  }

  /** Re-reads the file if its inode, size or times changed; concurrent calls share one read. */
  refresh(force = false): Promise<ExcludeList> {
    this.pending ??= this.check(force).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Reads the file even if it looks unchanged (SIGHUP, or a save within the same timestamp). */
  reload(): Promise<ExcludeList> {
    return this.refresh(true);
  }

  private async check(force: boolean): Promise<ExcludeList> {
    let info: FileIdentity;
    try {
      const s = await stat(this.path);
      info = { ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
    } catch (err) {
      this.failed(err as NodeJS.ErrnoException);
      return this.list;
    }
    if (!force && sameFile(this.identity, info)) return this.list;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      this.failed(err as NodeJS.ErrnoException);
      return this.list;
    }
    this.identity = info;
    this.problem = undefined;
    this.list = parseExcludeList(text, this.options);
    const log = this.options.logger;
    log?.info('excludes.loaded', tn(this.list.entries.length, 'Exclude list loaded: {0} entry', 'Exclude list loaded: {0} entries'), { file: this.path, entries: this.list.entries.length });
    for (const bad of this.list.invalid) {
      log?.warn('excludes.invalid', t('Exclude list line {0} is ignored: {1}', bad.line, bad.reason), { file: this.path, line: bad.line, text: bad.text });
    }
    return this.list;
  }

  private failed(err: NodeJS.ErrnoException): void {
    const log = this.options.logger;
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') {
      // A deleted list excludes nothing any more, exactly as if it had never existed.
      this.list = parseExcludeList('', this.options);
      this.identity = undefined;
      if (this.problem?.kind !== 'missing') {
        log?.info('excludes.missing', t('No exclude list at this path; no files are excluded'), { file: this.path });
      }
      this.problem = { kind: 'missing' };
      return;
    }
    const detail = err.code ?? err.message;
    if (this.problem?.kind !== 'unreadable' || this.problem.detail !== detail) {
      log?.warn('excludes.unreadable', t('Cannot read the exclude list ({0}); the last list read stays in force', detail), { file: this.path });
    }
    this.problem = { kind: 'unreadable', detail };
  }
}
