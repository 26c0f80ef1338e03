import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startEmulator, type RunningEmulator, ICAP_SENSOR_ID } from '../../src/emulator/server';
import type { IcapMode } from '../../src/emulator/icapServiceLog';
import { IcapConnection } from '../../src/icap/icapClient';
import { IcapMessageParser, encodeChunk, lastChunk, parseHttpHead, serializeHttpHead, serializeIcapRequest } from '../../src/icap/icapMessage';
import { IcapProber } from '../../src/icap/icapProbe';
import { probeEicar } from '../../src/icap/probeSamples';
import { requireTool, tools } from '../helpers/icapKitPeers';
import { tempDir } from '../helpers/tempDirs';

let emu: RunningEmulator;
let port: number;
// Registered before tempDir's own clean-up, so the emulator is stopped before its folder goes.
after(() => emu.close());
const dataDir = tempDir('kds-icap-emu-');
const MAX = 256 * 1024;

before(async () => {
  emu = await startEmulator({ dataDir, port: 0, icapPort: 0, verdictDelayMs: 20, maxObjectSize: MAX, icapAdvancedWaitMs: 5000 });
  port = emu.icap!.port;
});

const logText = () => readFileSync(emu.icap!.logPath, 'utf8');
const grepCount = (needle: string) => logText().split('\n').filter((l) => l.includes(needle)).length;

/** Runs c-icap-client with `stdin` as the file (EICAR never touches the disk). */
function cIcapClient(args: string[], stdin?: Buffer): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    // Node's stdin for a child is a socket, which /dev/stdin cannot be opened on: cat turns it into a pipe.
    const argv = [tools.CICAP_CLIENT, '-i', '127.0.0.1', '-p', String(port), ...args, ...(stdin ? ['-f', '/dev/stdin'] : [])];
    const child = spawn('sh', ['-c', 'cat | "$@"', 'sh', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
    child.stdin.end(stdin ?? Buffer.alloc(0));
  });
}

const clean = Buffer.from('A harmless document for the ICAP test.\n'.repeat(100));

