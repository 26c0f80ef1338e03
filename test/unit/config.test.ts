import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, configDefaults, configSchema, knownKeys, loadConfig, originalTemplate, parseConfigText } from '../../src/engine/config';

const FILE = 'kata_dir_scanner.conf';
// Byte for byte the file of the original demo.
const ORIGINAL = '{"in_dir": "/mnt/in/", "out_dir": "/mnt/out/", "qrnt_dir": "/mnt/qrnt/", "cert_pem": "/opt/kata-dir-scanner/cert.pem", "cert_key": "/opt/kata-dir-scanner/server.key", "kata_cn_addr": "localhost", "system_id": ""}';
const SID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const withSid = ORIGINAL.replace('"system_id": ""', `"system_id": "${SID}"`);

function parse(obj: Record<string, unknown>, file = `/opt/kata-dir-scanner/${FILE}`) {
  return parseConfigText(JSON.stringify({ ...originalTemplate, system_id: SID, ...obj }), file);
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('no ConfigError thrown');
}

test('the original file parses unchanged once system_id is set, with every default', () => {
  const { config, warnings } = parseConfigText(withSid, `/opt/kata-dir-scanner/${FILE}`);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config, {
    configPath: `/opt/kata-dir-scanner/${FILE}`,
    shares: [
      {
        name: 'default',
        in_dir: '/mnt/in',
        out_dir: '/mnt/out',
        qrnt_dir: '/mnt/qrnt',
        exclude_list: '/opt/kata-dir-scanner/exclude_list.txt',
        max_file_size_mb: 100,
        stable_ms: 2000,
      },
    ],
    cert_pem: '/opt/kata-dir-scanner/cert.pem',
    cert_key: '/opt/kata-dir-scanner/server.key',
    kata_cn_addr: 'localhost',
    system_id: SID,
    kata_cn_port: 443,
    insecure: false,
    exclude_case_sensitive: false,
    max_file_size_mb: 100,
    stable_ms: 2000,
    poll_interval_s: 5,
    scan_timeout_s: 600,
    max_inflight: 8,
    use_polling: 'auto',
    state_dir: '/opt/kata-dir-scanner/kds-state',
    log_file: '/var/log/kata-dir-scanner.log',
    log_format: 'text',
  });
});

test('the original template with an empty system_id fails naming the key and the file', () => {
  const err = configError(() => parseConfigText(ORIGINAL, FILE));
  assert.equal(err.key, 'system_id');
  assert.equal(err.file, FILE);
  assert.match(err.message, /^kata_dir_scanner\.conf: "system_id" is empty/);
  assert.match(err.message, /UUID/);
  const missing = configError(() => parseConfigText(JSON.stringify({ ...originalTemplate, system_id: undefined }), FILE));
  assert.equal(missing.key, 'system_id');
  assert.match(missing.message, /"system_id" is empty/);
});

test('system_id goes into a URL path: slash, backslash, whitespace, control characters and dot segments are refused', () => {
  for (const bad of ['a/b', 'a b', 'tab\there', 'nl\n', 'x\u0001', '..', '.', ' lead', 'q?x', 'h#x', '50%', 'a\\b', 'x'.repeat(201), 42]) {
    const err = configError(() => parse({ system_id: bad }, FILE));
    assert.equal(err.key, 'system_id', `for ${JSON.stringify(bad)}`);
    assert.match(err.message, /^kata_dir_scanner\.conf: "system_id"/);
  }
  for (const good of [SID, 'kds_sensor-01', 'a.b', 'ABC']) assert.equal(parse({ system_id: good }).config.system_id, good);
});

test('cert_pem may hold certificate and key, and cert_key may name the same file', () => {
  const { config } = parse({ cert_pem: 'cert.pem', cert_key: 'cert.pem' });
  assert.equal(config.cert_pem, '/opt/kata-dir-scanner/cert.pem');
  assert.equal(config.cert_key, config.cert_pem);
});

