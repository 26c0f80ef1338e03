import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { extractLineTime, parseTimeInput } from '../../src/icapLog/lineTime';
import { classifyVerdict, parseIcapLine } from '../../src/icapLog/parseIcapLine';

const dir = join(__dirname, '..', 'fixtures', 'icap');
const opts = { defaultYear: 2024 };
const slice = (line: string, s: { start: number; end: number } | undefined) => (s ? line.slice(s.start, s.end) : undefined);

test('time formats: ISO with/without zone, SQL-like with ms, syslog, CLF, ctime, dd.mm.yyyy, epoch', () => {
  const cases: Array<[string, string, string]> = [
    ['2024-05-01T10:00:00.123+03:00 x', '2024-05-01T07:00:00.123Z', '2024-05-01T10:00:00.123+03:00'],
    ['2024-05-01T10:00:00Z x', '2024-05-01T10:00:00.000Z', '2024-05-01T10:00:00Z'],
    ['2024-05-01 10:00:00,5 x', '2024-05-01T10:00:00.500Z', '2024-05-01 10:00:00,5'],
    ['2024-05-01 10:00:00.123 [1:2] INFO', '2024-05-01T10:00:00.123Z', '2024-05-01 10:00:00.123'],
    ['May  1 12:00:00 host prog[1]: m', '2024-05-01T12:00:00.000Z', 'May  1 12:00:00'],
    ['10.0.0.5 - - [01/May/2024:09:00:54 +0300] "REQMOD', '2024-05-01T06:00:54.000Z', '[01/May/2024:09:00:54 +0300]'],
    ['Wed May  1 11:00:44 2024, 5457/348, general', '2024-05-01T11:00:44.000Z', 'Wed May  1 11:00:44 2024'],
    ['01.05.2024 13:00:46 [info] x', '2024-05-01T13:00:46.000Z', '01.05.2024 13:00:46'],
    ['1714557600.122    668 10.0.0.5 ICAP_MOD/200', '2024-05-01T10:00:00.122Z', '1714557600.122'],
  ];
  for (const [line, iso, text] of cases) {
    const tm = extractLineTime(line, opts);
    assert.equal(tm?.iso, iso, line);
    assert.equal(slice(line, tm), text, line);
  }
  assert.equal(extractLineTime('2024-05-01 10:00:00 x', { zoneOffsetMinutes: 180 })?.iso, '2024-05-01T07:00:00.000Z');
  for (const bad of ['', 'no time here', '2024-13-45 99:99:99 invalid', 'Feb 30 25:61:61', '12345678901.5 eleven digits', 'x 1714557600 not at start']) {
    assert.equal(extractLineTime(bad, opts), undefined, bad);
  }
  assert.equal(parseTimeInput('2024-05-01'), Date.UTC(2024, 4, 1));
  assert.equal(parseTimeInput('2024-05-01 10:00'), Date.UTC(2024, 4, 1, 10));
  assert.equal(parseTimeInput('yesterday'), undefined);
  assert.equal(parseTimeInput('2024-05-01 10:00 trailing'), undefined);
});

test('KATA-like line: time, level, mode, verdict, fields (key=value, key="quoted", key: value), addresses', () => {
  const line = '2024-05-01 10:00:00.123 [7156:420110] INFO  preprocessor_icap: RESPMOD from 10.20.30.40:51234 url=http://example.com/a.deb?x=1 scan_id=abc verdict: detected threat="EICAR-Test-File" in blocking_advanced mode';
  const p = parseIcapLine(line, opts);
  assert.equal(p.raw, line);
  assert.equal(p.time?.iso, '2024-05-01T10:00:00.123Z');
  assert.equal(p.level?.value, 'INFO');
  assert.equal(p.mode?.value, 'blocking_advanced');
  assert.equal(slice(line, p.mode?.span), 'blocking_advanced mode');
  assert.deepEqual([p.verdict?.value, p.verdict?.class, slice(line, p.verdict?.span)], ['detected', 'detected', 'detected']);
  assert.equal(p.method?.value, 'RESPMOD');
  assert.deepEqual(p.fields.map((f) => [f.key, f.value]), [['url', 'http://example.com/a.deb?x=1'], ['scan_id', 'abc'], ['verdict', 'detected'], ['threat', 'EICAR-Test-File']]);
  assert.equal(slice(line, p.fields[3]!.valueSpan), '"EICAR-Test-File"');
  assert.deepEqual(p.addresses.map((a) => [a.kind, a.value]), [['ipv4', '10.20.30.40:51234'], ['url', 'http://example.com/a.deb?x=1']]);
  for (const a of p.addresses) assert.equal(slice(line, a.span), a.value);
  // highlights are sorted and do not overlap
  for (let i = 1; i < p.highlights.length; i++) assert.ok(p.highlights[i]!.start >= p.highlights[i - 1]!.end);
  assert.ok(p.highlights.some((h) => h.kind === 'verdict') && p.highlights.some((h) => h.kind === 'time') && p.highlights.some((h) => h.kind === 'address'));
});

