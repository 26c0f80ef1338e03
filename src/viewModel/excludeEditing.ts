import { escape } from 'minimatch';
import { randomBytes } from 'node:crypto';
import { lstat, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from '../common/fsync';
import { t } from '../common/l10n';
import { addEntry, type ExcludeOptions, parseExcludeList, removeEntry, validatePattern } from '../engine/excludes';

export interface ExcludeEntryUse {
  pattern: string;
  line: number;
  /** Files now in input that this entry alone would exclude (an entry shadowed by another still counts). */
  matches: number;
}

/** Each entry of the list with how many of `inputNames` it matches, for the quick pick's detail. */
export function describeExcludeList(text: string, inputNames: string[], opts: ExcludeOptions = {}): ExcludeEntryUse[] {
  return parseExcludeList(text, opts).entries.map((entry) => {
    // Each entry is compiled on its own so that the count is not hidden by an earlier entry.
    const single = parseExcludeList(entry.pattern, opts);
    let matches = 0;
    for (const name of inputNames) if (single.matches(name)) matches++;
    return { pattern: entry.pattern, line: entry.line, matches };
  });
}


/**
 * Entries offered for "exclude this file": the exact name, then every file with the same last
 * extension. A listed name matches itself literally even with mask characters, so the exact
 * name needs no escaping (except a leading #, which would make it a comment).
 */
export function suggestExcludes(fileName: string): string[] {
  const out: string[] = [];
  const exact = fileName.startsWith('#') ? `[#]${fileName.slice(1)}` : fileName;
  out.push(exact);
  const dot = fileName.lastIndexOf('.');
  // ".bashrc" has no extension, "name." an empty one: neither gets a mask.
  if (dot > 0 && dot < fileName.length - 1) out.push(`*.${escape(fileName.slice(dot + 1), { magicalBraces: true })}`);
  return [...new Set(out)].filter((p) => validatePattern(p) === undefined);
}

/**
 * Why `pattern` cannot be added to a list that already has `existing`, localised; undefined if
 * it can. With a case-insensitive list (the default), `*.TMP` is the entry `*.tmp` again.
 */
export function validateNewPattern(pattern: string, existing: readonly string[], opts: ExcludeOptions = {}): string | undefined {
  const reason = validatePattern(pattern);
  if (reason) return reason;
  const p = pattern.trim();
  const fold = (s: string) => (opts.caseSensitive ? s : s.toLowerCase()).normalize('NFC');
  const same = existing.find((e) => fold(e.trim()) === fold(p));
  if (same === p) return t('"{0}" is already in the exclude list', p);
  if (same !== undefined) return t('"{0}" is already in the exclude list as "{1}" (the list ignores case)', p, same.trim());
  return undefined;
}

/** Names that no sensible entry matches all of: an entry matching each of them excludes (nearly) every file. */
const everyNameProbes = ['report.pdf', 'README', '.hidden', 'a', 'Zz9-_ ~!.x'];

/**
 * A warning for a valid entry that is probably a mistake: one matching every file name (`*`,
 * `**`, `*?`…) stops KDS sending anything to KATA. Undefined when there is nothing to warn of.
 */
export function newPatternWarning(pattern: string, opts: ExcludeOptions = {}): string | undefined {
  if (validatePattern(pattern)) return undefined;
  const list = parseExcludeList(pattern, opts);
  if (everyNameProbes.every((n) => list.matches(n))) return t('"{0}" matches every file name: nothing would be sent to KATA any more', pattern.trim());
  return undefined;
}

/** The exclude list's text with one entry removed and/or one added (refused when the pattern is not valid). */
export function editExcludeText(text: string, edit: { add?: string; remove?: string }): string {
  let next = text;
  if (edit.remove !== undefined) next = removeEntry(next, edit.remove);
  if (edit.add !== undefined) {
    const reason = validatePattern(edit.add);
    if (reason) throw new Error(t('Cannot add "{0}" to the exclude list: {1}', edit.add.trim(), reason));
    next = addEntry(next, edit.add);
  }
  return next;
}

/**
 * Adds and/or removes one entry in the exclude list file and returns the new text. Comments
 * and other lines stay as they are. The file is replaced atomically (temporary file in the
 * same folder, fsync, rename, fsync folder), so the engine, which re-reads the list on every
 * rescan, never reads half a list. A missing file is an empty list.
 */
export async function applyExcludeEdit(path: string, edit: { add?: string; remove?: string }): Promise<string> {
  let text = '';
  let mode = 0o644;
  try {
    text = await readFile(path, 'utf8');
    mode = (await lstat(path)).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const next = editExcludeText(text, edit);
  if (next === text) return text;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.kds-tmp-${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  let renamed = false;
  try {
    await fh.writeFile(next, 'utf8');
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    renamed = true;
    await fsyncDir(dir);
  } finally {
    if (!renamed) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
  return next;
}
