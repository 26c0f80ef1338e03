import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { KdsLogger, type LogRecord } from '../../src/common/log';
import { loadConfig } from '../../src/engine/config';
import { attachEventStream } from '../../src/engine/engineEventStream';
import { EICAR } from '../../src/emulator/eicar';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server';
import { splitPem } from '../../src/pki/pemText';
import { visibleValue } from '../../src/observability/cefFormat';
import { ServiceObservability } from '../../src/observability/serviceObservability';
import { parseCef, parseRfc5424 } from '../helpers/cefParser';
import { startHarness, waitFor } from '../helpers/engineHarness';
import { runKds, spawnKds, stopChild, waitForLine } from '../helpers/kdsProcess';
import { httpGet } from '../helpers/prometheus';
import { needRsyslog, startRsyslog } from '../helpers/rsyslog';
import { freePort } from '../helpers/sshd';

/** A name whoever writes the share might choose: CEF's delimiters, a line break, a right-to-left override. */
const hostile = 'invoice|2024=paid\\final\nline2 счёт\u202Egpj.exe';

const classOf = (line: string) => parseRfc5424(line).msgId;

test('SIEM over TLS with the client certificate: every event of a scripted run reaches rsyslog once, as valid CEF, the hostile name escaped', async (t) => {
  if (!needRsyslog(t)) return;
  // KATA is stopped and started again on the same address and data: the test owns it.
  const kataData = mkdtempSync(join(tmpdir(), 'kds-siem-kata-'));
  let emulator: RunningEmulator = await startEmulator({ host: '127.0.0.1', port: 0, dataDir: kataData, autoApprove: true, verdictDelayMs: 50 });
  t.after(async () => {
    await emulator.close();
    rmSync(kataData, { recursive: true, force: true });
  });
  const h = await startHarness({ startEngine: false, sharedEmulator: emulator, conf: { max_file_size_mb: 0.01 } });
  const clientCert = splitPem(readFileSync(h.config.cert_pem, 'utf8')).certificates[0]!;
  const rs = await startRsyslog(join(h.root, 'rsyslog'), [clientCert]);
  t.after(() => rs.stop());
  // This receiver really demands a client certificate: a TLS sender without one is cut off.
  await new Promise<void>((resolve) => {
    const anonymous = tlsConnect({ host: '127.0.0.1', port: rs.ports.tls, ca: readFileSync(rs.caPath, 'utf8') });
    anonymous.on('error', () => undefined);
    anonymous.on('close', () => resolve());
  });
  const confPath = join(h.root, 'siem.conf');
  writeFileSync(confPath, JSON.stringify({ ...JSON.parse(readFileSync(h.configPath, 'utf8')), siem: { host: '127.0.0.1', port: rs.ports.tls, transport: 'tls', ca: rs.caPath, client_cert: true } }));
  const { config } = await loadConfig(confPath);
  const logs: LogRecord[] = [];
  const logger = new KdsLogger({ level: 'debug', sinks: [(r) => logs.push(r)] });
  // The service's own wiring (kds run): engine events with threat names → SIEM; timings shortened.
  const obs = (await ServiceObservability.start({
    config,
    engine: h.built.engine,
    client: h.built.client,
    logger,
    fingerprint256: h.fingerprint256,
    tuning: { kataUnreachableAfterMs: 500, probeIdleMs: 150, auditIntervalMs: 100, siemRetryBaseMs: 50, siemRetryMaxMs: 500 },
  }))!;
  const stream = attachEventStream(h.built, config, logger, { also: (e) => obs.published(e) });

  const got = () => rs.messages('tls');
  const arrived = (cls: string) => waitFor(`${cls} at rsyslog`, () => got().some((l) => classOf(l) === cls), 30_000);

  await h.start();
  stream.started();
  await arrived('service-start');

  // Verdicts: a detection with a hostile name, a scan error, a timeout reported by KATA; a file too large.
  writeFileSync(join(h.dirs.in, hostile), EICAR);
  writeFileSync(join(h.dirs.in, 'broken.bin'), 'KDS-TEST-ERROR\n');
  writeFileSync(join(h.dirs.in, 'slow.bin'), 'KDS-TEST-TIMEOUT\n');
  writeFileSync(join(h.dirs.in, 'huge.iso'), Buffer.alloc(20 * 1024, 7));
  await waitFor('three files in quarantine', () => readdirSync(h.dirs.qrnt).length === 3, 30_000);
  for (const cls of ['file-detected', 'file-error', 'file-timeout', 'file-too-large']) await arrived(cls);

  // The input share disappears and comes back.
  renameSync(h.dirs.in, `${h.dirs.in}.away`);
  await arrived('folder-down');
  renameSync(`${h.dirs.in}.away`, h.dirs.in);
  await arrived('folder-up');

  // The KATA administrator rejects the integration, then accepts it again.
  await emulator.reject(config.system_id);
  await arrived('approval-lost');
  assert.equal(obs.readiness().ready, false);
  assert.match(obs.readiness().reasons.join('\n'), new RegExp(`rejected this external system.*${config.system_id}`));
  const row = (await emulator.systems()).find((s) => s.sensorId === config.system_id)!;
  await emulator.approve(config.system_id, row.fingerprint);
  await arrived('approval-granted');

  // KATA goes away, and comes back on the same address with its data.
  const { port, dataDir } = emulator;
  await emulator.close();
  await arrived('kata-unreachable');
  assert.match(obs.readiness().reasons.join('\n'), /KATA is unreachable/);
  emulator = await startEmulator({ host: '127.0.0.1', port, dataDir, autoApprove: true, verdictDelayMs: 50 });
  await arrived('kata-reachable');
  await waitFor('ready again', () => obs.readiness().ready);

  // People act on quarantine from other processes; the service follows their audit.
  const release = await runKds(['quarantine', 'release', '--config', h.configPath, '--user', 'alice', '--reason', 'false positive', hostile]);
  assert.equal(release.code, 0, release.stderr);
  const del = await runKds(['quarantine', 'delete', '--config', h.configPath, '--user', 'bob', 'broken.bin']);
  assert.equal(del.code, 0, del.stderr);
  await arrived('quarantine-release');
  await arrived('quarantine-delete');

  // As kds run stops: the engine, the published events (threat names waited for), then the rest.
  await h.built.engine.stop();
  await stream.close();
  await obs.close();
  await h.stop();
  await arrived('service-stop');

  // Exactly once each, in the order they happened.
  const lines = got();
  assert.deepEqual(
    lines.map(classOf),
    ['service-start', ...lines.map(classOf).filter((c) => c.startsWith('file-')), 'folder-down', 'folder-up', 'approval-lost', 'approval-granted', 'kata-unreachable', 'kata-reachable', 'quarantine-release', 'quarantine-delete', 'service-stop'],
  );
  assert.deepEqual(lines.map(classOf).filter((c) => c.startsWith('file-')).sort(), ['file-detected', 'file-error', 'file-timeout', 'file-too-large']);
  const records = lines.map((l) => {
    // Nothing on the wire reorders or breaks text when shown.
    assert.doesNotMatch(l, /[\u0000-\u001f\u202a-\u202e\u2066-\u2069]/);
    const s = parseRfc5424(l);
    assert.equal(s.appName, 'kds');
    assert.equal(s.pri >> 3, 16, 'facility local0');
    const cef = parseCef(s.msg);
    assert.equal(cef.classId, s.msgId);
    assert.deepEqual([cef.version, cef.vendor, cef.product], ['0', 'Kaspersky', 'KATA Directory Scanner']);
    assert.equal(cef.ext.deviceExternalId, config.system_id);
    assert.equal(cef.ext.cs5Label, 'centralNode');
    assert.equal(cef.ext.cs5, '127.0.0.1');
    assert.ok(Number(cef.ext.rt) > 0);
    return cef;
  });
  const by = (cls: string) => records.find((r) => r.classId === cls)!;
  const detected = by('file-detected');
  assert.equal(detected.severity, '8');
  // The name as an analyst reads it: every character visible, | and = as themselves, the newline and the override as escapes.
  assert.equal(detected.ext.fname, visibleValue(hostile));
  assert.equal(detected.ext.fname, 'invoice|2024=paid\\\\final\\nline2 счёт\\u202Egpj.exe');
  assert.equal(detected.ext.fsize, String(EICAR.length));
  assert.match(detected.ext.fileHash!, /^[0-9a-f]{64}$/);
  assert.equal(detected.ext.cs1Label, 'threat');
  assert.ok(detected.ext.cs1 && detected.ext.cs1.length > 0, 'threat name');
  assert.equal(detected.ext.cs2Label, 'scanId');
  assert.match(detected.ext.cs2!, /^[0-9a-f-]{36}$/);
  assert.equal(detected.ext.cs3, 'default');
  assert.equal(detected.ext.act, 'quarantined');
  assert.equal(detected.ext.filePath, visibleValue(join(h.dirs.qrnt, hostile)));
  assert.equal(by('file-error').ext.cs4, 'error');
  assert.equal(by('file-timeout').ext.cs4, 'timeout');
  assert.equal(by('file-too-large').ext.fname, 'huge.iso');
  assert.equal(by('folder-down').ext.cs6, 'in');
  assert.equal(by('approval-lost').ext.cs6, 'rejected');
  assert.match(by('kata-unreachable').ext.reason!, /network|tls|timeout/);
  const released = by('quarantine-release');
  assert.equal(released.ext.suser, 'alice');
  assert.equal(released.ext.reason, 'false positive');
  assert.equal(released.ext.fname, visibleValue(hostile));
  assert.equal(released.ext.fileHash, detected.ext.fileHash);
  assert.equal(by('quarantine-delete').ext.suser, 'bob');
  // Said once each in the log, never a drop.
  assert.equal(logs.filter((r) => r.event === 'siem-dropping').length, 0);
  assert.equal(logs.filter((r) => r.event === 'kata-unreachable').length, 1);
});

