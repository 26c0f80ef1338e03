import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineEvent } from '../../src/engine/events';
import { EventStreamWriter, type EventStreamRecord, lastSeqOf } from '../../src/engine/eventStream';
import { type EventFileReader, EventFollower, localEventFileReader } from '../../src/centralNode/eventFollower';
import { tempDir } from '../helpers/tempDirs';

const ev = (i: number): EngineEvent => ({ type: 'file-removed', name: `file-${i}.txt` });
const snapshot = () => ({ running: true, approval: 'approved' as const, files: [] });

function lines(path: string): EventStreamRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EventStreamRecord);
}

function collector(dir: string, opts: ConstructorParameters<typeof EventFollower>[2] = {}, reader: EventFileReader = localEventFileReader) {
  const names: string[] = [];
  const seqs: number[] = [];
  const gaps: Array<[number, number]> = [];
  let resets = 0;
  const f = new EventFollower(reader, dir, {
    ...opts,
    onRecord: (r) => seqs.push(r.seq),
    onEvent: (e) => names.push((e as { name: string }).name),
    onGap: (a, b) => gaps.push([a, b]),
    onReset: () => resets++,
  });
  return { f, names, seqs, gaps, resets: () => resets };
}

function assertContiguous(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, `seq ${seqs[i]} after ${seqs[i - 1]}`);
}

test('every line has seq and time; the file starts with segment, start and snapshot', () => {
  const dir = tempDir();
  const j = EventStreamWriter.open(dir, { snapshot });
  j.append(ev(1));
  j.append(ev(2));
  j.close();
  const recs = lines(join(dir, 'events.jsonl'));
  assert.deepEqual(recs.map((r) => r.kind), ['segment', 'snapshot', 'start', 'event', 'event']);
  assert.deepEqual(recs.map((r) => r.seq), [1, 2, 3, 4, 5]);
  for (const r of recs) assert.ok(!Number.isNaN(Date.parse(r.time)));
  assert.equal(statSync(join(dir, 'events.jsonl')).mode & 0o777, 0o600);
});

test('coalesce: the events of several turns go out together, in order; heartbeats, snapshots and close keep the order', async () => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  // The timer never fires within this test: only what the writer does on its own is written.
  const j = EventStreamWriter.open(dir, { snapshot, coalesce: true, coalesceMs: 600_000, maxBytes: 4096 });
  j.append(ev(1));
  await new Promise((r) => setImmediate(r));
  j.append(ev(2));
  await new Promise((r) => setImmediate(r));
  assert.throws(() => statSync(path), 'nothing written while the events wait for others');
  j.flush();
  assert.deepEqual(lines(path).map((r) => r.kind), ['segment', 'snapshot', 'start', 'event', 'event']);
  j.append(ev(3));
  j.writeSnapshot();
  j.append(ev(4));
  for (let i = 5; i < 200; i++) j.append(ev(i)); // passes maxBytes: rotates after the batch
  j.close();
  const all = [...lines(join(dir, 'events.1.jsonl')), ...lines(path)];
  assertContiguous(all.map((r) => r.seq));
  const names = all.filter((r) => r.kind === 'event').map((r) => (r as { event: { name: string } }).event.name);
  assert.deepEqual(names, Array.from({ length: 199 }, (_, i) => `file-${i + 1}.txt`));
  const at = (name: string) => all.findIndex((r) => r.kind === 'event' && (r as { event: { name: string } }).event.name === name);
  const snap = all.findIndex((r, i) => r.kind === 'snapshot' && i > 2);
  assert.ok(at('file-3.txt') < snap && snap < at('file-4.txt'), 'writeSnapshot() writes the events appended before it first');
  j.append(ev(999));
  await new Promise((r) => setImmediate(r));
  assert.ok(!readFileSync(path, 'utf8').includes('file-999'), 'nothing after close');
});

test('coalesce: waiting events are written on their own after coalesceMs, or at once when 1000 wait', async () => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  const j = EventStreamWriter.open(dir, { coalesce: true, coalesceMs: 5 });
  j.append(ev(1));
  for (let i = 0; i < 400 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 25));
  assert.deepEqual(lines(path).map((r) => r.kind), ['segment', 'start', 'event']);
  const k = EventStreamWriter.open(tempDir(), { coalesce: true, coalesceMs: 600_000 });
  for (let i = 0; i < 999; i++) k.append(ev(i));
  assert.throws(() => statSync(join(k.dir, 'events.jsonl')));
  k.append(ev(999));
  const recs = lines(join(k.dir, 'events.jsonl'));
  assert.equal(recs.filter((r) => r.kind === 'event').length, 1000);
  assertContiguous(recs.map((r) => r.seq));
  j.close();
  k.close();
});