test('c-icap-client: OPTIONS of both services', async (t) => {
  if (!requireTool(t, tools.CICAP_CLIENT, 'c-icap')) return;
  for (const service of ['respmod', 'reqmod']) {
    const r = await cIcapClient(['-s', service, '-v']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /ICAP\/1\.0 200 OK/);
    assert.match(r.out, new RegExp(`Methods: ${service.toUpperCase()}`));
    assert.match(r.out, /ISTag: "KDS-/);
    assert.match(r.out, /Preview: 1024/);
  }
  const r = await cIcapClient(['-s', 'nope', '-v']);
  assert.match(r.out, /404/);
});

for (const mode of ['monitoring', 'blocking_simple', 'blocking_advanced'] as IcapMode[]) {
  test(`c-icap-client in ${mode} mode: clean passes, EICAR ${mode === 'monitoring' ? 'passes and is alerted' : 'gets the block page'}, with and without preview`, async (t) => {
    if (!requireTool(t, tools.CICAP_CLIENT, 'c-icap')) return;
    emu.icap!.setMode(mode, 'test');
    const before = { mode: grepCount(`accepted in ${mode} mode`), verdict: grepCount('verdict') };
    for (const preview of [[], ['-nopreview'], ['-nopreview', '-no204']]) {
      const c = await cIcapClient(['-s', 'respmod', '-v', ...preview], clean);
      assert.equal(c.code, 0, c.out);
      if (preview.includes('-no204')) {
        assert.match(c.out, /ICAP\/1\.0 200 OK/);
        assert.match(c.out, /A harmless document/);
      }
      else assert.match(c.out, /ICAP\/1\.0 204/);
      const e = await cIcapClient(['-s', 'respmod', '-v', ...preview], probeEicar());
      if (mode === 'monitoring') {
        assert.doesNotMatch(e.out, /403 Forbidden/);
        assert.match(e.out, preview.includes('-no204') ? /ICAP\/1\.0 200 OK/ : /ICAP\/1\.0 204/);
      } else {
        assert.match(e.out, /ICAP\/1\.0 200 OK/);
        assert.match(e.out, /HTTP\/1\.1 403 Forbidden/);
        assert.match(e.out, /X-Infection-Found: Type=0; Resolution=2; Threat=EICAR-Test-File;/);
        assert.match(e.out, /Threat: <b>EICAR-Test-File<\/b>/);
      }
    }
    const q = await cIcapClient(['-s', 'reqmod', '-req', 'http://127.0.0.1/upload', '-v'], probeEicar());
    assert.match(q.out, mode === 'monitoring' ? /ICAP\/1\.0 204/ : /HTTP\/1\.1 403 Forbidden/);
    // The seed's recipe: grep for the mode and for verdict; one line of each per transaction with a body.
    assert.equal(grepCount(`accepted in ${mode} mode`) - before.mode, 7);
    assert.equal(grepCount('verdict') - before.verdict, 7);
    if (mode === 'monitoring') {
      assert.ok(emu.stats().scans.length === 0, 'ICAP does not create scanner API scans');
    }
  });
}

test('detections become alerts under the ICAP sensor (console)', async () => {
  await emu.close(); // flushes the store
  emu = await startEmulator({ dataDir, port: 0, icapPort: 0, verdictDelayMs: 20, maxObjectSize: MAX, icapAdvancedWaitMs: 5000 });
  port = emu.icap!.port;
  // Closing compacts the scan store into its snapshot: the alerts survived the restart there.
  const alerts = JSON.parse(readFileSync(`${dataDir}/store.json`, 'utf8')) as { alerts: Array<{ sensorId: string; threats: string[] }> };
  assert.ok(alerts.alerts.some((a) => a.sensorId === ICAP_SENSOR_ID && a.threats.includes('EICAR-Test-File')));
});

/** One RESPMOD through our client, on a fresh connection. */
async function respmod(body: Buffer, opts: { preview?: number; allow204?: boolean } = {}) {
  const conn = await IcapConnection.connect('127.0.0.1', port, 30_000);
  try {
    const head = serializeIcapRequest({
      method: 'RESPMOD',
      uri: `icap://127.0.0.1:${port}/respmod`,
      headers: { Host: '127.0.0.1', ...(opts.allow204 === false ? {} : { Allow: 204 }), ...(opts.preview !== undefined ? { Preview: opts.preview } : {}) },
      reqHdr: serializeHttpHead('GET http://origin.test/f HTTP/1.1', { Host: 'origin.test' }),
      resHdr: serializeHttpHead('HTTP/1.1 200 OK', { 'Content-Length': body.length }),
      body: 'res-body',
    });
    return await conn.transact({ head, body, preview: opts.preview, timeoutMs: 60_000 });
  } finally {
    conn.close();
  }
}

test('blocking_advanced waits for a slow verdict; blocking_simple does not, and logs it', async () => {
  const slow = Buffer.concat([Buffer.from('KDS-TEST-SLOW\n'), clean]);
  emu.icap!.setMode('blocking_advanced', 'test');
  let r = await respmod(slow);
  assert.equal(r.response.head.status, 204);
  assert.match(logText(), /verdict=clean action=passed waited_ms=\d+/);
  emu.icap!.setMode('blocking_simple', 'test');
  r = await respmod(slow);
  assert.equal(r.response.head.status, 204);
  assert.match(logText(), /verdict=pending action=passed \(slow analysis, blocking_simple mode does not wait\)/);
});

test('echo without Allow: 204 returns the body byte for byte; a larger body than the limit passes unscanned', async () => {
  emu.icap!.setMode('blocking_simple', 'test');
  const big = Buffer.alloc(100_000, 7);
  let r = await respmod(big, { allow204: false });
  assert.equal(r.response.head.status, 200);
  assert.ok(r.response.body.equals(big));
  assert.equal(parseHttpHead(r.response.sections.resHdr!).status, 200);
  const huge = Buffer.alloc(MAX + 10, 1);
  r = await respmod(huge, { preview: 1024 });
  assert.equal(r.response.head.status, 204);
  assert.match(logText(), /not scanned: object larger than 262144 bytes, passed/);
  // Without Allow: 204 a large object is echoed as it arrives (Squid needs that), unscanned past the limit.
  r = await respmod(huge, { allow204: false });
  assert.equal(r.response.head.status, 200);
  assert.ok(r.response.body.equals(huge.subarray(0, r.response.body.length)) && r.response.bodyBytes === huge.length);
});

/** Sends raw bytes; returns what came back before the server closed (or the time ran out). */
function raw(bytes: Buffer | Buffer[], opts: { waitMs?: number; trickleMs?: number } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port });
    let text = '';
    let closed = false;
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ text, closed });
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed });
    }, opts.waitMs ?? 10_000);
    const parts = Array.isArray(bytes) ? bytes : [bytes];
    let i = 0;
    const next = () => {
      if (s.destroyed || i >= parts.length) return;
      s.write(parts[i++]!);
      if (opts.trickleMs) setTimeout(next, opts.trickleMs);
      else next();
    };
    s.once('connect', next);
  });
}

