import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormSession, formFieldInfos, formGroupInfos, toInput } from '../../src/configEditor/formSession';
import { fingerprintText } from '../../src/configEditor/fileWatch';

const FILE = '/opt/kds/kata_dir_scanner.conf';
const SID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const TEXT = JSON.stringify({ in_dir: '/mnt/in/', out_dir: '/mnt/out/', qrnt_dir: '/mnt/qrnt/', cert_pem: 'cert.pem', cert_key: 'server.key', kata_cn_addr: 'kata.local', system_id: SID, x_note: { a: 1 } }, null, 2) + '\n';
const fp = (text: string) => ({ mtimeMs: 1, ...fingerprintText(text) });

function open(text: string | undefined): FormSession {
  const s = new FormSession(FILE);
  s.load(text, text === undefined ? undefined : fp(text));
  return s;
}

test('a loaded file: inputs for every field, unknown keys listed, clean and valid', () => {
  const s = open(TEXT);
  const st = s.state(true);
  assert.equal(st.inputs.in_dir, '/mnt/in/');
  assert.equal(st.inputs.poll_interval_s, '');
  assert.equal(st.inputs.insecure, false);
  assert.deepEqual(st.unknown, [{ key: 'x_note', json: '{"a":1}' }]);
  assert.equal(st.dirty, false);
  assert.equal(st.isNew, false);
  assert.deepEqual(st.errors, {});
  assert.equal(st.baseSha256, fingerprintText(TEXT).sha256);
});

test('an edit is validated with the engine messages and rendered with unknown keys kept', () => {
  const s = open(TEXT);
  assert.equal(s.edit('poll_interval_s', '12a'), true);
  let st = s.state(false);
  assert.equal(st.dirty, true);
  assert.equal(st.inputs.poll_interval_s, '12a');
  assert.match(st.errors.poll_interval_s ?? '', /poll_interval_s/);
  s.edit('poll_interval_s', '12');
  st = s.state(false);
  assert.deepEqual(st.errors, {});
  const out = JSON.parse(s.render()) as Record<string, unknown>;
  assert.equal(out.poll_interval_s, 12);
  assert.deepEqual(out.x_note, { a: 1 });
  assert.deepEqual(Object.keys(out).slice(0, 8), ['in_dir', 'out_dir', 'qrnt_dir', 'cert_pem', 'cert_key', 'kata_cn_addr', 'system_id', 'x_note']);
  // Back to the file's value: clean again.
  s.edit('poll_interval_s', '');
  assert.equal(s.state(false).dirty, false);
});

test('edits of unknown keys or of the wrong type are refused', () => {
  const s = open(TEXT);
  assert.equal(s.edit('x_note', 'x'), false);
  assert.equal(s.edit('nope', 'x'), false);
  assert.equal(s.edit('insecure', 'true'), false);
  assert.equal(s.edit('in_dir', true), false);
  assert.equal(s.state(false).dirty, false);
});

test('checkbox and tristate values', () => {
  const s = open(TEXT);
  s.edit('insecure', true);
  assert.equal(JSON.parse(s.render()).insecure, true);
  s.edit('insecure', false);
  assert.equal('insecure' in JSON.parse(s.render()), false, 'a checkbox back at its default is not written');
  s.edit('use_polling', 'true');
  assert.equal(JSON.parse(s.render()).use_polling, true);
  s.edit('use_polling', '');
  assert.equal('use_polling' in JSON.parse(s.render()), false);
  assert.equal(toInput({ kind: 'tristate' }, false), 'false');
});

test('a missing file starts from the original template and is dirty (Save creates it)', () => {
  const s = open(undefined);
  const st = s.state(true);
  assert.equal(st.isNew, true);
  assert.equal(st.dirty, true);
  assert.equal(st.inputs.in_dir, '/mnt/in/');
  assert.equal(st.baseSha256, '');
  assert.ok(st.errors.system_id, 'the template has an empty system_id');
});

test('broken JSON: parse error with line and column, no edits accepted', () => {
  const s = open('{\n  "in_dir": "/mnt/in/",\n  oops\n}');
  const st = s.state(true);
  assert.equal(st.parseError?.line, 3);
  assert.ok((st.parseError?.column ?? 0) >= 1);
  assert.equal(s.edit('in_dir', '/x'), false);
});

test('restore re-applies only differing inputs and flags a file that changed meanwhile', () => {
  const s = open(TEXT);
  const inputs = { ...s.state(true).inputs, poll_interval_s: '9' };
  assert.equal(s.restore(inputs, fingerprintText(TEXT).sha256), 1);
  assert.equal(s.state(false).changedOnDisk, false);
  assert.equal(JSON.parse(s.render()).poll_interval_s, 9);
  const t = open(TEXT);
  assert.equal(t.restore({ poll_interval_s: '9' }, 'b'.repeat(64)), 1);
  assert.equal(t.state(false).changedOnDisk, true);
  const u = open(TEXT);
  assert.equal(u.restore({ in_dir: '/mnt/in/' }, 'b'.repeat(64)), 0);
  assert.equal(u.state(false).changedOnDisk, false);
});

