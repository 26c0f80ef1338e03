/**
 * Hostile and unlucky ICAP clients against the embedded KATA's ICAP server, over real sockets on
 * 127.0.0.1 (issue 19, points 2–5): an endless preview, slow readers that reset, pipelined
 * requests from a client that never reads, and a slow drip. Memory is checked as behaviour (a 400
 * and a closed connection, what is held stays under its cap, spool files gone, close() returns),
 * never as RSS figures; every wait is bounded.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { KdsLogger } from '../../src/common/log';
import { DetectionEngine } from '../../src/emulator/detection';
import { type IcapServerOptions, type RunningIcapServer, startIcapServer } from '../../src/emulator/icapServer';
import { encodeChunk, lastChunk, serializeHttpHead, serializeIcapRequest } from '../../src/icap/icapMessage';
import { tempDir } from '../helpers/tempDirs';

const MiB = 1 << 20;

async function server(extra: Partial<IcapServerOptions> = {}): Promise<{ s: RunningIcapServer; dir: string }> {
  const logger = new KdsLogger({ sinks: [] });
  const dir = tempDir('kds-icap-hostile-');
  const s = await startIcapServer({
    host: '127.0.0.1',
    port: 0,
    mode: 'blocking_simple',
    dataDir: dir,
    engine: new DetectionEngine(dir, logger),
    logger,
    maxObjectSize: 512 * MiB,
    slowVerdictMs: 10,
    advancedWaitMs: 10,
    version: 'test',
    ...extra,
  });
  // Bounded, so a server that cannot close fails its test instead of stalling the file.
  after(() => Promise.race([s.close(), new Promise((r) => setTimeout(r, 20_000))]));
  return { s, dir };
}

/** Polls `probe` until it is true or `ms` have passed; returns the last result. */
async function waitFor(probe: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!probe() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return probe();
}

interface Client {
  socket: Socket;
  text(): string;
  closed: Promise<void>;
  isClosed(): boolean;
}

async function client(port: number): Promise<Client> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  let text = '';
  let isClosed = false;
  socket.on('data', (d: Buffer) => {
    if (text.length < 4096) text += d.toString('latin1');
  });
  const closed = new Promise<void>((r) => socket.once('close', () => ((isClosed = true), r())));
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  return { socket, text: () => text, closed, isClosed: () => isClosed };
}

/** True once the peer has stopped reading from each socket: bytes queued, none taken for a while. */
async function allStalled(sockets: Socket[], ms: number, orElse = () => false): Promise<boolean> {
  const last = sockets.map(() => -1);
  const still = sockets.map(() => 0);
  return waitFor(() => {
    sockets.forEach((s, i) => {
      still[i] = s.writableLength > 0 && s.bytesWritten === last[i] ? still[i]! + 1 : 0;
      last[i] = s.bytesWritten;
    });
    return still.every((n) => n >= 20) || orElse();
  }, ms);
}

/** Writes `piece` again and again (honouring back-pressure) until `total` bytes or the socket closes. */
async function flood(socket: Socket, piece: Buffer, total: number): Promise<number> {
  let sent = 0;
  while (sent < total && !socket.destroyed) {
    sent += piece.length;
    if (!socket.write(piece)) {
      const go = await new Promise<boolean>((r) => {
        socket.once('drain', () => r(true));
        socket.once('close', () => r(false));
      });
      if (!go) break;
    }
  }
  return sent;
}

const respmodHead = (port: number, headers: Record<string, string | number>) =>
  serializeIcapRequest({
    method: 'RESPMOD',
    uri: `icap://127.0.0.1:${port}/respmod`,
    headers: { Host: '127.0.0.1', ...headers },
    reqHdr: serializeHttpHead('GET http://origin.test/big.bin HTTP/1.1', { Host: 'origin.test' }),
    resHdr: serializeHttpHead('HTTP/1.1 200 OK', { 'Content-Type': 'application/octet-stream' }),
    body: 'res-body',
  });

const spoolFiles = (dir: string) => readdirSync(join(dir, 'icap-spool'));

