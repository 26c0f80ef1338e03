import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { request } from 'undici';
import { EICAR } from '../../src/emulator/eicar';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server';
import {
  API,
  anonymousAgent,
  call,
  finalState,
  newClient,
  postScan,
  seedTls,
  tempDataDir,
  waitFor,
  type TestClient,
} from '../helpers/emulatorClient';

const MAX = 4096;
const DELAY = 100;
let emu: RunningEmulator;
let dataDir: string;
let alice: TestClient;
let bob: TestClient;
const dirs: string[] = [];
const clients: TestClient[] = [];

before(async () => {
  dataDir = await tempDataDir();
  dirs.push(dataDir);
  emu = await startEmulator({ dataDir, port: 0, verdictDelayMs: DELAY, maxObjectSize: MAX });
  [alice, bob] = await Promise.all([newClient(emu, 'alice'), newClient(emu, 'bob')]);
  clients.push(alice, bob);
});

after(async () => {
  await emu.close();
  await Promise.all(clients.map((c) => c.agent.close()));
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A sensor that alice's certificate may use. */
async function approvedSensor(name: string, client = alice): Promise<string> {
  await emu.approve(name, client.cert.fingerprint256);
  return name;
}

test('a request without a client certificate gets 401 and creates no request', async () => {
  const anon = anonymousAgent(emu);
  try {
    const r = await call(emu, anon, 'GET', `${API}anon-sensor/scans/filters`);
    assert.equal(r.status, 401);
  } finally {
    await anon.close();
  }
  assert.equal((await emu.systems()).filter((s) => s.sensorId === 'anon-sensor').length, 0);
});

test('integration: unknown pair → 401 pending; accepted → 200; rejected → 403; a new certificate is a new request', async () => {
  const sensor = 'b1f0c1d2-0000-4000-8000-000000000001';
  const filters = `${API}${sensor}/scans/filters`;
  assert.equal((await call(emu, alice.agent, 'GET', filters)).status, 401);
  assert.equal((await call(emu, alice.agent, 'GET', filters)).status, 401, 'still pending');
  let rows = (await emu.systems()).filter((s) => s.sensorId === sensor);
  assert.equal(rows.length, 1, 'same sensorId and certificate: one request');
  assert.equal(rows[0]!.state, 'pending');
  assert.equal(rows[0]!.fingerprint, alice.cert.fingerprint256);

  const accepted = await emu.approve(sensor);
  assert.equal(accepted.length, 1);
  assert.equal((await call(emu, alice.agent, 'GET', filters)).status, 200);

  // Same sensorId, another certificate: a second request, pending on its own.
  assert.equal((await call(emu, bob.agent, 'GET', filters)).status, 401);
  rows = (await emu.systems()).filter((s) => s.sensorId === sensor);
  assert.deepEqual(rows.map((r) => r.state).sort(), ['accepted', 'pending']);
  assert.equal((await call(emu, alice.agent, 'GET', filters)).status, 200, 'the first certificate stays accepted');

  await emu.reject(sensor, bob.cert.fingerprint256);
  assert.equal((await call(emu, bob.agent, 'GET', filters)).status, 403);
  await emu.reject(sensor);
  assert.equal((await call(emu, alice.agent, 'GET', filters)).status, 403);
  assert.equal((await postScan(emu, alice, sensor, { scanId: '1', content: 'x' })).status, 403);
});

test('GET scans/filters: maxObjectSize and version', async () => {
  const sensor = await approvedSensor('filters-sensor');
  const r = await call(emu, alice.agent, 'GET', `${API}${sensor}/scans/filters`);
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const body = JSON.parse(r.text) as { maxObjectSize: number; version: string };
  assert.equal(body.maxObjectSize, MAX);
  assert.equal(typeof body.version, 'string');
});

test('POST scans: "OK", and 400 for another objectType, no content, a bad scanId or a non-multipart body', async () => {
  const sensor = await approvedSensor('post-sensor');
  const ok = await postScan(emu, alice, sensor, { scanId: 'p-1', content: 'hello' });
  assert.equal(ok.status, 200);
  assert.equal(ok.text, 'OK');
  assert.equal((await postScan(emu, alice, sensor, { scanId: 'p-2', objectType: 'url', content: 'https://example.org/' })).status, 400);
  assert.equal((await postScan(emu, alice, sensor, { scanId: 'p-3' })).status, 400);
  assert.equal((await postScan(emu, alice, sensor, { scanId: 'bad id!', content: 'x' })).status, 400);
  const plain = await call(emu, alice.agent, 'POST', `${API}${sensor}/scans`, { body: 'content=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(plain.status, 400);
  assert.equal((await call(emu, alice.agent, 'GET', `${API}${sensor}/nothing-here`)).status, 404);
  assert.equal((await call(emu, alice.agent, 'GET', `${API}${sensor}/scans`)).status, 405);
  const accepted = emu.stats().scans.filter((s) => s.sensorId === sensor);
  assert.deepEqual(accepted.map((s) => s.scanId), ['p-1'], 'refused uploads leave nothing behind');
});

test('scans/state (array shape): 204 when empty, documented types, state and sensorInstanceId filters', async () => {
  const sensor = await approvedSensor('state-sensor');
  const state = (q = '') => call(emu, alice.agent, 'GET', `${API}${sensor}/scans/state${q}`);
  assert.equal((await state()).status, 204);

  assert.equal((await postScan(emu, alice, sensor, { scanId: '17', content: EICAR, sensorInstanceId: 'node-a' })).status, 200);
  assert.equal((await postScan(emu, alice, sensor, { scanId: 'clean-1', content: 'clean', sensorInstanceId: 'node-b' })).status, 200);
  const first = JSON.parse((await state()).text) as unknown[];
  assert.equal(first.length, 2);
  assert.equal(await finalState(emu, alice, sensor, '17'), 'detect');
  assert.equal(await finalState(emu, alice, sensor, 'clean-1'), 'not detected');

  const all = JSON.parse((await state()).text) as Array<{ scanId: unknown; state: unknown }>;
  assert.deepEqual(all, [
    { scanId: 17, state: ['detect'] },
    { scanId: 'clean-1', state: ['not detected'] },
  ]);
  const notDetected = await state('?state=not%20detected');
  assert.deepEqual(JSON.parse(notDetected.text), [{ scanId: 'clean-1', state: ['not detected'] }]);
  const finished = await state('?state=detect,not%20detected,timeout,error');
  assert.equal((JSON.parse(finished.text) as unknown[]).length, 2);
  assert.equal((await state('?state=processing')).status, 204);
  assert.equal((await state('?state=processing,timeout')).status, 204);
  assert.deepEqual(JSON.parse((await state('?sensorInstanceId=node-a')).text), [{ scanId: 17, state: ['detect'] }]);
  assert.equal((await state('?sensorInstanceId=node-c')).status, 204);
  assert.equal((await state('?state=finished')).status, 400);
});

test('scans/state ("scans" shape) and 429 above --max-processing', async () => {
  const dir = await tempDataDir();
  dirs.push(dir);
  await seedTls(dataDir, dir);
  const slow = await startEmulator({ dataDir: dir, port: 0, stateShape: 'scans', maxProcessing: 2, verdictDelayMs: 60_000, autoApprove: true });
  const client = await newClient(slow, 'shape');
  clients.push(client);
  try {
    assert.equal((await postScan(slow, client, 's', { scanId: '1', content: 'a' })).status, 200);
    assert.equal((await postScan(slow, client, 's', { scanId: 'two', content: 'b' })).status, 200);
    const busy = await postScan(slow, client, 's', { scanId: '3', content: 'c' });
    assert.equal(busy.status, 429);
    const r = await call(slow, client.agent, 'GET', `${API}s/scans/state`);
    assert.deepEqual(JSON.parse(r.text), {
      scans: [
        { scanId: '1', state: 'processing' },
        { scanId: 'two', state: 'processing' },
      ],
    });
    // Deleting a processing scan frees its slot.
    assert.equal((await call(slow, client.agent, 'DELETE', `${API}s/scans/1`)).status, 200);
    assert.equal((await postScan(slow, client, 's', { scanId: '3', content: 'c' })).status, 200);
    assert.equal(slow.stats().statusCounts.get(429), 1);
  } finally {
    await slow.close();
  }
});

test('413 above --max-object-size, with and without a Content-Length; exactly the maximum is accepted', async () => {
  const sensor = await approvedSensor('size-sensor');
  assert.equal((await postScan(emu, alice, sensor, { scanId: 'max', content: Buffer.alloc(MAX, 1) })).status, 200);
  assert.equal((await postScan(emu, alice, sensor, { scanId: 'max1', content: Buffer.alloc(MAX + 1, 1) })).status, 413);
  // Far too big: refused from the Content-Length before the body is read.
  const huge = await postScan(emu, alice, sensor, { scanId: 'huge', content: Buffer.alloc(4 * 1024 * 1024, 2) });
  assert.equal(huge.status, 413);
  // Chunked, so the size is only known while reading.
  const boundary = 'kdsTestBoundary42';
  async function* body() {
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="scanId"\r\n\r\nchunked\r\n`);
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="objectType"\r\n\r\nfile\r\n`);
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    for (let i = 0; i < 64; i++) yield Buffer.alloc(16 * 1024, 3);
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  }
  const res = await request(`${emu.url}${API}${sensor}/scans`, {
    method: 'POST',
    dispatcher: alice.agent,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: Readable.from(body()),
  });
  await res.body.text();
  assert.equal(res.statusCode, 413);
  // The connection is still usable afterwards.
  assert.equal((await call(emu, alice.agent, 'GET', `${API}${sensor}/scans/filters`)).status, 200);
  assert.deepEqual(
    emu.stats().scans.filter((s) => s.sensorId === sensor).map((s) => s.scanId),
    ['max'],
  );
});

test('clients that disconnect mid-upload leave the server running and no stray files', async () => {
  const sensor = await approvedSensor('abort-sensor');
  const part = (name: string, value: string) => `--B\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  for (let i = 0; i < 30; i++) {
    const fields = part('scanId', `abort${i}`) + part('objectType', 'file');
    const contentHead = `--B\r\nContent-Disposition: form-data; name="content"; filename="a.bin"\r\n\r\n`;
    const body = `${fields}${contentHead}${'z'.repeat(3000)}\r\n--B--\r\n`;
    const head = `POST ${API}${sensor}/scans HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: ${body.length}\r\n\r\n`;
    // Mostly cut just inside the content part: the moment its file is being opened is the delicate one.
    const cuts = [fields.length + contentHead.length + 10, fields.length + contentHead.length + 1000, fields.length, body.length];
    const cut = cuts[i % cuts.length]!;
    await new Promise<void>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: emu.port, ca: emu.caPem, cert: alice.cert.certPem, key: alice.cert.keyPem, servername: 'localhost' }, () => {
        socket.write(head + body.slice(0, cut), () => setTimeout(() => socket.destroy(), i % 3));
      });
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
    });
  }
  assert.equal((await call(emu, alice.agent, 'GET', `${API}${sensor}/scans/filters`)).status, 200);
  // Complete uploads among them are scanned and their content deleted; broken ones leave nothing.
  await waitFor('the objects folder to empty', async () => ((await readdir(join(dataDir, 'objects'))).length === 0 ? true : undefined));
});

test('DELETE scans/<id> (404 when unknown), DELETE scans and scans/ (all)', async () => {
  const sensor = await approvedSensor('delete-sensor');
  for (const id of ['d1', 'd2', 'd3', 'd4']) assert.equal((await postScan(emu, alice, sensor, { scanId: id, content: id })).status, 200);
  const deletesBefore = emu.stats().deletes;
  const one = await call(emu, alice.agent, 'DELETE', `${API}${sensor}/scans/d1`);
  assert.equal(one.status, 200);
  assert.equal(one.text, 'OK');
  assert.equal((await call(emu, alice.agent, 'DELETE', `${API}${sensor}/scans/d1`)).status, 404);
  assert.equal((await call(emu, alice.agent, 'DELETE', `${API}${sensor}/scans/nope`)).status, 404);
  const ids = () => emu.stats().scans.filter((s) => s.sensorId === sensor).map((s) => s.scanId);
  assert.deepEqual(ids(), ['d2', 'd3', 'd4']);
  assert.equal((await call(emu, alice.agent, 'DELETE', `${API}${sensor}/scans`)).status, 200);
  assert.deepEqual(ids(), []);
  assert.equal((await postScan(emu, alice, sensor, { scanId: 'd5', content: 'x' })).status, 200);
  assert.equal((await call(emu, alice.agent, 'DELETE', `${API}${sensor}/scans/`)).status, 200);
  assert.deepEqual(ids(), []);
  assert.equal((await call(emu, alice.agent, 'GET', `${API}${sensor}/scans/state`)).status, 204);
  assert.equal(emu.stats().deletes - deletesBefore, 3);
  // Other sensors' scans are untouched.
  assert.ok(emu.stats().scans.some((s) => s.sensorId === 'state-sensor'));
});

test('detects: alert fields, detect_type, limit, and a cursor that does not repeat alerts', async () => {
  const sensor = await approvedSensor('detects-sensor');
  const detects = async (q: string) => {
    const r = await call(emu, alice.agent, 'GET', `${API}${sensor}/detects${q}`);
    return { status: r.status, body: r.status === 200 ? (JSON.parse(r.text) as { detects: Array<Record<string, any>>; token: string }) : undefined };
  };
  const empty = await detects('');
  assert.deepEqual(empty.body!.detects, []);
  for (const id of ['e1', 'e2', 'e3']) {
    assert.equal((await postScan(emu, alice, sensor, { scanId: id, content: EICAR + '\n', fileName: `${id}.com` })).status, 200);
  }
  for (const id of ['e1', 'e2', 'e3']) assert.equal(await finalState(emu, alice, sensor, id), 'detect');

  const all = await detects('?detect_type=am,sb');
  assert.equal(all.body!.detects.length, 3);
  const a = all.body!.detects[0]!;
  assert.equal(typeof a.alertID, 'number');
  assert.ok(!Number.isNaN(Date.parse(a.eventTimeStamp)) && !Number.isNaN(Date.parse(a.detectTimestamp)));
  assert.equal(a.importance, 'high');
  assert.equal(a.objectSource, 'external');
  assert.equal(a.technology, 'am');
  assert.equal(a.objectType, 'file');
  assert.deepEqual(Object.keys(a.object.processedObject).sort(), ['MD5', 'SHA256', 'fileName', 'fileSize']);
  assert.equal(a.object.processedObject.fileName, 'e1.com');
  assert.equal(a.object.processedObject.fileSize, 69);
  assert.match(a.object.processedObject.SHA256, /^[0-9a-f]{64}$/);
  assert.match(a.object.processedObject.MD5, /^[0-9a-f]{32}$/);
  assert.deepEqual(a.detection.detect, ['EICAR-Test-File']);
  assert.equal(typeof a.detection.dataBaseVersion, 'string');

  assert.deepEqual((await detects('?detect_type=yara')).body!.detects, []);
  const page1 = await detects('?limit=2&token=7b226f6666736574223a20307d');
  assert.deepEqual(page1.body!.detects.map((d) => d.object.processedObject.fileName), ['e1.com', 'e2.com']);
  const page2 = await detects(`?limit=2&token=${page1.body!.token}`);
  assert.deepEqual(page2.body!.detects.map((d) => d.object.processedObject.fileName), ['e3.com']);
  const page3 = await detects(`?limit=2&token=${page2.body!.token}`);
  assert.deepEqual(page3.body!.detects, []);
  assert.equal(page3.body!.token, page2.body!.token);
  assert.ok(JSON.parse(Buffer.from(page2.body!.token, 'hex').toString()).offset > 0);

  for (const q of ['?limit=0', '?limit=10001', '?limit=ten', '?detect_type=av', '?token=xyz', `?token=${Buffer.from('{"offset":-3}').toString('hex')}`]) {
    assert.equal((await detects(q)).status, 400, q);
  }
  // Alerts belong to the sensor that sent the objects.
  const other = await approvedSensor('other-sensor');
  const r = await call(emu, alice.agent, 'GET', `${API}${other}/detects`);
  assert.deepEqual(JSON.parse(r.text).detects, []);
});

test('the KDS-TEST-SLOW marker keeps a scan processing ten times the verdict delay', async () => {
  const sensor = await approvedSensor('slow-sensor');
  assert.equal((await postScan(emu, alice, sensor, { scanId: 'slow', content: 'KDS-TEST-SLOW please' })).status, 200);
  // The store's journal has the record, written before the 200.
  const journal = (await readdir(dataDir)).find((n) => /^store-\d+\.log$/.test(n))!;
  const entries = (await readFile(join(dataDir, journal), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { put?: { scanId: string; dueAt: number; submittedAt: string } });
  const scan = entries.find((e) => e.put?.scanId === 'slow')!.put!;
  assert.equal(scan.dueAt - Date.parse(scan.submittedAt), DELAY * 10);
  assert.equal(await finalState(emu, alice, sensor, 'slow'), 'not detected');
});

test('faults: 429, 500, reset and latency are each injected, then switched off', async () => {
  const sensor = await approvedSensor('fault-sensor');
  const filters = `${API}${sensor}/scans/filters`;
  const before = emu.stats().faults;
  try {
    emu.setFaults('429=1');
    assert.equal((await call(emu, alice.agent, 'GET', filters)).status, 429);
    const post = await postScan(emu, alice, sensor, { scanId: 'f1', content: 'x' });
    assert.equal(post.status, 429);
    emu.setFaults('500=1');
    assert.equal((await call(emu, alice.agent, 'GET', filters)).status, 500);
    emu.setFaults('reset=1');
    await assert.rejects(call(emu, alice.agent, 'GET', filters), (err: Error & { code?: string }) => /SOCKET|RESET|closed/i.test(`${err.code} ${err.message}`));
    emu.setFaults('latency=30');
    assert.equal((await call(emu, alice.agent, 'GET', filters)).status, 200);
    assert.throws(() => emu.setFaults('reset=2'));
  } finally {
    emu.setFaults('');
  }
  assert.equal((await call(emu, alice.agent, 'GET', filters)).status, 200);
  const after = emu.stats().faults;
  assert.equal(after['429'] - before['429'], 2);
  assert.equal(after['500'] - before['500'], 1);
  assert.equal(after.reset - before.reset, 1);
  assert.equal(after.delayed - before.delayed, 1);
  assert.ok(!emu.stats().scans.some((s) => s.scanId === 'f1'));
});

test('faults given at start apply to every call; pending sensors still get 401', async () => {
  const dir = await tempDataDir();
  dirs.push(dir);
  await seedTls(dataDir, dir);
  const faulty = await startEmulator({ dataDir: dir, port: 0, faults: '500=1,latency=5' });
  const client = await newClient(faulty, 'faulty');
  clients.push(client);
  try {
    assert.equal((await call(faulty, client.agent, 'GET', `${API}x/scans/filters`)).status, 401);
    await faulty.approve('x');
    assert.equal((await call(faulty, client.agent, 'GET', `${API}x/scans/filters`)).status, 500);
    assert.deepEqual(faulty.stats().faults, { '429': 0, '500': 1, reset: 0, delayed: 2 });
  } finally {
    await faulty.close();
  }
  await assert.rejects(startEmulator({ dataDir: dir, port: 0, faults: '500=yes' }), /probability/);
});

test('restart: approvals, results and alerts persist; a scan processing at shutdown finishes afterwards', async () => {
  const dir = await tempDataDir();
  dirs.push(dir);
  await seedTls(dataDir, dir);
  const first = await startEmulator({ dataDir: dir, port: 0, verdictDelayMs: 0 });
  await assert.rejects(startEmulator({ dataDir: dir, port: 0 }), /in use by another emulator/);
  const client = await newClient(first, 'restart');
  clients.push(client);
  const password = first.adminPassword;
  assert.equal(first.adminPasswordCreated, true);
  await first.approve('r', client.cert.fingerprint256);
  await first.reject('r2', bob.cert.fingerprint256);
  assert.equal((await postScan(first, client, 'r', { scanId: 'done', content: EICAR })).status, 200);
  assert.equal(await finalState(first, client, 'r', 'done'), 'detect');
  await first.close();

  // Long delay: the next scan is still processing when this instance stops.
  const second = await startEmulator({ dataDir: dir, port: 0, verdictDelayMs: 60_000 });
  assert.equal(second.adminPasswordCreated, false);
  assert.equal(second.adminPassword, password);
  assert.equal((await postScan(second, client, 'r', { scanId: 'pending', content: EICAR })).status, 200);
  assert.equal(second.stats().scans.find((s) => s.scanId === 'pending')!.state, 'processing');
  // A small object is kept in its scan record, a bigger one in a file: both must survive.
  const big = Buffer.alloc(40 * 1024, 'x');
  assert.equal((await postScan(second, client, 'r', { scanId: 'pending-big', content: big })).status, 200);
  assert.equal((await readdir(join(dir, 'objects'))).length, 1);
  await second.close();

  const third = await startEmulator({ dataDir: dir, port: 0, verdictDelayMs: 10 });
  try {
    assert.equal(await finalState(third, client, 'r', 'pending'), 'detect');
    assert.equal(await finalState(third, client, 'r', 'pending-big'), 'not detected');
    assert.equal(await finalState(third, client, 'r', 'done'), 'detect');
    const systems = await third.systems();
    assert.equal(systems.find((s) => s.sensorId === 'r2')!.state, 'rejected');
    const r = await call(third, client.agent, 'GET', `${API}r/detects`);
    assert.equal((JSON.parse(r.text) as { detects: unknown[] }).detects.length, 2);
    assert.equal(third.stats().scans.find((s) => s.scanId === 'pending-big')!.size, big.length);
    assert.equal(third.stats().postsAccepted, 0, 'stats count this instance only');
    // Contents are kept only while processing (deleted just after the verdict is saved).
    await waitFor('the stored object to be deleted', async () => ((await readdir(join(dir, 'objects'))).length === 0 ? true : undefined));
  } finally {
    await third.close();
  }
});

test('stats: accepted POSTs per SHA-256', async () => {
  const sensor = await approvedSensor('stats-sensor');
  const before = emu.stats();
  for (let i = 0; i < 2; i++) assert.equal((await postScan(emu, alice, sensor, { scanId: `s${i}`, content: 'same bytes' })).status, 200);
  const after = emu.stats();
  assert.equal(after.postsAccepted - before.postsAccepted, 2);
  const counts = [...after.uploadsBySha256].filter(([h]) => after.scans.some((s) => s.sha256 === h && s.sensorId === sensor));
  assert.deepEqual(counts.map(([, n]) => n), [2]);
});
