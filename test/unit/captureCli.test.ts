import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeCli, command } from '../../src/cli/captureCommand';
import { initL10n } from '../../src/common/l10n';
import { parseIcapTrafficRequest } from '../../src/webviewProtocol/icapTraffic';
import { Conversation, icap, pcapFile } from '../helpers/captureWriter';
import { tempDir } from '../helpers/tempDirs';

const dir = tempDir('kds-capture-cli-unit-');

/** kds capture analyze through its CommandIo (the test runner owns process.stdout). */
async function analyze(file: string, o: { json?: boolean } = {}) {
  let stdout = '';
  let stderr = '';
  const code = await analyzeCli(file, o, { out: (x) => (stdout += x), err: (x) => (stderr += x) });
  return { code, stdout, stderr };
}

function sample(): string {
  const c = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }).handshake();
  c.send(0, icap.options('10.0.0.9')).send(1, icap.optionsAnswer());
  const [m] = icap.respmod('10.0.0.9', 'http://example/eicar.com', Buffer.from('X5O!P%@AP'), null);
  c.send(0, m).send(1, icap.blocked('EICAR-Test-File'));
  const [q] = icap.respmod('10.0.0.9', 'http://example/lost', Buffer.from('abc'), null);
  c.send(0, q);
  const path = join(dir, 'sample.pcap');
  writeFileSync(path, pcapFile(1, c.frames('ethernet')));
  return path;
}

test('kds capture analyze FILE --json: one object with transactions (status null when unanswered) and diagnosis', async () => {
  const r = await analyze(sample(), { json: true });
  assert.equal(r.code, 0, r.stderr);
  const a = JSON.parse(r.stdout) as { transactions: Array<Record<string, unknown>>; diagnosis: string[] };
  assert.deepEqual(
    a.transactions.map((x) => [x.method, x.uri, x.status]),
    [
      ['OPTIONS', 'icap://10.0.0.9/av', 200],
      ['RESPMOD', 'icap://10.0.0.9/av', 200],
      ['RESPMOD', 'icap://10.0.0.9/av', null],
    ],
  );
  for (const k of ['time', 'client', 'server', 'method', 'uri', 'status', 'verdict', 'preview', 'continue100', 'httpRequest', 'httpStatus', 'requestBytes', 'responseBytes', 'latencyMs']) {
    assert.ok(k in a.transactions[0]!, k);
  }
  assert.deepEqual(a.transactions[1]!.verdict, { 'X-Infection-Found': 'Type=0; Resolution=2; Threat=EICAR-Test-File;', 'X-Virus-ID': 'EICAR-Test-File' });
  assert.ok(a.diagnosis.some((d) => /1 request\(s\) have no answer/.test(d)), a.diagnosis.join('\n'));
});

test('kds capture analyze FILE: text with the diagnosis first, then the transactions; Russian when asked', async () => {
  const path = sample();
  const r = await analyze(path);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /pcap, Ethernet; \d+ packet\(s\)/);
  assert.ok(r.stdout.indexOf('Diagnosis:') < r.stdout.indexOf('Transactions:'));
  assert.match(r.stdout, /10\.0\.0\.2:40000 → 10\.0\.0\.9:1344  RESPMOD icap:\/\/10\.0\.0\.9\/av  200 OK/);
  assert.match(r.stdout, /X-Virus-ID: EICAR-Test-File/);
  assert.match(r.stdout, /GET http:\/\/example\/eicar\.com HTTP\/1\.1  HTTP\/1\.1 200 OK  → HTTP\/1\.1 403 Forbidden/);
  initL10n('ru');
  try {
    const ru = await analyze(path);
    assert.match(ru.stdout, /Диагноз:/);
    assert.match(ru.stdout, /Запросов без ответа в захвате: 1/);
  } finally {
    initL10n('en');
  }
});

test('kds capture analyze: not a capture → exit 1 with the reason; a missing file → exit 1; no file → usage', async () => {
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'hello');
  const bad = await analyze(text);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /Not a pcap or pcapng file/);
  const missing = await analyze(join(dir, 'nope.pcap'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot read .*nope\.pcap/);
  await assert.rejects(command.run(['analyze']), /Name one capture file/);
  await assert.rejects(command.run(['analyze', 'x.pcap', '--port', '70000']), /TCP port number/);
});

test('ICAP Traffic panel protocol: only the three requests, nothing extra', () => {
  assert.deepEqual(parseIcapTrafficRequest({ type: 'ready' }), { type: 'ready' });
  assert.deepEqual(parseIcapTrafficRequest({ type: 'savePcap' }), { type: 'savePcap' });
  assert.deepEqual(parseIcapTrafficRequest({ type: 'openWireshark' }), { type: 'openWireshark' });
  assert.equal(parseIcapTrafficRequest({ type: 'openWireshark', path: '/etc/passwd' }), undefined);
  assert.equal(parseIcapTrafficRequest({ type: 'run' }), undefined);
  assert.equal(parseIcapTrafficRequest('savePcap'), undefined);
});

test('tcpdump versions: --print (the live count) only from 4.99; older ones capture without it', async () => {
  const { supportsPrint, tcpdumpVersion } = await import('../../src/capture/captureHost');
  const { tcpdumpArgv } = await import('../../src/capture/tcpdumpRunner');
  assert.deepEqual(tcpdumpVersion('tcpdump version 4.99.3\nlibpcap version 1.10.3'), [4, 99]);
  assert.equal(supportsPrint(tcpdumpVersion('tcpdump version 4.9.2\nlibpcap version 1.5.3')), false);
  assert.equal(supportsPrint(tcpdumpVersion('tcpdump version 4.99.1')), true);
  assert.equal(supportsPrint(undefined), false);
  const o = { iface: 'any', port: 1344, out: '/x', packets: 10 };
  assert.deepEqual(tcpdumpArgv('/usr/sbin/tcpdump', o, '/tmp/d/capture.pcap', true, false), [
    '/usr/sbin/tcpdump', '-nn', '-i', 'any', '-s', '0', '-U', '--immediate-mode', '-B', '32768', '-Z', 'root', '-c', '10', '-w', '/tmp/d/capture.pcap', 'port', '1344',
  ]);
  assert.ok(tcpdumpArgv('/usr/sbin/tcpdump', o, '/f', false, true).includes('--print'));
});
