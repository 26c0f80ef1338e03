import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultIcapLogViewFilter, maxPathLength, maxSearchLength, maxTimeInputLength, parseIcapLogRequest, parseIcapLogViewFilter } from '../../src/webviewProtocol/icapLog';

const filter = { mode: 'blocking_advanced', verdictOnly: true, text: 'eicar', regex: false, matchCase: false, timeFrom: '2024-05-01', timeTo: '' };

test('every request type is accepted and copied into a fresh object', () => {
  const ok: unknown[] = [
    { type: 'ready' },
    { type: 'openFile' },
    { type: 'copyGrep' },
    { type: 'cancelSearch' },
    { type: 'view', path: '/var/log/x.log', filter, follow: true },
    { type: 'view', path: '', filter: defaultIcapLogViewFilter, follow: false },
    { type: 'filter', filter },
    { type: 'follow', on: false },
    { type: 'pageBefore', epoch: 3, cursor: 123456789012 },
    { type: 'pageBefore', epoch: 0, cursor: 0 },
  ];
  for (const m of ok) {
    const parsed = parseIcapLogRequest(m);
    assert.deepEqual(parsed, m);
    assert.notEqual(parsed, m);
  }
  const f = parseIcapLogRequest({ type: 'filter', filter }) as { filter: object };
  assert.notEqual(f.filter, filter);
});

test('malformed requests are rejected', () => {
  const bad: unknown[] = [
    undefined, null, 'ready', [], {}, { type: 'nope' }, { type: 'ready', extra: 1 }, { type: 'openFile', path: '/etc/passwd' }, { type: 'cancelSearch', epoch: 1 },
    { type: 'follow' }, { type: 'follow', on: 'yes' },
    { type: 'pageBefore', epoch: 1 }, { type: 'pageBefore', epoch: 1, cursor: -1 }, { type: 'pageBefore', epoch: 1, cursor: 1.5 },
    { type: 'pageBefore', epoch: 1, cursor: '10' }, { type: 'pageBefore', epoch: 1, cursor: Number.MAX_SAFE_INTEGER + 2 }, { type: 'pageBefore', epoch: -1, cursor: 0 },
    { type: 'pageBefore', epoch: 1, cursor: NaN }, { type: 'pageBefore', epoch: 1, cursor: Infinity },
    { type: 'view', path: '/x', filter, follow: 1 }, { type: 'view', path: 7, filter, follow: true }, { type: 'view', path: '/x', follow: true },
    { type: 'view', path: 'x'.repeat(maxPathLength + 1), filter, follow: true }, { type: 'view', path: '/a\0b', filter, follow: true },
    { type: 'filter' }, { type: 'filter', filter: null }, { type: 'filter', filter, more: true },
  ];
  for (const m of bad) assert.equal(parseIcapLogRequest(m), undefined, JSON.stringify(m));
});

test('filters: every field checked, lengths bounded', () => {
  assert.deepEqual(parseIcapLogViewFilter(filter), filter);
  const variants: Array<Record<string, unknown>> = [
    { mode: 'extended' }, { mode: undefined }, { verdictOnly: 'true' }, { regex: 1 }, { matchCase: null },
    { text: 1 }, { text: 'x'.repeat(maxSearchLength + 1) }, { timeFrom: 'x'.repeat(maxTimeInputLength + 1) }, { timeTo: 5 }, { extra: '' },
  ];
  for (const v of variants) assert.equal(parseIcapLogViewFilter({ ...filter, ...v }), undefined, JSON.stringify(v));
  const { timeTo: _drop, ...missing } = filter;
  assert.equal(parseIcapLogViewFilter(missing), undefined);
  assert.ok(parseIcapLogViewFilter({ ...filter, text: 'x'.repeat(maxSearchLength) }));
});
