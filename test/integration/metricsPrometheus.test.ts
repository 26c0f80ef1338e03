import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { startHarness, waitFor } from '../helpers/engineHarness';
import { spawnKds, stopChild, waitForLine } from '../helpers/kdsProcess';
import { type PromSample, httpGet, needPrometheus, startPrometheus } from '../helpers/prometheus';
import { freePort } from '../helpers/sshd';

const byLabel = (samples: PromSample[], label: string) => Object.fromEntries(samples.map((s) => [s.metric[label]!, s.value]));

test('Prometheus scrapes a running kds run while files flow: the counts it stores are the files routed', async (t) => {
  if (!needPrometheus(t)) return;
  const port = await freePort();
  const h = await startHarness({
    startEngine: false,
    excludeList: '*.skip\n',
    conf: { metrics_listen: `127.0.0.1:${port}`, max_file_size_mb: 0.01 },
  });
  const kds = spawnKds(['run', '--config', h.configPath]);
  t.after(() => stopChild(kds));
  await waitForLine(h.config.log_file, 'metrics endpoint', (l) => l.includes('metrics-listening'));
  const prom = await startPrometheus(join(h.root, 'prometheus'), [`127.0.0.1:${port}`]);
  t.after(() => prom.stop());
  await waitFor('Prometheus scraped KDS once', async () => (await prom.query('up{job="kds"} == 1')).length === 1, 30_000);

  // Files arrive while Prometheus scrapes every second.
  const clean = [1, 200, 3000, 4096, 5000, 7];
  let routedBytes = 0;
  for (const [i, size] of clean.entries()) {
    writeFileSync(join(h.dirs.in, `clean-${i}.txt`), 'c'.repeat(size));
    routedBytes += size;
  }
  for (let i = 0; i < 3; i++) {
    const body = `${EICAR}${' '.repeat(i)}`;
    writeFileSync(join(h.dirs.in, `eicar-${i}.com`), body);
    routedBytes += Buffer.byteLength(body);
  }
  const errorBody = 'KDS-TEST-ERROR please\n';
  writeFileSync(join(h.dirs.in, 'broken.bin'), errorBody);
  routedBytes += errorBody.length;
  writeFileSync(join(h.dirs.in, 'notes.skip'), 'excluded\n');
  writeFileSync(join(h.dirs.in, 'big.iso'), Buffer.alloc(20 * 1024, 1));
  mkdirSync(join(h.dirs.in, 'a-subfolder'));

  await waitFor('6 files in output, 4 in quarantine', () => readdirSync(h.dirs.out).length === 6 && readdirSync(h.dirs.qrnt).length === 4, 60_000);

  // What Prometheus stored from its own scrapes (not what KDS says now) equals what was routed.
  await waitFor(
    'kds_files_total in Prometheus',
    async () => {
      const v = byLabel(await prom.query('kds_files_total{share="default"}'), 'outcome');
      return v.not_detected === 6 && v.detected === 3 && v.error === 1 && v.timeout === 0 && v.unknown === 0 && v.excluded === 1 && v.too_large === 1;
    },
    30_000,
  );
  const one = async (q: string) => {
    const r = await prom.query(q);
    assert.equal(r.length, 1, `${q}: ${JSON.stringify(r)}`);
    return r[0]!.value;
  };
  await waitFor('bytes and latency count settled', async () => (await one('kds_file_latency_seconds_count{share="default"}')) === 10, 30_000);
  assert.equal(await one('kds_scanned_bytes_total{share="default"}'), routedBytes);
  assert.ok((await one('sum(kds_kata_requests_total{operation="POST scans",code=~"2.."})')) >= 10);
  assert.ok((await one('sum(kds_kata_requests_total{operation="GET scans/state"})')) >= 1);
  assert.ok((await one('kds_kata_request_duration_seconds_count{operation="POST scans"}')) >= 10);
  assert.equal(await one('kds_kata_up'), 1);
  assert.ok((await one('time() - kds_kata_last_success_timestamp_seconds')) < 3600);
  assert.deepEqual(byLabel(await prom.query('kds_kata_approval_state'), 'state'), { approved: 1, pending: 0, rejected: 0, unknown: 0 });
  assert.deepEqual(byLabel(await prom.query('kds_folder_up{share="default"}'), 'folder'), { in: 1, out: 1, qrnt: 1 });
  await waitFor(
    'only the excluded and the too large file wait',
    async () => {
      const waiting = byLabel(await prom.query('kds_files_waiting{share="default"} > 0'), 'stage');
      return JSON.stringify(waiting) === JSON.stringify({ excluded: 1, 'too-large': 1 });
    },
    30_000,
  );
  assert.equal(await one('kds_oldest_waiting_file_age_seconds{share="default"}'), 0);
  assert.ok((await one('kds_journal_bytes')) > 0);
  assert.equal(await one('kds_running'), 1);
  assert.ok((await one('process_resident_memory_bytes{job="kds"}')) > 0);
  assert.ok((await prom.query('nodejs_eventloop_lag_seconds{job="kds"}')).length === 1);
  assert.equal((await prom.query('kds_build_info')).length, 1);
  // Labels stay bounded: no file name or scan id anywhere in what Prometheus stored.
  const series = JSON.parse((await httpGet({ port: prom.port, path: '/api/v1/series?match[]={job="kds"}' })).body) as { data: Array<Record<string, string>> };
  const labelValues = series.data.flatMap((s) => Object.values(s)).join('\n');
  assert.doesNotMatch(labelValues, /clean-|eicar-|broken|[0-9a-f]{8}-[0-9a-f]{4}-/);

  assert.deepEqual(await httpGet({ port, path: '/healthz' }), { status: 200, body: 'ok\n' });
  assert.deepEqual(await httpGet({ port, path: '/readyz' }), { status: 200, body: 'ready\n' });
  assert.equal((await httpGet({ port, path: '/nothing' })).status, 404);

  kds.child.kill('SIGTERM');
  assert.equal(await kds.exited, 0, kds.stderr());
});
