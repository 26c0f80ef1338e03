import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { logsOf, pause, stageNow, stagesOf, startHarness, waitFor, waitRescans } from '../helpers/engineHarness';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

test('only regular files directly in input are scanned; other entries are ignored, logged once, left alone', async (t) => {
  const h = await startHarness();
  const outside = join(h.root, 'secret.txt');
  writeFileSync(outside, 'not for KATA\n');
  mkdirSync(join(h.dirs.in, 'subfolder'));
  writeFileSync(join(h.dirs.in, 'subfolder', 'inner.txt'), 'inside a subfolder\n');
  symlinkSync(outside, join(h.dirs.in, 'link.txt'));
  execFileSync('mkfifo', [join(h.dirs.in, 'pipe')]);
  const sock = createServer();
  await new Promise<void>((r) => sock.listen(join(h.dirs.in, 'sock'), r));
  t.after(() => new Promise<void>((r) => sock.close(() => r())));
  writeFileSync(join(h.dirs.in, 'plain.txt'), 'a regular file\n');

  await waitFor('plain.txt routed', () => h.routed.some((r) => r.name === 'plain.txt'));
  const kinds = { subfolder: 'directory', 'link.txt': 'symlink', pipe: 'fifo', sock: 'socket' } as const;
  await waitFor('all four ignored', () => Object.keys(kinds).every((n) => logsOf(h, 'ignored', n).length > 0));
  // Several full rescans later (events and periodic) each is still logged exactly once.
  await waitRescans(h, 3);
  writeFileSync(join(h.dirs.in, 'plain2.txt'), 'another regular file\n');
  await waitFor('plain2.txt routed', () => h.routed.some((r) => r.name === 'plain2.txt'));
  await waitRescans(h, 2);

  for (const [name, kind] of Object.entries(kinds)) {
    assert.equal(logsOf(h, 'ignored', name).length, 1, `${name} logged once`);
    const ev = h.events.filter((e) => e.type === 'ignored' && e.name === name);
    assert.deepEqual(ev, [{ type: 'ignored', share: 'default', name, kind }], name);
    assert.equal(stageNow(h, name), undefined, `${name} is not a file record`);
  }
  // Left in place, untouched.
  assert.ok(lstatSync(join(h.dirs.in, 'subfolder')).isDirectory());
  assert.equal(readFileSync(join(h.dirs.in, 'subfolder', 'inner.txt'), 'utf8'), 'inside a subfolder\n');
  assert.ok(lstatSync(join(h.dirs.in, 'link.txt')).isSymbolicLink());
  assert.equal(readFileSync(outside, 'utf8'), 'not for KATA\n');
  assert.ok(lstatSync(join(h.dirs.in, 'pipe')).isFIFO());
  assert.ok(lstatSync(join(h.dirs.in, 'sock')).isSocket());
  assert.deepEqual(readdirSync(h.dirs.in).sort(), ['link.txt', 'pipe', 'sock', 'subfolder']);
  // Never submitted: KATA saw exactly the two regular files.
  const stats = h.emulator.stats();
  assert.equal(stats.postsAccepted, 2);
  assert.deepEqual(
    [...stats.uploadsBySha256].sort(),
    [
      [sha256('a regular file\n'), 1],
      [sha256('another regular file\n'), 1],
    ].sort(),
  );
  assert.deepEqual(readdirSync(h.dirs.out).sort(), ['plain.txt', 'plain2.txt']);
  assert.deepEqual(readdirSync(h.dirs.qrnt), []);
});

test('a file written slowly is submitted once, whole', async () => {
  const h = await startHarness({ conf: { stable_ms: 1000 } });
  const path = join(h.dirs.in, 'growing.log');
  let content = '';
  for (let i = 0; i < 10; i++) {
    const chunk = `chunk ${i} ${'x'.repeat(1000)}\n`;
    appendFileSync(path, chunk);
    content += chunk;
    await pause(300);
  }
  await waitFor('growing.log routed', () => h.routed.find((r) => r.name === 'growing.log'));
  const stats = h.emulator.stats();
  assert.equal(stats.postsAccepted, 1, 'exactly one upload');
  assert.deepEqual([...stats.uploadsBySha256], [[sha256(content), 1]], 'the upload was the final content');
  assert.equal(h.routed.length, 1);
  assert.equal(h.routed[0]!.sha256, sha256(content));
  assert.equal(readFileSync(join(h.dirs.out, 'growing.log'), 'utf8'), content);
  assert.deepEqual(readdirSync(h.dirs.in), []);
});

test('a file unchanged for stable_ms before the engine found it is sent without waiting again; a new one waits', async () => {
  const h = await startHarness({ conf: { stable_ms: 1500 }, startEngine: false });
  const old = join(h.dirs.in, 'weekend-backlog.txt');
  writeFileSync(old, 'left here on Friday\n');
  const written = lstatSync(old).ctimeMs;
  // Its status has not changed for stable_ms by the time the engine lists it.
  await waitFor('the file to be 1.5 s old', () => Date.now() - written >= 1600, 10_000);
  await h.start();
  writeFileSync(join(h.dirs.in, 'just-arrived.txt'), 'arrived after the start\n');
  await waitFor('both routed', () => h.routed.length === 2);
  assert.equal(stagesOf(h, 'weekend-backlog.txt').includes('settling'), false, `backlog: ${stagesOf(h, 'weekend-backlog.txt').join(',')}`);
  assert.equal(stagesOf(h, 'just-arrived.txt')[0], 'settling', 'a new file waits stable_ms');
  assert.deepEqual(readdirSync(h.dirs.out).sort(), ['just-arrived.txt', 'weekend-backlog.txt']);
});

