import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EngineEvent, FileRecord, FileStage, RoutedFile } from '../../src/engine/events';
import { EngineMetrics } from '../../src/observability/engineMetrics';
import { EngineSiemEvents } from '../../src/observability/engineSiemEvents';
import { KataHealth } from '../../src/observability/kataHealth';
import { KdsMetrics } from '../../src/observability/metricsRegistry';
import { readiness } from '../../src/observability/readiness';
import type { SiemEvent } from '../../src/observability/siemEvent';

function file(name: string, stage: FileStage, over: Partial<FileRecord> = {}): EngineEvent {
  return { type: 'file', file: { name, size: 10, mtimeMs: 1, stage, firstSeen: 1000, changedAt: 1000, attempts: 0, ...over } };
}
function routed(name: string, verdict: RoutedFile['verdict'], routedAt: number, size = 10): EngineEvent {
  return { type: 'routed', file: { name, size, sha256: 'ab'.repeat(32), scanId: `scan-${name}`, verdict, rawState: verdict, destination: verdict === 'not detected' ? 'out' : 'qrnt', path: `/q/${name}`, submittedAt: routedAt - 1, routedAt } };
}

/** The exposition text as a map "name{labels}" → value. */
async function samples(m: KdsMetrics): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await m.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

test('engine metrics: outcomes, bytes, retries, files per stage, the oldest file on its way, latency from complete to routed', async () => {
  let now = 5000;
  const m = new KdsMetrics();
  const em = new EngineMetrics(m, 'default', () => now);
  em.seed({ running: true, approval: 'approved', files: [{ name: 'old.bin', size: 1, mtimeMs: 1, stage: 'submitted', firstSeen: 100, changedAt: 100, attempts: 0 }] });
  const events: EngineEvent[] = [
    file('a.txt', 'settling', { firstSeen: 4000 }),
    file('a.txt', 'queued', { firstSeen: 4000 }),
    file('a.txt', 'uploading', { firstSeen: 4000 }),
    file('a.txt', 'retrying', { firstSeen: 4000, reason: 'network' }),
    file('a.txt', 'queued', { firstSeen: 4000 }),
    file('a.txt', 'uploading', { firstSeen: 4000 }),
    file('a.txt', 'submitted', { firstSeen: 4000 }),
    file('a.txt', 'routing', { firstSeen: 4000 }),
    file('a.txt', 'retrying', { firstSeen: 4000, reason: 'EIO' }),
    file('a.txt', 'routing', { firstSeen: 4000 }),
    // Found already complete (old times): no settling.
    file('b.com', 'queued', { firstSeen: 4500, changedAt: 4500 }),
    file('skip.doc', 'excluded'),
    file('big.iso', 'too-large'),
    file('big.iso', 'too-large', { reason: 'limit 5' }),
  ];
  const completeA = now;
  for (const e of events) em.handle(e);
  now = 9000;
  // The engine says the file left the table, then where it went.
  em.handle({ type: 'file-removed', name: 'a.txt' });
  em.handle(routed('a.txt', 'not detected', 9000, 100));
  em.handle({ type: 'file-removed', name: 'b.com' });
  em.handle(routed('b.com', 'detect', 9000, 68));
  em.handle(routed('recovered.bin', 'error', 9000, 7));
  em.handle({ type: 'folder', folder: 'qrnt', available: false, path: '/q', reason: 'ENOENT' });
  em.collect();
  const s = await samples(m);
  const v = (k: string) => s.get(k);
  assert.equal(v('kds_files_total{share="default",outcome="not_detected"}'), 1);
  assert.equal(v('kds_files_total{share="default",outcome="detected"}'), 1);
  assert.equal(v('kds_files_total{share="default",outcome="error"}'), 1);
  assert.equal(v('kds_files_total{share="default",outcome="timeout"}'), 0);
  assert.equal(v('kds_files_total{share="default",outcome="excluded"}'), 1);
  assert.equal(v('kds_files_total{share="default",outcome="too_large"}'), 1, 'a new reason is not a new file');
  assert.equal(v('kds_scanned_bytes_total{share="default"}'), 175);
  assert.equal(v('kds_retries_total{share="default",operation="upload"}'), 1);
  assert.equal(v('kds_retries_total{share="default",operation="delivery"}'), 1);
  assert.equal(v('kds_files_waiting{share="default",stage="submitted"}'), 1);
  assert.equal(v('kds_files_waiting{share="default",stage="excluded"}'), 1);
  assert.equal(v('kds_files_waiting{share="default",stage="too-large"}'), 1);
  assert.equal(v('kds_files_waiting{share="default",stage="queued"}'), 0);
  // old.bin (first seen at 100) is the oldest on its way; excluded and too large files are parked.
  assert.equal(v('kds_oldest_waiting_file_age_seconds{share="default"}'), (9000 - 100) / 1000);
  // Two latencies: a.txt from when it was complete, b.com from when it last changed; none for recovered.bin.
  assert.equal(v('kds_file_latency_seconds_count{share="default"}'), 2);
  assert.equal(v('kds_file_latency_seconds_sum{share="default"}'), (9000 - completeA) / 1000 + (9000 - 4500) / 1000);
  assert.equal(v('kds_folder_up{share="default",folder="qrnt"}'), 0);
  assert.equal(v('kds_folder_up{share="default",folder="in"}'), 1);
  assert.equal(v('kds_kata_approval_state{state="approved"}'), 1);
  assert.equal(v('kds_running'), 1);
  assert.ok((v('process_resident_memory_bytes') ?? 0) > 0);
  // No label value names a file or a scan.
  assert.doesNotMatch(await m.text(), /a\.txt|b\.com|scan-/);
});

