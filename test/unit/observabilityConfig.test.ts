import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatListenAddress, parseListenAddress } from '../../src/common/listenAddress';
import { ConfigError, originalTemplate, parseConfigText } from '../../src/engine/config';
import { loadForm, renderConfig, validateForm } from '../../src/configEditor/formValues';
import { FormSession } from '../../src/configEditor/formSession';

const FILE = '/opt/kata-dir-scanner/kata_dir_scanner.conf';
const SID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const base = { ...originalTemplate, system_id: SID };
const parse = (over: Record<string, unknown>) => parseConfigText(JSON.stringify({ ...base, ...over }), FILE);
function message(over: Record<string, unknown>): ConfigError {
  try {
    parse(over);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err;
  }
  assert.fail('accepted');
}

test('metrics_listen: a bare port is loopback only; address:port, [v6]:port and a socket path; bad ones say why', () => {
  assert.deepEqual(parseListenAddress('9464'), { kind: 'tcp', host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListenAddress('0.0.0.0:9464'), { kind: 'tcp', host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseListenAddress('[::1]:9464'), { kind: 'tcp', host: '::1', port: 9464 });
  assert.deepEqual(parseListenAddress('cn-1.local:80'), { kind: 'tcp', host: 'cn-1.local', port: 80 });
  assert.deepEqual(parseListenAddress('/run/kata-dir-scanner/metrics.sock'), { kind: 'unix', path: '/run/kata-dir-scanner/metrics.sock' });
  assert.match((parseListenAddress('::1:9464') as { problem: string }).problem, /brackets/);
  assert.match((parseListenAddress('[nope]:1') as { problem: string }).problem, /not an IPv6/);
  assert.match((parseListenAddress('70000') as { problem: string }).problem, /1 to 65535/);
  assert.match((parseListenAddress(`/${'x'.repeat(120)}`) as { problem: string }).problem, /107 bytes/);
  assert.equal(formatListenAddress({ kind: 'tcp', host: '::1', port: 1 }), '[::1]:1');

  assert.equal(parse({}).config.metrics_listen, undefined);
  assert.equal(parse({ metrics_listen: '' }).config.metrics_listen, undefined);
  assert.deepEqual(parse({ metrics_listen: '[::1]:9464' }).config.metrics_listen, { kind: 'tcp', host: '::1', port: 9464 });
  const port = message({ metrics_listen: '99999' });
  assert.equal(port.key, 'metrics_listen');
  assert.match(port.message, /"metrics_listen" is not usable: the port must be from 1 to 65535/);
  assert.match(message({ metrics_listen: 9464 }).message, /"metrics_listen" must be a port \(9464\), an address and port/);
  assert.match(message({ metrics_listen: 'http://x:1/' }).message, /"metrics_listen" must be a port/);
});

test('siem: off while host is empty; defaults per transport; ca resolved for tls only; mistakes named by their sub-key', () => {
  assert.equal(parse({}).config.siem, undefined);
  assert.deepEqual(parse({ siem: {} }).warnings, []);
  const noHost = parse({ siem: { transport: 'tls' } });
  assert.equal(noHost.config.siem, undefined);
  assert.match(noHost.warnings.join('\n'), /"siem.host" is empty, so no SIEM events are sent/);

  assert.deepEqual(parse({ siem: { host: 'siem.example.local' } }).config.siem, {
    host: 'siem.example.local',
    port: 514,
    transport: 'tcp',
    format: 'cef',
    client_cert: false,
    framing: 'octet-counting',
    facility: 16,
    queue_size: 10000,
  });
  const tls = parse({ siem: { host: '[2001:db8::1]', transport: 'tls', ca: 'siem-ca.pem', client_cert: true, facility: 'authpriv', format: 'rfc5424-json' } }).config.siem!;
  assert.deepEqual([tls.host, tls.port, tls.ca, tls.client_cert, tls.facility, tls.format], ['2001:db8::1', 6514, '/opt/kata-dir-scanner/siem-ca.pem', true, 10, 'rfc5424-json']);
  const tcp = parse({ siem: { host: 's', port: 1514, ca: 'x.pem', client_cert: true } });
  assert.deepEqual([tcp.config.siem!.port, tcp.config.siem!.ca, tcp.config.siem!.client_cert], [1514, undefined, false]);
  assert.match(tcp.warnings.join('\n'), /apply to "transport": "tls" only/);

  const badPort = message({ siem: { host: 's', port: 0 } });
  assert.equal(badPort.key, 'siem.port');
  assert.match(badPort.message, /"siem.port" must be an integer from 1 to 65535 \(got 0\)/);
  assert.match(message({ siem: { host: 's', transport: 'relp' } }).message, /"siem.transport" must be one of "tcp", "tls", "udp" \(got "relp"\)/);
  assert.match(message({ siem: { host: 'https://siem/' } }).message, /"siem.host" must be a host name or IP address/);
  assert.match(message({ siem: 'siem.example.local' }).message, /"siem" must be an object such as/);
  assert.match(parse({ siem: { hots: 's' } }).warnings.join('\n'), /unknown key "siem.hots" is ignored \(did you mean "siem.host"\?\)/);
});

test('the configuration form shows siem\'s keys as fields of their own and writes them back into the object, unknown sub-keys kept', () => {
  const text = JSON.stringify({ ...base, siem: { transport: 'tls', x_note: 'kept', host: 'siem.local' }, metrics_listen: '9464' }, null, 2);
  const form = loadForm(text, FILE);
  assert.deepEqual(form.values['siem.host'], 'siem.local');
  assert.deepEqual(form.values['siem.transport'], 'tls');
  assert.deepEqual(form.unknown, { 'siem.x_note': 'kept' });
  assert.equal(form.values.metrics_listen, '9464');
  const edited = { ...form.values, 'siem.port': 6514, 'siem.format': 'rfc5424-json' };
  const out = JSON.parse(renderConfig(edited, form.unknown, text)) as Record<string, unknown>;
  assert.deepEqual(out.siem, { transport: 'tls', x_note: 'kept', host: 'siem.local', port: 6514, format: 'rfc5424-json' });
  assert.deepEqual(Object.keys(out).slice(-2), ['siem', 'metrics_listen'], 'key order of the file');
  // Clearing every siem field leaves no empty object behind.
  const cleared = JSON.parse(renderConfig({ ...form.values, 'siem.host': '', 'siem.transport': undefined }, {}, text)) as Record<string, unknown>;
  assert.equal('siem' in cleared, false);
  assert.deepEqual(validateForm({ ...edited, 'siem.port': 70000 }, FILE), [{ key: 'siem.port', message: `${FILE}: "siem.port" must be an integer from 1 to 65535 (got 70000)` }]);

  const session = new FormSession(FILE);
  session.load(text, { sha256: 'x', mtimeMs: 1, size: text.length });
  assert.equal(session.edit('siem.port', '99999'), true);
  assert.match(session.errors()['siem.port']!, /"siem.port" must be an integer from 1 to 65535/);
  assert.equal(session.edit('siem.client_cert', true), true);
  assert.equal(session.edit('siem.port', '6514'), true);
  assert.deepEqual(session.errors(), {});
  assert.deepEqual((JSON.parse(session.render()) as { siem: unknown }).siem, { transport: 'tls', x_note: 'kept', host: 'siem.local', port: 6514, client_cert: true });
  // siem as something else than an object: the whole file's problem, shown at the top of the form.
  const odd = new FormSession(FILE);
  const oddText = JSON.stringify({ ...base, siem: 'x' });
  odd.load(oddText, { sha256: 'y', mtimeMs: 1, size: oddText.length });
  assert.match(odd.errors()['']!, /"siem" must be an object/);
});