test('a snapshot of many files is written in pieces and reads back as the same one line', () => {
  const dir = tempDir();
  const files = Array.from({ length: 1234 }, (_, i) => ({ name: `f-${i} "q"\n.bin`, size: i, mtimeMs: i, stage: 'awaiting-approval' as const, firstSeen: 1, changedAt: 2, attempts: 0 }));
  const big = { running: true, approval: 'pending' as const, files, identity: { systemId: 's', fingerprint256: 'AB' } };
  const j = EventStreamWriter.open(dir, { snapshot: () => big });
  j.append(ev(1));
  j.writeSnapshot();
  j.append(ev(2));
  j.close();
  const recs = lines(join(dir, 'events.jsonl'));
  assert.deepEqual(recs.map((r) => r.kind), ['segment', 'snapshot', 'start', 'event', 'snapshot', 'event']);
  assertContiguous(recs.map((r) => r.seq));
  for (const r of recs.filter((x) => x.kind === 'snapshot')) assert.deepEqual((r as { snapshot: unknown }).snapshot, big);
  const empty = tempDir();
  const k = EventStreamWriter.open(empty, { snapshot: () => ({ running: false, approval: 'unknown' as const, files: [] }) });
  k.append(ev(1));
  k.close();
  assert.deepEqual((lines(join(empty, 'events.jsonl'))[1] as { snapshot: unknown }).snapshot, { running: false, approval: 'unknown', files: [] });
});

test('nothing is written before the first record (a run that cannot lock state_dir leaves it alone)', () => {
  const dir = tempDir();
  const j = EventStreamWriter.open(dir, { snapshot });
  j.close();
  assert.throws(() => statSync(join(dir, 'events.jsonl')));
});

test('seq continues across restarts and rotations; rotation keeps one older file', () => {
  const dir = tempDir();
  let j = EventStreamWriter.open(dir, { snapshot, maxBytes: 4096 });
  for (let i = 0; i < 100; i++) j.append(ev(i));
  j.close();
  j = EventStreamWriter.open(dir, { snapshot, maxBytes: 4096 });
  for (let i = 100; i < 200; i++) j.append(ev(i));
  j.close();
  const rotated = lines(join(dir, 'events.1.jsonl'));
  const current = lines(join(dir, 'events.jsonl'));
  assert.ok(statSync(join(dir, 'events.jsonl')).size < 4096 + 200);
  assert.equal(current[0]!.kind, 'segment');
  assert.equal(current[1]!.kind, 'snapshot');
  assertContiguous([...rotated, ...current].map((r) => r.seq));
  assert.equal(lastSeqOf(join(dir, 'events.jsonl')), j.lastSeq);
});

test('a line torn by a crash is ended on the next start and skipped by followers', async () => {
  const dir = tempDir();
  const j = EventStreamWriter.open(dir, { snapshot });
  j.append(ev(1));
  j.close();
  appendFileSync(join(dir, 'events.jsonl'), '{"seq":5,"time":"2024-');
  const j2 = EventStreamWriter.open(dir, { snapshot });
  assert.equal(j2.lastSeq, 4);
  j2.append(ev(2));
  j2.close();
  const c = collector(dir, { start: 'oldest' });
  await c.f.poll();
  assert.deepEqual(c.names, ['file-1.txt', 'file-2.txt']);
  assertContiguous(c.seqs);
});

test('a write failure is reported once and does not throw', () => {
  const dir = tempDir();
  const errors: Error[] = [];
  const j = EventStreamWriter.open(join(dir, 'missing'), { onError: (e) => errors.push(e) });
  j.append(ev(1));
  j.append(ev(2));
  j.close();
  assert.equal(errors.length, 1);
});

test('follower: delivers in order, resumes with no duplicates, handles partial lines', async () => {
  const dir = tempDir();
  const j = EventStreamWriter.open(dir, { snapshot });
  const c = collector(dir);
  assert.equal(await c.f.poll(), 0);
  j.append(ev(1));
  await c.f.poll();
  // A half-written line is not delivered until complete.
  appendFileSync(join(dir, 'events.jsonl'), '{"seq":');
  await c.f.poll();
  assert.deepEqual(c.names, ['file-1.txt']);
  await c.f.poll();
  assert.deepEqual(c.names, ['file-1.txt']);
  j.close();
  // The writer's next start ends the torn line; the follower skips it.
  const j2 = EventStreamWriter.open(dir, { snapshot });
  j2.append(ev(2));
  await c.f.poll();
  assert.deepEqual(c.names, ['file-1.txt', 'file-2.txt']);
  j2.close();
  assertContiguous(c.seqs);

  // A new follower resuming after a seq gets only what follows.
  const resumed = collector(dir, { start: { afterSeq: c.seqs[3]! } });
  await resumed.f.poll();
  assert.equal(resumed.seqs[0], c.seqs[4]);
  assert.deepEqual(resumed.seqs, c.seqs.slice(4));
});

