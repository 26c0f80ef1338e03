import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { KataClient, type KataClientOptions } from '../../src/kata/client';
import { KataError, type KataErrorKind } from '../../src/kata/errors';
import { normaliseFingerprint } from '../../src/pki/pemText';
import { ScriptedKataServer, type TestPki, testPki } from '../helpers/scriptedKataServer';
import { UploadCancel } from '../../src/engine/uploadCancel';

let pki: TestPki;
let server: ScriptedKataServer;
let selfSignedServer: ScriptedKataServer;
let dir: string;
const clients: KataClient[] = [];

before(async () => {
  pki = await testPki();
  server = await ScriptedKataServer.start();
  selfSignedServer = await ScriptedKataServer.start({ certificate: 'self-signed' });
  dir = mkdtempSync(join(tmpdir(), 'kds-kata-client-'));
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.close();
  await selfSignedServer.close();
  rmSync(dir, { recursive: true, force: true });
});

function client(over: Partial<KataClientOptions> = {}, target = server): KataClient {
  const c = new KataClient({
    host: target.host,
    port: target.port,
    systemId: 'sys-0001',
    certPem: pki.client.certPem,
    keyPem: pki.client.keyPem,
    caPem: pki.ca.certPem,
    insecure: false,
    requestTimeoutMs: 5_000,
    ...over,
  });
  clients.push(c);
  return c;
}

let fileSeq = 0;
function file(content: Buffer | string): string {
  const p = join(dir, `f${++fileSeq}.bin`);
  writeFileSync(p, content);
  return p;
}