test('relative paths resolve against the folder of the config file; trailing slashes go', () => {
  const { config } = parse(
    { in_dir: 'in/', out_dir: './out//', qrnt_dir: '../qrnt', cert_pem: 'c/cert.pem', cert_key: 'server.key', exclude_list: 'ex.txt', state_dir: 'state/', log_file: 'log/kds.log', kata_ca: 'cn.pem' },
    '/srv/kds/site a/kata_dir_scanner.conf',
  );
  assert.equal(config.configPath, '/srv/kds/site a/kata_dir_scanner.conf');
  assert.equal(config.shares[0]!.in_dir, '/srv/kds/site a/in');
  assert.equal(config.shares[0]!.out_dir, '/srv/kds/site a/out');
  assert.equal(config.shares[0]!.qrnt_dir, '/srv/kds/qrnt');
  assert.equal(config.cert_pem, '/srv/kds/site a/c/cert.pem');
  assert.equal(config.cert_key, '/srv/kds/site a/server.key');
  assert.equal(config.shares[0]!.exclude_list, '/srv/kds/site a/ex.txt');
  assert.equal(config.state_dir, '/srv/kds/site a/state');
  assert.equal(config.log_file, '/srv/kds/site a/log/kds.log');
  assert.equal(config.kata_ca, '/srv/kds/site a/cn.pem');
  assert.equal(parse({ in_dir: '/' }).config.shares[0]!.in_dir, '/');
});

test('a relative config file name becomes an absolute configPath', () => {
  const { config } = parseConfigText(withSid, FILE);
  assert.equal(config.configPath, join(process.cwd(), FILE));
  assert.equal(config.shares[0]!.exclude_list, join(process.cwd(), 'exclude_list.txt'));
  assert.equal(config.state_dir, join(process.cwd(), 'kds-state'));
});

test('every wrong type or range names the key and the file', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['max_inflight', 'x', /must be an integer from 1 to 256 \(got "x"\)/],
    ['max_inflight', 0, /from 1 to 256 \(got 0\)/],
    ['max_inflight', 257, /from 1 to 256/],
    ['max_inflight', 2.5, /integer/],
    ['kata_cn_port', 0, /from 1 to 65535/],
    ['kata_cn_port', 65536, /from 1 to 65535/],
    ['kata_cn_port', '443', /from 1 to 65535 \(got "443"\)/],
    ['stable_ms', -1, /from 0 to 3600000/],
    ['poll_interval_s', 0, /from 1 to 3600/],
    ['scan_timeout_s', 0, /from 1 to/],
    ['max_file_size_mb', 0, /greater than 0/],
    ['max_file_size_mb', '100', /number/],
    ['insecure', 'true', /true or false/],
    ['insecure', 1, /true or false/],
    ['exclude_case_sensitive', 'no', /true or false/],
    ['use_polling', 'yes', /one of "auto", true, false/],
    ['use_polling', 1, /one of/],
    ['log_format', 'xml', /one of "text", "json"/],
    ['in_dir', '', /non-empty path/],
    ['out_dir', 5, /non-empty path/],
    ['qrnt_dir', null, /non-empty path/],
    ['cert_pem', ['a'], /non-empty path/],
    ['cert_key', 'a\nb', /control characters/],
    ['exclude_list', '', /non-empty path/],
    ['state_dir', {}, /non-empty path/],
    ['log_file', '', /non-empty path/],
    ['kata_cn_addr', 'https://kata', /host name or IP address/],
    ['kata_cn_addr', 'kata:443', /host name or IP address/],
    ['kata_cn_addr', 'a b', /host name/],
    ['kata_cert_sha256', 'AB:CD', /SHA-256 fingerprint/],
    ['kata_cert_sha256', 'zz'.repeat(32), /SHA-256 fingerprint/],
    ['kata_ca', 3, /PEM file/],
    ['sensor_instance_id', 'a\u0000', /control characters/],
  ];
  for (const [key, value, expected] of cases) {
    const err = configError(() => parse({ [key]: value }, FILE));
    assert.equal(err.key, key, `${key}=${JSON.stringify(value)}: ${err.message}`);
    assert.equal(err.file, FILE);
    assert.ok(err.message.startsWith(`${FILE}: "${key}" `), err.message);
    assert.match(err.message, expected);
    assert.equal(err.message.split('\n').length, 1);
  }
});

