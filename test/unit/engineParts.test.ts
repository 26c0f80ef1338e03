import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CircuitBreaker } from '../../src/engine/circuitBreaker';
import { DirSyncer } from '../../src/engine/dirSync';
import { type FileStage, canMoveStage, initialStages, stageTransitions } from '../../src/engine/events';
import { Journal, readJournal } from '../../src/engine/journal';
import { mulberry32 } from '../helpers/prng';
import { tempDir } from '../helpers/tempDirs';

const stages = Object.keys(stageTransitions) as FileStage[];

test('lifecycle table: every target is a stage, every stage can start over as settling, and each is reachable', () => {
  for (const [from, tos] of Object.entries(stageTransitions)) {
    for (const to of tos) assert.ok(stages.includes(to), `${from} → ${to}`);
    if (from !== 'settling') assert.ok(canMoveStage(from as FileStage, 'settling'), `${from} → settling (a new version)`);
    assert.ok(canMoveStage(from as FileStage, from as FileStage), 'staying is allowed');
  }
  const reached = new Set<FileStage>(initialStages);
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of [...reached]) for (const to of stageTransitions[s]) if (!reached.has(to)) grew = reached.add(to) !== undefined;
  }
  assert.deepEqual([...reached].sort(), [...stages].sort());
  assert.equal(canMoveStage('settling', 'routing'), false, 'nothing is routed without a verdict');
  assert.equal(canMoveStage('queued', 'submitted'), false, 'nothing is submitted without an upload');
});

test('circuit breaker: scattered failures (45 %) never open it; failures as the rule do, for at least Retry-After; one probe closes it', () => {
  const rand = mulberry32(7);
  const b = new CircuitBreaker({ windowMs: 30_000, windowSize: 40, minSamples: 10, openRatio: 0.8, baseMs: 100, maxMs: 10_000, random: () => 0.5 });
  let now = 0;
  for (let i = 0; i < 2000; i++) {
    now += 5;
    assert.ok(b.allows(now), `request ${i} allowed`);
    b.record(rand() >= 0.45, now);
  }
  for (let i = 0; i < 40 && !b.isOpen; i++) b.record(false, (now += 5), 3000);
  assert.equal(b.isOpen, true);
  assert.equal(b.allows(now + 10), false);
  assert.ok(b.pausedUntil - now >= 3000, 'Retry-After honoured');
  const after = b.pausedUntil;
  assert.equal(b.allows(after), true, 'half-open: a probe');
  b.started();
  assert.equal(b.allows(after), false, 'only one probe');
  b.record(true, after + 1);
  assert.equal(b.isOpen, false);
  assert.equal(b.allows(after + 2), true);
});

test('circuit breaker: the run of failures a flaky KATA explains grows with its failure rate, and is 0 when nothing or everything fails', () => {
  const b = (outcomes: boolean[]) => {
    const br = new CircuitBreaker({ windowMs: 30_000, windowSize: 40, minSamples: 10, openRatio: 0.8, baseMs: 100, maxMs: 10_000 });
    outcomes.forEach((ok, i) => br.record(ok, i));
    return br.explainedRun(outcomes.length);
  };
  const mix = (failures: number, of: number) => Array.from({ length: of }, (_, i) => i >= failures);
  assert.equal(b(mix(0, 40)), 0, 'nothing failed: a failure backs off at once');
  assert.equal(b(mix(3, 5)), 0, 'too few samples to tell');
  assert.equal(b(mix(4, 40)), 4, '10 %: 0.1^4 = 1e-4');
  assert.equal(b(mix(18, 40)), 12, '45 %: 0.45^12 < 1e-4');
  assert.equal(b(mix(31, 40)), 16, 'capped: a file failing that often backs off whatever the rate');
  const old = new CircuitBreaker({ windowMs: 1000, windowSize: 40, minSamples: 10, openRatio: 0.8, baseMs: 100, maxMs: 10_000 });
  mix(18, 40).forEach((ok, i) => old.record(ok, i));
  assert.equal(old.explainedRun(5000), 0, 'outcomes older than the window do not count');
});

test('folder fsyncs are grouped: many callers share a sync that started after their call', async () => {
  const started: number[] = [];
  let calls = 0;
  let release!: () => void;
  const syncer = new DirSyncer(async () => {
    started.push(++calls);
    await new Promise<void>((r) => (release = r));
  });
  const first = syncer.sync('/d');
  const waiting = Array.from({ length: 50 }, () => syncer.sync('/d'));
  assert.equal(calls, 1);
  release();
  await first;
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 2, 'all fifty share the second sync');
  let settled = false;
  void Promise.all(waiting).then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'not before their own sync finished');
  release();
  await Promise.all(waiting);
  assert.equal(calls, 2);
});

test('journal: steps of one turn share one write, each awaited step is on disk, and the file compacts to what is pending', async () => {
  const dir = tempDir();
  const j = Journal.open(dir);
  const file = { size: 3, mtimeMs: 1, ino: 7, dev: 1 };
  const all: Array<Promise<void>> = [];
  for (let i = 0; i < 500; i++) all.push(j.intent({ scanId: `s${i}`, name: `f${i}`, ...file }));
  await Promise.all(all);
  assert.equal(readFileSync(join(dir, 'journal.jsonl'), 'utf8').trim().split('\n').length, 500);
  assert.equal(j.activeFor('default', 'f7')?.scanId, 's7');
  // Finish 20 000 scans: the file must not keep their history.
  for (let i = 0; i < 20_000; i++) {
    const id = `d${i}`;
    void j.intent({ scanId: id, name: `done-${i}`, ...file });
    void j.submitted(id, 'a'.repeat(64));
    void j.done(id, 'routed');
    await j.cleared(id);
  }
  await j.flushed();
  const lines = readFileSync(join(dir, 'journal.jsonl'), 'utf8').trim().split('\n').length;
  assert.ok(lines < 2 * 6 * (500 + 1000) + 4096 + 4, `${lines} lines for 500 pending scans`);
  assert.equal(j.liveCount, 500);
  j.close();
  const back = readJournal(dir);
  assert.equal(back.live.length, 500);
  const reopened = Journal.open(dir);
  assert.equal(reopened.activeFor('default', 'f499')?.scanId, 's499');
  reopened.close();
});
