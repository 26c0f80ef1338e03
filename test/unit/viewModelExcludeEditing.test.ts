import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { parseExcludeList } from '../../src/engine/excludes';
import { applyExcludeEdit, describeExcludeList, newPatternWarning, suggestExcludes, validateNewPattern } from '../../src/viewModel/excludeEditing';
import { tempDir } from '../helpers/tempDirs';

test('describeExcludeList counts the input files each entry matches, shadowed or not', () => {
  const text = '# temp files\n*.tmp\n\nREPORT.PDF\n*.pdf\nbad/entry\n';
  const names = ['a.tmp', 'b.TMP', 'report.pdf', 'other.pdf', 'keep.txt'];
  assert.deepEqual(describeExcludeList(text, names), [
    { pattern: '*.tmp', line: 2, matches: 2 },
    { pattern: 'REPORT.PDF', line: 4, matches: 1 },
    { pattern: '*.pdf', line: 5, matches: 2 },
  ]);
  assert.deepEqual(
    describeExcludeList(text, names, { caseSensitive: true }).map((e) => e.matches),
    [1, 0, 2],
  );
});

test('suggestExcludes: exact name, then the last-extension mask', () => {
  assert.deepEqual(suggestExcludes('archive.tar.gz'), ['archive.tar.gz', '*.gz']);
  assert.deepEqual(suggestExcludes('Makefile'), ['Makefile']);
  assert.deepEqual(suggestExcludes('.bashrc'), ['.bashrc']);
  assert.deepEqual(suggestExcludes('trailing.'), ['trailing.']);
  // A leading # would make a comment; it is bracketed so the entry still matches the file.
  const hash = suggestExcludes('#notes.md');
  assert.equal(hash[0], '[#]notes.md');
  assert.ok(parseExcludeList(hash[0]!).matches('#notes.md'));
  // Mask characters in the extension are escaped: the mask matches that extension only.
  const odd = suggestExcludes('x.[1]');
  assert.equal(odd.length, 2);
  const list = parseExcludeList(odd[1]!);
  assert.ok(list.matches('y.[1]'));
  assert.equal(list.matches('y.1'), undefined);
  for (const s of suggestExcludes('data.csv')) assert.ok(parseExcludeList(s).matches('data.csv'), s);
});

test('validateNewPattern: the engine rules plus duplicates, localised', () => {
  assert.equal(validateNewPattern('*.iso', ['*.tmp']), undefined);
  assert.match(validateNewPattern(' *.tmp ', ['*.tmp'])!, /already in the exclude list/);
  assert.match(validateNewPattern('a/b', [])!, /"\/"/);
  assert.ok(validateNewPattern('', []));
  assert.ok(validateNewPattern('# x', []));
});

test('applyExcludeEdit keeps comments and other lines, replaces the file atomically', async () => {
  const dir = tempDir();
  const path = join(dir, 'exclude_list.txt');
  writeFileSync(path, '# keep me\r\n*.tmp\r\n  # indented comment\r\n*.bak\r\n');
  chmodSync(path, 0o640);
  const added = await applyExcludeEdit(path, { add: '*.iso' });
  assert.equal(added, '# keep me\r\n*.tmp\r\n  # indented comment\r\n*.bak\r\n*.iso\r\n');
  assert.equal(readFileSync(path, 'utf8'), added);
  assert.equal(statSync(path).mode & 0o777, 0o640, 'the file keeps its permissions');
  const removed = await applyExcludeEdit(path, { remove: '*.tmp' });
  assert.equal(removed, '# keep me\r\n  # indented comment\r\n*.bak\r\n*.iso\r\n');
  const replaced = await applyExcludeEdit(path, { remove: '*.bak', add: '*.BAK' });
  assert.equal(replaced, '# keep me\r\n  # indented comment\r\n*.iso\r\n*.BAK\r\n');
  assert.deepEqual(readdirSync(dir), ['exclude_list.txt'], 'no temporary file is left behind');
});

test('applyExcludeEdit: a missing file is empty; a duplicate changes nothing; an invalid entry is refused', async () => {
  const dir = tempDir();
  const path = join(dir, 'exclude_list.txt');
  assert.equal(await applyExcludeEdit(path, { add: 'a.txt' }), 'a.txt\n');
  const before = statSync(path).ino;
  assert.equal(await applyExcludeEdit(path, { add: 'a.txt' }), 'a.txt\n');
  assert.equal(statSync(path).ino, before, 'an edit that changes nothing does not rewrite the file');
  await assert.rejects(applyExcludeEdit(path, { add: 'x/y' }), /Cannot add "x\/y" to the exclude list/);
  assert.equal(readFileSync(path, 'utf8'), 'a.txt\n');
  assert.equal(await applyExcludeEdit(join(dir, 'none.txt'), { remove: 'q' }), '');
  assert.deepEqual(readdirSync(dir), ['exclude_list.txt']);
});

test('a case-insensitive list already has *.TMP when it has *.tmp; a case-sensitive one does not', () => {
  assert.match(validateNewPattern('*.TMP', ['*.tmp'])!, /already in the exclude list as "\*\.tmp"/);
  assert.equal(validateNewPattern('*.TMP', ['*.tmp'], { caseSensitive: true }), undefined);
  assert.match(validateNewPattern('*.tmp', ['*.tmp'], { caseSensitive: true })!, /already in the exclude list/);
});

test('an entry matching every file name gets a warning (**, *, *?), an ordinary mask does not', () => {
  for (const p of ['**', '*', '*?', '?*']) assert.match(newPatternWarning(p) ?? '', /matches every file name/, p);
  for (const p of ['*.tmp', 'report.pdf', '*.*', '[a-z]*']) assert.equal(newPatternWarning(p), undefined, p);
});