const crlf = (x: string) => Buffer.from(x.replace(/\n/g, '\r\n'), 'latin1');
const resp = (enc: string, rest: string) => crlf(`RESPMOD icap://127.0.0.1/respmod ICAP/1.0\nHost: 127.0.0.1\nEncapsulated: ${enc}\n\n${rest}`);

test('malformed ICAP gets the right error or a closed connection, never a crash', async () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['bad Encapsulated offsets', resp('res-hdr=0, res-body=5', 'HTTP/1.1 200 OK\n\n0\n\n'), /^ICAP\/1\.0 400 /],
    ['chunk size that lies', resp('res-hdr=0, res-body=19', 'HTTP/1.1 200 OK\n\n3\nabcdefgh\n0\n\n'), /^ICAP\/1\.0 400 /],
    ['chunk size not hex', resp('res-hdr=0, res-body=19', 'HTTP/1.1 200 OK\n\nzz\nab\n0\n\n'), /^ICAP\/1\.0 400 /],
    ['headers without CRLF', Buffer.from('OPTIONS icap://127.0.0.1/respmod ICAP/1.0\nHost: x\n\n'), /^ICAP\/1\.0 400 /],
    ['a 10 MB header', Buffer.concat([crlf('OPTIONS icap://127.0.0.1/respmod ICAP/1.0\nX-Big: '), Buffer.alloc(10 << 20, 0x61)]), /^ICAP\/1\.0 431 /],
    ['unknown method', crlf('FROB icap://127.0.0.1/respmod ICAP/1.0\nHost: x\n\n'), /^ICAP\/1\.0 501 /],
    ['wrong version', crlf('OPTIONS icap://127.0.0.1/respmod ICAP/2.0\nHost: x\n\n'), /^ICAP\/1\.0 505 /],
    ['no Host', crlf('OPTIONS icap://127.0.0.1/respmod ICAP/1.0\nEncapsulated: null-body=0\n\n'), /^ICAP\/1\.0 400 /],
    ['REQMOD to the RESPMOD service', crlf('REQMOD icap://127.0.0.1/respmod ICAP/1.0\nHost: x\nEncapsulated: null-body=0\n\n'), /^ICAP\/1\.0 405 /],
    ['HTTP instead of ICAP', crlf('GET / HTTP/1.1\nHost: x\n\n'), /^ICAP\/1\.0 400 /],
    ['binary garbage', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)), /^ICAP\/1\.0 (400|431) /],
  ];
  for (const [name, bytes, expected] of cases) {
    const r = await raw(bytes);
    assert.match(r.text, expected, name);
    assert.ok(r.closed, `${name}: the connection is closed after the error`);
  }
  // Still serving.
  const probe = await new IcapProber({ host: '127.0.0.1', port, service: 'respmod', tls: false, href: `icap://127.0.0.1:${port}/respmod` }).options();
  assert.equal(probe.status, 200);
});

test('a slowloris client is cut off with 408; the server keeps serving others meanwhile', async () => {
  // A dedicated server with a short head timeout.
  const { startIcapServer } = await import('../../src/emulator/icapServer');
  const { DetectionEngine } = await import('../../src/emulator/detection');
  const { KdsLogger } = await import('../../src/common/log');
  const logger = new KdsLogger({ sinks: [] });
  const dir = tempDir('kds-icap-slowloris-');
  const server = await startIcapServer({ host: '127.0.0.1', port: 0, mode: 'blocking_simple', dataDir: dir, engine: new DetectionEngine(dir, logger), logger, maxObjectSize: MAX, slowVerdictMs: 10, advancedWaitMs: 10, headTimeoutMs: 1000, version: 'test' });
  after(() => server.close());
  const head = crlf('OPTIONS icap://127.0.0.1/respmod ICAP/1.0\nHost: 127.0.0.1\n\n');
  const bytes = [...head].map((b) => Buffer.from([b]));
  const s = connect({ host: '127.0.0.1', port: server.port });
  let text = '';
  s.on('data', (d) => (text += d));
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  let i = 0;
  const timer = setInterval(() => {
    if (!s.destroyed && i < bytes.length) s.write(bytes[i++]!);
  }, 200);
  // Meanwhile a normal client is served.
  const ok = await new IcapProber({ host: '127.0.0.1', port: server.port, service: 'respmod', tls: false, href: `icap://127.0.0.1:${server.port}/respmod` }).options();
  assert.equal(ok.status, 200);
  await closed;
  clearInterval(timer);
  assert.match(text, /^ICAP\/1\.0 408 /);
  assert.ok(i < bytes.length, 'cut off before the head was complete');
});