test('of several mistakes, one message: the first in the file', () => {
  const text = `{"system_id": "${SID}", "in_dir": "/i", "out_dir": "/o", "qrnt_dir": "/q", "cert_pem": "c", "cert_key": "k", "max_inflight": "x", "stable_ms": -1}`;
  const err = configError(() => parseConfigText(text, FILE));
  assert.equal(err.message, 'kata_dir_scanner.conf: "max_inflight" must be an integer from 1 to 256 (got "x")');
});

test('a missing required key is named with an example', () => {
  for (const key of ['in_dir', 'out_dir', 'qrnt_dir', 'cert_pem', 'cert_key']) {
    const obj: Record<string, unknown> = { ...originalTemplate, system_id: SID };
    delete obj[key];
    const err = configError(() => parseConfigText(JSON.stringify(obj), FILE));
    assert.equal(err.key, key);
    assert.match(err.message, new RegExp(`^kata_dir_scanner\\.conf: "${key}" is missing; add it, for example "${key}": "/`));
  }
  // kata_cn_addr of the original has a default: KDS usually runs on the Central Node itself.
  const obj: Record<string, unknown> = { ...originalTemplate, system_id: SID };
  delete obj.kata_cn_addr;
  assert.equal(parseConfigText(JSON.stringify(obj), FILE).config.kata_cn_addr, 'localhost');
});

test('unknown keys are warnings, with a suggestion for a near miss', () => {
  const { config, warnings } = parse({ max_inflght: 3, colour: 'blue' }, FILE);
  assert.equal(config.max_inflight, 8);
  assert.deepEqual(warnings, [
    'kata_dir_scanner.conf: unknown key "max_inflght" is ignored (did you mean "max_inflight"?)',
    'kata_dir_scanner.conf: unknown key "colour" is ignored',
  ]);
});

test('broken JSON is reported with line and column', () => {
  const cases: Array<[string, RegExp]> = [
    ['{"in_dir": }', /line 1, column 12: unexpected character "\}"/],
    ['{\n  "in_dir": "/mnt/in/",\n}', /line 2, column 23: a comma before a closing/],
    ['{\n  "a": 1\n  "b": 2\n}', /line 3, column 3: expected "," or "\}"/],
    ["{'in_dir': 1}", /line 1, column 2: strings and keys need double quotes/],
    ['{"in_dir": "C:\\mnt"}', /line 1, column 15: invalid escape/],
    ['// comment\n{}', /line 1, column 1: comments are not allowed/],
    ['{"a": 1', /line 1, column 8: the text ends too early/],
    ['', /line 1, column 1: the text ends too early/],
    ['{"a": tru}', /line 1, column 7: unexpected word/],
    ['{"a": 1} x', /line 1, column 10: unexpected text after the end/],
    ['{"a": "x\ny"}', /line 1, column 9: a line break/],
    ['{"a" 1}', /line 1, column 6: expected ":"/],
    ['{"a": [1 2]}', /line 1, column 10: expected "," or "\]"/],
    ['{"a": 01}', /line 1, column 8/],
  ];
  for (const [text, expected] of cases) {
    const err = configError(() => parseConfigText(text, FILE));
    assert.equal(err.file, FILE);
    assert.match(err.message, /^kata_dir_scanner\.conf: invalid JSON at line \d+, column \d+: /);
    assert.match(err.message, expected, `${JSON.stringify(text)} → ${err.message}`);
  }
});

test('the top level must be an object', () => {
  for (const text of ['[]', '"x"', 'null', '42']) {
    assert.match(configError(() => parseConfigText(text, FILE)).message, /must be a JSON object/);
  }
});

