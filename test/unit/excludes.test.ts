import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogFields, Logger, LogLevel } from '../../src/common/log';
import { ExcludeListWatcher, addEntry, parseExcludeList, removeEntry, validatePattern } from '../../src/engine/excludes';

// The example of the original set-up.
const ORIGINAL = 'File1.txt\n*.doc\nFile2.py\n*.pdf\n';

test('the original example: names and extension masks, case-insensitive by default', () => {
  const list = parseExcludeList(ORIGINAL);
  assert.deepEqual(list.entries.map((e) => e.pattern), ['File1.txt', '*.doc', 'File2.py', '*.pdf']);
  assert.deepEqual(list.invalid, []);
  assert.deepEqual(list.matches('A.DOC'), { line: 2, pattern: '*.doc' });
  assert.deepEqual(list.matches('report.doc'), { line: 2, pattern: '*.doc' });
  assert.deepEqual(list.matches('file1.TXT'), { line: 1, pattern: 'File1.txt' });
  assert.equal(list.matches('report.docx'), undefined);
  assert.equal(list.matches('File1.txt.exe'), undefined);
  assert.equal(list.matches('File3.py'), undefined);
  assert.deepEqual(list.matches('scan.PDF'), { line: 4, pattern: '*.pdf' });
});

test('case-sensitive matching when asked', () => {
  const list = parseExcludeList(ORIGINAL, { caseSensitive: true });
  assert.equal(list.matches('A.DOC'), undefined);
  assert.ok(list.matches('a.doc'));
  assert.equal(list.matches('file1.txt'), undefined);
  assert.ok(list.matches('File1.txt'));
});

test('comments, blank lines, CRLF, BOM and surrounding spaces are tolerated; line numbers kept', () => {
  const list = parseExcludeList('\uFEFF# Office files\r\n\r\n  *.doc  \r\n\t# indented comment\r\nFile1.txt\r\n');
  assert.deepEqual(list.entries, [
    { line: 3, pattern: '*.doc' },
    { line: 5, pattern: 'File1.txt' },
  ]);
  assert.ok(list.matches('x.doc'));
  assert.equal(list.matches('# Office files'), undefined);
});

test('names with spaces, brackets and other mask characters', () => {
  const list = parseExcludeList('My Report (final).docx\nreport[1].xls\nwhat?.txt\n*.{tmp,bak}\n[#]notes\n!important.txt\n.hidden\n');
  assert.ok(list.matches('my report (FINAL).docx'));
  assert.ok(list.matches('report[1].xls'), 'a listed name matches itself although [1] is a mask');
  assert.ok(list.matches('report1.xls'), 'and [1] still works as a character class');
  assert.ok(list.matches('what?.txt'));
  assert.ok(list.matches('whatX.txt'));
  assert.ok(list.matches('a.tmp') && list.matches('b.BAK'));
  assert.ok(list.matches('#notes'));
  assert.ok(list.matches('!important.txt'), '"!" is not a negation here');
  assert.equal(list.matches('other.txt'), undefined);
  assert.ok(list.matches('.hidden'));
  assert.ok(parseExcludeList('*').matches('.profile'), '* also matches names starting with a dot');
});

test('decomposed Unicode names (macOS clients) match composed entries', () => {
  const list = parseExcludeList('Résumé.pdf\n');
  assert.ok(list.matches('Re\u0301sume\u0301.pdf'));
});

test('invalid lines are reported with their line and reason and do not match', () => {
  const list = parseExcludeList('ok.txt\nsub/file.txt\n*/x\nbad\u0001name\n');
  assert.deepEqual(list.entries, [{ line: 1, pattern: 'ok.txt' }]);
  assert.deepEqual(list.invalid.map((i) => [i.line, i.text]), [[2, 'sub/file.txt'], [3, '*/x'], [4, 'bad\u0001name']]);
  assert.match(list.invalid[0]!.reason, /"\/"/);
  assert.equal(list.matches('file.txt'), undefined);
});

test('validatePattern explains what is wrong', () => {
  assert.equal(validatePattern('*.doc'), undefined);
  assert.equal(validatePattern('File 1 [copy].txt'), undefined);
  assert.match(validatePattern('')!, /empty/);
  assert.match(validatePattern('   ')!, /empty/);
  assert.match(validatePattern('a/b')!, /"\/"/);
  assert.match(validatePattern('# x')!, /comment/);
  assert.match(validatePattern('a\nb')!, /control/);
  assert.match(validatePattern('x'.repeat(1025))!, /1024/);
});

