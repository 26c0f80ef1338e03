import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ScanRecord, ScanStore, scanKey } from '../../src/emulator/scanStore';

function scan(sensorId: string, scanId: string, state: ScanRecord['state'] = 'processing'): ScanRecord {
  return {
    key: scanKey(sensorId, scanId),
    sensorId,
    scanId,
    sensorInstanceId: '',
    state,
    submittedAt: new Date(0).toISOString(),
    dueAt: 1000,
    fileName: `${scanId}.bin`,
    size: 1,
    sha256: 'a'.repeat(64),
    md5: 'b'.repeat(32),
    threats: [],
  };
}

function alert(scanId: string) {
  return {
    sensorId: 's',
    sensorInstanceId: '',
    scanId,
    eventTime: '',
    detectTime: '',
    technology: 'am' as const,
    importance: 'high' as const,
    fileName: '',
    size: 1,
    sha256: '',
    md5: '',
    threats: ['EICAR-Test-File'],
  };
}

function summary(store: ScanStore) {
  return {
    scans: store.all().map((s) => `${s.sensorId}/${s.scanId}:${s.state}`),
    processing: store.countProcessing(),
    alerts: store.recentAlerts(100).map((a) => `${a.alertID}:${a.scanId}`),
  };
}

test('scan store: every change survives a crash (no close) and a restart, from the journal alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-store-'));
  try {
    const a = new ScanStore(dir);
    await a.load();
    const one = scan('s', '1');
    a.put(one);
    a.put(scan('s', '2'));
    a.put(scan('t', '3'));
    one.state = 'detect';
    a.update(one);
    a.addAlerts([alert('1')]);
    a.remove([a.get(scanKey('s', '2'))!]);
    // A reused scanId replaces the earlier request.
    a.put(scan('t', '3', 'processing'));
    const before = summary(a);
    assert.deepEqual(before.scans, ['s/1:detect', 't/3:processing']);
    assert.equal(before.processing, 1);
    assert.deepEqual([...a.ofSensor('s')].map((s) => s.scanId), ['1']);

    // "Crash": the first store is never closed or flushed; a second process loads the folder.
    const b = new ScanStore(dir);
    await b.load();
    assert.deepEqual(summary(b), before);
    // New alert IDs continue after the old ones.
    assert.equal(b.addAlerts([alert('9')])[0]!.alertID, 2);
    await b.close();

    const c = new ScanStore(dir);
    await c.load();
    assert.deepEqual(summary(c).alerts, ['2:9', '1:1']);
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scan store: a torn last journal line (power cut mid-write) loses only that change', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-store-'));
  try {
    const a = new ScanStore(dir);
    await a.load();
    a.put(scan('s', '1'));
    await a.flush();
    const journal = readdirSync(dir).find((n) => /^store-\d+\.log$/.test(n))!;
    appendFileSync(join(dir, journal), '{"put":{"key":"s\\u0000');
    const b = new ScanStore(dir);
    await b.load();
    assert.deepEqual(summary(b).scans, ['s/1:processing']);
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scan store: the journal is folded into the snapshot, so its size follows the live records', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-store-'));
  try {
    const a = new ScanStore(dir);
    await a.load();
    // Far more changes than live records: put and delete 30 000 scans, keep 10.
    for (let i = 0; i < 30_000; i++) {
      const s = scan('s', String(i));
      a.put(s);
      if (i >= 10) a.remove([s]);
    }
    await a.flush();
    const journals = readdirSync(dir).filter((n) => /^store-\d+\.log$/.test(n));
    assert.equal(journals.length, 1, 'older journals are removed after compaction');
    // 60 000 entries of about 300 bytes were written; at most the last 20 000 are left.
    assert.ok(statSync(join(dir, journals[0]!)).size < 8 * 1024 * 1024, 'the journal was compacted');
    assert.ok(statSync(join(dir, 'store.json')).size < 64 * 1024, 'the snapshot holds the live records only');
    const b = new ScanStore(dir);
    await b.load();
    assert.equal(b.all().length, 10);
    assert.equal(b.countProcessing(), 10);
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scan store: the files of the previous version (scans.json, alerts.json) are read once and replaced', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-store-'));
  try {
    writeFileSync(join(dir, 'scans.json'), JSON.stringify({ version: 1, scans: [scan('s', 'old', 'not detected')] }));
    writeFileSync(join(dir, 'alerts.json'), JSON.stringify({ version: 1, nextAlertId: 7, alerts: [{ alertID: 6, ...alert('old') }] }));
    const a = new ScanStore(dir);
    await a.load();
    assert.deepEqual(summary(a).scans, ['s/old:not detected']);
    assert.equal(a.addAlerts([alert('new')])[0]!.alertID, 7);
    await a.close();
    assert.ok(!readdirSync(dir).includes('scans.json') && !readdirSync(dir).includes('alerts.json'));
    const snapshot = JSON.parse(readFileSync(join(dir, 'store.json'), 'utf8')) as { scans: unknown[] };
    assert.equal(snapshot.scans.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
