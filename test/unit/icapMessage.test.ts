import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IcapMessageParser,
  IcapParseError,
  type IcapEvent,
  encodeChunk,
  lastChunk,
  parseEncapsulated,
  parseHttpHead,
  parseIcapUri,
  serializeHttpHead,
  serializeIcapRequest,
} from '../../src/icap/icapMessage';
import { mulberry32 } from '../helpers/prng';

const crlf = (s: string) => Buffer.from(s.replace(/\n/g, '\r\n'), 'latin1');

// RFC 3507 A.12 example: req-hdr 63 bytes, res-hdr 79 bytes, body at 142.
const rfcRespmod = crlf(
  'RESPMOD icap://icap.example.local:1344/av/respmod ICAP/1.0\nHost: icap.example.local\nAllow: 204\nPreview: 4\nEncapsulated: req-hdr=0, res-hdr=63, res-body=142\n\n' +
    'GET /files/sample.bin HTTP/1.1\nHost: downloads.example.org\n\n' +
    'HTTP/1.1 200 OK\nContent-Type: application/octet-stream\nContent-Length: 10\n\n' +
    '4\n0123\n0\n\n',
);

function collect(events: IcapEvent[]) {
  const body = Buffer.concat(events.filter((e) => e.type === 'data').map((e) => (e as { data: Buffer }).data));
  return { body, types: events.map((e) => e.type) };
}

test('parses the RFC 3507 RESPMOD preview example and waits for 100 Continue', () => {
  const p = new IcapMessageParser();
  const ev = p.push(rfcRespmod);
  const head = ev.find((e) => e.type === 'head');
  assert.ok(head && head.type === 'head' && head.head.kind === 'request');
  assert.equal(head.head.kind === 'request' && head.head.method, 'RESPMOD');
  const sections = ev.find((e) => e.type === 'sections');
  assert.ok(sections && sections.type === 'sections');
  assert.equal(parseHttpHead(sections.sections.reqHdr!).target, '/files/sample.bin');
  assert.equal(parseHttpHead(sections.sections.resHdr!).headers.get('content-length'), '10');
  const { body, types } = collect(ev);
  assert.equal(body.toString(), '0123');
  assert.deepEqual(types.slice(-2), ['bodyEnd', 'end']);
  assert.ok(p.waiting);
  const rest = [...p.continueBody(), ...p.push(crlf('6\n456789\n0\n\n'))];
  assert.equal(collect(rest).body.toString(), '456789');
  assert.ok(p.idle);
});

test('the same bytes split at every position give the same events', () => {
  const whole = Buffer.concat([rfcRespmod]);
  const reference = collect(new IcapMessageParser().push(whole));
  for (let cut = 1; cut < whole.length; cut++) {
    const p = new IcapMessageParser();
    const ev = [...p.push(whole.subarray(0, cut)), ...p.push(whole.subarray(cut))];
    assert.deepEqual(collect(ev).types.filter((x) => x !== 'data'), reference.types.filter((x) => x !== 'data'), `cut at ${cut}`);
    assert.equal(collect(ev).body.toString(), '0123');
  }
});

test('ieof ends the message without waiting', () => {
  const msg = Buffer.concat([
    serializeIcapRequest({ method: 'RESPMOD', uri: 'icap://h/x', headers: { Host: 'h', Preview: 100 }, resHdr: serializeHttpHead('HTTP/1.1 200 OK', { 'Content-Length': 3 }), body: 'res-body' }),
    encodeChunk(Buffer.from('abc')),
    lastChunk(true),
  ]);
  const p = new IcapMessageParser();
  const ev = p.push(msg);
  const end = ev.find((e) => e.type === 'bodyEnd');
  assert.ok(end && end.type === 'bodyEnd' && end.ieof);
  assert.ok(p.idle);
});

test('serializer computes Encapsulated offsets that the parser accepts', () => {
  const reqHdr = serializeHttpHead('GET /index.html HTTP/1.1', { Host: 'www.example.org', 'User-Agent': 'demo' });
  assert.equal(reqHdr.length, 69); // the RFC example's figure
  const msg = serializeIcapRequest({ method: 'REQMOD', uri: 'icap://icap.example.local:1344/url/reqmod', headers: { Host: 'icap.example.local', Allow: 204 }, reqHdr, body: 'none' });
  assert.match(msg.toString('latin1'), /Encapsulated: req-hdr=0, null-body=69\r\n/);
  const ev = new IcapMessageParser().push(msg);
  assert.deepEqual(ev.map((e) => e.type), ['head', 'sections', 'end']);
});

test('OPTIONS request without Encapsulated is tolerated; two messages in one push both parse', () => {
  const one = crlf('OPTIONS icap://h/echo ICAP/1.0\nHost: h\n\n');
  const ev = new IcapMessageParser().push(Buffer.concat([one, one]));
  assert.equal(ev.filter((e) => e.type === 'end').length, 2);
});

