import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasOnlyKeys, isBoundedString, isIntegerIn, isOneOf, isRecord, messageOf } from '../../src/webviewProtocol/protocolGuards';
import { type VerdictsRequest, maxIdLength, parseVerdictsRequest, verdictActions, verdictsStringIds } from '../../src/webviewProtocol/verdicts';
import { countVerdicts, queryVerdictRows, verdictBuckets, type VerdictRow } from '../../src/webviewProtocol/verdictsQuery';

test('protocol guards', () => {
  assert.equal(isRecord({}), true);
  assert.equal(isRecord([]), false);
  assert.equal(isRecord(null), false);
  assert.equal(isBoundedString('abc', 3), true);
  assert.equal(isBoundedString('abcd', 3), false);
  assert.equal(isBoundedString('', 3, 1), false);
  assert.equal(isBoundedString(3), false);
  assert.equal(isOneOf('a', ['a', 'b']), true);
  assert.equal(isOneOf('c', ['a', 'b']), false);
  assert.equal(isIntegerIn(2, 0, 5), true);
  assert.equal(isIntegerIn(2.5, 0, 5), false);
  assert.equal(isIntegerIn(9, 0, 5), false);
  assert.equal(hasOnlyKeys({ a: 1 }, ['a', 'b']), true);
  assert.equal(hasOnlyKeys({ a: 1, c: 2 }, ['a', 'b']), false);
  assert.equal(messageOf({ type: 'x' }, ['x'])?.type, 'x');
  assert.equal(messageOf({ type: 'y' }, ['x']), undefined);
  assert.equal(messageOf('x', ['x']), undefined);
});

test('parseVerdictsRequest accepts every request type', () => {
  const valid: VerdictsRequest[] = [
    { type: 'ready' },
    { type: 'details', id: '4f1c2a9e-0000-4000-8000-000000000001' },
    { type: 'details', id: 'in:report (1).pdf' },
    ...verdictActions.map((action) => ({ type: 'action' as const, action, id: 'scan-1' })),
  ];
  for (const m of valid) assert.deepEqual(parseVerdictsRequest(JSON.parse(JSON.stringify(m))), m, JSON.stringify(m));
  assert.deepEqual(parseVerdictsRequest({ type: 'details', id: 'x'.repeat(maxIdLength) }), { type: 'details', id: 'x'.repeat(maxIdLength) });
});

test('parseVerdictsRequest rejects malformed messages', () => {
  const invalid: unknown[] = [
    undefined,
    null,
    42,
    'ready',
    [],
    [{ type: 'ready' }],
    {},
    { type: 'unknown' },
    { type: 'READY' },
    { type: 'ready', extra: 1 },
    { type: 'details' },
    { type: 'details', id: 7 },
    { type: 'details', id: '' },
    { type: 'details', id: 'x'.repeat(maxIdLength + 1) },
    { type: 'details', id: 'a', more: true },
    { type: 'action', id: 'a' },
    { type: 'action', action: 'delete', id: 'a' },
    { type: 'action', action: 'release' },
    { type: 'action', action: 'release', id: ['a'] },
    { type: 'action', action: 'release', id: 'a', command: 'workbench.action.terminal.new' },
    { type: 'action', action: { toString: () => 'release' }, id: 'a' },
    { type: 'action', action: 'release', id: 'x'.repeat(1_000_000) },
  ];
  for (const m of invalid) assert.equal(parseVerdictsRequest(m), undefined, JSON.stringify(m)?.slice(0, 80));
});

test('parseVerdictsRequest returns a fresh object with only the known fields', () => {
  const raw = { type: 'details', id: 'a' };
  const parsed = parseVerdictsRequest(raw);
  assert.notEqual(parsed, raw);
  assert.deepEqual(Object.keys(parsed!), ['type', 'id']);
});

test('the strings table has unique ids', () => {
  assert.equal(new Set(verdictsStringIds).size, verdictsStringIds.length);
});

const row = (id: string, over: Partial<VerdictRow> = {}): VerdictRow => ({ id, time: 0, name: id, size: 1, ...over });

test('queryVerdictRows filters by verdict and text and sorts by any column', () => {
  const rows = [
    row('a', { time: 3, name: 'Beta.pdf', size: 30, verdict: 'detect', threat: 'EICAR-Test-File', sha256: 'ab'.repeat(32), durationMs: 5 }),
    row('b', { time: 2, name: 'alpha.txt', size: 10, verdict: 'not detected', sha256: 'cd'.repeat(32), durationMs: 9 }),
    row('c', { time: 1, name: 'gamma.bin', size: 20, stage: 'uploading' }),
  ];
  const q = { verdicts: [], text: '', sort: 'time' as const, descending: true };
  assert.deepEqual(queryVerdictRows(rows, q).map((r) => r.id), ['a', 'b', 'c']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, sort: 'name', descending: false }).map((r) => r.id), ['b', 'a', 'c']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, sort: 'size', descending: false }).map((r) => r.id), ['b', 'c', 'a']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, sort: 'duration', descending: true }).map((r) => r.id), ['b', 'a', 'c']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, sort: 'verdict', descending: false }).map((r) => r.id), ['a', 'b', 'c']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, verdicts: ['pending'] }).map((r) => r.id), ['c']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, verdicts: ['detect', 'not detected'] }).map((r) => r.id), ['a', 'b']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, text: 'eicar' }).map((r) => r.id), ['a']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, text: 'CDCD' }).map((r) => r.id), ['b']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, text: ' ALPHA ' }).map((r) => r.id), ['b']);
  for (const sort of ['sha256', 'threat', 'destination'] as const) assert.equal(queryVerdictRows(rows, { ...q, sort }).length, 3);
});

test('queryVerdictRows filters and sorts by share; a row without a share is the share default', () => {
  const rows = [row('a', { time: 3, share: 'hr' }), row('b', { time: 2, share: 'fin' }), row('c', { time: 1 }), row('d', { time: 0, share: 'default' })];
  const q = { verdicts: [], text: '', sort: 'time' as const, descending: true };
  assert.deepEqual(queryVerdictRows(rows, { ...q, shares: ['hr'] }).map((r) => r.id), ['a']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, shares: ['default'] }).map((r) => r.id), ['c', 'd']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, shares: [] }).map((r) => r.id), ['a', 'b', 'c', 'd']);
  assert.deepEqual(queryVerdictRows(rows, { ...q, sort: 'share', descending: false }).map((r) => r.id), ['c', 'd', 'b', 'a']);
});

test('countVerdicts and verdictBuckets', () => {
  const hour = 3_600_000;
  const rows = [row('a', { time: 10 * hour + 5, verdict: 'detect' }), row('b', { time: 10 * hour + 9, verdict: 'detect' }), row('c', { time: 8 * hour, verdict: 'not detected' }), row('d', { time: 11 * hour })];
  assert.deepEqual(countVerdicts(rows), { 'not detected': 1, detect: 2, error: 0, timeout: 0, unknown: 0, pending: 1 });
  const b = verdictBuckets(rows, hour, 4);
  assert.deepEqual(b.map((x) => x.start), [7 * hour, 8 * hour, 9 * hour, 10 * hour]);
  assert.deepEqual(b.map((x) => x.counts.detect), [0, 0, 0, 2]);
  assert.deepEqual(b.map((x) => x.counts['not detected']), [0, 1, 0, 0]);
  assert.deepEqual(verdictBuckets([row('x')]), []);
});
