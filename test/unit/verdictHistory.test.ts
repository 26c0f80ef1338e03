import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FileRecord, RoutedFile } from '../../src/engine/events';
import type { ScanEntry } from '../../src/engine/journal';
import { VerdictHistory } from '../../src/viewModel/verdictHistory';

const file = (over: Partial<FileRecord>): FileRecord => ({ name: 'a.pdf', size: 100, mtimeMs: 1, stage: 'settling', firstSeen: 1, changedAt: 1, attempts: 0, ...over });
const routed = (over: Partial<RoutedFile> = {}): RoutedFile => ({
  name: 'a.pdf', size: 100, sha256: 'ab'.repeat(32), scanId: 's1', verdict: 'detect', rawState: 'detect', destination: 'qrnt', path: '/q/a.pdf', submittedAt: 1000, routedAt: 4500, ...over,
});

test('a file followed from input to quarantine becomes one row keyed by its scanId, with every state change', () => {
  const h = new VerdictHistory({ threatOf: (sha) => (sha === 'ab'.repeat(32) ? 'EICAR-Test-File' : undefined) });
  h.onEngineEvent({ type: 'file', file: file({ stage: 'settling', changedAt: 10 }) });
  assert.equal(h.rows()[0]!.id, 'in:default/a.pdf');
  assert.equal(h.rows()[0]!.stage, 'settling');
  h.onEngineEvent({ type: 'file', file: file({ stage: 'queued', changedAt: 20 }) });
  h.onEngineEvent({ type: 'file', file: file({ stage: 'uploading', changedAt: 30, scanId: 's1' }) });
  h.onEngineEvent({ type: 'file', file: file({ stage: 'submitted', changedAt: 1000, scanId: 's1', submittedAt: 1000, sha256: 'ab'.repeat(32) }) });
  h.onEngineEvent({ type: 'routed', file: routed() });
  h.onEngineEvent({ type: 'file-removed', name: 'a.pdf' });
  assert.equal(h.size, 1);
  const r = h.rows()[0]!;
  assert.deepEqual(r, { id: 's1', time: 4500, share: 'default', name: 'a.pdf', size: 100, sha256: 'ab'.repeat(32), verdict: 'detect', durationMs: 3500, destination: 'qrnt', threat: 'EICAR-Test-File' });
  const d = h.details('s1')!;
  assert.deepEqual(d.changes.map((c) => c.state), ['settling', 'queued', 'uploading', 'submitted', 'routed']);
  assert.equal(d.scanId, 's1');
  assert.equal(d.path, '/q/a.pdf');
  assert.equal(d.rawState, 'detect');
  h.dispose();
});

test('changes are batched: takeChanges reports upserts and removals once', () => {
  const h = new VerdictHistory();
  h.onEngineEvent({ type: 'file', file: file({ stage: 'uploading', name: 'x' }) });
  h.onEngineEvent({ type: 'file', file: file({ stage: 'excluded', name: 'y' }) });
  let c = h.takeChanges();
  assert.deepEqual(c.upserted.map((r) => r.id).sort(), ['in:default/x', 'in:default/y']);
  h.onEngineEvent({ type: 'file', file: file({ stage: 'submitted', name: 'x', scanId: 'sx' }) });
  h.onEngineEvent({ type: 'file-removed', name: 'y' }); // never sent to KATA: dropped
  c = h.takeChanges();
  assert.deepEqual(c.upserted.map((r) => r.id), ['sx']);
  assert.deepEqual(c.removed.sort(), ['in:default/x', 'in:default/y']);
  assert.deepEqual(h.takeChanges(), { upserted: [], removed: [] });
  h.dispose();
});

test('the listener hears of changes, coalesced', async () => {
  const h = new VerdictHistory({ coalesceMs: 10 });
  let calls = 0;
  h.onChange(() => calls++);
  for (let i = 0; i < 100; i++) h.onEngineEvent({ type: 'file', file: file({ name: `f${i}` }) });
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(calls, 1);
  h.dispose();
});

