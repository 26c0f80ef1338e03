import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { EICAR } from '../../src/emulator/eicar';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server';
import { API, call, newClient, postScan, tempDataDir, waitFor, type TestClient } from '../helpers/emulatorClient';

const SENSOR = 'detection-sensor';
let emu: RunningEmulator;
let dataDir: string;
let client: TestClient;
let n = 0;

before(async () => {
  dataDir = await tempDataDir();
  await mkdir(join(dataDir, 'rules'), { recursive: true });
  await writeFile(
    join(dataDir, 'rules', 'kds-test.yar'),
    'rule KDS_Test_Marker { strings: $a = "kds-yara-test-marker-7f3a" condition: $a }\n',
  );
  emu = await startEmulator({ dataDir, port: 0, verdictDelayMs: 0, autoApprove: true });
  client = await newClient(emu, 'detection');
});

after(async () => {
  await emu.close();
  await client.agent.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Submits `content` and returns its final state and the threat names recorded for it. */
async function verdict(content: Buffer | string): Promise<{ state: string; threats: string[] }> {
  const scanId = `d${++n}`;
  const r = await postScan(emu, client, SENSOR, { scanId, content });
  assert.equal(r.status, 200);
  return waitFor(`a verdict for ${scanId}`, () => {
    const scan = emu.stats().scans.find((s) => s.scanId === scanId && s.sensorId === SENSOR);
    return scan && scan.state !== 'processing' ? { state: scan.state, threats: scan.threats } : undefined;
  });
}

test('EICAR at the start with trailing white space is detected', async () => {
  assert.deepEqual(await verdict(EICAR + ' \r\n\t\x1a'), { state: 'detect', threats: ['EICAR-Test-File'] });
});

test('EICAR followed by other bytes is not detected', async () => {
  assert.deepEqual(await verdict(EICAR + 'and more'), { state: 'not detected', threats: [] });
});

test('EICAR in the middle of a large file is not detected', async () => {
  const big = Buffer.concat([Buffer.alloc(512 * 1024, 'a'), Buffer.from(EICAR), Buffer.alloc(512 * 1024, 'b')]);
  assert.deepEqual(await verdict(big), { state: 'not detected', threats: [] });
});

test('EICAR inside a ZIP archive (and one level deeper) is detected', async () => {
  const zip = zipSync({ 'docs/readme.txt': Buffer.from('hello '.repeat(100)), 'eicar.com': Buffer.from(EICAR) });
  assert.deepEqual(await verdict(Buffer.from(zip)), { state: 'detect', threats: ['EICAR-Test-File'] });
  const nested = zipSync({ 'inner.zip': zipSync({ 'eicar.com': Buffer.from(EICAR) }) });
  assert.deepEqual(await verdict(Buffer.from(nested)), { state: 'detect', threats: ['EICAR-Test-File'] });
});

test('a block-listed SHA-256 is detected; the list is re-read when it changes', async () => {
  const content = `block me ${Date.now()}`;
  assert.equal((await verdict(content)).state, 'not detected');
  const sha = createHash('sha256').update(content).digest('hex');
  await writeFile(join(dataDir, 'blocklist.sha256'), `# test list\n${'0'.repeat(64)}\n${sha.toUpperCase()}  sample.bin\nnot-a-hash\n`);
  assert.deepEqual(await verdict(content), { state: 'detect', threats: ['KDS:BlockList.SHA256'] });
  await writeFile(join(dataDir, 'blocklist.sha256'), '# emptied\n');
  assert.equal((await verdict(content)).state, 'not detected');
});

test('a YARA rule match is detected as YARA:<rule> with technology yara', async () => {
  assert.deepEqual(await verdict('prefix kds-yara-test-marker-7f3a suffix'), { state: 'detect', threats: ['YARA:KDS_Test_Marker'] });
  const r = await call(emu, client.agent, 'GET', `${API}${SENSOR}/detects?detect_type=yara`);
  const body = JSON.parse(r.text) as { detects: Array<{ technology: string; detection: { detect: string[] }; importance: string }> };
  assert.deepEqual(body.detects.map((d) => [d.technology, d.detection.detect]), [['yara', ['YARA:KDS_Test_Marker']]]);
});

test('a broken YARA rule file does not break scanning', async () => {
  await writeFile(join(dataDir, 'rules', 'zz-broken.yar'), 'rule Broken { condition: no_such_identifier }\n');
  try {
    assert.deepEqual(await verdict(EICAR), { state: 'detect', threats: ['EICAR-Test-File'] });
    assert.equal((await verdict('harmless')).state, 'not detected');
  } finally {
    await rm(join(dataDir, 'rules', 'zz-broken.yar'));
  }
});

test('the KDS-TEST-ERROR and KDS-TEST-TIMEOUT markers end in error and timeout', async () => {
  assert.deepEqual(await verdict('KDS-TEST-ERROR'), { state: 'error', threats: [] });
  assert.deepEqual(await verdict('KDS-TEST-TIMEOUT\n' + EICAR), { state: 'timeout', threats: [] });
  // A big object's marker is seen in the head kept from its upload rather than read back.
  assert.deepEqual(await verdict(Buffer.concat([Buffer.from('KDS-TEST-ERROR'), Buffer.alloc(2 * 1024 * 1024, 'z')])), { state: 'error', threats: [] });
  const r = await call(emu, client.agent, 'GET', `${API}${SENSOR}/scans/state?state=error,timeout`);
  assert.equal((JSON.parse(r.text) as unknown[]).length, 3);
});

test('without the yara program the emulator still runs and says so once', async () => {
  const { DetectionEngine } = await import('../../src/emulator/detection');
  const { KdsLogger } = await import('../../src/common/log');
  const lines: string[] = [];
  const logger = new KdsLogger({ sinks: [(r) => lines.push(`${r.level} ${r.event}`)] });
  const engine = new DetectionEngine(dataDir, logger, join(dataDir, 'no-such-yara'));
  const file = join(dataDir, 'plain.txt');
  await writeFile(file, 'kds-yara-test-marker-7f3a');
  const obj = { path: file, size: 25, sha256: createHash('sha256').update('kds-yara-test-marker-7f3a').digest('hex') };
  assert.deepEqual(await engine.examine(obj), { state: 'not detected', threats: [] });
  assert.deepEqual(await engine.examine(obj), { state: 'not detected', threats: [] });
  assert.deepEqual(lines.filter((l) => l.includes('emulator.yara')), ['warn emulator.yara']);
});

test('a batch of objects is examined with one YARA run, each with its own verdict', async () => {
  const { DetectionEngine } = await import('../../src/emulator/detection');
  const { KdsLogger } = await import('../../src/common/log');
  const engine = new DetectionEngine(dataDir, new KdsLogger({ sinks: [] }));
  const contents = ['kds-yara-test-marker-7f3a first', 'nothing here', EICAR, 'KDS-TEST-TIMEOUT', 'again kds-yara-test-marker-7f3a', 'a name with spaces'];
  const objs = [];
  for (const [i, content] of contents.entries()) {
    const path = join(dataDir, 'objects', `batch ${i}.part`);
    await writeFile(path, content);
    objs.push({ path, size: Buffer.byteLength(content), sha256: createHash('sha256').update(content).digest('hex') });
  }
  const verdicts = await engine.examineMany(objs);
  assert.deepEqual(
    verdicts.map((v) => `${v.state} ${v.threats.map((x) => x.name).join(',')}`),
    ['detect YARA:KDS_Test_Marker', 'not detected ', 'detect EICAR-Test-File', 'timeout ', 'detect YARA:KDS_Test_Marker', 'not detected '],
  );
  // Objects submitted together reach their verdicts together, each the right one.
  const many = await Promise.all([verdict('kds-yara-test-marker-7f3a x'), verdict('plain'), verdict(EICAR), verdict('kds-yara-test-marker-7f3a y')]);
  assert.deepEqual(many.map((v) => v.state), ['detect', 'not detected', 'detect', 'detect']);
});

test('objects of every size are stored byte for byte, and the alert of a detected one has its MD5 and SHA-256', async () => {
  // The rule sees the stored file: markers at its start, middle and end, so a lost, doubled or
  // reordered write batch (1 MiB) fails it, for objects kept inline, written at once and streamed.
  await writeFile(
    join(dataDir, 'rules', 'layout.yar'),
    'rule KDS_Test_Layout { strings: $s = "kds-layout-start" $m = "kds-layout-middle" $e = "kds-layout-end-9c1e" condition: $s at 0 and $m at (filesize \\ 2) and $e at (filesize - 19) }\n',
  );
  try {
    for (const size of [10 * 1024, 300 * 1024, 1024 * 1024, 1024 * 1024 + 1, 5 * 512 * 1024 + 3]) {
      const content = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4) content.writeUInt32LE(i, i - (i + 4 > size ? i + 4 - size : 0));
      content.write('kds-layout-start', 0);
      content.write('kds-layout-middle', Math.floor(size / 2));
      content.write('kds-layout-end-9c1e', size - 19);
      const scanId = `layout${size}`;
      assert.equal((await postScan(emu, client, SENSOR, { scanId, content, fileName: `${scanId}.bin` })).status, 200);
      const scan = await waitFor(`a verdict for ${scanId}`, () => emu.stats().scans.find((s) => s.scanId === scanId && s.state !== 'processing'));
      assert.deepEqual([scan.state, scan.threats], ['detect', ['YARA:KDS_Test_Layout']], `${size} bytes`);
      const r = await call(emu, client.agent, 'GET', `${API}${SENSOR}/detects?detect_type=yara`);
      const alerts = (JSON.parse(r.text) as { detects: Array<{ object: { processedObject: Record<string, unknown> } }> }).detects;
      const alert = alerts.find((a) => a.object.processedObject.fileName === `${scanId}.bin`);
      assert.deepEqual(alert?.object.processedObject, {
        MD5: createHash('md5').update(content).digest('hex'),
        SHA256: createHash('sha256').update(content).digest('hex'),
        fileName: `${scanId}.bin`,
        fileSize: size,
      });
    }
  } finally {
    await rm(join(dataDir, 'rules', 'layout.yar'));
  }
});
