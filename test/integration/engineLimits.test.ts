import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScannerApi } from '../../src/kata/scannerApi';
import { logsOf, stageNow, startHarness, waitFor, waitRescans } from '../helpers/engineHarness';

const MiB = 1024 * 1024;

test('a file over max_file_size_mb stays in input untouched, is never uploaded, and is logged once per version', async () => {
  const h = await startHarness();
  const path = join(h.dirs.in, 'huge.iso');
  writeFileSync(path, '');
  truncateSync(path, 101 * MiB); // sparse: costs no disk
  const before = statSync(path);
  writeFileSync(join(h.dirs.in, 'small.txt'), 'small\n');

  await waitFor('huge.iso too large', () => stageNow(h, 'huge.iso') === 'too-large');
  await waitFor('small.txt routed', () => h.routed.some((r) => r.name === 'small.txt'));
  await waitRescans(h, 3);
  assert.equal(logsOf(h, 'too-large', 'huge.iso').length, 1);
  const after = statSync(path);
  assert.equal(after.size, before.size);
  assert.equal(after.mtimeMs, before.mtimeMs);
  assert.equal(after.ino, before.ino);

  // A new version is a new decision, logged once again.
  appendFileSync(path, 'x');
  await waitFor('new version logged', () => logsOf(h, 'too-large', 'huge.iso').length === 2);
  await waitRescans(h, 3);
  assert.equal(logsOf(h, 'too-large', 'huge.iso').length, 2);
  assert.equal(stageNow(h, 'huge.iso'), 'too-large');
  assert.equal(statSync(path).size, 101 * MiB + 1);

  const stats = h.emulator.stats();
  assert.equal(stats.postsAccepted, 1, 'only small.txt was uploaded');
  assert.equal(stats.scans.some((s) => s.fileName === 'huge.iso'), false);
  assert.deepEqual(readdirSync(h.dirs.in), ['huge.iso']);
  assert.deepEqual(readdirSync(h.dirs.qrnt), []);
});

test("KATA's maxObjectSize from scans/filters lowers the limit: larger files stay and are not uploaded", async () => {
  const h = await startHarness({ emulator: { maxObjectSize: 1000 } });
  await waitFor('limits read from KATA', () => logsOf(h, 'limits').length > 0);
  writeFileSync(join(h.dirs.in, 'over.bin'), Buffer.alloc(5000, 7));
  writeFileSync(join(h.dirs.in, 'under.bin'), Buffer.alloc(900, 7));

  await waitFor('over.bin too large', () => stageNow(h, 'over.bin') === 'too-large');
  await waitFor('under.bin routed', () => h.routed.some((r) => r.name === 'under.bin'));
  await waitRescans(h, 3);
  assert.equal(logsOf(h, 'too-large', 'over.bin').length, 1);
  const stats = h.emulator.stats();
  assert.equal(stats.postsAccepted, 1);
  assert.equal(stats.statusCounts.get(413) ?? 0, 0, 'never even tried');
  assert.deepEqual(readdirSync(h.dirs.in), ['over.bin']);
  assert.equal(readFileSync(join(h.dirs.in, 'over.bin')).length, 5000);
});

test('a 413 from KATA leaves the file in input, logged once, and it is not retried in a loop', async () => {
  let posts = 0;
  const h = await startHarness({
    emulator: { maxObjectSize: 1000 },
    // KATA that does not publish its limit: the engine learns it only from the 413.
    wrapApi: (api: ScannerApi): ScannerApi => ({
      submit: (path, opts) => {
        posts++;
        return api.submit(path, opts);
      },
      states: () => api.states(),
      deleteResult: (id) => api.deleteResult(id),
      filters: async () => ({}),
    }),
  });
  // One refused before the body is read (Content-Length), one only after reading it.
  writeFileSync(join(h.dirs.in, 'huge.bin'), Buffer.alloc(200_000, 3));
  writeFileSync(join(h.dirs.in, 'over.bin'), Buffer.alloc(1500, 3));
  writeFileSync(join(h.dirs.in, 'fine.txt'), 'fine\n');

  await waitFor('both refused', () => stageNow(h, 'huge.bin') === 'too-large' && stageNow(h, 'over.bin') === 'too-large');
  await waitFor('fine.txt routed', () => h.routed.some((r) => r.name === 'fine.txt'));
  await waitRescans(h, 4);
  assert.equal(posts, 3, 'one upload attempt per file');
  assert.equal(h.emulator.stats().statusCounts.get(413), 2);
  assert.equal(h.emulator.stats().postsAccepted, 1);
  for (const name of ['huge.bin', 'over.bin']) {
    assert.equal(logsOf(h, 'too-large', name).length, 1, name);
    assert.equal(h.built.engine.snapshot().files.find((f) => f.name === name)?.reason, '413');
  }
  assert.deepEqual(readdirSync(h.dirs.in).sort(), ['huge.bin', 'over.bin']);
  assert.equal(existsSync(join(h.dirs.qrnt, 'huge.bin')), false);

  // Editing the exclude list re-evaluates input files; KATA's refusal of these versions still stands.
  writeFileSync(join(h.root, 'exclude_list.txt'), '*.unrelated\n');
  await waitFor('exclude list re-read', () => logsOf(h, 'exclude-list').length > 0);
  await waitRescans(h, 3);
  assert.equal(posts, 3, 'no new upload after an exclude-list edit');
  for (const name of ['huge.bin', 'over.bin']) {
    assert.equal(logsOf(h, 'too-large', name).length, 1, name);
    assert.equal(stageNow(h, name), 'too-large', name);
  }
});

test('no verdict within scan_timeout_s: the file goes to quarantine as kds-timeout and KATA forgets the scan', async () => {
  const h = await startHarness({ emulator: { verdictDelayMs: 2000 }, conf: { scan_timeout_s: 1 } });
  const body = 'KDS-TEST-SLOW never answers in time\n';
  writeFileSync(join(h.dirs.in, 'slow.bin'), body);
  const r = await waitFor('slow.bin routed', () => h.routed.find((x) => x.name === 'slow.bin'));
  assert.equal(r.rawState, 'kds-timeout');
  assert.equal(r.verdict, 'timeout');
  assert.equal(r.destination, 'qrnt');
  assert.equal(readFileSync(join(h.dirs.qrnt, 'slow.bin'), 'utf8'), body);
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.equal(logsOf(h, 'scan-timeout', 'slow.bin').length, 1);
  assert.equal(logsOf(h, 'routed', 'slow.bin')[0]!.state, 'kds-timeout');
  await waitFor('scan deleted at KATA', () => h.emulator.stats().scans.length === 0);
});