test('journal finished scans become rows; live rows win; abandoned ones have no verdict', () => {
  const entries: ScanEntry[] = [
    { scanId: 'j1', share: 'default', name: 'old.doc', size: 5, mtimeMs: 0, ino: 1, intentAt: 100, sha256: 'cd'.repeat(32), submittedAt: 200, state: 'not detected', verdictAt: 1200, destination: 'out', placedPath: '/o/old.doc', outcome: 'routed', doneAt: 1300 },
    { scanId: 'j2', share: 'default', name: 'gone.doc', size: 6, mtimeMs: 0, ino: 2, intentAt: 50, outcome: 'abandoned', doneAt: 60 },
    { scanId: 'live', share: 'default', name: 'b', size: 1, mtimeMs: 0, ino: 3, intentAt: 1, outcome: 'routed', doneAt: 2 },
    { scanId: 'j3', share: 'default', name: 'open', size: 1, mtimeMs: 0, ino: 4, intentAt: 1 },
  ];
  const h = new VerdictHistory();
  h.onEngineEvent({ type: 'routed', file: routed({ scanId: 'live', name: 'b', verdict: 'error', rawState: 'error' }) });
  h.loadJournal(entries);
  assert.equal(h.size, 3);
  assert.deepEqual(h.rows().map((r) => r.id), ['live', 'j2', 'j1']);
  const j1 = h.row('j1')!;
  assert.deepEqual(j1, { id: 'j1', time: 1200, share: 'default', name: 'old.doc', size: 5, sha256: 'cd'.repeat(32), verdict: 'not detected', stage: undefined, durationMs: 1000, destination: 'out', threat: undefined });
  assert.deepEqual(h.details('j1')!.changes.map((c) => [c.state, c.at]), [['intent', 100], ['submitted', 200], ['verdict', 1200], ['done', 1300]]);
  assert.equal(h.row('j2')!.verdict, undefined);
  assert.equal(h.row('j2')!.stage, 'abandoned');
  assert.equal(h.row('live')!.verdict, 'error');
  h.clear();
  assert.equal(h.size, 0);
  h.dispose();
});

test('threat names arrive later and update rows', () => {
  const h = new VerdictHistory();
  h.onEngineEvent({ type: 'routed', file: routed() });
  h.onEngineEvent({ type: 'routed', file: routed({ scanId: 's2', name: 'clean', verdict: 'not detected', sha256: 'ee'.repeat(32), destination: 'out' }) });
  h.takeChanges();
  assert.equal(h.row('s1')!.threat, undefined);
  h.setThreatLookup(() => 'Trojan.X');
  assert.equal(h.row('s1')!.threat, 'Trojan.X');
  assert.equal(h.row('s2')!.threat, undefined, 'clean files get no threat name');
  assert.deepEqual(h.takeChanges().upserted.map((r) => r.id), ['s1']);
  h.dispose();
});

test('log lines are kept per file name in a bounded ring', () => {
  const h = new VerdictHistory({ maxLogLinesPerFile: 3, maxLoggedFiles: 2 });
  h.onEngineEvent({ type: 'routed', file: routed() });
  for (let i = 0; i < 5; i++) h.onLogRecord({ time: `t${i}`, level: 'info', event: 'submitted', msg: `line ${i}`, file: 'a.pdf' });
  h.onLogRecord({ time: 't', level: 'info', event: 'started', msg: 'no file' });
  const lines = h.details('s1')!.logLines;
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /line 2/);
  assert.match(lines[2]!, /line 4.*file=a\.pdf/);
  h.onLogRecord({ time: 't', level: 'info', event: 'x', msg: 'm', file: 'b' });
  h.onLogRecord({ time: 't', level: 'info', event: 'x', msg: 'm', file: 'c' });
  assert.deepEqual(h.details('s1')!.logLines, [], 'the least recently logged file is forgotten');
  h.dispose();
});

test('rows are bounded: the oldest are forgotten first', () => {
  const h = new VerdictHistory({ maxRows: 3 });
  for (let i = 0; i < 5; i++) h.onEngineEvent({ type: 'routed', file: routed({ scanId: `s${i}`, name: `f${i}` }) });
  assert.deepEqual(h.rows().map((r) => r.id), ['s2', 's3', 's4']);
  assert.deepEqual(h.takeChanges().removed, ['s0', 's1']);
  h.dispose();
});

test('a new version of a file after its verdict becomes a new row', () => {
  const h = new VerdictHistory();
  h.onEngineEvent({ type: 'file', file: file({ stage: 'submitted', scanId: 's1' }) });
  h.onEngineEvent({ type: 'routed', file: routed() });
  h.onEngineEvent({ type: 'file', file: file({ stage: 'settling', changedAt: 9000 }) });
  assert.deepEqual(h.rows().map((r) => r.id), ['s1', 'in:default/a.pdf']);
  assert.equal(h.details('unknown'), undefined);
  h.dispose();
});