test('saved(): the written text becomes the loaded file', () => {
  const s = open(TEXT);
  s.edit('poll_interval_s', '30');
  const text = s.render();
  s.saved(text, fp(text));
  const st = s.state(true);
  assert.equal(st.dirty, false);
  assert.equal(st.inputs.poll_interval_s, '30');
  assert.equal(st.baseSha256, fingerprintText(text).sha256);
});

test('picked paths: relative when the field held a relative path, else absolute', () => {
  const s = open(TEXT);
  assert.equal(s.pickedPath('cert_pem', '/opt/kds/certs/c.pem'), 'certs/c.pem');
  assert.equal(s.pickedPath('in_dir', '/srv/in'), '/srv/in');
  s.edit('state_dir', '');
  assert.equal(s.pickedPath('state_dir', '/srv/state'), '/srv/state');
});

test('field and group infos for the webview', () => {
  const fields = formFieldInfos();
  const use = fields.find((f) => f.key === 'use_polling');
  assert.deepEqual(use?.options, ['auto', 'true', 'false']);
  assert.equal(use?.placeholder, 'auto');
  assert.equal(fields.find((f) => f.key === 'poll_interval_s')?.placeholder, '5');
  assert.equal(fields.find((f) => f.key === 'in_dir')?.required, true);
  const groups = formGroupInfos();
  assert.deepEqual(groups.flatMap((g) => g.keys).sort(), fields.map((f) => f.key).sort());
});

test('a field error does not repeat the file path (the form names the file once); edited tracks what closing would lose', () => {
  const s = open(TEXT);
  assert.equal(s.edited, false);
  s.edit('poll_interval_s', '12a');
  assert.equal(s.edited, true);
  const message = s.state(false).errors.poll_interval_s ?? '';
  assert.match(message, /^"poll_interval_s"/);
  assert.ok(!message.includes(FILE), message);
  s.edit('poll_interval_s', '');
  assert.equal(s.edited, false);
  // A new file is "dirty" (Save creates it) but not edited: closing it loses nothing typed.
  const fresh = open(undefined);
  assert.equal(fresh.state(false).dirty, true);
  assert.equal(fresh.edited, false);
});

test('shares are shown as their JSON, kept on save, edited as text with the engine validating them', () => {
  const shares = [{ name: 'hr', in_dir: '/mnt/hr/in/', out_dir: '/mnt/hr/out/', qrnt_dir: '/mnt/hr/qrnt/', stable_ms: 500 }];
  const text = JSON.stringify({ ...(JSON.parse(TEXT) as object), shares }, null, 2) + '\n';
  const s = open(text);
  const st = s.state(true);
  assert.deepEqual(JSON.parse(st.inputs.shares as string), shares);
  assert.deepEqual(st.errors, {});
  assert.equal(formFieldInfos().find((f) => f.key === 'shares')?.kind, 'json');
  // Another field edited: the shares are written back as they were.
  s.edit('poll_interval_s', '7');
  assert.deepEqual((JSON.parse(s.render()) as { shares: unknown }).shares, shares);
  // A share added in the text; then a broken list is the engine's message, under the key.
  const two = [...shares, { name: 'fin', in_dir: '/mnt/fin/in/', out_dir: '/mnt/fin/out/', qrnt_dir: '/mnt/fin/qrnt/' }];
  s.edit('shares', JSON.stringify(two));
  assert.deepEqual(s.state(false).errors, {});
  assert.deepEqual((JSON.parse(s.render()) as { shares: unknown }).shares, two);
  s.edit('shares', JSON.stringify([...two, { name: 'hr', in_dir: '/x', out_dir: '/y', qrnt_dir: '/z' }]));
  assert.match(s.state(false).errors.shares ?? '', /"shares\[2\]\.name" is "hr", a name another share has already/);
  s.edit('shares', '[{"name": "hr",');
  assert.match(s.state(false).errors.shares ?? '', /"shares" must be a list of shares/);
  // Emptied: no shares key, the top-level folders are the one share.
  s.edit('shares', '');
  assert.equal('shares' in (JSON.parse(s.render()) as object), false);
  assert.deepEqual(s.state(false).errors, {});
});

test('a configuration with shares only: the form is valid without the top-level folders', () => {
  const { in_dir: _i, out_dir: _o, qrnt_dir: _q, ...rest } = JSON.parse(TEXT) as Record<string, unknown>;
  const text = JSON.stringify({ ...rest, shares: [{ name: 'hr', in_dir: '/mnt/hr/in/', out_dir: '/mnt/hr/out/', qrnt_dir: '/mnt/hr/qrnt/' }] });
  const s = open(text);
  assert.deepEqual(s.state(true).errors, {});
  assert.equal(s.state(true).inputs.in_dir, '');
  // Typing into in_dir and clearing it again leaves the file as it was.
  s.edit('in_dir', '/mnt/in');
  const half = s.state(false).errors;
  assert.deepEqual(Object.keys(half).sort(), ['out_dir', 'qrnt_dir']);
  assert.match(half.out_dir ?? '', /"out_dir" is missing/);
  s.edit('in_dir', '');
  assert.deepEqual(s.state(false).errors, {});
  assert.equal('in_dir' in (JSON.parse(s.render()) as object), false);
});