async function rejectsKind(promise: Promise<unknown>, kind: KataErrorKind, message?: RegExp): Promise<KataError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof KataError, `expected KataError(${kind}), got ${(err as Error)?.stack ?? String(err)}`);
    assert.equal(err.kind, kind, err.message);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected KataError(${kind}), but it resolved`);
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

// --- submit ---------------------------------------------------------------------------------

test('submit: client certificate presented, multipart fields exact, sensorInstanceId in the query', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 200, body: 'OK' });
  const content = Buffer.from('hello KATA\r\n--not-a-boundary\r\n\0binary\xff', 'latin1');
  const c = client({ sensorInstanceId: 'node a/1' });
  const result = await c.submit(file(content), { scanId: 'abc123', fileName: 'report.pdf', size: content.length });

  assert.deepEqual(result, { sha256: sha256(content), bytes: content.length });
  assert.equal(server.requests.length, 1);
  const req = server.requests[0]!;
  assert.equal(req.clientFingerprint, pki.client.fingerprint256);
  assert.equal(req.sensorId, 'sys-0001');
  assert.equal(req.route, 'scans');
  assert.deepEqual(req.query, { sensorInstanceId: 'node a/1' });
  assert.match(String(req.headers['content-type']), /^multipart\/form-data; boundary=/);
  assert.equal(req.headers['transfer-encoding'], undefined, 'a plain Content-Length body, not chunked');
  assert.deepEqual(
    req.parts!.map((p) => [p.name, p.value ?? p.filename]),
    [
      ['scanId', 'abc123'],
      ['objectType', 'file'],
      ['content', 'report.pdf'],
    ],
  );
  const contentPart = req.parts![2]!;
  assert.deepEqual(contentPart.data, content);
  assert.equal(contentPart.sha256, result.sha256);
  assert.ok(!req.parts!.some((p) => p.name === 'sensorInstanceId'), 'sensorInstanceId must not be a form field');
});

test('submit: odd file names survive (quotes, newline, backslash, Cyrillic, emoji)', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  const c = client();
  const names = ['a "quoted" name.txt', 'line\nbreak\r.txt', 'back\\slash;x=1.txt', 'Отчёт за май.docx', '💾 (copy) 100%.bin', 'plain.txt'];
  for (const [i, name] of names.entries()) {
    await c.submit(file(`body ${i}`), { scanId: `s${i}`, fileName: name, size: `body ${i}`.length });
  }
  assert.deepEqual(
    server.requests.map((r) => r.parts?.find((p) => p.name === 'content')?.filename),
    names,
  );
  // Exactly three parts each: a broken header would have produced extra or missing parts.
  assert.ok(server.requests.every((r) => r.parts?.length === 3));
});

test('submit: empty file', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  const result = await client().submit(file(''), { scanId: 'empty', fileName: 'empty', size: 0 });
  assert.deepEqual(result, { sha256: sha256(''), bytes: 0 });
  assert.equal(server.requests[0]!.parts![2]!.size, 0);
});

test('submit: 1 MiB (one read) and a byte more (two reads) arrive whole and hashed, and a changed size is refused', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  const c = client();
  for (const size of [1024 * 1024, 1024 * 1024 + 1]) {
    const content = Buffer.alloc(size);
    for (let i = 0; i + 4 <= size; i += 4096) content.writeUInt32BE(i ^ size, i);
    // Through an open handle, as the engine submits: read from offset 0 whatever its offset.
    const fh = await open(file(content), 'r');
    try {
      await fh.read(Buffer.alloc(10), 0, 10, null);
      const result = await c.submit(fh, { scanId: `s${size}`, fileName: 'm.bin', size });
      assert.deepEqual(result, { sha256: sha256(content), bytes: size });
      const part = server.requests.at(-1)!.parts![2]!;
      assert.equal(part.size, size);
      assert.equal(part.sha256, result.sha256);
      await rejectsKind(c.submit(fh, { scanId: 'short', fileName: 'm.bin', size: size - 1 }), 'changed');
      await rejectsKind(c.submit(fh, { scanId: 'long', fileName: 'm.bin', size: size + 1 }), 'changed');
    } finally {
      await fh.close();
    }
  }
});

test('submit: uploads at once, sizes around the read and reuse thresholds, each arrive whole under their own scanId (read buffers are reused)', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  const c = client();
  const sizes = [64 * 1024 + 1, 200 * 1024, 256 * 1024, 1024 * 1024, 1024 * 1024 + 1, 1024 * 1024 + 300 * 1024, 3 * 1024 * 1024 + 17];
  for (let round = 0; round < 2; round++) {
    const bodies = sizes.map((size, i) => {
      const b = Buffer.alloc(size, 16 * round + i + 1);
      for (let at = 0; at + 8 <= size; at += 65536) b.writeDoubleBE(at * 31 + i, at);
      return b;
    });
    const results = await Promise.all(bodies.map((b, i) => c.submit(file(b), { scanId: `r${round}-${i}`, fileName: `f${i}`, size: b.length })));
    for (const [i, b] of bodies.entries()) {
      assert.deepEqual(results[i], { sha256: sha256(b), bytes: b.length });
      const part = server.requests.find((r) => r.parts?.[0]?.value === `r${round}-${i}`)!.parts![2]!;
      assert.equal(part.size, b.length);
      assert.equal(part.sha256, sha256(b), `upload ${i} of round ${round} (${b.length} bytes) arrived as sent`);
    }
  }
});

test('submit: a 64 MB file is streamed with bounded memory', async (t) => {
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  const size = 64 * 1024 * 1024;
  const path = join(dir, 'big.bin');
  const expected = createHash('sha256');
  const fh = await open(path, 'w');
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 64; i++) {
    block.fill(i * 7 + 1);
    block.writeUInt32BE(i, 0);
    expected.update(block);
    await fh.write(block);
  }
  await fh.close();

  // A forced GC before each sample makes this a measure of what is retained, not of garbage.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const live = () => {
    gc();
    const m = process.memoryUsage();
    return { heap: m.heapUsed + m.external, rss: m.rss };
  };
  const c = client();
  await c.submit(file('warm up'), { scanId: 'warm', fileName: 'w', size: 7 });
  const base = live();
  let peak = { ...base };
  const sampler = setInterval(() => {
    const m = live();
    peak = { heap: Math.max(peak.heap, m.heap), rss: Math.max(peak.rss, m.rss) };
  }, 20);
  let result;
  try {
    result = await c.submit(path, { scanId: 'big', fileName: 'big.bin', size });
  } finally {
    clearInterval(sampler);
  }
  const end = live();
  peak = { heap: Math.max(peak.heap, end.heap), rss: Math.max(peak.rss, end.rss) };
  rmSync(path);

  assert.equal(result.bytes, size);
  assert.equal(result.sha256, expected.digest('hex'));
  const part = server.requests.at(-1)!.parts![2]!;
  assert.equal(part.size, size);
  assert.equal(part.sha256, result.sha256);
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
  const heapGrowth = peak.heap - base.heap;
  const rssGrowth = peak.rss - base.rss;
  t.diagnostic(`peak growth during a ${mb(size)} upload: heap+external ${mb(heapGrowth)}, RSS ${mb(rssGrowth)}`);
  assert.ok(heapGrowth < size / 8, `live heap+external grew by ${mb(heapGrowth)} for a ${mb(size)} upload`);
  assert.ok(rssGrowth < size / 2, `RSS grew by ${mb(rssGrowth)} for a ${mb(size)} upload`);
});

test('submit: size differs from what the caller saw → changed, nothing sent', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  const c = client();
  const path = file('0123456789');
  await rejectsKind(c.submit(path, { scanId: 'x', fileName: 'x', size: 11 }), 'changed');
  await rejectsKind(c.submit(path, { scanId: 'x', fileName: 'x', size: 9 }), 'changed');
  await rejectsKind(c.submit(join(dir, 'never-existed'), { scanId: 'x', fileName: 'x', size: 1 }), 'changed', /disappeared/);
  assert.equal(server.requests.length, 0);
});

test('submit: file truncated while uploading → changed, upload aborted', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  const size = 16 * 1024 * 1024;
  const path = file(Buffer.alloc(size, 0x41));
  // The server holds the body back until the file is cut, so the client is still mid-file.
  server.beforeBody = () => truncateSync(path, 1000);
  await rejectsKind(client().submit(path, { scanId: 'cut', fileName: 'cut', size }), 'changed', /changed while/);
  assert.equal(server.requests.length, 1);
  await server.requests[0]!.bodyDone;
  assert.equal(server.requests[0]!.aborted, true);
});

test('submit: file growing while uploading → changed, never more than Content-Length sent', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  const size = 16 * 1024 * 1024;
  const path = file(Buffer.alloc(size, 0x42));
  server.beforeBody = () => appendFileSync(path, 'more');
  await rejectsKind(client().submit(path, { scanId: 'grow', fileName: 'grow', size }), 'changed');
  await server.requests[0]!.bodyDone;
  assert.equal(server.requests[0]!.aborted, true);
});

test('submit: abort through the signal rejects with its reason', async () => {
  server.reset();
  server.on('POST', 'scans', { action: 'hang' });
  const ac = new AbortController();
  const reason = new Error('stopping');
  server.beforeBody = () => ac.abort(reason);
  await assert.rejects(client().submit(file('abc'), { scanId: 'a', fileName: 'a', size: 3, signal: ac.signal }), (err) => err === reason);
});

test("submit: the engine's own UploadCancel aborts the request as an AbortSignal does", async () => {
  server.reset();
  server.on('POST', 'scans', { action: 'hang' });
  const cancel = new UploadCancel();
  server.beforeBody = () => cancel.abort();
  await assert.rejects(client().submit(file('abc'), { scanId: 'a', fileName: 'a', size: 3, signal: cancel }), (err) => err === cancel.reason && (err as Error).name === 'AbortError');
  // Cancelled before the request starts: it is never sent.
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  const early = new UploadCancel();
  early.abort(new Error('stopping'));
  await assert.rejects(client().submit(file('abc'), { scanId: 'b', fileName: 'b', size: 3, signal: early }), /stopping/);
  assert.equal(server.requests.filter((r) => r.method === 'POST').length, 0);
});

test('submit: HTTP statuses are mapped to kinds', async () => {
  const c = client();
  const path = file('x');
  const cases: Array<[number, KataErrorKind]> = [
    [400, 'bad-request'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [413, 'too-large'],
    [429, 'busy'],
    [500, 'server'],
    [503, 'server'],
    [302, 'protocol'],
  ];
  for (const [status, kind] of cases) {
    server.reset();
    server.on('POST', 'scans', { status, body: `status ${status}` });
    const err = await rejectsKind(c.submit(path, { scanId: 's', fileName: 'x', size: 1 }), kind);
    assert.equal(err.status, status);
  }
  server.reset();
  server.on('POST', 'scans', { status: 429, headers: { 'retry-after': '7' } });
  const busy = await rejectsKind(c.submit(path, { scanId: 's', fileName: 'x', size: 1 }), 'busy');
  assert.equal(busy.retryAfterMs, 7000);
  server.reset();
  server.on('POST', 'scans', { status: 429 });
  assert.equal((await rejectsKind(c.submit(path, { scanId: 's', fileName: 'x', size: 1 }), 'busy')).retryAfterMs, undefined);
});

test('keep-alive: consecutive calls share one TLS connection', async () => {
  server.reset();
  server.on('GET', 'scans/state', { status: 204 });
  server.on('POST', 'scans', { status: 401, body: 'Authorization required' });
  const c = client();
  await c.states();
  await rejectsKind(c.submit(file('x'), { scanId: 's', fileName: 'x', size: 1 }), 'unauthorized');
  await c.states();
  await c.states();
  // undici's pool may alternate between two idle sockets, but it must not open one per call.
  assert.ok(new Set(server.requests.map((r) => r.connectionId)).size <= 2);
  assert.ok(Math.max(...server.requests.map((r) => r.connectionRequestNo)) >= 3, JSON.stringify(server.requests.map((r) => [r.connectionId, r.connectionRequestNo])));
});

// --- states ---------------------------------------------------------------------------------

test('states: documented shape (array, numeric scanId, state array)', async () => {
  server.reset();
  server.on('GET', 'scans/state', {
    status: 200,
    body: [
      { scanId: 1, state: ['detect'] },
      { scanId: 2, state: ['not detected'] },
      { scanId: '3', state: ['processing', 'detect'] },
      { scanId: 4, state: ['not detected', 'error'] },
      { scanId: 5, state: [] },
      { state: ['detect'] },
    ],
  });
  const c = client({ sensorInstanceId: 'inst-1' });
  assert.deepEqual(await c.states(), [
    { scanId: '1', state: 'detect' },
    { scanId: '2', state: 'not detected' },
    { scanId: '3', state: 'detect' },
    { scanId: '4', state: 'error' },
  ]);
  const req = server.requests[0]!;
  assert.deepEqual(req.query, { sensorInstanceId: 'inst-1' }, 'no state filter, so unknown states are seen too');
  assert.equal(req.clientFingerprint, pki.client.fingerprint256);
});

test('states: {"scans": […]} with string ids and single string states, other wrappers', async () => {
  const c = client();
  server.reset();
  server.on('GET', 'scans/state', {
    status: 200,
    body: { scans: [{ scanId: 'a-1', state: ' Not Detected ' }, { scanId: 'b', state: 'TIMEOUT' }, { scanId: 'c', state: 'quarantined?' }, { scanId: 'd', state: 'not_detected' }] },
  });
  assert.deepEqual(await c.states(), [
    { scanId: 'a-1', state: 'not detected' },
    { scanId: 'b', state: 'timeout' },
    { scanId: 'c', state: 'quarantined?' },
    { scanId: 'd', state: 'not detected' },
  ]);
  for (const key of ['items', 'data', 'result']) {
    server.reset();
    server.on('GET', 'scans/state', { status: 200, body: { [key]: [{ scanId: 9, state: 'processing' }] } });
    assert.deepEqual(await c.states(), [{ scanId: '9', state: 'processing' }], key);
  }
});

test('states: 204, 404 and an empty 200 are empty lists', async () => {
  const c = client();
  for (const reply of [{ status: 204 }, { status: 404, body: 'No scan results found' }, { status: 200, body: '' }, { status: 200, body: 'null' }]) {
    server.reset();
    server.on('GET', 'scans/state', reply);
    assert.deepEqual(await c.states(), [], JSON.stringify(reply));
  }
});

test('states: malformed JSON and unknown shapes are protocol errors; 401/500 mapped', async () => {
  const c = client();
  server.reset();
  server.on('GET', 'scans/state', { status: 200, body: '[{"scanId": 1, "state": ' });
  await rejectsKind(c.states(), 'protocol', /not valid JSON/);
  server.reset();
  server.on('GET', 'scans/state', { status: 200, body: '{"something": "else"}' });
  await rejectsKind(c.states(), 'protocol', /unknown shape/);
  server.reset();
  server.on('GET', 'scans/state', { status: 200, body: '"OK"' });
  await rejectsKind(c.states(), 'protocol');
  server.reset();
  server.on('GET', 'scans/state', { status: 401 });
  await rejectsKind(c.states(), 'unauthorized');
  server.reset();
  server.on('GET', 'scans/state', { status: 500, body: 'Internal server error' });
  await rejectsKind(c.states(), 'server', /500/);
});

// --- delete, filters, detects -----------------------------------------------------------------

test('deleteResult: encodes the scanId, 200 and 404 both count as done, 500 is an error', async () => {
  const c = client({ sensorInstanceId: 'i1' });
  server.reset();
  server.on('DELETE', 'scans/a b/c', { status: 200, body: 'OK' });
  server.on('DELETE', 'scans/gone', { status: 404 });
  server.on('DELETE', 'scans/bad', { status: 500 });
  await c.deleteResult('a b/c');
  await c.deleteResult('gone');
  await rejectsKind(c.deleteResult('bad'), 'server');
  assert.equal(server.requests[0]!.url, '/kata/scanner/v1/sensors/sys-0001/scans/a%20b%2Fc?sensorInstanceId=i1');
});

test('answers: an error body is kept to its first 4 KiB, one past 1 MB more is cut off, and the next call still goes through', async () => {
  const c = client();
  server.reset();
  server.on('DELETE', 'scans/long', { status: 500, body: 'e'.repeat(64 * 1024) });
  server.on('DELETE', 'scans/huge', { status: 500, body: 'h'.repeat(3 * 1024 * 1024) });
  server.on('DELETE', 'scans/ok', { status: 200, body: 'OK' });
  const long = await rejectsKind(c.deleteResult('long'), 'server');
  assert.ok(long.message.length < 8 * 1024, `message of ${long.message.length} characters`);
  await rejectsKind(c.deleteResult('huge'), 'server');
  await c.deleteResult('ok');
  assert.deepEqual(server.requests.map((r) => r.url.split('/').pop()), ['long', 'huge', 'ok']);
});

test('deleteAll: DELETE scans', async () => {
  server.reset();
  server.on('DELETE', 'scans', { status: 200 });
  await client().deleteAll();
  assert.equal(server.requests[0]!.url, '/kata/scanner/v1/sensors/sys-0001/scans');
  server.reset();
  server.on('DELETE', 'scans', { status: 401 });
  await rejectsKind(client().deleteAll(), 'unauthorized');
});

test('filters: JSON, empty and non-JSON bodies; 401/403', async () => {
  const c = client();
  server.reset();
  server.on('GET', 'scans/filters', { status: 200, body: { maxObjectSize: 104857600, version: '7.1.0.123' } });
  assert.deepEqual(await c.filters(), { maxObjectSize: 104857600, version: '7.1.0.123' });
  for (const body of ['', 'OK', '[]', '{"maxObjectSize": "2048"}']) {
    server.reset();
    server.on('GET', 'scans/filters', { status: 200, body });
    assert.deepEqual(await c.filters(), body.includes('2048') ? { maxObjectSize: 2048 } : {}, body);
  }
  server.reset();
  server.on('GET', 'scans/filters', { status: 401 });
  await rejectsKind(c.filters(), 'unauthorized');
  server.reset();
  server.on('GET', 'scans/filters', { status: 403 });
  await rejectsKind(c.filters(), 'forbidden');
});

test('detects: query parameters, typed alerts, token', async () => {
  server.reset();
  server.on('GET', 'detects', {
    status: 200,
    body: {
      token: '7b226f6666736574223a2031307d',
      detects: [
        {
          alertID: 'a-17',
          importance: 'high',
          objectSource: 'external',
          technology: 'am',
          objectType: 'file',
          object: {
            processedObject: { SHA256: 'AB' + 'c'.repeat(62), MD5: 'D41D8CD98F00B204E9800998ECF8427E', fileName: 'eicar.com', fileSize: 68 },
            detectedObject: { MD5: 'D41D8CD98F00B204E9800998ECF8427E', fileName: 'eicar.com' },
          },
          detection: { detect: ['EICAR-Test-File', 'HEUR:Trojan.Win32.Generic'], dataBaseVersion: '2024-01-01' },
        },
        { alertID: 18, detection: { detect: 'Single.Name' }, object: { SHA256: 'ff' } },
        'garbage',
      ],
    },
  });
  const page = await client().detects({ detectTypes: ['am', 'sb'], limit: 50, token: 'tok/1' });
  assert.equal(server.requests[0]!.url, '/kata/scanner/v1/sensors/sys-0001/detects?detect_type=am,sb&limit=50&token=tok%2F1');
  assert.equal(page.token, '7b226f6666736574223a2031307d');
  assert.equal(page.detects.length, 2);
  const [a, b] = page.detects;
  assert.deepEqual(a!.threats, ['EICAR-Test-File', 'HEUR:Trojan.Win32.Generic']);
  assert.equal(a!.alertId, 'a-17');
  assert.equal(a!.technology, 'am');
  assert.deepEqual(a!.processedObject, { sha256: 'ab' + 'c'.repeat(62), md5: 'd41d8cd98f00b204e9800998ecf8427e', fileName: 'eicar.com', fileSize: 68 });
  assert.equal(a!.detectedObject?.fileName, 'eicar.com');
  assert.equal(a!.databaseVersion, '2024-01-01');
  assert.deepEqual(b!.threats, ['Single.Name']);
  assert.equal(b!.alertId, '18');
  assert.equal(b!.processedObject?.sha256, 'ff');

  server.reset();
  server.on('GET', 'detects', { status: 200, body: '{"detects": ' });
  await rejectsKind(client().detects(), 'protocol');
  server.reset();
  server.on('GET', 'detects', { status: 204 });
  assert.deepEqual(await client().detects(), { detects: [] });
  assert.equal(server.requests[0]!.url, '/kata/scanner/v1/sensors/sys-0001/detects');
});

// --- transport failures -----------------------------------------------------------------------

test('network: connection reset, server that never answers, nothing listening', async () => {
  server.reset();
  server.on('GET', 'scans/state', { action: 'reset' });
  await rejectsKind(client().states(), 'network');

  server.reset();
  server.on('GET', 'scans/state', { action: 'hang' });
  await rejectsKind(client({ requestTimeoutMs: 300 }).states(), 'network', /did not answer in time/);

  server.reset();
  server.on('POST', 'scans', { action: 'hang' });
  await rejectsKind(client({ requestTimeoutMs: 300 }).submit(file('abc'), { scanId: 'h', fileName: 'h', size: 3 }), 'network');

  const closed = createTcpServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  await rejectsKind(new KataClient({ ...baseOptions(), port }).states(), 'network', /ECONNREFUSED/);
});

test('network: a TCP server that never completes the TLS handshake times out', async () => {
  const silent = createTcpServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  try {
    await rejectsKind(client({ port, requestTimeoutMs: 300 }).states(), 'network');
    await rejectsKind(client({ port, requestTimeoutMs: 300 }).probeServerCertificate(), 'network');
  } finally {
    silent.close();
  }
});

function baseOptions(): KataClientOptions {
  return { host: '127.0.0.1', port: server.port, systemId: 'sys-0001', certPem: pki.client.certPem, keyPem: pki.client.keyPem, caPem: pki.ca.certPem, insecure: false, requestTimeoutMs: 5000 };
}

// --- server verification ----------------------------------------------------------------------

test('TLS: the configured CA verifies the chain and host name (127.0.0.1 and localhost)', async () => {
  server.reset();
  server.on('GET', 'scans/filters', { status: 200, body: { version: '7.1' } });
  assert.deepEqual(await client().filters(), { version: '7.1' });
  assert.deepEqual(await client({ host: 'localhost' }).filters(), { version: '7.1' });
});

test('TLS: a wrong CA, or the system roots, reject the server before any request', async () => {
  server.reset();
  server.on('GET', 'scans/filters', { status: 200 });
  await rejectsKind(client({ caPem: pki.otherCa.certPem }).filters(), 'tls');
  const noCa = baseOptions();
  delete noCa.caPem;
  const c = new KataClient(noCa);
  clients.push(c);
  await rejectsKind(c.filters(), 'tls');
  assert.equal(server.requests.length, 0);
});

test('TLS: a self-signed server certificate given as kata_ca still fails the host-name check', async () => {
  selfSignedServer.reset();
  selfSignedServer.on('GET', 'scans/filters', { status: 200 });
  await rejectsKind(client({ caPem: pki.selfSignedServer.certPem }, selfSignedServer).filters(), 'tls', /ERR_TLS_CERT_ALTNAME_INVALID|altname|host/i);
  assert.equal(selfSignedServer.requests.length, 0);
});

test('TLS: a matching pin accepts an untrusted self-signed certificate without the right SAN', async () => {
  selfSignedServer.reset();
  selfSignedServer.on('GET', 'scans/filters', { status: 200, body: { maxObjectSize: 5 } });
  const pin = normaliseFingerprint(pki.selfSignedServer.fingerprint256);
  const c = client({ pinSha256: pin, caPem: pki.otherCa.certPem }, selfSignedServer);
  assert.deepEqual(await c.filters(), { maxObjectSize: 5 });
  assert.equal(selfSignedServer.requests[0]!.clientFingerprint, pki.client.fingerprint256);
});

test('TLS: a pin mismatch is a tls error naming both fingerprints, and no request is sent', async () => {
  selfSignedServer.reset();
  selfSignedServer.on('GET', 'scans/filters', { status: 200 });
  const wrongPin = normaliseFingerprint(pki.server.fingerprint256);
  const err = await rejectsKind(client({ pinSha256: wrongPin }, selfSignedServer).filters(), 'tls');
  assert.ok(err.message.includes(pki.selfSignedServer.fingerprint256), err.message);
  assert.ok(err.message.includes(pki.server.fingerprint256), err.message);
  assert.equal(selfSignedServer.requests.length, 0);
  // Every new connection is checked, also after a failure.
  await rejectsKind(client({ pinSha256: wrongPin }, selfSignedServer).states(), 'tls', /does not match/);
});

test('TLS: insecure accepts any server certificate', async () => {
  selfSignedServer.reset();
  selfSignedServer.on('GET', 'scans/state', { status: 200, body: [] });
  const opts = { ...baseOptions(), port: selfSignedServer.port, insecure: true };
  delete opts.caPem;
  const c = new KataClient(opts);
  clients.push(c);
  assert.deepEqual(await c.states(), []);
});

test('probeServerCertificate: reports the certificate whatever the trust, and whether it verifies', async () => {
  const ok = await client().probeServerCertificate();
  assert.equal(ok.fingerprint256, pki.server.fingerprint256);
  assert.equal(ok.verified, true);
  assert.equal(ok.verifyError, undefined);
  assert.match(ok.subject, /CN=localhost/);
  assert.match(ok.issuer, /CN=KDS scripted test CA/);
  assert.ok(!Number.isNaN(Date.parse(ok.validTo)));

  const untrusted = await client({ caPem: pki.otherCa.certPem }).probeServerCertificate();
  assert.equal(untrusted.fingerprint256, pki.server.fingerprint256);
  assert.equal(untrusted.verified, false);
  assert.match(untrusted.verifyError ?? '', /not trusted/);

  const noSan = await client({ caPem: pki.selfSignedServer.certPem }, selfSignedServer).probeServerCertificate();
  assert.equal(noSan.verified, false);
  assert.match(noSan.verifyError ?? '', /host name/);

  const pinned = await client({ pinSha256: normaliseFingerprint(pki.selfSignedServer.fingerprint256) }, selfSignedServer).probeServerCertificate();
  assert.equal(pinned.verified, true);
  const wrongPin = await client({ pinSha256: 'AB'.repeat(32) }, selfSignedServer).probeServerCertificate();
  assert.equal(wrongPin.verified, false);
  assert.ok(wrongPin.verifyError?.includes(pki.selfSignedServer.fingerprint256));
});

test('URL: system_id is percent-encoded, IPv6 literals are bracketed', () => {
  const c = client({ host: '::1', port: 8443, systemId: 'a b/c?' });
  assert.equal(c.baseUrl, 'https://[::1]:8443/kata/scanner/v1/sensors/a%20b%2Fc%3F/');
  assert.equal(client({ host: '[fe80::1]', port: 443 }).baseUrl, 'https://[fe80::1]:443/kata/scanner/v1/sensors/sys-0001/');
});