test('SIEM over TCP (LF framing): rsyslog stopped mid-run, scanning goes on, the queue keeps what it can, drops are counted and said once, delivery resumes', async (t) => {
  if (!needRsyslog(t)) return;
  const metricsPort = await freePort();
  const h = await startHarness({ startEngine: false });
  const rs = await startRsyslog(join(h.root, 'rsyslog'), []);
  t.after(() => rs.stop());
  const queueSize = 10;
  writeFileSync(
    h.configPath,
    JSON.stringify({
      ...JSON.parse(readFileSync(h.configPath, 'utf8')),
      metrics_listen: `127.0.0.1:${metricsPort}`,
      siem: { host: '127.0.0.1', port: rs.ports.tcp, transport: 'tcp', framing: 'lf', queue_size: queueSize },
    }),
  );
  const kds = spawnKds(['run', '--config', h.configPath]);
  t.after(() => stopChild(kds));
  await waitFor('service-start at rsyslog', () => rs.messages('tcp').some((l) => classOf(l) === 'service-start'), 30_000);
  writeFileSync(join(h.dirs.in, 'before.com'), EICAR);
  await waitFor('the first detection at rsyslog', () => rs.messages('tcp').some((l) => classOf(l) === 'file-detected'), 30_000);

  await rs.stop();
  await waitForLine(h.config.log_file, 'SIEM unreachable', (l) => l.includes('siem-unreachable'));
  const during = 25;
  for (let i = 0; i < during; i++) writeFileSync(join(h.dirs.in, `during-${i}.com`), `${EICAR}${' '.repeat(i)}`);
  // Scanning does not wait for the SIEM: every file is routed while it is down.
  await waitFor('all files quarantined while the SIEM is down', () => readdirSync(h.dirs.qrnt).length === during + 1, 60_000);
  const metric = async (name: string) => {
    const text = (await httpGet({ port: metricsPort, path: '/metrics' })).body;
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(' ')[1]) : NaN;
  };
  await waitFor('drops counted', async () => (await metric('kds_siem_events_dropped_total')) === during - queueSize, 30_000);
  assert.equal(await metric('kds_siem_queue_length'), queueSize);
  assert.equal(await metric('kds_siem_connected'), 0);

  await rs.start();
  await waitFor('the queued events delivered', () => rs.messages('tcp').filter((l) => classOf(l) === 'file-detected').length === 1 + queueSize, 60_000);
  writeFileSync(join(h.dirs.in, 'after.com'), `${EICAR}${' '.repeat(40)}`);
  await waitFor('a new event delivered', () => rs.messages('tcp').some((l) => classOf(l) === 'file-detected' && l.includes('fname=after.com')), 30_000);
  assert.equal(await metric('kds_siem_connected'), 1);
  kds.child.kill('SIGTERM');
  assert.equal(await kds.exited, 0, kds.stderr());

  const log = readFileSync(h.config.log_file, 'utf8');
  assert.equal(log.split('\n').filter((l) => l.includes('siem-dropping')).length, 1, 'the drops are said once');
  assert.match(log, /siem-connected.*takes events again.*15 dropped/);
  // Each event at most once, every line valid CEF.
  const names = rs.messages('tcp').map((l) => parseCef(parseRfc5424(l).msg)).filter((c) => c.classId === 'file-detected').map((c) => c.ext.fname);
  assert.equal(new Set(names).size, names.length);
  assert.ok(names.includes('before.com') && names.includes('after.com'));
  assert.equal(rs.messages('tcp').filter((l) => classOf(l) === 'service-stop').length, 1);
});