test('Encapsulated grammar', () => {
  assert.deepEqual(parseEncapsulated('req-hdr=0, res-hdr=822, res-body=1655').map((e) => e.offset), [0, 822, 1655]);
  for (const bad of ['', 'res-body=0, res-hdr=5', 'req-hdr=0', 'req-hdr=10, null-body=20', 'req-hdr=0, res-hdr=0, res-body=5', 'foo=0', 'res-hdr=0, null-body=-1']) {
    assert.throws(() => parseEncapsulated(bad), IcapParseError, bad);
  }
});

test('ICAP URIs', () => {
  assert.deepEqual(parseIcapUri('icap://10.0.0.9/av/respmod?x=1'), { host: '10.0.0.9', port: 1344, service: 'av/respmod?x=1', tls: false, href: 'icap://10.0.0.9:1344/av/respmod?x=1' });
  assert.equal(parseIcapUri('icap://[::1]:1345/echo')?.host, '::1');
  assert.equal(parseIcapUri('icaps://h/x')?.port, 11344);
  assert.equal(parseIcapUri('http://h/x'), undefined);
  assert.equal(parseIcapUri('icap://h:99999/x'), undefined);
});

function parseError(bytes: Buffer, limits = {}): IcapParseError | undefined {
  const p = new IcapMessageParser(limits);
  try {
    p.push(bytes);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof IcapParseError, String(err));
    return err;
  }
}

test('malformed messages give the right status, never a crash', () => {
  const head = (enc: string) => `RESPMOD icap://h/respmod ICAP/1.0\nHost: h\nEncapsulated: ${enc}\n\n`;
  // Offsets that do not match the header block.
  assert.equal(parseError(crlf(head('res-hdr=0, res-body=10') + 'HTTP/1.1 200 OK\nX: y\n\n0\n\n'))?.status, 400);
  // A chunk that carries more bytes than it says.
  assert.equal(parseError(crlf(head('res-hdr=0, res-body=19') + 'HTTP/1.1 200 OK\n\n' + '3\nabcdef\n0\n\n'))?.code, 'chunk-size-lie');
  assert.equal(parseError(crlf(head('res-hdr=0, res-body=19') + 'HTTP/1.1 200 OK\n\n' + 'zz\nabc\n0\n\n'))?.code, 'chunk-size');
  // Header lines with LF only.
  assert.equal(parseError(Buffer.from('OPTIONS icap://h/x ICAP/1.0\nHost: h\n\n'))?.code, 'bare-lf');
  // 10 MB of header.
  assert.equal(parseError(Buffer.concat([crlf('OPTIONS icap://h/x ICAP/1.0\nX-Big: '), Buffer.alloc(10 << 20, 0x61)]))?.status, 431);
  // Body over the limit.
  assert.equal(parseError(crlf(head('res-hdr=0, res-body=19') + 'HTTP/1.1 200 OK\n\n' + 'ff\n'), { maxBodyBytes: 100 })?.status, 413);
  assert.equal(parseError(crlf('RESPMOD icap://h/x ICAP/2.0\nHost: h\n\n'))?.status, 505);
  assert.equal(parseError(crlf('GET / HTTP/1.1\nHost: h\n\n'))?.status, 400);
  assert.equal(parseError(crlf('RESPMOD icap://h/x ICAP/1.0\nHost: h\n\n'))?.code, 'encapsulated');
  assert.equal(parseError(crlf('OPTIONS icap://h/x ICAP/1.0\nBad Header: x\n\n'))?.code, 'bad-header');
  // Encapsulated sections announced larger than the limit.
  assert.equal(parseError(crlf(head('res-hdr=0, res-body=99999999')))?.status, 431);
});

test('fuzz: random mutations of valid messages either parse or throw IcapParseError', () => {
  const rnd = mulberry32(10);
  const seeds = [rfcRespmod, crlf('OPTIONS icap://h/echo ICAP/1.0\nHost: h\nEncapsulated: null-body=0\n\n')];
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(seeds[i % seeds.length]!);
    const edits = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < edits; k++) {
      const at = Math.floor(rnd() * b.length);
      b[at] = [0x0d, 0x0a, 0x30, 0x3b, 0x20, 0x3d, 0x2c, Math.floor(rnd() * 256)][Math.floor(rnd() * 8)]!;
    }
    const p = new IcapMessageParser({ maxBodyBytes: 1 << 20 });
    try {
      let at = 0;
      while (at < b.length) {
        const n = 1 + Math.floor(rnd() * 40);
        p.push(b.subarray(at, at + n));
        at += n;
        if (p.waiting) p.continueBody();
      }
    } catch (err) {
      assert.ok(err instanceof IcapParseError, `iteration ${i}: ${String(err)}`);
    }
  }
});