test('200 concurrent RESPMOD transactions: none lost, answers right, memory flat', async () => {
  emu.icap!.setMode('blocking_simple', 'test');
  const N = 200;
  const body = Buffer.alloc(64 * 1024, 0x41);
  const run = async () => {
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => (i % 10 === 0 ? respmod(probeEicar(), { preview: 1024 }) : respmod(body, { preview: 1024 }))),
    );
    for (const [i, r] of results.entries()) {
      if (i % 10 === 0) assert.equal(parseHttpHead(r.response.sections.resHdr!).status, 403);
      else assert.equal(r.response.head.status, 204);
    }
  };
  // A real collection before each reading, whatever flags the test runner was started with.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  await run(); // warm-up
  gc();
  const baseline = process.memoryUsage().rss;
  const beforeCount = emu.icap!.stats().requests;
  for (let round = 0; round < 3; round++) await run();
  gc();
  const grown = process.memoryUsage().rss - baseline;
  assert.equal(emu.icap!.stats().requests - beforeCount, 3 * N);
  // The bodies are spooled to disk: three more rounds of 200 × 64 KiB (37.5 MiB) must not stay in memory.
  assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
});

test('the parser is reusable on its own: a streamed response from the server parses identically split anywhere', async () => {
  const r = await respmod(probeEicar(), { allow204: false });
  const bytes = Buffer.concat([
    Buffer.from(`ICAP/1.0 ${r.response.head.status} ${r.response.head.reason}\r\n${r.response.head.headers.serialize()}\r\n`, 'latin1'),
    r.response.sections.resHdr!,
    encodeChunk(r.response.body),
    lastChunk(),
  ]);
  for (const cut of [1, 17, bytes.length - 3]) {
    const p = new IcapMessageParser();
    const types = [...p.push(bytes.subarray(0, cut)), ...p.push(bytes.subarray(cut))].map((e) => e.type);
    assert.deepEqual(types.filter((x) => x !== 'data'), ['head', 'sections', 'bodyEnd', 'end']);
  }
});

test('blocking_advanced lets an object through when the slow verdict misses the wait, and says so in the log', async () => {
  const { startIcapServer } = await import('../../src/emulator/icapServer');
  const { DetectionEngine } = await import('../../src/emulator/detection');
  const { KdsLogger } = await import('../../src/common/log');
  const logger = new KdsLogger({ sinks: [] });
  const dir = tempDir('kds-icap-adv-');
  const server = await startIcapServer({ host: '127.0.0.1', port: 0, mode: 'blocking_advanced', dataDir: dir, engine: new DetectionEngine(dir, logger), logger, maxObjectSize: MAX, slowVerdictMs: 3000, advancedWaitMs: 100, version: 'test' });
  after(() => server.close());
  const conn = await IcapConnection.connect('127.0.0.1', server.port, 30_000);
  const body = Buffer.from('KDS-TEST-SLOW then a harmless text\n');
  const head = serializeIcapRequest({
    method: 'RESPMOD',
    uri: `icap://127.0.0.1:${server.port}/respmod`,
    headers: { Host: '127.0.0.1', Allow: 204 },
    resHdr: serializeHttpHead('HTTP/1.1 200 OK', { 'Content-Length': body.length }),
    body: 'res-body',
  });
  const r = await conn.transact({ head, body, timeoutMs: 30_000 });
  conn.close();
  assert.equal(r.response.head.status, 204);
  const log = readFileSync(server.logPath, 'utf8');
  assert.match(log, /verdict=timeout action=passed waited_ms=\d+ \(no verdict within the blocking_advanced wait, object let through\)/);
  assert.match(log, /accepted in blocking_advanced mode/);
});
