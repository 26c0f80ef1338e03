import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initL10n } from '../../src/common/l10n';
import { ConfigError, configSchema, knownKeys, parseConfigText, requiredKeys } from '../../src/engine/config';
import { formFields, formGroups, schemaTexts } from '../../src/configEditor/formModel';
import { cleanValues, loadForm, renderConfig, validateForm, valueFromInput } from '../../src/configEditor/formValues';

const FILE = '/opt/kata-dir-scanner/kata_dir_scanner.conf';
// Byte for byte the file of the original demo.
const ORIGINAL = '{"in_dir": "/mnt/in/", "out_dir": "/mnt/out/", "qrnt_dir": "/mnt/qrnt/", "cert_pem": "/opt/kata-dir-scanner/cert.pem", "cert_key": "/opt/kata-dir-scanner/server.key", "kata_cn_addr": "localhost", "system_id": ""}';
const SID = '0f8fad5b-d9cb-469f-a165-70867728950e';

function engineMessage(text: string): string {
  try {
    parseConfigText(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  assert.fail('the engine accepted it');
}

// --- descriptors -------------------------------------------------------------------------------

test('every schema property has exactly one descriptor, none lands in "other", and groups follow the layout', () => {
  const fields = formFields();
  // An object-valued key (siem) is one field per sub-key, named parent.key.
  const props = Object.entries((configSchema() as { properties: Record<string, { properties?: object }> }).properties).flatMap(([k, p]) =>
    p.properties ? Object.keys(p.properties).map((s) => `${k}.${s}`) : [k],
  );
  assert.deepEqual([...fields.map((f) => f.key)].sort(), [...props].sort());
  assert.equal(new Set(fields.map((f) => f.key)).size, fields.length);
  assert.deepEqual(fields.filter((f) => f.group === 'other').map((f) => f.key), [], 'add new schema keys to the layout in formModel.ts');
  assert.deepEqual(
    formGroups(fields).map((g) => [g.id, g.keys]),
    [
      ['folders', ['in_dir', 'out_dir', 'qrnt_dir', 'shares', 'state_dir']],
      ['connection', ['kata_cn_addr', 'kata_cn_port', 'system_id', 'sensor_instance_id']],
      ['trust', ['cert_pem', 'cert_key', 'kata_ca', 'kata_cert_sha256', 'insecure']],
      ['scanning', ['exclude_list', 'exclude_case_sensitive', 'max_file_size_mb', 'stable_ms', 'poll_interval_s', 'scan_timeout_s', 'max_inflight', 'use_polling']],
      ['logging', ['log_file', 'log_format']],
      ['monitoring', ['metrics_listen', 'siem.host', 'siem.port', 'siem.transport', 'siem.format', 'siem.ca', 'siem.client_cert', 'siem.framing', 'siem.facility', 'siem.queue_size']],
    ],
  );
  for (const f of fields) {
    assert.ok(f.title && f.description, `${f.key} has a title and a description`);
    assert.equal(f.required, requiredKeys.includes(f.key));
  }
  // Serialisable as is (posted to a webview).
  assert.deepEqual(JSON.parse(JSON.stringify(fields)), fields);
});

test('descriptor kinds, bounds, enums and defaults come from the schema', () => {
  const by = Object.fromEntries(formFields().map((f) => [f.key, f]));
  assert.deepEqual(
    Object.fromEntries(Object.values(by).map((f) => [f.key, f.kind])),
    {
      in_dir: 'folder', out_dir: 'folder', qrnt_dir: 'folder', shares: 'json', state_dir: 'folder',
      kata_cn_addr: 'string', kata_cn_port: 'integer', system_id: 'string', sensor_instance_id: 'string',
      cert_pem: 'file', cert_key: 'file', kata_ca: 'file', kata_cert_sha256: 'string', insecure: 'boolean',
      exclude_list: 'file', exclude_case_sensitive: 'boolean', max_file_size_mb: 'number', stable_ms: 'integer',
      poll_interval_s: 'integer', scan_timeout_s: 'integer', max_inflight: 'integer', use_polling: 'tristate',
      log_file: 'file', log_format: 'enum',
      metrics_listen: 'string', 'siem.host': 'string', 'siem.port': 'integer', 'siem.transport': 'enum', 'siem.format': 'enum', 'siem.ca': 'file',
      'siem.client_cert': 'boolean', 'siem.framing': 'enum', 'siem.facility': 'enum', 'siem.queue_size': 'integer',
    },
  );
  assert.deepEqual([by.kata_cn_port!.min, by.kata_cn_port!.max, by.kata_cn_port!.default], [1, 65535, 443]);
  assert.deepEqual([by.max_file_size_mb!.exclusiveMin, by.max_file_size_mb!.max], [0, 1048576]);
  assert.deepEqual(by.use_polling!.enumValues, ['auto', true, false]);
  assert.equal(by.use_polling!.default, 'auto');
  assert.deepEqual(by.log_format!.enumValues, ['text', 'json']);
  assert.equal(by.in_dir!.default, '/mnt/in/');
  assert.equal(by.in_dir!.original, true);
  assert.equal(by.state_dir!.original, false);
  assert.equal(by.system_id!.maxLength, 200);
  assert.ok(new RegExp(by.system_id!.pattern!).test(SID));
  assert.equal(by.system_id!.patternMessage, 'Set the ID of this external system, e.g. a UUID; no /, \\, ?, #, %, spaces or control characters.');
  assert.equal(by.in_dir!.relativeToConfig, true);
});

test('titles, descriptions and pattern hints are translated (every schema text has a Russian entry)', () => {
  const ru = JSON.parse(readFileSync(join(__dirname, '..', '..', 'l10n', 'bundle.l10n.ru.json'), 'utf8')) as Record<string, string>;
  assert.deepEqual(schemaTexts().filter((s) => !ru[s]), []);
  initL10n('ru');
  try {
    const fields = formFields();
    const inDir = fields.find((f) => f.key === 'in_dir')!;
    assert.equal(inDir.title, 'Входная папка');
    assert.match(inDir.description, /Папка, за которой следит KDS/);
    assert.equal(formGroups(fields)[0]!.title, 'Папки');
  } finally {
    initL10n('en');
  }
  assert.equal(formFields()[0]!.title, 'Input folder');
});

// --- load / validate / render -----------------------------------------------------------------

test('the original 7-key file loads into the form as written, nothing unknown', () => {
  const form = loadForm(ORIGINAL, FILE);
  assert.equal(form.parseError, undefined);
  assert.deepEqual(form.unknown, {});
  assert.deepEqual(form.values, JSON.parse(ORIGINAL));
  // system_id is still empty: the engine's own message, on the key.
  assert.deepEqual(validateForm(form.values, FILE), [{ key: 'system_id', message: engineMessage(ORIGINAL) }]);
  // Filled in, it validates and is written back formatted, in the original order.
  const saved = renderConfig({ ...form.values, system_id: SID }, form.unknown, ORIGINAL);
  assert.deepEqual(validateForm({ ...form.values, system_id: SID }, FILE), []);
  assert.equal(saved, JSON.stringify({ ...JSON.parse(ORIGINAL), system_id: SID }, null, 2) + '\n');
  assert.doesNotThrow(() => parseConfigText(saved, FILE));
});

test('unknown keys survive load → edit → render, with their values and positions; key order kept', () => {
  const text = JSON.stringify({
    system_id: SID,
    x_comment: 'kept by the admin',
    in_dir: '/mnt/in/',
    out_dir: '/mnt/out/',
    max_inflght: 4,
    qrnt_dir: '/mnt/qrnt/',
    cert_pem: 'cert.pem',
    cert_key: 'server.key',
    nested: { a: [1, 2, { b: null }] },
  }, null, 4);
  const form = loadForm(text, FILE);
  assert.deepEqual(form.unknown, { x_comment: 'kept by the admin', max_inflght: 4, nested: { a: [1, 2, { b: null }] } });
  assert.deepEqual(Object.keys(form.values), ['system_id', 'in_dir', 'out_dir', 'qrnt_dir', 'cert_pem', 'cert_key']);
  // Unknown keys are not problems (the engine only warns about them).
  assert.deepEqual(validateForm(form.values, FILE), []);

  const edited = { ...form.values, out_dir: '/srv/out', log_format: 'json', kata_cn_port: 8443, kata_cn_addr: 'kata.example' };
  const out = renderConfig(edited, form.unknown, text);
  assert.ok(out.endsWith('}\n') && out.includes('\n  "system_id"'), 'two-space indentation, trailing newline');
  const parsed = JSON.parse(out) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), [
    'system_id', 'x_comment', 'in_dir', 'out_dir', 'max_inflght', 'qrnt_dir', 'cert_pem', 'cert_key', 'nested',
    // New keys in form order: connection (addr, port) before logging.
    'kata_cn_addr', 'kata_cn_port', 'log_format',
  ]);
  assert.equal(parsed.out_dir, '/srv/out');
  assert.deepEqual(parsed.nested, { a: [1, 2, { b: null }] });
  assert.equal(parsed.max_inflght, 4);
  // And the round trip is stable.
  const again = loadForm(out, FILE);
  assert.equal(renderConfig(again.values, again.unknown, out), out);
});