test('item 11: after a release or a deletion the row no longer says "quarantine" (the quarantine audit)', () => {
  const h = new VerdictHistory({ coalesceMs: 0 });
  h.onEngineEvent({ type: 'routed', file: routed({ scanId: 'r1', name: 'eicar.com', sha256: 'AA'.repeat(32), routedAt: 5000 }) });
  h.onEngineEvent({ type: 'routed', file: routed({ scanId: 'r2', name: 'other.com', sha256: 'bb'.repeat(32), routedAt: 5000 }) });
  assert.equal(h.row('r1')!.destination, 'qrnt');
  h.takeChanges();
  const release = { time: new Date(9000).toISOString(), user: 'alice', action: 'release' as const, file: 'eicar.com', sha256: 'aa'.repeat(32), to: '/o/eicar.com' };
  const del = { time: new Date(9500).toISOString(), user: 'bob', action: 'delete' as const, file: 'other.com', sha256: 'bb'.repeat(32) };
  h.applyQuarantineAudit([release, del]);
  assert.equal(h.row('r1')!.destination, 'released');
  assert.equal(h.details('r1')!.path, '/o/eicar.com');
  assert.deepEqual(h.details('r1')!.changes.at(-1), { at: 9000, state: 'released', detail: 'alice' });
  assert.equal(h.row('r2')!.destination, 'deleted');
  assert.equal(h.details('r2')!.path, undefined);
  assert.deepEqual(h.takeChanges().upserted.map((r) => r.id).sort(), ['r1', 'r2']);
  // The audit is read again after every folder change: records already applied change nothing.
  h.applyQuarantineAudit([release, del]);
  assert.deepEqual(h.takeChanges().upserted, []);
  // A newer version routed to quarantine after the release is not touched by it.
  h.onEngineEvent({ type: 'routed', file: routed({ scanId: 'r3', name: 'eicar.com', sha256: 'aa'.repeat(32), routedAt: 12000 }) });
  h.applyQuarantineAudit([release]);
  assert.equal(h.row('r3')!.destination, 'qrnt');
  h.dispose();
});

test("a name in two shares is two rows: each share's events, log lines and audit records reach only its own", () => {
  const h = new VerdictHistory({ coalesceMs: 1000 });
  h.onEngineEvent({ type: 'file', file: file({ share: 'hr', name: 'x.doc', stage: 'queued' }) });
  h.onEngineEvent({ type: 'file', file: file({ share: 'fin', name: 'x.doc', stage: 'excluded' }) });
  assert.deepEqual(h.rows().map((r) => [r.id, r.share, r.stage]), [
    ['in:hr/x.doc', 'hr', 'queued'],
    ['in:fin/x.doc', 'fin', 'excluded'],
  ]);
  h.onEngineEvent({ type: 'file', file: file({ share: 'hr', name: 'x.doc', stage: 'submitted', scanId: 'h1' }) });
  h.onLogRecord({ time: 't', level: 'info', event: 'submitted', msg: 'sent to KATA', file: 'x.doc', share: 'hr' });
  h.onLogRecord({ time: 't', level: 'info', event: 'excluded', msg: 'matches', file: 'x.doc', share: 'fin' });
  h.onEngineEvent({ type: 'routed', file: routed({ share: 'hr', name: 'x.doc', scanId: 'h1', sha256: 'cd'.repeat(32) }) });
  // fin's file leaving input does not touch hr's row.
  h.onEngineEvent({ type: 'file-removed', share: 'fin', name: 'x.doc' });
  assert.deepEqual(h.rows().map((r) => [r.id, r.share, r.verdict]), [['h1', 'hr', 'detect']]);
  assert.deepEqual(h.details('h1')!.logLines.map((l) => l.includes('sent to KATA')), [true]);
  assert.equal(h.details('h1')!.share, 'hr');
  // A release from another share's quarantine (same name, same bytes) is not this row's.
  h.applyQuarantineAudit([{ time: new Date(9000).toISOString(), user: 'u', action: 'release', share: 'fin', file: 'x.doc', sha256: 'cd'.repeat(32) }]);
  assert.equal(h.row('h1')!.destination, 'qrnt');
  h.applyQuarantineAudit([{ time: new Date(9000).toISOString(), user: 'u', action: 'release', share: 'hr', file: 'x.doc', sha256: 'cd'.repeat(32) }]);
  assert.equal(h.row('h1')!.destination, 'released');
  h.dispose();
});
