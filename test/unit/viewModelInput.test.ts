import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FileRecord, FileStage } from '../../src/engine/events';
import { InputFolderModel } from '../../src/viewModel/inputFolderModel';
import { FakeEngineSource } from '../helpers/fakeEngineSource';


function rec(name: string, mtimeMs: number, stage: FileStage = 'queued', extra: Partial<FileRecord> = {}): FileRecord {
  return { name, size: 10, mtimeMs, stage, firstSeen: mtimeMs, changedAt: mtimeMs, attempts: 0, ...extra };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('starts from the snapshot and lists newest first with full paths', () => {
  const src = new FakeEngineSource({ running: true, approval: 'approved', files: [rec('old.txt', 1000), rec('new.txt', 3000, 'submitted', { scanId: 's1', reason: 'x' })] });
  const m = new InputFolderModel(src, '/data/in');
  assert.deepEqual(m.items().map((i) => i.name), ['new.txt', 'old.txt']);
  const item = m.get('new.txt')!;
  assert.equal(item.folder, 'in');
  assert.equal(item.path, '/data/in/new.txt');
  assert.equal(item.stage, 'submitted');
  assert.equal(item.scanId, 's1');
  assert.equal(item.stageReason, 'x');
  m.dispose();
});

test('file, file-removed and routed events update it; ignored names are not shown', () => {
  const src = new FakeEngineSource();
  const m = new InputFolderModel(src, '/in');
  src.emit({ type: 'file', file: rec('a', 1) });
  src.emit({ type: 'file', file: rec('b', 2) });
  src.emit({ type: 'file', file: rec('c', 3) });
  src.emit({ type: 'ignored', name: 'dir', kind: 'directory' });
  assert.deepEqual(m.items().map((i) => i.name), ['c', 'b', 'a']);
  src.emit({ type: 'file', file: rec('a', 5, 'uploading') });
  assert.deepEqual(m.items().map((i) => i.name), ['a', 'c', 'b']);
  assert.equal(m.get('a')!.stage, 'uploading');
  src.emit({ type: 'file-removed', name: 'b' });
  src.emit({
    type: 'routed',
    file: { name: 'c', size: 10, sha256: 'x', scanId: 's', verdict: 'not detected', rawState: 'not detected', destination: 'out', path: '/out/c', submittedAt: 1, routedAt: 2 },
  });
  assert.deepEqual(m.items().map((i) => i.name), ['a']);
  assert.equal(m.get('dir'), undefined);
  m.dispose();
});

test('items() is cached until something changes, and unchanged items keep their identity', () => {
  const src = new FakeEngineSource({ running: true, approval: 'approved', files: [rec('a', 1), rec('b', 2)] });
  const m = new InputFolderModel(src, '/in');
  const first = m.items();
  assert.equal(m.items(), first);
  src.emit({ type: 'running', running: false });
  assert.equal(m.items(), first, 'an event that is not about files does not invalidate');
  src.emit({ type: 'file', file: rec('a', 1, 'uploading') });
  const second = m.items();
  assert.notEqual(second, first);
  assert.equal(second.find((i) => i.name === 'b'), first.find((i) => i.name === 'b'));
  m.dispose();
});

test('onChange is coalesced: a burst of events gives one call', async () => {
  const src = new FakeEngineSource();
  const m = new InputFolderModel(src, '/in', { coalesceMs: 300 });
  let calls = 0;
  m.onChange(() => calls++);
  for (let i = 0; i < 1000; i++) src.emit({ type: 'file', file: rec(`f${i}`, i) });
  assert.equal(calls, 0, 'never called from inside the engine dispatch');
  await sleep(30);
  assert.equal(calls, 1);
  src.emit({ type: 'file-removed', name: 'f1' });
  src.emit({ type: 'file-removed', name: 'f2' });
  await sleep(10);
  assert.equal(calls, 1, 'a second call waits for the interval');
  await sleep(400);
  assert.equal(calls, 2);
  assert.equal(m.items().length, 998);
  src.emit({ type: 'file-removed', name: 'not-there' });
  await sleep(400);
  assert.equal(calls, 2, 'removing an unknown name is no change');
  m.dispose();
});

test('dispose unsubscribes and silences listeners', async () => {
  const src = new FakeEngineSource();
  const m = new InputFolderModel(src, '/in', { coalesceMs: 10 });
  let calls = 0;
  m.onChange(() => calls++);
  src.emit({ type: 'file', file: rec('a', 1) });
  m.dispose();
  assert.equal(src.listeners.size, 0);
  await sleep(30);
  assert.equal(calls, 0);
});

test('10 000 files: events are O(1) and one items() call sorts them', () => {
  const src = new FakeEngineSource();
  const m = new InputFolderModel(src, '/in');
  for (let i = 0; i < 10_000; i++) src.emit({ type: 'file', file: rec(`f${i}`, i) });
  for (let i = 0; i < 10_000; i++) src.emit({ type: 'file', file: rec(`f${i}`, i, 'submitted') });
  const items = m.items();
  assert.equal(items.length, 10_000);
  assert.equal(items[0]!.name, 'f9999');
  assert.equal(items[9999]!.stage, 'submitted');
  m.dispose();
});