test('without the original text, keys are written in form order, unknown keys last', () => {
  const out = renderConfig({ system_id: SID, log_file: '/var/log/k.log', in_dir: 'in' }, { zz: 1 });
  assert.deepEqual(Object.keys(JSON.parse(out)), ['in_dir', 'system_id', 'log_file', 'zz']);
});

test('empty optional fields are removed, not written as ""; required ones stay', () => {
  const form = loadForm(JSON.stringify({ ...JSON.parse(ORIGINAL), system_id: SID, kata_ca: '/x/ca.pem', log_file: '/var/log/a.log' }), FILE);
  const edited = { ...form.values, kata_ca: '', log_file: undefined, exclude_list: '', sensor_instance_id: null, system_id: '' };
  const parsed = JSON.parse(renderConfig(edited, form.unknown, ORIGINAL)) as Record<string, unknown>;
  assert.ok(!('kata_ca' in parsed) && !('log_file' in parsed) && !('exclude_list' in parsed) && !('sensor_instance_id' in parsed));
  assert.equal(parsed.system_id, '');
  // The folder triple is required only without shares: emptied, it is not set (the engine says it is missing).
  assert.deepEqual(cleanValues({ kata_ca: '', in_dir: '', system_id: '' }), { system_id: '' });
  // An empty optional field is not a validation problem (the default applies)…
  assert.deepEqual(validateForm({ ...form.values, exclude_list: '' }, FILE), []);
  // …an empty required one is.
  assert.deepEqual(validateForm({ ...form.values, in_dir: '' }, FILE).map((p) => p.key), ['in_dir']);
});

