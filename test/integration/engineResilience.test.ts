import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { type Harness, logsOf, stageNow, startHarness, waitFor } from '../helpers/engineHarness';

/** 30 files, a third of them EICAR (padded differently so every file has its own hash). */
function writeMix(h: Harness, count = 30): Map<string, { body: string; dest: 'out' | 'qrnt' }> {
  const files = new Map<string, { body: string; dest: 'out' | 'qrnt' }>();
  for (let i = 0; i < count; i++) {
    const bad = i % 3 === 0;
    const name = bad ? `eicar-${i}.com` : `doc-${i}.txt`;
    const body = bad ? EICAR + ' '.repeat(i % 50) : `clean document ${i}\n`.repeat(i + 1);
    files.set(name, { body, dest: bad ? 'qrnt' : 'out' });
    writeFileSync(join(h.dirs.in, name), body, 'latin1');
  }
  return files;
}

function assertAllRouted(h: Harness, files: Map<string, { body: string; dest: 'out' | 'qrnt' }>): void {
  assert.deepEqual(readdirSync(h.dirs.in), [], 'input is empty');
  const out = readdirSync(h.dirs.out);
  const qrnt = readdirSync(h.dirs.qrnt);
  assert.equal(out.length + qrnt.length, files.size, 'nothing lost, nothing extra');
  for (const [name, f] of files) {
    const other = f.dest === 'out' ? h.dirs.qrnt : h.dirs.out;
    assert.equal(readFileSync(join(h.dirs[f.dest], name), 'latin1'), f.body, `${name} in ${f.dest}`);
    assert.equal(existsSync(join(other, name)), false, `${name} not in both`);
  }
  // Each file routed exactly once.
  assert.equal(h.routed.length, files.size);
  assert.equal(new Set(h.routed.map((r) => r.name)).size, files.size);
}

const storms: Array<[string, string]> = [
  ['a 429 storm', '429=0.6'],
  ['500 errors', '500=0.4'],
  ['dropped connections', 'reset=0.3'],
  ['latency with a bit of everything', 'latency=200,429=0.1,500=0.05,reset=0.05'],
];

for (const [what, faults] of storms) {
  test(`${what} (${faults}): 30 files all end in the right folder`, async () => {
    const h = await startHarness({ emulator: { faults } });
    const files = writeMix(h);
    await waitFor(`all 30 routed under ${faults}`, () => h.routed.length >= files.size, 60_000);
    assertAllRouted(h, files);
    const injected = h.emulator.stats().faults;
    assert.ok(injected['429'] + injected['500'] + injected.reset + injected.delayed > 0, 'faults were injected');
  });
}

test('KATA answering only 429 for a while: files wait in input, then flow when it recovers', async () => {
  const h = await startHarness({ emulator: { faults: '429=1' } });
  const files = writeMix(h, 6);
  await waitFor('several refusals', () => (h.emulator.stats().statusCounts.get(429) ?? 0) >= 8);
  await waitFor('a file is retrying', () => [...files.keys()].some((n) => stageNow(h, n) === 'retrying'));
  assert.equal(h.emulator.stats().postsAccepted, 0);
  assert.equal(readdirSync(h.dirs.in).length, files.size, 'all still in input');
  assert.deepEqual(readdirSync(h.dirs.out), []);
  assert.deepEqual(readdirSync(h.dirs.qrnt), []);
  for (const name of files.keys()) assert.ok(['settling', 'queued', 'uploading', 'retrying'].includes(stageNow(h, name) ?? ''), name);
  assert.ok(logsOf(h, 'upload-failed').filter((r) => r.level === 'warn').length <= 1, 'the warning is rate-limited');

  h.emulator.setFaults('');
  await waitFor('all routed after recovery', () => h.routed.length >= files.size, 30_000);
  assertAllRouted(h, files);
});