test('point 2: a preview longer than announced (Preview: 0, then an endless "preview") gets 400 and a closed connection; what is held stays under the cap', async () => {
  const { s } = await server();
  for (const announced of [0, 4096]) {
    const c = await client(s.port);
    c.socket.write(respmodHead(s.port, { Preview: announced }));
    // Chunks of 64 KiB without the zero chunk that ends a preview: up to 64 MiB, unless the server closes first.
    const sent = await Promise.race([flood(c.socket, encodeChunk(Buffer.alloc(64 * 1024, 0x61)), 64 * MiB), c.closed.then(() => -1)]);
    await Promise.race([c.closed, new Promise((r) => setTimeout(r, 20_000))]);
    assert.ok(c.isClosed(), `Preview: ${announced}: the connection is closed (sent ${sent})`);
    assert.match(c.text(), /^ICAP\/1\.0 400 /, `Preview: ${announced}`);
  }
  // At most the preview's size and a socket read or two were ever in memory.
  assert.ok(s.stats().peakHeldBodyBytes <= 256 * 1024, `peak held ${s.stats().peakHeldBodyBytes}`);
  assert.equal(s.stats().heldBodyBytes, 0);
});

test('point 2: a large body without Allow: 204 is echoed whole while at most 32 KiB and a chunk or two are held', async () => {
  const { s } = await server();
  const c = await client(s.port);
  let bytes = 0;
  c.socket.on('data', (d: Buffer) => (bytes += d.length));
  c.socket.write(respmodHead(s.port, {}));
  const body = Buffer.alloc(4 * MiB, 0x42);
  for (let at = 0; at < body.length; at += 100_000) c.socket.write(encodeChunk(body.subarray(at, at + 100_000)));
  c.socket.write(lastChunk());
  assert.ok(await waitFor(() => bytes > body.length, 60_000), `echoed ${bytes} bytes`);
  assert.match(c.text(), /^ICAP\/1\.0 200 OK/);
  c.socket.destroy();
  assert.ok(s.stats().peakHeldBodyBytes <= 32 * 1024 + 2 * 128 * 1024, `peak held ${s.stats().peakHeldBodyBytes}`);
  assert.ok(await waitFor(() => s.stats().heldBodyBytes === 0, 10_000));
});

