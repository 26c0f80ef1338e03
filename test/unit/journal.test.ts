import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, readJournal } from '../../src/engine/journal';
import { tempDir } from '../helpers/tempDirs';

const file = { name: 'a.txt', size: 3, mtimeMs: 1, ino: 7 };

test('journal replays every step after reopening', () => {
  const dir = tempDir();
  const j = Journal.open(dir);
  j.intent({ scanId: 's1', ...file });
  j.submitted('s1', 'ab'.repeat(32));
  j.intent({ scanId: 's2', ...file, name: 'b.txt' });
  j.submitted('s2', 'cd'.repeat(32));
  j.verdict('s2', 'detect', 'qrnt');
  j.placed('s2', '/q/b.txt');
  j.close();
  const k = Journal.open(dir);
  const live = new Map(k.live().map((e) => [e.scanId, e]));
  assert.equal(live.get('s1')?.sha256, 'ab'.repeat(32));
  assert.equal(live.get('s1')?.state, undefined);
  assert.equal(live.get('s2')?.destination, 'qrnt');
  assert.equal(live.get('s2')?.placedPath, '/q/b.txt');
  k.done('s2', 'routed');
  k.cleared('s2');
  assert.deepEqual(k.live().map((e) => e.scanId), ['s1']);
  assert.equal(k.finished()[0]?.scanId, 's2');
  k.close();
});

test('each step is one line of plain JSON, the same text JSON.stringify gives, whatever the name holds', () => {
  const dir = tempDir();
  const j = Journal.open(dir);
  const name = 'q"\\ \n\u2028 ü 文件 \u0001.bin';
  j.intent({ scanId: 's1', share: 'sh "1"', name, size: 1024, mtimeMs: 1796667215335.539, ino: 2 ** 40 + 3, dev: 64768 });
  j.intent({ scanId: 's2', name: 'old.txt', size: 0, mtimeMs: 0, ino: 1 });
  j.submitted('s1', 'ab'.repeat(32));
  j.verdict('s1', 'not detected', 'out');
  j.placed('s1', `/out/${name}`);
  j.done('s1', 'routed');
  j.cleared('s1');
  j.close();
  const lines = readFileSync(join(dir, 'journal.jsonl'), 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'the file ends with a newline');
  const ops = lines.slice(lines.length - 7).map((l) => {
    assert.equal(JSON.stringify(JSON.parse(l)), l, 'canonical JSON text');
    return JSON.parse(l) as Record<string, unknown>;
  });
  assert.deepEqual(
    ops.map(({ at, ...rest }) => (assert.equal(typeof at, 'number'), rest)),
    [
      { op: 'intent', scanId: 's1', share: 'sh "1"', name, size: 1024, mtimeMs: 1796667215335.539, ino: 2 ** 40 + 3, dev: 64768 },
      { op: 'intent', scanId: 's2', name: 'old.txt', size: 0, mtimeMs: 0, ino: 1 },
      { op: 'submitted', scanId: 's1', sha256: 'ab'.repeat(32) },
      { op: 'verdict', scanId: 's1', state: 'not detected', destination: 'out' },
      { op: 'placed', scanId: 's1', path: `/out/${name}` },
      { op: 'done', scanId: 's1', outcome: 'routed' },
      { op: 'cleared', scanId: 's1' },
    ],
  );
  const k = Journal.open(dir);
  assert.equal(k.get('s1')?.name, name);
  assert.equal(k.get('s1')?.share, 'sh "1"');
  assert.equal(k.get('s2')?.share, 'default', 'an intent without a share is the default share\'s');
  assert.equal(k.activeFor('default', 'old.txt')?.scanId, 's2');
  assert.equal(k.activeFor('sh "1"', name), undefined, 'done: no longer the active scan of its name');
  k.close();
});