test('verdict forms: verdict=, "verdict":"…", verdict "quoted", verdict clean, Verdict for X is detected; not "verdict cache"', () => {
  const cases: Array<[string, string | undefined, string | undefined]> = [
    ['scan verdict=clean size=1', 'clean', 'clean'],
    ['{"time":"2024-05-01T05:00:00Z","verdict":"timeout"}', 'timeout', 'timeout'],
    ['verdict="Not detected" mode=x', 'Not detected', 'clean'],
    ['kata_resp: verdict clean for http://x.test/', 'clean', 'clean'],
    ['Verdict for 50a2 is detected (EICAR)', 'detected', 'detected'],
    ['ICAP_ERR verdict=error', 'error', 'error'],
    ['switching mode: verdict cache flushed', undefined, undefined],
    ['waiting for scanner verdict scan_id=1', undefined, undefined],
    ['sent 3 verdicts to the CN', undefined, undefined],
  ];
  for (const [line, value, cls] of cases) {
    const p = parseIcapLine(line);
    assert.equal(p.verdict?.value, value, line);
    assert.equal(p.verdict?.class, cls, line);
  }
  assert.equal(classifyVerdict('not_detected'), 'clean');
  assert.equal(classifyVerdict('HEUR:Trojan.Win32.Generic'), 'detected');
});

test('addresses: IPv6 (plain, bracketed with port), host:port, icap:// URLs; times are not addresses', () => {
  const line = 'Mon May  1 10:00:00 2024 fd00::15 -> [2001:db8::9]:1344 via kata-cn.corp.local:443 and localhost:1344 icap://10.0.0.9:1344/kata_resp 10:00:00';
  const p = parseIcapLine(line);
  assert.deepEqual(p.addresses.map((a) => [a.kind, a.value]), [
    ['ipv6', 'fd00::15'],
    ['ipv6', '[2001:db8::9]:1344'],
    ['hostport', 'kata-cn.corp.local:443'],
    ['hostport', 'localhost:1344'],
    ['url', 'icap://10.0.0.9:1344/kata_resp'],
  ]);
});

test('"tag: message" and "ERROR: text" are not fields; "Preview: 4096" and "client: 10.0.0.5, x" are', () => {
  assert.deepEqual(parseIcapLine('preprocessor_icap: waiting for data').fields, []);
  assert.deepEqual(parseIcapLine('ERROR: connection refused').fields, []);
  assert.equal(parseIcapLine('ERROR: connection refused').level?.value, 'ERROR');
  assert.deepEqual(parseIcapLine('OPTIONS Preview: 4096 client: 10.0.0.5, done').fields.map((f) => [f.key, f.value]), [['Preview', '4096'], ['client', '10.0.0.5']]);
});

test('every fixture line parses without throwing; lines with nothing recognisable come back raw', () => {
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    const lines = readFileSync(join(dir, name), 'utf8').split(/\r?\n/);
    let timed = 0;
    for (const l of lines) {
      const p = parseIcapLine(l, opts);
      assert.equal(p.raw, l);
      if (p.time) timed++;
      for (const h of p.highlights) assert.ok(h.start >= 0 && h.end <= l.length && h.start < h.end);
      assert.doesNotThrow(() => JSON.stringify(p));
    }
    if (name !== 'garbage.log') assert.ok(timed >= lines.length * 0.9, `${name}: ${timed}/${lines.length} lines with a time`);
  }
  for (const g of ['', '   ', '=====', '=value', ':::', '[[[', '{"unterminated', '\u0000\ufffd\ufffd', 'x'.repeat(200_000) + ' verdict=clean']) {
    const p = parseIcapLine(g);
    assert.equal(p.raw, g);
    assert.equal(p.time, undefined);
  }
  const bare = parseIcapLine('just some words without structure');
  assert.deepEqual([bare.fields, bare.addresses, bare.highlights, bare.verdict], [[], [], [], undefined]);
});