test('validation names each wrong key with the same message as the engine, missing keys first', () => {
  const base = { ...JSON.parse(ORIGINAL), system_id: SID } as Record<string, unknown>;
  const cases: Array<[string, unknown]> = [
    ['max_inflight', 'x'],
    ['max_inflight', 0],
    ['kata_cn_port', 70000],
    ['insecure', 'yes'],
    ['use_polling', 'sometimes'],
    ['log_format', 'xml'],
    ['kata_cn_addr', 'https://kata:443/'],
    ['kata_cert_sha256', 'abc'],
    ['system_id', 'a/b'],
    ['max_file_size_mb', 0],
    ['in_dir', 'a\u0001b'],
  ];
  for (const [key, value] of cases) {
    const values = { ...base, [key]: value };
    assert.deepEqual(validateForm(values, FILE), [{ key, message: engineMessage(JSON.stringify(values)) }], `${key}: ${JSON.stringify(value)}`);
  }
  // Several mistakes at once: every key, a missing one first, then in the order of the values.
  const { cert_key: _dropped, ...withoutKey } = base;
  const problems = validateForm({ ...withoutKey, stable_ms: -1, insecure: 1, max_inflight: 'x' }, FILE);
  assert.deepEqual(problems.map((p) => p.key), ['cert_key', 'stable_ms', 'insecure', 'max_inflight']);
  assert.equal(problems[0]!.message, engineMessage(JSON.stringify({ ...withoutKey, stable_ms: -1 })));
  // The checks after the schema as well: the same folder twice (relative paths resolve beside the file).
  const same = { ...base, in_dir: '/opt/kata-dir-scanner/in', out_dir: 'in/' };
  assert.deepEqual(validateForm(same, FILE), [{ key: 'out_dir', message: engineMessage(JSON.stringify(same)) }]);
});

test('broken JSON is reported with line and column and the engine\'s message', () => {
  const text = '{\n  "in_dir": "/mnt/in/"\n  "out_dir": "/mnt/out/"\n}\n';
  const form = loadForm(text, FILE);
  assert.deepEqual(form.values, {});
  assert.deepEqual(form.unknown, {});
  assert.equal(form.parseError?.line, 3);
  assert.equal(form.parseError?.column, 3);
  assert.equal(form.parseError?.message, engineMessage(text));

  const comma = loadForm('{"in_dir": "/mnt/in/",\n}', FILE);
  assert.deepEqual([comma.parseError?.line, comma.parseError?.column], [1, 22]);
  assert.match(comma.parseError!.message, /comma/);

  const notObject = loadForm('\n  [1, 2]', FILE);
  assert.deepEqual([notObject.parseError?.line, notObject.parseError?.column], [2, 3]);
  assert.equal(notObject.parseError?.message, engineMessage('[1, 2]'));

  // An empty file is an empty form to fill in; a BOM is ignored.
  assert.deepEqual(loadForm('  \n', FILE), { values: {}, unknown: {} });
  assert.deepEqual(loadForm('\uFEFF' + ORIGINAL, FILE).values, JSON.parse(ORIGINAL));
});

test('CRLF files stay CRLF', () => {
  const text = JSON.stringify(JSON.parse(ORIGINAL), null, 2).replace(/\n/g, '\r\n') + '\r\n';
  const form = loadForm(text, FILE);
  assert.equal(renderConfig(form.values, form.unknown, text), text);
});

test('valueFromInput converts form controls to stored values', () => {
  assert.equal(valueFromInput('kata_cn_port', '8443'), 8443);
  assert.equal(valueFromInput('kata_cn_port', ' x '), ' x ');
  assert.equal(valueFromInput('kata_cn_port', ''), undefined);
  assert.equal(valueFromInput('max_file_size_mb', '0.5'), 0.5);
  assert.equal(valueFromInput('use_polling', 'auto'), 'auto');
  assert.equal(valueFromInput('use_polling', 'false'), false);
  assert.equal(valueFromInput('insecure', 'true'), true);
  assert.equal(valueFromInput('kata_ca', ''), undefined);
  assert.equal(valueFromInput('system_id', ''), '');
  assert.equal(valueFromInput('in_dir', '/mnt/in/'), '/mnt/in/');
  assert.ok(knownKeys.includes('use_polling'));
});