test('snapshot shows the stage of every input file; events follow a file from settling to routed', async () => {
  const h = await startHarness({
    emulator: { verdictDelayMs: 200 },
    excludeList: '*.tmp\n',
    // 0.01 MiB = 10485 bytes
    conf: { max_file_size_mb: 0.01 },
  });
  writeFileSync(join(h.dirs.in, 'draft.tmp'), 'excluded by mask\n');
  writeFileSync(join(h.dirs.in, 'big.bin'), Buffer.alloc(20_000, 1));
  writeFileSync(join(h.dirs.in, 'slow.bin'), 'KDS-TEST-SLOW still with KATA\n');
  writeFileSync(join(h.dirs.in, 'clean.txt'), 'clean\n');
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);

  await waitFor('snapshot stages', () => {
    const s = h.built.engine.snapshot();
    const by = new Map(s.files.map((f) => [f.name, f]));
    return by.get('draft.tmp')?.stage === 'excluded' && by.get('big.bin')?.stage === 'too-large' && by.get('slow.bin')?.stage === 'submitted';
  });
  const snap = h.built.engine.snapshot();
  assert.equal(snap.running, true);
  assert.equal(snap.approval, 'approved');
  const slow = snap.files.find((f) => f.name === 'slow.bin')!;
  assert.match(slow.scanId ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(slow.sha256, sha256('KDS-TEST-SLOW still with KATA\n'));
  assert.equal(snap.files.find((f) => f.name === 'big.bin')!.size, 20_000);
  assert.equal(snap.files.find((f) => f.name === 'draft.tmp')!.reason, '*.tmp');

  await waitFor('clean and eicar routed', () => h.routed.length >= 2);
  for (const name of ['clean.txt', 'eicar.com']) {
    const stages = stagesOf(h, name);
    const order = ['settling', 'queued', 'uploading', 'submitted', 'routing'];
    let at = -1;
    for (const stage of order) {
      const i = stages.indexOf(stage, at + 1);
      assert.ok(i > at, `${name}: ${stage} after ${order[order.indexOf(stage) - 1] ?? 'start'} in ${stages.join(',')}`);
      at = i;
    }
    const removed = h.events.findIndex((e) => e.type === 'file-removed' && e.name === name);
    const routed = h.events.findIndex((e) => e.type === 'routed' && e.file.name === name);
    assert.ok(removed >= 0, `${name}: file-removed event`);
    assert.ok(routed >= 0, `${name}: routed event`);
    assert.equal(stageNow(h, name), undefined, `${name} left the snapshot`);
  }
  assert.equal(h.routed.find((r) => r.name === 'clean.txt')!.destination, 'out');
  assert.equal(h.routed.find((r) => r.name === 'eicar.com')!.destination, 'qrnt');
  // Skipped files never get a file-removed or routed event.
  for (const name of ['draft.tmp', 'big.bin']) {
    assert.equal(h.events.some((e) => (e.type === 'file-removed' && e.name === name) || (e.type === 'routed' && e.file.name === name)), false, name);
  }
  await waitFor('slow.bin routed', () => h.routed.some((r) => r.name === 'slow.bin'));
  assert.deepEqual(readdirSync(h.dirs.in).sort(), ['big.bin', 'draft.tmp']);
});

test('a file rewritten while KATA scans it is submitted again and routed on the new verdict only', async () => {
  const h = await startHarness({ emulator: { verdictDelayMs: 300 } });
  const path = join(h.dirs.in, 'report.txt');
  const oldBody = 'KDS-TEST-SLOW first version\n';
  const newBody = 'second version, clean and longer\n';
  writeFileSync(path, oldBody);
  await waitFor('first version submitted', () => logsOf(h, 'submitted', 'report.txt').length === 1);
  assert.equal(h.emulator.stats().scans.find((s) => s.sha256 === sha256(oldBody))?.state, 'processing');
  writeFileSync(path, newBody);

  await waitFor('report.txt routed', () => h.routed.find((r) => r.name === 'report.txt'));
  // A little longer: the old scan's verdict (due ~3 s after upload) must never route anything.
  await waitFor('old scan deleted at KATA', () => !h.emulator.stats().scans.some((s) => s.sha256 === sha256(oldBody)));
  await waitRescans(h, 2);
  assert.equal(h.routed.length, 1);
  assert.equal(h.routed[0]!.sha256, sha256(newBody));
  assert.equal(h.routed[0]!.verdict, 'not detected');
  assert.equal(readFileSync(join(h.dirs.out, 'report.txt'), 'utf8'), newBody);
  assert.equal(existsSync(join(h.dirs.qrnt, 'report.txt')), false);
  const uploads = h.emulator.stats().uploadsBySha256;
  assert.equal(uploads.get(sha256(oldBody)), 1);
  assert.equal(uploads.get(sha256(newBody)), 1);
  assert.equal(uploads.size, 2);
  assert.equal(logsOf(h, 'routed', 'report.txt').length, 1);
  assert.equal(logsOf(h, 'abandoned', 'report.txt').length, 1);
  assert.deepEqual(readdirSync(h.dirs.in), []);
});
