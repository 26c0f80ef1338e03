/**
 * Issue 23, point 5: a capture taken while `kds icap probe --discover` and a probe ran. The bytes
 * are the real probe's (recorded from a small ICAP server on 127.0.0.1), written into a pcap beside
 * a proxy's own traffic: KDS's requests are labelled, kept out of the problems, and the request
 * errors name only the status codes that occurred.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { analyzeCaptureFile } from '../../src/capture/analyzeCapture';
import { analysisText } from '../../src/capture/analysisText';
import { IcapProber, discover } from '../../src/icap/icapProbe';
import { parseIcapUri } from '../../src/icap/icapMessage';
import { probeLogSearch, probeTraffic } from '../../src/icap/probeMarker';
import { Conversation, icap, pcapFile } from '../helpers/captureWriter';

const dir = mkdtempSync(join(tmpdir(), 'kds-probe-capture-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Exchange = Array<{ from: 0 | 1; data: Buffer }>;

/**
 * An ICAP server with one RESPMOD service at /respmod (404 elsewhere) that records every
 * connection's bytes in both directions, in order.
 */
async function recordingServer(): Promise<{ port: number; connections: Exchange[]; close(): Promise<void> }> {
  const connections: Exchange[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const ex: Exchange = [];
    connections.push(ex);
    let pending = Buffer.alloc(0);
    const answer = (text: string) => {
      ex.push({ from: 1, data: Buffer.from(text) });
      s.write(text);
    };
    s.on('data', (d: Buffer) => {
      ex.push({ from: 0, data: d });
      pending = Buffer.concat([pending, d]);
      for (;;) {
        const text = pending.toString('latin1');
        const headEnd = text.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = text.slice(0, headEnd);
        const [method, uri] = head.split(' ');
        let end = headEnd + 4;
        if (!/null-body/.test(head)) {
          const last = text.indexOf('0\r\n\r\n', headEnd);
          if (last < 0) return;
          end = last + 5;
        }
        pending = pending.subarray(end);
        const ok = 'ICAP/1.0 200 OK\r\nMethods: RESPMOD\r\nISTag: "t1"\r\nEncapsulated: null-body=0\r\n\r\n';
        if (!/:\d+\/respmod$/.test(uri!)) answer('ICAP/1.0 404 Service not found\r\nISTag: "t1"\r\nEncapsulated: null-body=0\r\n\r\n');
        else answer(method === 'OPTIONS' ? ok : 'ICAP/1.0 204 No Content\r\nISTag: "t1"\r\nEncapsulated: null-body=0\r\n\r\n');
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test("KDS's own probe and discovery in a capture: labelled, left out of the problems; only the codes that occurred are named", async () => {
  const server = await recordingServer();
  let run: string;
  try {
    const { results } = await discover('127.0.0.1', server.port, { paths: ['av/respmod', 'kata', 'respmod', 'echo'] });
    assert.deepEqual(results.map((r) => r.status), [404, 404, 200, 404]);
    const report = await new IcapProber(parseIcapUri(`icap://127.0.0.1:${server.port}/respmod`)!, { eicar: false }).probe();
    assert.equal(report.exitCode, 0, report.conclusion.text);
    run = report.run;
    assert.match(run, /^[0-9a-f]{8}$/);
  } finally {
    await server.close();
  }
  // The capture: the probe's connections as they went over the wire, and a proxy whose requests get 400.
  const frames = server.connections.flatMap((ex, i) => {
    const c = new Conversation({ addr: '10.0.0.5', port: 50_000 + i }, { addr: '10.0.0.9', port: 1344 }, { time: 1_780_000_000 + i }).handshake();
    for (const part of ex) c.send(part.from, part.data);
    return c.close().frames('ethernet');
  });
  const proxy = new Conversation({ addr: '10.0.0.2', port: 40_000 }, { addr: '10.0.0.9', port: 1344 }, { time: 1_780_000_100 }).handshake();
  for (let i = 0; i < 2; i++) {
    const [m] = icap.respmod('10.0.0.9', `http://example/${i}`, Buffer.from('hello'), null);
    proxy.send(0, m).send(1, icap.error(400, 'Bad Request'));
  }
  const file = join(dir, 'probe-and-proxy.pcap');
  writeFileSync(file, pcapFile(1, [...frames, ...proxy.close().frames('ethernet')]));

  const a = await analyzeCaptureFile(file);
  const own = a.transactions.filter((x) => x.kdsProbe);
  assert.equal(own.length, 4 + 2, 'four discovery OPTIONS, the probe\'s OPTIONS and RESPMOD');
  assert.deepEqual(own.filter((x) => x.kdsProbe === 'discover').map((x) => x.status), [404, 404, 200, 404]);
  assert.ok(own.every((x) => x.kdsProbe === 'discover' || new RegExp(`X-KDS-Probe: probe ${run!}`).test(x.requestHeaders ?? '')));
  assert.equal(a.transactions.filter((x) => !x.kdsProbe).length, 2);

  const codes = a.findings.map((f) => f.code);
  assert.ok(codes.includes('kds-probe'), codes.join());
  const probeFinding = a.findings.find((f) => f.code === 'kds-probe')!;
  assert.equal(probeFinding.severity, 'info');
  assert.match(probeFinding.text, /^6 transaction\(s\) are KDS's own probe and discovery/);
  const errors = a.findings.find((f) => f.code === 'client-errors')!;
  assert.match(errors.text, /^2 answer\(s\) were request errors \(400 Bad Request ×2\)\. 400: the server could not read the request\.$/);
  assert.doesNotMatch(errors.text, /404/, 'the discovery\'s 404s are not the proxy\'s');
  // The transaction table says which rows are KDS's.
  const text = analysisText(a);
  assert.equal(text.match(/\(KDS's own discovery[;)]/g)?.length, 4);
  assert.equal(text.match(/\(KDS's own probe[;)]/g)?.length, 2);
});

test('only KDS\'s own traffic in a capture: no problem is invented from it, and the capture says the proxy sent nothing', async () => {
  const c = new Conversation({ addr: '10.0.0.5', port: 50_000 }, { addr: '10.0.0.9', port: 1344 }).handshake();
  for (const path of ['av/respmod', 'reqmod']) {
    c.send(0, `OPTIONS icap://10.0.0.9/${path} ICAP/1.0\r\nHost: 10.0.0.9\r\nX-KDS-Probe: discover 0badcafe\r\nEncapsulated: null-body=0\r\n\r\n`).send(1, icap.error(404, 'Service not found'));
  }
  const file = join(dir, 'only-probe.pcap');
  writeFileSync(file, pcapFile(1, c.close().frames('ethernet')));
  const a = await analyzeCaptureFile(file);
  assert.deepEqual(a.findings.map((f) => f.code), ['kds-probe', 'only-kds-probe']);
  assert.match(a.findings[1]!.text, /No ICAP traffic from the proxy/);
});

test('the marks: X-KDS-Probe (probe, discover), older KDS by User-Agent or kds-probe.invalid; the log search of a run', () => {
  assert.equal(probeTraffic('OPTIONS icap://x/y ICAP/1.0\r\nX-KDS-Probe: discover 1a2b3c4d\r\n', null), 'discover');
  assert.equal(probeTraffic('RESPMOD icap://x/y ICAP/1.0\r\nx-kds-probe: probe 1a2b3c4d\r\n', null), 'probe');
  assert.equal(probeTraffic('RESPMOD icap://x/y ICAP/1.0\r\nUser-Agent: kds-icap-probe\r\n', null), 'probe');
  assert.equal(probeTraffic('RESPMOD icap://x/y ICAP/1.0\r\nHost: x\r\n', 'GET http://kds-probe.invalid/clean.txt HTTP/1.1'), 'probe');
  assert.equal(probeTraffic('RESPMOD icap://x/y ICAP/1.0\r\nUser-Agent: Squid/6.1\r\n', 'GET http://example/kds-probe.invalid HTTP/1.1'), undefined);
  assert.equal(probeTraffic(null, null), undefined);
  assert.equal(probeLogSearch('1a2b3c4d', ['abc-1', 'bad id;', 'abc-2']), 'kds-probe\\.invalid/r-1a2b3c4d/|scan_id=(abc-1|abc-2)');
  assert.equal(probeLogSearch('1a2b3c4d'), 'kds-probe\\.invalid/r-1a2b3c4d/');
});