test('a torn last line (crash mid-write) is ignored and the journal stays appendable', () => {
  const dir = tempDir();
  const j = Journal.open(dir);
  j.intent({ scanId: 's1', ...file });
  j.close();
  appendFileSync(join(dir, 'journal.jsonl'), '{"op":"submitted","scanId":"s1","sha2');
  const k = Journal.open(dir);
  assert.equal(k.get('s1')?.sha256, undefined);
  k.submitted('s1', 'ef'.repeat(32));
  k.close();
  const lines = readFileSync(join(dir, 'journal.jsonl'), 'utf8').trim().split('\n');
  for (const l of lines) JSON.parse(l);
  assert.equal(readJournal(dir).live[0]?.sha256, 'ef'.repeat(32));
});

test('compaction keeps live entries and the newest finished ones only', () => {
  const dir = tempDir();
  const j = Journal.open(dir);
  for (let i = 0; i < 1100; i++) {
    j.intent({ scanId: `d${i}`, ...file });
    j.done(`d${i}`, 'abandoned');
    j.cleared(`d${i}`);
  }
  j.intent({ scanId: 'live', ...file });
  j.close();
  const k = Journal.open(dir);
  assert.equal(k.live().length, 1);
  assert.equal(k.finished().length, 1000);
  k.close();
  assert.ok(readFileSync(join(dir, 'journal.jsonl'), 'utf8').split('\n').length < 3100);
});

test('a journal written before shares is the share default; a name in two shares is two entries, each found by its share', () => {
  const dir = tempDir();
  // Lines exactly as a one-share KDS wrote them, without a share.
  const old = [
    { op: 'intent', scanId: 'o1', name: 'a.txt', size: 3, mtimeMs: 1, ino: 7, dev: 1, at: 10 },
    { op: 'submitted', scanId: 'o1', sha256: 'ab'.repeat(32), at: 11 },
  ];
  appendFileSync(join(dir, 'journal.jsonl'), old.map((l) => JSON.stringify(l) + '\n').join(''));
  const j = Journal.open(dir);
  assert.equal(j.get('o1')?.share, 'default');
  assert.equal(j.activeFor('default', 'a.txt')?.scanId, 'o1');
  j.intent({ scanId: 'h1', share: 'hr', ...file });
  assert.equal(j.activeFor('hr', 'a.txt')?.scanId, 'h1');
  assert.equal(j.activeFor('default', 'a.txt')?.scanId, 'o1', 'the share default keeps its own a.txt');
  assert.equal(j.activeFor('fin', 'a.txt'), undefined);
  j.done('h1', 'abandoned');
  assert.equal(j.activeFor('hr', 'a.txt'), undefined);
  assert.equal(j.activeFor('default', 'a.txt')?.scanId, 'o1');
  j.close();
  // Compacted on open: the entries now name their share, and a reader elsewhere (a Central Node's journal over SFTP) sees the same.
  const text = readFileSync(join(dir, 'journal.jsonl'), 'utf8');
  assert.match(text, /"scanId":"o1","share":"default"/);
  const back = readJournal(dir);
  assert.deepEqual(
    [...new Map([...back.live, ...back.finished].map((e) => [e.scanId, e.share]))].sort(),
    [
      ['h1', 'hr'],
      ['o1', 'default'],
    ],
  );
});

test('a cleared line (nothing waits for it) rides along with the next group commit, and flushed() writes it at once', async () => {
  const dir = tempDir();
  const j = Journal.open(dir);
  const onDisk = () => readFileSync(join(dir, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { op: string; scanId: string });
  await j.intent({ scanId: 'c1', ...file });
  await j.intent({ scanId: 'c2', ...file, name: 'b.txt' });
  await j.done('c1', 'abandoned');
  const cleared = j.cleared('c1');
  // A step that is waited for goes out with the cleared line queued before it, in one write.
  await j.done('c2', 'abandoned');
  await cleared;
  assert.deepEqual(onDisk().slice(-2).map((l) => `${l.op} ${l.scanId}`), ['cleared c1', 'done c2']);
  // Alone, it is written by flushed() (as the engine's stop does) or close().
  const alone = j.cleared('c2');
  await j.flushed();
  await alone;
  assert.deepEqual(onDisk().slice(-1).map((l) => `${l.op} ${l.scanId}`), ['cleared c2']);
  assert.deepEqual(j.live(), []);
  j.cleared('c2');
  j.close();
  assert.equal(onDisk().filter((l) => l.op === 'cleared').length, 3);
});