test('a byte order mark (Windows editors) is tolerated', () => {
  assert.equal(parseConfigText('\uFEFF' + withSid, FILE).config.system_id, SID);
});

test('use_polling takes true, false or "auto"; insecure only a boolean and warns when on', () => {
  assert.equal(parse({ use_polling: true }).config.use_polling, true);
  assert.equal(parse({ use_polling: false }).config.use_polling, false);
  assert.equal(parse({ use_polling: 'auto' }).config.use_polling, 'auto');
  const on = parse({ insecure: true }, FILE);
  assert.equal(on.config.insecure, true);
  assert.equal(on.warnings.length, 1);
  assert.match(on.warnings[0]!, /^kata_dir_scanner\.conf: "insecure" is true/);
  assert.match(parse({ insecure: true, kata_ca: 'x.pem' }).warnings[0]!, /ignored/);
});

test('server verification settings: the pin is normalised, empty strings mean not set', () => {
  const hex = 'ab'.repeat(32);
  const colon = Array.from({ length: 32 }, () => 'aB').join(':');
  assert.equal(parse({ kata_cert_sha256: colon }).config.kata_cert_sha256, 'AB'.repeat(32));
  assert.equal(parse({ kata_cert_sha256: `SHA256:${hex}` }).config.kata_cert_sha256, 'AB'.repeat(32));
  assert.equal(parse({ kata_cert_sha256: hex.match(/../g)!.join(' ') }).config.kata_cert_sha256, 'AB'.repeat(32));
  const unset = parse({ kata_cert_sha256: '', kata_ca: '', sensor_instance_id: '' }).config;
  assert.equal('kata_cert_sha256' in unset, false);
  assert.equal('kata_ca' in unset, false);
  assert.equal('sensor_instance_id' in unset, false);
  assert.equal(parse({ sensor_instance_id: 'node-a' }).config.sensor_instance_id, 'node-a');
  assert.equal(parse({ kata_ca: '/etc/kata/cn.pem' }).config.kata_ca, '/etc/kata/cn.pem');
});

test('kata_cn_addr takes names and IPv4/IPv6 addresses; brackets around IPv6 are dropped', () => {
  for (const ok of ['localhost', 'kata-cn.example.local', 'kata.example.', '192.0.2.10', '::1', 'fe80::1%eth0', 'kata_cn']) {
    assert.equal(parse({ kata_cn_addr: ok }).config.kata_cn_addr, ok);
  }
  assert.equal(parse({ kata_cn_addr: '[2001:db8::1]' }).config.kata_cn_addr, '2001:db8::1');
});

test('input, output and quarantine must be three different folders', () => {
  const err = configError(() => parse({ out_dir: '/mnt/in' }, FILE));
  assert.equal(err.key, 'out_dir');
  assert.match(err.message, /"in_dir" and "out_dir" must be different folders/);
  assert.equal(configError(() => parse({ qrnt_dir: '/mnt/out/' })).key, 'qrnt_dir');
});

