import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createSelfSigned } from '../../src/pki/certs';
import { testConnection } from '../../src/configEditor/connectionTest';
import { loadForm, renderConfig } from '../../src/configEditor/formValues';
import { startHarness } from '../helpers/engineHarness';

// Against the real embedded KATA on 127.0.0.1 (mutual TLS, its own CA in kata_ca).

test('test connection: approved → every item ok, exit code 0, serialisable checklist', async () => {
  const h = await startHarness({ startEngine: false, excludeList: '*.tmp\n' });
  // The harness's client certificate lives 2 days (a warning in the checklist): use a longer one.
  const kc = await createSelfSigned({ commonName: 'kds-editor-test', days: 365 });
  writeFileSync(h.config.cert_pem, kc.certPem + kc.keyPem, { mode: 0o600 });
  writeFileSync(h.config.cert_key, kc.keyPem, { mode: 0o600 });
  const r = await testConnection(h.configPath, { requestTimeoutMs: 5_000 });
  assert.equal(r.exitCode, 0, JSON.stringify(r.items, null, 2));
  assert.equal(r.configPath, h.configPath);
  const ids = r.items.map((i) => i.id);
  for (const id of ['config', 'in_dir', 'out_dir', 'qrnt_dir', 'client_cert', 'kata_ca', 'kata_tls', 'kata_approval']) assert.ok(ids.includes(id), id);
  assert.deepEqual(r.items.filter((i) => i.status !== 'ok').map((i) => [i.id, i.status, i.title]), []);
  assert.ok(r.items.every((i) => typeof i.title === 'string' && Array.isArray(i.details)));
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
});

test('test connection: not approved → the approval item fails, exit code 3', async () => {
  const h = await startHarness({ startEngine: false, emulator: { autoApprove: false } });
  const r = await testConnection(h.configPath, { requestTimeoutMs: 5_000 });
  assert.equal(r.exitCode, 3, JSON.stringify(r.items, null, 2));
  const approval = r.items.find((i) => i.id === 'kata_approval');
  assert.equal(approval?.status, 'fail');
  assert.match(approval!.title, new RegExp(h.config.system_id));
  assert.deepEqual(r.items.filter((i) => i.status === 'fail').map((i) => i.id), ['kata_approval']);
});

test('test connection of the unsaved form: the text is checked, not the file', async () => {
  const h = await startHarness({ startEngine: false });
  const original = readFileSync(h.configPath, 'utf8');
  const form = loadForm(original, h.configPath);
  const wrongPort = renderConfig({ ...form.values, kata_cn_port: 1 }, form.unknown, original);
  const r = await testConnection(h.configPath, { text: wrongPort, requestTimeoutMs: 5_000 });
  assert.equal(r.exitCode, 1);
  assert.equal(r.items.find((i) => i.id === 'kata_tls')?.status, 'fail');
  const invalid = await testConnection(h.configPath, { text: renderConfig({ ...form.values, max_inflight: 0 }, form.unknown, original) });
  assert.equal(invalid.exitCode, 2);
  assert.deepEqual(invalid.items.map((i) => [i.id, i.status]), [['config', 'fail']]);
  assert.match(invalid.items[0]!.details[0]!, /"max_inflight" must be an integer from 1 to 256/);
  assert.equal(readFileSync(h.configPath, 'utf8'), original, 'the file is untouched');
});
