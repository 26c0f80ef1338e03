import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeCefHeader, escapeCefValue, formatCef, visibleValue } from '../../src/observability/cefFormat';
import type { SiemEvent, SiemSource } from '../../src/observability/siemEvent';
import { siemClasses } from '../../src/observability/siemEvent';
import { eventJson, formatSyslog, frame, syslogSeverity } from '../../src/observability/syslogMessage';
import { auditSiemEvent } from '../../src/observability/engineSiemEvents';
import { parseCef, parseRfc5424 } from '../helpers/cefParser';

const src: SiemSource = { hostname: 'cn-1.example.local', systemId: '0f8fad5b-d9cb-469f-a165-70867728950e', centralNode: 'localhost', version: '0.1.0', pid: 4242 };
const hostile = 'a|b=c\\d\ne\rf\tg\u202Ehcod.exe\u0085\u2066x';
const at = Date.UTC(2024, 4, 1, 12, 0, 0, 123);

function detection(name: string, extra: Partial<SiemEvent> = {}): SiemEvent {
  return { cls: 'file-detected', time: at, share: 'default', file: { name, size: 68, sha256: 'ab'.repeat(32), path: `/mnt/qrnt/${name}` }, threat: 'EICAR-Test-File', scanId: '6c7a5b0e-0000-4000-8000-000000000001', verdict: 'detect', ...extra };
}

test('CEF escaping follows the specification: \\ and | in the header; \\, = and line breaks in values; | left alone in values', () => {
  assert.equal(escapeCefHeader('a|b\\c'), 'a\\|b\\\\c');
  assert.equal(escapeCefHeader('two\nlines'), 'two lines');
  assert.equal(escapeCefValue('a=b\\c|d'), 'a\\=b\\\\c|d');
  assert.equal(escapeCefValue('x\r\ny\nz\rw'), 'x\\ny\\nz\\rw');
});

test('a hostile file name reaches the record with every character visible and nothing that could end a field, a key or a line', () => {
  const line = formatCef(detection(hostile), src);
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/, 'no raw control or bidi character');
  const cef = parseCef(line);
  assert.deepEqual([cef.version, cef.vendor, cef.product, cef.deviceVersion, cef.classId, cef.name, cef.severity], ['0', 'Kaspersky', 'KATA Directory Scanner', '0.1.0', 'file-detected', 'Threat detected, file quarantined', '8']);
  assert.equal(cef.ext.fname, 'a|b=c\\\\d\\ne\\rf\\tg\\u202Ehcod.exe\\u0085\\u2066x');
  assert.equal(cef.ext.fname, visibleValue(hostile));
  assert.equal(cef.ext.filePath, visibleValue(`/mnt/qrnt/${hostile}`));
  assert.equal(cef.ext.fsize, '68');
  assert.equal(cef.ext.fileHash, 'ab'.repeat(32));
  assert.deepEqual([cef.ext.cs1Label, cef.ext.cs1, cef.ext.cs2Label, cef.ext.cs3Label, cef.ext.cs3, cef.ext.cs4, cef.ext.cs5Label, cef.ext.cs5], ['threat', 'EICAR-Test-File', 'scanId', 'share', 'default', 'detect', 'centralNode', 'localhost']);
  assert.deepEqual([cef.ext.rt, cef.ext.dvchost, cef.ext.dvcpid, cef.ext.deviceExternalId, cef.ext.act, cef.ext.cat], [String(at), 'cn-1.example.local', '4242', src.systemId, 'quarantined', 'detection']);
  // The visible form is unambiguous: a name that already looks escaped stays distinguishable.
  const fnameOf = (name: string) => parseCef(formatCef(detection(name), src)).ext.fname;
  assert.notEqual(fnameOf('e\\u202Ex'), fnameOf('e\u202Ex'));
  assert.equal(fnameOf('e\\u202Ex'), 'e\\\\u202Ex');
});