test('addEntry appends, keeping comments, other lines, the BOM and CRLF; a present entry is not added twice', () => {
  const text = '\uFEFF# keep me\r\n*.doc\r\n\r\n# and me';
  const added = addEntry(text, ' *.pdf ');
  assert.equal(added, '\uFEFF# keep me\r\n*.doc\r\n\r\n# and me\r\n*.pdf\r\n');
  assert.equal(addEntry(added, '*.pdf'), added);
  assert.equal(addEntry('', 'a.txt'), 'a.txt\n');
  assert.equal(addEntry('x\n', 'a.txt'), 'x\na.txt\n');
  assert.throws(() => addEntry('x\n', 'a/b'), /"\/"/);
  assert.ok(parseExcludeList(added).matches('x.PDF'));
});

test('removeEntry removes exactly that entry and nothing else', () => {
  const text = '\uFEFF# Office\n*.doc\nFile1.txt\r\n  *.doc  \n# *.doc stays: it is a comment\n*.docx\n';
  const out = removeEntry(text, '*.doc');
  assert.equal(out, '\uFEFF# Office\nFile1.txt\r\n# *.doc stays: it is a comment\n*.docx\n');
  assert.equal(removeEntry(out, 'absent.txt'), out);
  assert.equal(removeEntry(out, '# Office'), out, 'comments are not entries');
  assert.equal(removeEntry('\uFEFFa.txt\nb.txt', 'a.txt'), '\uFEFFb.txt');
  assert.equal(removeEntry('a.txt\nb.txt', 'b.txt'), 'a.txt\n');
});

class MemoryLogger implements Logger {
  records: Array<{ level: LogLevel; event: string; msg: string; fields?: LogFields }> = [];
  log(level: LogLevel, event: string, msg: string, fields?: LogFields) {
    this.records.push({ level, event, msg, ...(fields && { fields }) });
  }
  debug(e: string, m: string, f?: LogFields) { this.log('debug', e, m, f); }
  info(e: string, m: string, f?: LogFields) { this.log('info', e, m, f); }
  warn(e: string, m: string, f?: LogFields) { this.log('warn', e, m, f); }
  error(e: string, m: string, f?: LogFields) { this.log('error', e, m, f); }
  events() { return this.records.map((r) => r.event); }
}

test('ExcludeListWatcher re-reads the file only when it changed; a missing file is an empty list, reported once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kds-excludes-'));
  try {
    const path = join(dir, 'exclude_list.txt');
    const logger = new MemoryLogger();
    const watcher = new ExcludeListWatcher(path, { logger });
    assert.equal((await watcher.refresh()).entries.length, 0);
    await watcher.refresh();
    assert.deepEqual(logger.events(), ['excludes.missing'], 'missing is logged once');

    await writeFile(path, '*.doc\n');
    assert.ok((await watcher.refresh()).matches('a.DOC'));
    const first = watcher.current;
    assert.equal(await watcher.refresh(), first, 'unchanged file: the same list, not re-parsed');

    await writeFile(path, '*.doc\n*.pdf\nsub/x\n');
    const second = await watcher.refresh();
    assert.notEqual(second, first);
    assert.ok(second.matches('b.pdf'));
    assert.deepEqual(logger.events(), ['excludes.missing', 'excludes.loaded', 'excludes.loaded', 'excludes.invalid']);

    // Editors save by writing a new file and renaming it over the old one.
    await writeFile(join(dir, 'tmp'), 'only.txt\n');
    await rename(join(dir, 'tmp'), path);
    const third = await watcher.refresh();
    assert.ok(third.matches('only.txt'));
    assert.equal(third.matches('b.pdf'), undefined);

    await unlink(path);
    assert.equal((await watcher.refresh()).entries.length, 0);
    assert.equal(logger.events().filter((e) => e === 'excludes.missing').length, 2, 'missing again after it had existed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('ExcludeListWatcher keeps the last good list when the file becomes unreadable, and warns once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kds-excludes-'));
  try {
    const path = join(dir, 'exclude_list.txt');
    const logger = new MemoryLogger();
    const watcher = new ExcludeListWatcher(path, { logger, caseSensitive: true });
    await writeFile(path, '*.doc\n');
    await watcher.refresh();
    await unlink(path);
    // A folder where the file was: stat works, reading fails (EISDIR), even for root, who ignores modes.
    await mkdir(path);
    const kept = await watcher.refresh();
    assert.ok(kept.matches('a.doc'));
    assert.equal(kept.matches('A.DOC'), undefined, 'case-sensitive option kept');
    await watcher.refresh();
    assert.deepEqual(logger.events(), ['excludes.loaded', 'excludes.unreadable']);
    assert.equal(logger.records[1]!.level, 'warn');
    t.diagnostic(logger.records[1]!.msg);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('reload() reads the file even when stat shows no change', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kds-excludes-'));
  try {
    const path = join(dir, 'exclude_list.txt');
    await writeFile(path, 'a.txt\n');
    const watcher = new ExcludeListWatcher(path);
    const first = await watcher.refresh();
    const again = await watcher.reload();
    assert.notEqual(again, first);
    assert.ok(again.matches('A.TXT'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