test('SIEM over UDP, in CEF and in rfc5424-json: start, detection and stop arrive once each; the hostile name escaped in CEF, exact in JSON', async (t) => {
  if (!needRsyslog(t)) return;
  for (const format of ['cef', 'rfc5424-json'] as const) {
    const h = await startHarness({ startEngine: false });
    const rs = await startRsyslog(join(h.root, 'rsyslog'), []);
    t.after(() => rs.stop());
    writeFileSync(h.configPath, JSON.stringify({ ...JSON.parse(readFileSync(h.configPath, 'utf8')), siem: { host: '127.0.0.1', port: rs.ports.udp, transport: 'udp', format } }));
    const kds = spawnKds(['run', '--config', h.configPath]);
    t.after(() => stopChild(kds));
    await waitFor(`${format}: service-start over UDP`, () => rs.messages('udp').some((l) => classOf(l) === 'service-start'), 30_000);
    writeFileSync(join(h.dirs.in, hostile), EICAR);
    await waitFor(`${format}: the detection over UDP`, () => rs.messages('udp').some((l) => classOf(l) === 'file-detected'), 30_000);
    kds.child.kill('SIGTERM');
    assert.equal(await kds.exited, 0, kds.stderr());
    await waitFor(`${format}: service-stop over UDP`, () => rs.messages('udp').some((l) => classOf(l) === 'service-stop'), 30_000);
    assert.deepEqual(rs.messages('udp').map(classOf), ['service-start', 'file-detected', 'service-stop'], format);
    const line = rs.messages('udp').find((l) => classOf(l) === 'file-detected')!;
    assert.doesNotMatch(line, /[\u0000-\u001f\u202a-\u202e\u2066-\u2069]/);
    if (format === 'cef') {
      const cef = parseCef(parseRfc5424(line).msg);
      assert.equal(cef.classId, 'file-detected');
      assert.equal(cef.ext.fname, 'invoice|2024=paid\\\\final\\nline2 счёт\\u202Egpj.exe');
      assert.equal(cef.ext.cs1Label, 'threat');
      assert.match(cef.ext.fileHash!, /^[0-9a-f]{64}$/);
    } else {
      const event = JSON.parse(parseRfc5424(line).msg) as { event: string; file: { name: string; sha256: string }; severity: number; share: string; threat?: string };
      assert.equal(event.event, 'file-detected');
      assert.equal(event.file.name, hostile);
      assert.equal(event.severity, 8);
      assert.equal(event.share, 'default');
      assert.ok(event.threat);
    }
    await rs.stop();
  }
});