test('loadConfig reads a file; a missing or unreadable one is a ConfigError naming it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kds-config-'));
  try {
    const file = join(dir, FILE);
    await writeFile(file, withSid);
    const { config } = await loadConfig(file);
    assert.equal(config.configPath, file);
    assert.equal(config.shares[0]!.exclude_list, join(dir, 'exclude_list.txt'));
    const missing = join(dir, 'nope.conf');
    await assert.rejects(loadConfig(missing), (e: unknown) => e instanceof ConfigError && e.file === missing && e.message === `${missing}: the configuration file does not exist`);
    await mkdir(join(dir, 'folder'));
    await assert.rejects(loadConfig(join(dir, 'folder')), (e: unknown) => e instanceof ConfigError && /is a folder/.test(e.message));
    await writeFile(file, ORIGINAL);
    await assert.rejects(loadConfig(file), (e: unknown) => e instanceof ConfigError && e.key === 'system_id');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the shipped schema documents every key and is the one validation uses', async () => {
  const file = JSON.parse(await readFile(join(__dirname, '../../schemas/kata_dir_scanner.schema.json'), 'utf8'));
  assert.deepEqual(configSchema(), file);
  assert.equal(file.$schema, 'http://json-schema.org/draft-07/schema#');
  for (const [key, prop] of Object.entries(file.properties as Record<string, Record<string, unknown>>)) {
    assert.ok(typeof prop.title === 'string' && prop.title.length > 3, `${key} title`);
    assert.ok(typeof prop.description === 'string' && (prop.description as string).length > 30, `${key} description`);
    assert.ok('default' in prop, `${key} default`);
  }
  // Every key of KdsConfig except configPath is a key of the file.
  const { config } = parseConfigText(withSid, FILE);
  for (const key of Object.keys(config)) if (key !== 'configPath') assert.ok(knownKeys.includes(key), key);
  assert.equal(configDefaults.max_inflight, 8);
  assert.equal(configDefaults.use_polling, 'auto');
  assert.equal('in_dir' in configDefaults, false);
});

const shareOf = (name: string, root = `/mnt/${name}`) => ({ name, in_dir: `${root}/in/`, out_dir: `${root}/out/`, qrnt_dir: `${root}/qrnt/` });
const identity = { cert_pem: '/opt/kata-dir-scanner/cert.pem', cert_key: '/opt/kata-dir-scanner/server.key', system_id: SID };

test('shares: folder triples listed without top-level folders, each with its own exclude list and the shared limits unless it sets its own', () => {
  const { config, warnings } = parseConfigText(
    JSON.stringify({ ...identity, stable_ms: 500, shares: [{ ...shareOf('hr'), exclude_list: '/opt/kata-dir-scanner/hr.exclude', max_file_size_mb: 20 }, { ...shareOf('partners-EU'), stable_ms: 0 }] }),
    `/opt/kata-dir-scanner/${FILE}`,
  );
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.shares, [
    { name: 'hr', in_dir: '/mnt/hr/in', out_dir: '/mnt/hr/out', qrnt_dir: '/mnt/hr/qrnt', exclude_list: '/opt/kata-dir-scanner/hr.exclude', max_file_size_mb: 20, stable_ms: 500 },
    {
      name: 'partners-EU',
      in_dir: '/mnt/partners-EU/in',
      out_dir: '/mnt/partners-EU/out',
      qrnt_dir: '/mnt/partners-EU/qrnt',
      exclude_list: '/opt/kata-dir-scanner/exclude_list.partners-EU.txt',
      max_file_size_mb: 100,
      stable_ms: 0,
    },
  ]);
});

test('shares beside the top-level folders: those are the share "default", first; the name is then taken', () => {
  const { config } = parse({ shares: [shareOf('hr')] });
  assert.deepEqual(
    config.shares.map((s) => [s.name, s.in_dir, s.exclude_list]),
    [
      ['default', '/mnt/in', '/opt/kata-dir-scanner/exclude_list.txt'],
      ['hr', '/mnt/hr/in', '/opt/kata-dir-scanner/exclude_list.hr.txt'],
    ],
  );
  const taken = configError(() => parse({ shares: [shareOf('Default')] }, FILE));
  assert.equal(taken.key, 'shares');
  assert.match(taken.message, /^kata_dir_scanner\.conf: "shares\[0\]\.name" is "Default", the name of the share made of the top-level in_dir, out_dir and qrnt_dir/);
  // Without top-level folders a listed share may be called "default" (a one-share file moved to shares keeps its journal).
  assert.equal(parseConfigText(JSON.stringify({ ...identity, shares: [shareOf('default')] }), FILE).config.shares[0]!.name, 'default');
});