test('point 3: slow readers that reset: no spool file is left, no connection stays open, close() returns promptly', async () => {
  const { s, dir } = await server();
  const N = 4;
  const clients = await Promise.all(Array.from({ length: N }, () => client(s.port)));
  for (const c of clients) {
    // Never read: the echo (no Allow: 204) fills the socket buffers and the server waits for 'drain'.
    c.socket.pause();
    c.socket.write(respmodHead(s.port, {}));
    void flood(c.socket, encodeChunk(Buffer.alloc(256 * 1024, 0x43)), 256 * MiB);
  }
  const stuck = (await allStalled(clients.map((c) => c.socket), 60_000)) && spoolFiles(dir).length === N;
  assert.ok(stuck, `the server stopped reading from all ${N}; spool files: ${spoolFiles(dir).length}`);
  for (const c of clients) c.socket.resetAndDestroy();
  assert.ok(await waitFor(() => spoolFiles(dir).length === 0, 20_000), `spool files left: ${spoolFiles(dir).join(', ')}`);
  assert.ok(await waitFor(() => s.stats().openConnections === 0, 20_000), `open connections: ${s.stats().openConnections}`);
  assert.equal(s.stats().heldBodyBytes, 0);
  // Promptly: a generous bound, only there so a hang fails the test instead of stalling it.
  const closed = await Promise.race([s.close().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
  assert.ok(closed, 'close() returned');
});

test('point 3: close() ends connections stuck in any state and removes their spool files', async () => {
  const { s, dir } = await server();
  const stuck = await client(s.port);
  stuck.socket.pause();
  stuck.socket.write(respmodHead(s.port, {}));
  void flood(stuck.socket, encodeChunk(Buffer.alloc(256 * 1024, 0x44)), 256 * MiB);
  const half = await client(s.port);
  half.socket.write(Buffer.concat([respmodHead(s.port, { 'Allow': 204 }), encodeChunk(Buffer.alloc(1000, 0x45))]));
  assert.ok((await allStalled([stuck.socket], 60_000)) && (await waitFor(() => spoolFiles(dir).length === 2, 10_000)), `spool files: ${spoolFiles(dir).length}`);
  const closed = await Promise.race([s.close().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
  assert.ok(closed, 'close() returned');
  assert.deepEqual(spoolFiles(dir), []);
  stuck.socket.destroy();
  half.socket.destroy();
});

test('point 4: 60 000 pipelined OPTIONS from a client that does not read: the server stops reading, then answers every one once the client reads', async () => {
  const { s } = await server();
  const N = 60_000;
  const one = Buffer.from(`OPTIONS icap://127.0.0.1:${s.port}/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\nEncapsulated: null-body=0\r\n\r\n`, 'latin1');
  const c = await client(s.port);
  c.socket.pause();
  void flood(c.socket, Buffer.concat(Array.from({ length: 1000 }, () => one)), N * one.length);
  // The server stops once its answers back up; then the count of requests it took stays put for a second.
  let last = -1;
  let still = 0;
  await waitFor(() => {
    const now = s.stats().requests;
    still = now > 0 && now === last ? still + 1 : 0;
    last = now;
    return still >= 20 || now >= N;
  }, 60_000);
  const taken = s.stats().requests;
  assert.ok(taken < N / 2, `the server took ${taken} of ${N} requests while the client read nothing`);
  // Now the client reads: every request is answered.
  const marker = 'ICAP/1.0 200 OK\r\n';
  let answers = 0;
  let carry = '';
  c.socket.on('data', (d: Buffer) => {
    const text = carry + d.toString('latin1');
    answers += text.split(marker).length - 1;
    carry = text.slice(-(marker.length - 1));
  });
  c.socket.resume();
  assert.ok(await waitFor(() => answers >= N, 120_000), `${answers} answers of ${N}`);
  assert.equal(answers, N);
  c.socket.destroy();
});

test('point 4: a client that reads none of its answers for the idle time is disconnected, and its spool file goes', async () => {
  const { s, dir } = await server({ idleTimeoutMs: 1500 });
  const c = await client(s.port);
  c.socket.pause();
  c.socket.write(respmodHead(s.port, {}));
  void flood(c.socket, encodeChunk(Buffer.alloc(256 * 1024, 0x47)), 256 * MiB);
  await Promise.race([c.closed, new Promise((r) => setTimeout(r, 60_000))]);
  assert.ok(c.isClosed(), 'the server closed the connection');
  assert.ok(await waitFor(() => spoolFiles(dir).length === 0, 20_000), `spool files left: ${spoolFiles(dir).join(', ')}`);
});

test('point 5: a body dripping one byte at a time is cut off (408), a stray CRLF does not keep an idle connection, a steady slow body passes', async () => {
  const { s } = await server({ idleTimeoutMs: 2000, headTimeoutMs: 2000, minBodyBytesPerWindow: 8 * 1024 });
  // One body byte every 200 ms: 10 bytes a window, far below the minimum.
  const drip = await client(s.port);
  drip.socket.write(Buffer.concat([respmodHead(s.port, { Allow: 204 }), Buffer.from('10000\r\n')]));
  const dripTimer = setInterval(() => !drip.socket.destroyed && drip.socket.write('x'), 200);
  // A stray CRLF every 200 ms between requests.
  const crlf = await client(s.port);
  const crlfTimer = setInterval(() => !crlf.socket.destroyed && crlf.socket.write('\r\n'), 200);
  try {
    await Promise.race([Promise.all([drip.closed, crlf.closed]), new Promise((r) => setTimeout(r, 30_000))]);
    assert.ok(drip.isClosed(), 'the dripping connection is closed');
    assert.match(drip.text(), /^ICAP\/1\.0 408 /);
    assert.ok(crlf.isClosed(), 'the idle connection sending CRLFs is closed');
  } finally {
    clearInterval(dripTimer);
    clearInterval(crlfTimer);
  }
  // 8 KiB every 100 ms: far above the minimum, the object is answered.
  const steady = await client(s.port);
  steady.socket.write(respmodHead(s.port, { Allow: 204 }));
  for (let i = 0; i < 20; i++) {
    steady.socket.write(encodeChunk(Buffer.alloc(8 * 1024, 0x46)));
    await new Promise((r) => setTimeout(r, 100));
  }
  steady.socket.write(lastChunk());
  assert.ok(await waitFor(() => /^ICAP\/1\.0 204 /.test(steady.text()), 20_000), steady.text().slice(0, 80));
  steady.socket.destroy();
});
