/**
 * Issue 23, points 11 (captures KDS took are labelled so) and 12: the ICAP evidence in the support
 * bundle — the preprocessor_icap.log lines of the problem's time (or the whole log within the
 * limit, or its end), the latest probe report, each capture's transactions and diagnosis beside
 * its pcap — and the lines of summary.md that say what they show.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { saveProbeReport } from '../../src/icap/probeReportFile';
import type { ProbeReport } from '../../src/icap/icapProbe';
import { LocalHostAccess } from '../../src/support/hostAccess';
import { ICAP_LOG_LIMIT, extractIcapLog, parseProblemWindow } from '../../src/support/icapLogExtract';
import { SecretScrubber } from '../../src/support/secretScrub';
import { type Discovery, compose, gather } from '../../src/support/supportBundle';
import { Conversation, icap, pcapFile } from '../helpers/captureWriter';

const dir = mkdtempSync(join(tmpdir(), 'kds-evidence-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const pad = (n: number) => String(n).padStart(2, '0');
/** KATA's log style: local time without a zone, one transaction line and one verdict line a second. */
function logLine(ms: number, i: number): string {
  const d = new Date(ms);
  const stamp = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.000`;
  return i % 2 === 0
    ? `${stamp} [2562] INFO preprocessor_icap: RESPMOD request from 10.0.0.2:${40000 + (i % 1000)} url=http://files.test/${i}.bin accepted in ${i % 4 === 0 ? 'blocking_simple' : 'monitoring'} mode`
    : `${stamp} [2562] INFO preprocessor_icap: scan_id=${i} size=68 sha256=275a verdict=${i % 10 === 1 ? 'detected' : 'clean'} action=passed`;
}

/** A log of `lines` lines from `start`, a transaction and its verdict every `stepMs`; returns its path and the lines. */
function writeLog(name: string, start: number, lines: number, stepMs = 1000): { path: string; all: string[] } {
  const all = Array.from({ length: lines }, (_, i) => logLine(start + Math.floor(i / 2) * stepMs, i));
  const path = join(dir, name);
  writeFileSync(path, all.join('\n') + '\n');
  return { path, all };
}

/** This computer, counting the bytes read from files (a big log must cost a few small reads). */
class CountingHost extends LocalHostAccess {
  bytesRead = 0;
  override read(path: string, start: number): Readable {
    const s = super.read(path, start);
    s.on('data', (d: Buffer) => (this.bytesRead += d.length));
    return s;
  }
}

test('the problem\'s time as people write it: ranges, short ends, zones, the prefilled KDS range; nothing readable', () => {
  const utc = (s: string) => Date.parse(s);
  assert.deepEqual(parseProblemWindow('2024-05-01 10:00–10:30 UTC+3'), { fromMs: utc('2024-05-01T07:00:00Z'), toMs: utc('2024-05-01T07:30:00Z') });
  assert.deepEqual(parseProblemWindow('2024-05-01T10:00:00.000Z – 2024-05-01T10:30:00.000Z (3 errors in the KDS log)'), { fromMs: utc('2024-05-01T10:00:00Z'), toMs: utc('2024-05-01T10:30:00Z') });
  assert.deepEqual(parseProblemWindow('01.05.2024 10:00:00 - 01.05.2024 12:00:00', 180), { fromMs: utc('2024-05-01T07:00:00Z'), toMs: utc('2024-05-01T09:00:00Z') });
  assert.deepEqual(parseProblemWindow('since 2024-05-01 23:30 to 00:15'), { fromMs: utc('2024-05-01T23:30:00Z'), toMs: utc('2024-05-02T00:15:00Z') });
  assert.deepEqual(parseProblemWindow('2024-05-01 10:00'), { fromMs: utc('2024-05-01T10:00:00Z'), toMs: utc('2024-05-01T10:00:00Z') });
  assert.equal(parseProblemWindow('yesterday, all day'), undefined);
});