test('KATA health: unreachable only after failing for a while several times in a row, reachable again at the first answer', () => {
  let now = 0;
  const changes: Array<[boolean, string]> = [];
  const h = new KataHealth({ unreachableAfterMs: 1000, minFailures: 3, now: () => now, onChange: (r, why) => changes.push([r, why]) });
  h.observe({ operation: 'GET scans/filters', status: 200, durationMs: 3 });
  assert.equal(h.reachable, true);
  assert.deepEqual(changes, [], 'the first answer is no news');
  h.observe({ operation: 'POST scans', failure: 'changed', durationMs: 1 });
  h.observe({ operation: 'POST scans', status: 503, durationMs: 1 });
  now = 2000;
  h.observe({ operation: 'POST scans', failure: 'network', durationMs: 1 });
  assert.equal(h.reachable, true, 'two failures are not an outage');
  h.observe({ operation: 'GET scans/state', status: 429, durationMs: 1 });
  h.observe({ operation: 'GET scans/state', failure: 'network', durationMs: 1 });
  h.observe({ operation: 'GET scans/state', failure: 'network', durationMs: 1 });
  now = 2500;
  h.observe({ operation: 'GET scans/state', failure: 'timeout', durationMs: 1 });
  assert.equal(h.reachable, true, 'failing for only 500 ms');
  now = 3100;
  h.evaluate();
  assert.equal(h.reachable, false);
  assert.equal(h.reason, 'timeout (GET scans/state)');
  h.observe({ operation: 'GET scans/filters', status: 401, durationMs: 1 });
  assert.equal(h.reachable, true, 'a 401 is an answer');
  assert.deepEqual(changes, [[false, 'timeout (GET scans/state)'], [true, '']]);
  assert.equal(h.lastSuccessAt, 0);
});

test('readiness names every reason: engine stopped, a folder down, KATA unreachable or silent, approval missing', () => {
  const base = { running: true, foldersDown: new Map(), kataReachable: true, kataReason: '', approval: 'approved' as const, systemId: 'sys-1', fingerprint256: 'AA:BB' };
  assert.deepEqual(readiness(base), { ready: true, reasons: [] });
  const r = readiness({ ...base, running: false, foldersDown: new Map([['qrnt', { path: '/mnt/qrnt', reason: 'the share is not mounted' }]]), kataReachable: false, kataReason: 'network (POST scans)', approval: 'pending' });
  assert.equal(r.ready, false);
  assert.deepEqual(r.reasons, [
    'the engine is not running',
    'the qrnt folder /mnt/qrnt is unavailable: the share is not mounted',
    'KATA is unreachable: network (POST scans)',
    'KATA has not approved this external system yet: in the KATA web console, External systems, accept system_id sys-1 with certificate SHA-256 AA:BB',
  ]);
  assert.deepEqual(readiness({ ...base, kataReachable: undefined, approval: 'unknown' }).reasons, ['KATA has not answered yet']);
});

test('SIEM events from the engine: quarantine by verdict, too large once per version, approval and folder transitions, start and stop', () => {
  const out: SiemEvent[] = [];
  const s = new EngineSiemEvents('default', (e) => out.push(e), () => 42);
  const seq: EngineEvent[] = [
    { type: 'running', running: true },
    { type: 'approval', state: 'approved', systemId: 's', fingerprint256: 'f' },
    routed('clean.txt', 'not detected', 10),
    { type: 'routed', file: { ...(routed('evil.com', 'detect', 11) as Extract<EngineEvent, { type: 'routed' }>).file, threat: 'EICAR-Test-File' } },
    routed('err.bin', 'error', 12),
    routed('late.bin', 'timeout', 13),
    routed('odd.bin', 'unknown', 14),
    file('big.iso', 'too-large', { reason: 'limit 100' }),
    file('big.iso', 'too-large', { reason: '413' }),
    { type: 'file-removed', name: 'big.iso' },
    file('big.iso', 'too-large', { reason: 'limit 100' }),
    file('big.iso', 'too-large', { size: 11, reason: 'limit 100' }),
    { type: 'folder', folder: 'in', available: true, path: '/in' },
    { type: 'folder', folder: 'in', available: false, path: '/in', reason: 'ENOENT' },
    { type: 'folder', folder: 'in', available: false, path: '/in', reason: 'EIO' },
    { type: 'folder', folder: 'in', available: true, path: '/in' },
    { type: 'approval', state: 'rejected', systemId: 's', fingerprint256: 'f' },
    { type: 'approval', state: 'approved', systemId: 's', fingerprint256: 'f' },
    { type: 'running', running: false },
  ];
  for (const e of seq) s.handle(e);
  assert.deepEqual(
    out.map((e) => e.cls),
    ['service-start', 'file-detected', 'file-error', 'file-timeout', 'file-unknown-state', 'file-too-large', 'file-too-large', 'folder-down', 'folder-up', 'approval-lost', 'approval-granted', 'service-stop'],
  );
  const detected = out[1]!;
  assert.deepEqual([detected.threat, detected.file?.name, detected.scanId, detected.verdict, detected.share, detected.time], ['EICAR-Test-File', 'evil.com', 'scan-evil.com', 'detect', 'default', 11]);
  assert.equal(out[5]!.reason, 'larger than the limit of 100 bytes');
  assert.deepEqual([out[7]!.folder, out[7]!.reason], ['in', 'ENOENT']);

  const pendingAtStart: SiemEvent[] = [];
  const p = new EngineSiemEvents('default', (e) => pendingAtStart.push(e));
  p.handle({ type: 'approval', state: 'pending', systemId: 's', fingerprint256: 'f' });
  p.handle({ type: 'approval', state: 'approved', systemId: 's', fingerprint256: 'f' });
  assert.deepEqual(pendingAtStart.map((e) => e.cls), ['approval-pending', 'approval-granted']);
});