test('follower: rotation between polls, during reads, and several rotations — nothing lost or repeated', async () => {
  const dir = tempDir();
  const j = EventStreamWriter.open(dir, { snapshot, maxBytes: 4096 });
  const c = collector(dir, { start: 'oldest', chunkBytes: 300 });
  let n = 0;
  for (let round = 0; round < 60; round++) {
    const count = 1 + ((round * 7) % 23);
    for (let k = 0; k < count; k++) j.append(ev(n++));
    await c.f.poll();
  }
  await c.f.poll();
  j.close();
  assert.deepEqual(c.names, Array.from({ length: n }, (_, i) => `file-${i}.txt`));
  assertContiguous(c.seqs);
  assert.deepEqual(c.gaps, []);
});

test('follower: a rotation in the middle of a chunked read does not mix files', async () => {
  const dir = tempDir();
  // About 80 lines a file and at most 24 new lines a round: at most one rotation between two
  // reads, which the follower must survive without loss (two would lose lines legitimately).
  const j = EventStreamWriter.open(dir, { snapshot, maxBytes: 8192 });
  let appendOnRead = 0;
  // A reader that makes the writer append (and so rotate) while the follower is reading.
  const reader: EventFileReader = {
    size: (p) => localEventFileReader.size(p),
    async read(p, off, len) {
      const data = await localEventFileReader.read(p, off, len);
      if (appendOnRead > 0) {
        appendOnRead--;
        for (let k = 0; k < 12; k++) j.append(ev(nextName++));
      }
      return data;
    },
  };
  let nextName = 0;
  const c = collector(dir, { start: 'oldest', chunkBytes: 200 }, reader);
  for (let k = 0; k < 10; k++) j.append(ev(nextName++));
  for (let round = 0; round < 80; round++) {
    appendOnRead = 1 + (round % 2);
    await c.f.poll();
  }
  appendOnRead = 0;
  for (let round = 0; round < 5; round++) await c.f.poll();
  j.close();
  assert.deepEqual(c.gaps, []);
  assert.deepEqual(c.names, Array.from({ length: nextName }, (_, i) => `file-${i}.txt`));
  assertContiguous(c.seqs);
});

test('follower: too slow for two rotations reports the gap; state_dir emptied reports a reset', async () => {
  const dir = tempDir();
  let j = EventStreamWriter.open(dir, { snapshot, maxBytes: 4096 });
  const c = collector(dir, { start: 'oldest' });
  j.append(ev(0));
  await c.f.poll();
  for (let k = 1; k < 200; k++) j.append(ev(k));
  await c.f.poll();
  assert.equal(c.gaps.length, 1);
  assertContiguous(c.seqs.slice(c.seqs.indexOf(c.gaps[0]![1] + 1)));
  assert.equal(c.names.at(-1), 'file-199.txt');
  j.close();

  rmSync(join(dir, 'events.jsonl'));
  rmSync(join(dir, 'events.1.jsonl'));
  j = EventStreamWriter.open(dir, { snapshot });
  j.append(ev(1000));
  await c.f.poll();
  await c.f.poll();
  j.close();
  assert.equal(c.resets(), 1);
  assert.equal(c.names.at(-1), 'file-1000.txt');
});

test('follower: starting at the current file begins with its snapshot', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'unrelated'), '');
  const j = EventStreamWriter.open(dir, { snapshot, maxBytes: 4096 });
  for (let k = 0; k < 150; k++) j.append(ev(k));
  j.close();
  const kinds: string[] = [];
  const f = new EventFollower(localEventFileReader, dir, { onRecord: (r) => kinds.push(r.kind) });
  await f.poll();
  assert.deepEqual(kinds.slice(0, 2), ['segment', 'snapshot']);
  assert.equal(f.lastSeq, j.lastSeq);
});

test('coalesce: a file event followed in the same write by a newer one for that file, or its removal, is left out', () => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  const j = EventStreamWriter.open(dir, { coalesce: true, coalesceMs: 600_000 });
  const file = (name: string, stage: 'settling' | 'queued' | 'uploading' | 'submitted', share?: string): EngineEvent => ({
    type: 'file',
    file: { name, stage, size: 1, mtimeMs: 1, firstSeen: 1, changedAt: 1, attempts: 0, ...(share ? { share } : {}) },
  });
  const sent: EngineEvent[] = [
    file('a.txt', 'queued'),
    file('a.txt', 'uploading'),
    file('b.txt', 'queued'),
    file('a.txt', 'uploading', 'partners'),
    file('a.txt', 'submitted'),
    { type: 'file-removed', name: 'b.txt' },
    file('b.txt', 'settling'), // another file under the same name
    { type: 'running', running: true },
  ];
  for (const e of sent) j.append(e);
  j.flush();
  const written = lines(path)
    .filter((r) => r.kind === 'event')
    .map((r) => (r as { event: EngineEvent }).event);
  assert.deepEqual(written, [sent[3], sent[4], sent[5], sent[6], sent[7]]);
  assertContiguous(lines(path).map((r) => r.seq));
  // Without coalescing every event is a line of its own, as before.
  const dir2 = tempDir();
  const k = EventStreamWriter.open(dir2);
  for (const e of sent) k.append(e);
  k.close();
  assert.equal(lines(join(dir2, 'events.jsonl')).filter((r) => r.kind === 'event').length, sent.length);
  j.close();
});