test('a threat name or reason with = and spaces, and a value beyond the specification\'s length, stay one value', () => {
  const long = 'x'.repeat(1100) + '\u202E';
  const cef = parseCef(formatCef(detection(long, { threat: 'Trojan.Win32=Agent gen', reason: 'why = because' }), src));
  assert.equal(cef.ext.cs1, 'Trojan.Win32=Agent gen');
  assert.equal(cef.ext.fname!.length, 1023);
  assert.ok(cef.ext.fname!.endsWith('…'));
  // Cut between whole escapes only.
  const cut = parseCef(formatCef(detection('y'.repeat(1017) + '\u202E'.repeat(3)), src)).ext.fname!;
  assert.match(cut, /^y+(\\u202E)*…$/);
});

test('every event class has a name, a CEF severity 0–10 and a syslog severity; absent fields are left out', () => {
  for (const [cls, c] of Object.entries(siemClasses)) {
    assert.ok(c.name.length > 3 && c.severity >= 0 && c.severity <= 10, cls);
    const cef = parseCef(formatCef({ cls: cls as SiemEvent['cls'], time: at }, src));
    assert.equal(cef.classId, cls);
    assert.equal(cef.ext.fname, undefined);
    assert.equal(cef.ext.cs1Label, undefined);
  }
  assert.deepEqual([10, 9, 8, 7, 5, 4, 3, 0].map(syslogSeverity), [2, 2, 4, 4, 5, 5, 6, 6]);
});

test('RFC 5424 messages: PRI from facility and severity, header fields, CEF or one JSON object, never a raw newline', () => {
  const cefLine = formatSyslog(detection(hostile), src, { format: 'cef', facility: 16 });
  const s = parseRfc5424(cefLine);
  assert.deepEqual([s.pri, s.timestamp, s.hostname, s.appName, s.procId, s.msgId], [16 * 8 + 4, '2024-05-01T12:00:00.123Z', 'cn-1.example.local', 'kds', '4242', 'file-detected']);
  assert.equal(parseCef(s.msg).ext.fname, visibleValue(hostile));

  const jsonLine = formatSyslog(detection(hostile), { ...src, hostname: 'bad host\nname' }, { format: 'rfc5424-json', facility: 13 });
  assert.doesNotMatch(jsonLine, /[\n\r\u202e\u2066\u0085]/);
  const j = parseRfc5424(jsonLine);
  assert.equal(j.hostname, 'badhostname');
  assert.equal(j.pri, 13 * 8 + 4);
  const body = JSON.parse(j.msg) as ReturnType<typeof eventJson>;
  assert.deepEqual(body.file, { name: hostile, size: 68, sha256: 'ab'.repeat(32), path: `/mnt/qrnt/${hostile}` });
  assert.deepEqual([body.event, body.severity, body.share, body.threat, body.systemId, body.centralNode], ['file-detected', 8, 'default', 'EICAR-Test-File', src.systemId, 'localhost']);
});

test('framing for streams: octet counting counts bytes, not characters; LF framing ends with one newline', () => {
  const msg = '<134>1 - - kds - x - счёт';
  const counted = frame(msg, 'octet-counting').toString('utf8');
  assert.equal(counted, `${Buffer.byteLength(msg)} ${msg}`);
  assert.equal(frame(msg, 'lf').toString('utf8'), `${msg}\n`);
});

test('a release from the quarantine audit is an audit event with who, why and the exact bytes', () => {
  const e = auditSiemEvent({ time: '2024-05-01T12:00:00.000Z', user: 'alice', action: 'release', file: hostile, sha256: 'cd'.repeat(32), from: `/mnt/qrnt/${hostile}`, to: `/mnt/out/${hostile}`, reason: 'false = positive' }, 'audit-7-0', 'default');
  const cef = parseCef(formatCef(e, src));
  assert.deepEqual([cef.classId, cef.severity, cef.ext.act, cef.ext.cat, cef.ext.suser, cef.ext.reason, cef.ext.externalId, cef.ext.fileHash], ['quarantine-release', '6', 'released', 'audit', 'alice', 'false = positive', 'audit-7-0', 'cd'.repeat(32)]);
  assert.equal(cef.ext.filePath, visibleValue(`/mnt/out/${hostile}`));
  assert.equal(cef.ext.rt, String(Date.UTC(2024, 4, 1, 12)));
});