test('preprocessor_icap.log over the limit: the lines of the problem\'s time ±15 min, found with a few small reads', async () => {
  const start = Date.parse('2024-05-01T00:00:00Z');
  const { path, all } = writeLog('big.log', start, 2 * 48 * 360, 10_000); // two days, ≈4.6 MB
  const size = statSync(path).size;
  const host = new CountingHost();
  const window = parseProblemWindow('2024-05-02 03:00–03:10')!;
  const part = await extractIcapLog(host, path, { window, limit: 1024 * 1024 });
  assert.ok(part);
  assert.equal(part.extent, 'window');
  assert.equal(part.totalBytes, size);
  // Exactly the lines from 02:45:00 to 03:25:00, as a grep on the times would give.
  const expected = all.filter((l) => l.slice(0, 19) >= '2024-05-02 02:45:00' && l.slice(0, 19) <= '2024-05-02 03:25:00');
  assert.equal(part.text, expected.join('\n') + '\n');
  assert.equal(part.lines, expected.length);
  assert.equal(part.firstTime, '2024-05-02T02:45:00.000Z');
  assert.equal(part.lastTime, '2024-05-02T03:25:00.000Z');
  assert.equal(part.accepted.blocking_simple, expected.filter((l) => l.includes('accepted in blocking_simple mode')).length);
  assert.equal(part.accepted.monitoring, expected.filter((l) => l.includes('accepted in monitoring mode')).length);
  assert.equal(part.verdicts.detected, expected.filter((l) => l.includes('verdict=detected')).length);
  assert.ok(host.bytesRead < size / 4, `read ${host.bytesRead} of ${size} bytes`);
});

test('preprocessor_icap.log: the whole log under the limit; its end without a time or when the window holds no line; none', async () => {
  const start = Date.parse('2024-05-01T00:00:00Z');
  const small = writeLog('small.log', start, 100);
  const whole = await extractIcapLog(new LocalHostAccess(), small.path, { window: parseProblemWindow('2030-01-01 10:00')! });
  assert.equal(whole?.extent, 'whole');
  assert.equal(whole?.text, readFileSync(small.path, 'utf8'));

  const big = writeLog('big2.log', start, 20_000);
  const limit = 64 * 1024;
  const tail = await extractIcapLog(new LocalHostAccess(), big.path, { limit });
  assert.equal(tail?.extent, 'tail');
  assert.ok(tail!.bytes <= limit);
  assert.ok(tail!.text.endsWith(`${big.all[big.all.length - 1]}\n`));
  assert.ok(big.all.includes(tail!.text.split('\n')[0]!), 'starts at a whole line');

  const later = await extractIcapLog(new LocalHostAccess(), big.path, { limit, window: parseProblemWindow('2024-06-01 10:00')! });
  assert.equal(later?.extent, 'tail');
  assert.equal(later?.windowEmpty, true);

  assert.equal(await extractIcapLog(new LocalHostAccess(), join(dir, 'no-such.log')), undefined);
  assert.equal(ICAP_LOG_LIMIT, 2 * 1024 * 1024);
});

/** A capture of the proxy's traffic and of KDS's own probe: the proxy's RESPMOD, the probe's discovery 404s. */
function writeCaptureFile(name: string): string {
  const proxy = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }).handshake();
  const [m] = icap.respmod('10.0.0.9', 'http://example/file.deb', Buffer.from('hello'), null);
  proxy.send(0, m).send(1, icap.noContent()).close();
  const probe = new Conversation({ addr: '10.0.0.5', port: 50000 }, { addr: '10.0.0.9', port: 1344 }, { time: 1_780_000_010 }).handshake();
  for (const path of ['av/respmod', 'respmod']) {
    probe.send(0, `OPTIONS icap://10.0.0.9:1344/${path} ICAP/1.0\r\nHost: 10.0.0.9\r\nUser-Agent: kds-icap-probe\r\nX-KDS-Probe: discover 1a2b3c4d\r\nEncapsulated: null-body=0\r\n\r\n`).send(1, icap.error(404, 'Service not found'));
  }
  const path = join(dir, name);
  writeFileSync(path, pcapFile(1, [...proxy.close().frames('ethernet'), ...probe.close().frames('ethernet')]));
  return path;
}

const report = (startedAt: string, text: string): ProbeReport => ({
  uri: 'icap://10.0.0.9:1344/respmod',
  host: '10.0.0.9',
  port: 1344,
  service: 'respmod',
  startedAt,
  run: '1a2b3c4d',
  steps: [],
  conclusion: { kind: 'does-not-block', text, next: 'check Detections in the KATA console' },
  exitCode: 0,
});

