import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ConfigEditorRequest, maxInputLength, maxRestoreKeys, parseConfigEditorRequest } from '../../src/webviewProtocol/configEditor';

const SHA = 'a'.repeat(64);

test('parseConfigEditorRequest accepts every request type', () => {
  const valid: ConfigEditorRequest[] = [
    { type: 'ready' },
    { type: 'edit', key: 'poll_interval_s', value: '10' },
    { type: 'edit', key: 'insecure', value: true },
    { type: 'edit', key: 'in_dir', value: '' },
    { type: 'edit', key: 'in_dir', value: 'x'.repeat(maxInputLength) },
    { type: 'browse', key: 'qrnt_dir' },
    { type: 'save' },
    { type: 'overwrite' },
    { type: 'reload' },
    { type: 'test' },
    { type: 'openAsText' },
    { type: 'restore', inputs: { poll_interval_s: '7', insecure: false }, baseSha256: SHA },
    { type: 'restore', inputs: {}, baseSha256: '' },
  ];
  for (const m of valid) assert.deepEqual(parseConfigEditorRequest(JSON.parse(JSON.stringify(m))), m, JSON.stringify(m));
});

test('parseConfigEditorRequest returns a fresh copy', () => {
  const raw = { type: 'restore', inputs: { in_dir: '/x' }, baseSha256: '' };
  const parsed = parseConfigEditorRequest(raw);
  assert.ok(parsed && parsed.type === 'restore');
  assert.notEqual(parsed.inputs, raw.inputs);
});

test('parseConfigEditorRequest rejects malformed messages', () => {
  const many = Object.fromEntries(Array.from({ length: maxRestoreKeys + 1 }, (_, i) => [`k${i}`, 'v']));
  const invalid: unknown[] = [
    undefined, null, 42, 'save', [], [{ type: 'save' }], {},
    { type: 'unknown' }, { type: 'SAVE' }, { type: 'save', force: true }, { type: 'ready', draft: {} },
    { type: 'overwrite', path: '/etc/passwd' }, { type: 'openAsText', path: '/etc/passwd' },
    { type: 'edit' }, { type: 'edit', key: 'in_dir' }, { type: 'edit', value: 'x' },
    { type: 'edit', key: 'in_dir', value: 5 }, { type: 'edit', key: 'in_dir', value: null }, { type: 'edit', key: 'in_dir', value: ['x'] },
    { type: 'edit', key: 'in_dir', value: 'x'.repeat(maxInputLength + 1) },
    { type: 'edit', key: '__proto__', value: 'x' }, { type: 'edit', key: 'In_Dir', value: 'x' }, { type: 'edit', key: '', value: 'x' },
    { type: 'edit', key: 'k'.repeat(65), value: 'x' }, { type: 'edit', key: 'in_dir', value: 'x', extra: 1 },
    { type: 'browse' }, { type: 'browse', key: 7 }, { type: 'browse', key: '../x' }, { type: 'browse', key: 'in_dir', canSelectFiles: true },
    { type: 'restore' }, { type: 'restore', inputs: {} }, { type: 'restore', baseSha256: '' },
    { type: 'restore', inputs: [], baseSha256: '' }, { type: 'restore', inputs: { in_dir: 1 }, baseSha256: '' },
    { type: 'restore', inputs: { 'Bad Key': 'x' }, baseSha256: '' }, { type: 'restore', inputs: {}, baseSha256: 'xyz' },
    { type: 'restore', inputs: {}, baseSha256: SHA.toUpperCase() }, { type: 'restore', inputs: many, baseSha256: '' },
    { type: 'restore', inputs: {}, baseSha256: '', more: 1 },
  ];
  for (const m of invalid) assert.equal(parseConfigEditorRequest(m), undefined, JSON.stringify(m) ?? String(m));
});