test('shares: names are unique case-insensitively and short identifiers; no folder belongs to two shares', () => {
  const twice = configError(() => parseConfigText(JSON.stringify({ ...identity, shares: [shareOf('hr'), shareOf('HR', '/mnt/x')] }), FILE));
  assert.match(twice.message, /"shares\[1\]\.name" is "HR", a name another share has already/);
  for (const bad of ['', 'a b', 'hr/x', '-hr', 'x'.repeat(33), 'é', 7]) {
    const err = configError(() => parseConfigText(JSON.stringify({ ...identity, shares: [{ ...shareOf('hr'), name: bad }] }), FILE));
    assert.equal(err.key, 'shares', `for ${JSON.stringify(bad)}`);
    assert.match(err.message, /^kata_dir_scanner\.conf: "shares\[0\]\.name" must be a short name/);
  }
  const shared = configError(() => parse({ shares: [{ ...shareOf('hr'), qrnt_dir: '/mnt/qrnt' }] }, FILE));
  assert.equal(shared.message, 'kata_dir_scanner.conf: "qrnt_dir" and "shares[0].qrnt_dir" must be different folders (both are /mnt/qrnt)');
  const crossed = configError(() => parseConfigText(JSON.stringify({ ...identity, shares: [shareOf('a'), { ...shareOf('b'), in_dir: '/mnt/a/out' }] }), FILE));
  assert.match(crossed.message, /"shares\[0\]\.out_dir" and "shares\[1\]\.in_dir" must be different folders/);
  const inside = configError(() => parseConfigText(JSON.stringify({ ...identity, shares: [{ ...shareOf('a'), out_dir: '/mnt/a/in' }] }), FILE));
  assert.match(inside.message, /"shares\[0\]\.in_dir" and "shares\[0\]\.out_dir" must be different folders/);
});

test('shares: a wrong or missing key of a share is named with its place in the list', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['hr', /"shares" must be a list of shares such as \[\{"name": "hr"/],
    [[5], /"shares\[0\]" must be an object such as/],
    [[{ name: 'hr', in_dir: '/a', out_dir: '/b' }], /"shares\[0\]\.qrnt_dir" is missing; add it, for example "shares\[0\]\.qrnt_dir": "\/mnt\/qrnt\/"/],
    [[{ ...shareOf('hr'), in_dir: '' }], /"shares\[0\]\.in_dir" must be a non-empty path/],
    [[shareOf('a'), { ...shareOf('b'), stable_ms: -1 }], /"shares\[1\]\.stable_ms" must be an integer from 0 to 3600000 \(got -1\)/],
    [[{ ...shareOf('hr'), max_file_size_mb: 0 }], /"shares\[0\]\.max_file_size_mb" must be a number greater than 0/],
  ];
  for (const [shares, expected] of cases) {
    const err = configError(() => parseConfigText(JSON.stringify({ ...identity, shares }), FILE));
    assert.equal(err.key, 'shares');
    assert.match(err.message, expected);
  }
  const { warnings } = parseConfigText(JSON.stringify({ ...identity, shares: [{ ...shareOf('hr'), stable_sm: 1 }] }), FILE);
  assert.deepEqual(warnings, ['kata_dir_scanner.conf: unknown key "shares[0].stable_sm" is ignored (did you mean "shares[0].stable_ms"?)']);
});

test('neither top-level folders nor shares: the missing in_dir is named as for the original; half a triple names what is missing', () => {
  const none = configError(() => parseConfigText(JSON.stringify(identity), FILE));
  assert.equal(none.key, 'in_dir');
  assert.match(none.message, /"in_dir" is missing; add it, for example "in_dir": "\/mnt\/in\/"/);
  const half = configError(() => parseConfigText(JSON.stringify({ ...identity, in_dir: '/i', shares: [shareOf('hr')] }), FILE));
  assert.match(half.message, /"(out|qrnt)_dir" is missing/);
  const empty = configError(() => parseConfigText(JSON.stringify({ ...identity, shares: [] }), FILE));
  assert.equal(empty.key, 'shares');
  assert.match(empty.message, /"shares" lists no share/);
});