test('the bundle carries the ICAP log, the newest probe report and each capture\'s analysis; summary.md says what they show', async () => {
  const log = writeLog('preprocessor_icap.log', Date.parse('2024-05-01T10:00:00Z'), 40);
  const ownCapture = writeCaptureFile('icap-capture-this-20240501.pcap');
  const userCapture = writeCaptureFile('proxy-side.pcap');
  const older = join(dir, 'state-a', 'icap-probe-latest.json');
  const newer = join(dir, 'state-b', 'icap-probe-latest.json');
  await saveProbeReport(older, report('2024-05-01T09:00:00Z', 'an older probe'));
  await saveProbeReport(newer, report('2024-05-01T10:05:00Z', 'EICAR was not blocked'));
  assert.equal(statSync(newer).mode & 0o777, 0o600);
  const host = new LocalHostAccess();
  const d: Discovery = { where: host.where, kdsVersion: '1.0.0', prefill: {}, scrubber: new SecretScrubber(), notes: [] };
  const work = mkdtempSync(join(dir, 'work-'));
  const g = await gather(host, d, { kataLogs: false, addFiles: [userCapture], captures: [ownCapture], icapLog: log.path, problemTime: '2024-05-01 10:00', probeReports: [older, newer, join(dir, 'none.json')], workDir: work });
  const names = g.sources.map((x) => x.name);
  assert.deepEqual(names.filter((n) => !n.startsWith('kds/')), [
    'icap/preprocessor_icap.log',
    'icap/probe-latest.json',
    'captures/icap-capture-this-20240501.pcap',
    'captures/icap-capture-this-20240501.pcap.analysis.txt',
    'captures/proxy-side.pcap',
    'captures/proxy-side.pcap.analysis.txt',
  ]);
  const about = (n: string) => g.sources.find((x) => x.name === n)!.about;
  assert.equal(about('captures/icap-capture-this-20240501.pcap'), 'traffic capture KDS took');
  assert.equal(about('captures/proxy-side.pcap'), 'traffic capture added by the user');
  const analysis = String(g.sources.find((x) => x.name === 'captures/proxy-side.pcap.analysis.txt')!.data);
  assert.match(analysis, /^proxy-side\.pcap: pcap/);
  assert.match(analysis, /KDS's own discovery/);
  assert.doesNotMatch(analysis, /request errors/);
  assert.equal(String(g.sources.find((x) => x.name === 'icap/preprocessor_icap.log')!.data), readFileSync(log.path, 'utf8'));
  assert.match(String(g.sources.find((x) => x.name === 'icap/probe-latest.json')!.data), /EICAR was not blocked/);

  const staging = mkdtempSync(join(dir, 'stage-'));
  mkdirSync(staging, { recursive: true });
  const { entries } = await compose(d, g, {}, 'en', staging);
  const md = entries[0]!.data!.toString('utf8');
  const section = md.slice(md.indexOf('## What the ICAP evidence shows'), md.indexOf('## Contents'));
  assert.match(section, /\*\*preprocessor_icap\.log\*\* \(`icap\/preprocessor_icap\.log`, from .*\): the whole log \(40 lines, 2024-05-01 10:00:00 to 2024-05-01 10:00:19 UTC\)/);
  assert.match(section, /Transactions accepted: blocking_simple 10, monitoring 10\./);
  assert.match(section, /Verdicts: clean 16, detected 4\./);
  assert.match(section, /\*\*Latest ICAP probe\*\* \(`icap\/probe-latest\.json`, 2024-05-01 10:05:00 UTC\) of icap:\/\/10\.0\.0\.9:1344\/respmod: EICAR was not blocked\. Next step it gave: check Detections/);
  assert.match(section, /\*\*Capture\*\* `captures\/icap-capture-this-20240501\.pcap` \(taken by KDS;.*`captures\/icap-capture-this-20240501\.pcap\.analysis\.txt`\): \d+ packet\(s\), 3 ICAP transaction\(s\).*2 of the transactions are KDS's own probe or discovery traffic and are left out of the diagnosis\. Diagnosis: no problem found\./);
  assert.match(section, /`captures\/proxy-side\.pcap` \(added by the person filing this request/);
  assert.match(md, /\| captures\/proxy-side\.pcap\.analysis\.txt \| /);
});

test('without the ICAP log the bundle says where it looked', async () => {
  const host = new LocalHostAccess();
  const d: Discovery = { where: host.where, kdsVersion: '1.0.0', prefill: {}, scrubber: new SecretScrubber(), notes: [] };
  const g = await gather(host, d, { kataLogs: false, addFiles: [], icapLog: join(dir, 'absent', 'preprocessor_icap.log'), workDir: mkdtempSync(join(dir, 'work-')) });
  assert.ok(g.notes.some((n) => /No ICAP log at .*absent\/preprocessor_icap\.log on this computer/.test(n)), g.notes.join('\n'));
  assert.equal(g.evidence.icapLog, undefined);
  const off = await gather(host, d, { kataLogs: false, addFiles: [], icapLog: false, workDir: mkdtempSync(join(dir, 'work-')) });
  assert.ok(!off.notes.some((n) => /ICAP log/.test(n)));
});
