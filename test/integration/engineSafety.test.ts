import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import type { ScannerApi } from '../../src/kata/scannerApi';
import { logsOf, stagesOf, stageNow, startHarness, waitFor, waitRescans } from '../helpers/engineHarness';
import { mulberry32 } from '../helpers/prng';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('a swapper racing symlinks, FIFOs and hard links to a secret into input for 20 s: no byte of the secret is uploaded or delivered, nothing hangs', { timeout: 120_000 }, async (t) => {
  const h = await startHarness({ conf: { stable_ms: 50, max_inflight: 4 } });
  const seed = Number(process.env.KDS_SWAP_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (replay: KDS_SWAP_SEED=${seed})`);
  const rand = mulberry32(seed);
  const secret = join(h.root, 'secret');
  const secretBody = randomBytes(4096);
  writeFileSync(secret, secretBody, { mode: 0o600 });
  const staging = join(h.root, 'staging');
  execFileSync('mkdir', ['-p', staging]);
  const legit = new Set<string>();
  const names = ['victim-0.bin', 'victim-1.bin', 'victim-2.bin', 'victim-3.bin'];
  let n = 0;
  const counts = { file: 0, symlink: 0, fifo: 0, hardlink: 0 };
  const putLegit = (name: string) => {
    const body = Buffer.from(`legit ${n++} ${randomBytes(8).toString('hex')}\n`);
    legit.add(sha256(body));
    const tmp = join(staging, `f${n}`);
    writeFileSync(tmp, body);
    renameSync(tmp, join(h.dirs.in, name));
    counts.file++;
  };
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const name = names[Math.floor(rand() * names.length)]!;
    const tmp = join(staging, `x${n++}`);
    const r = rand();
    if (r < 0.4) putLegit(name);
    else if (r < 0.6) {
      symlinkSync(secret, tmp);
      renameSync(tmp, join(h.dirs.in, name));
      counts.symlink++;
    } else if (r < 0.8) {
      execFileSync('mkfifo', [tmp]);
      renameSync(tmp, join(h.dirs.in, name));
      counts.fifo++;
    } else {
      linkSync(secret, tmp);
      renameSync(tmp, join(h.dirs.in, name));
      counts.hardlink++;
    }
    // Mostly short gaps (races with the check and the open), sometimes long enough to upload.
    await new Promise((r) => setTimeout(r, rand() < 0.7 ? rand() * 30 : 50 + rand() * 300));
  }
  t.diagnostic(`swaps: ${JSON.stringify(counts)}`);
  // The service is still alive: a last legit version of every name is delivered.
  for (const name of names) putLegit(name);
  const lastLegit = new Map(names.map((name) => [name, readFileSync(join(h.dirs.in, name))]));
  await waitFor(
    'the last version of every victim delivered',
    () => names.every((name) => existsSync(join(h.dirs.out, name)) && readFileSync(join(h.dirs.out, name)).equals(lastLegit.get(name)!)),
    60_000,
  );
  const uploaded = [...h.emulator.stats().uploadsBySha256.keys()];
  assert.ok(uploaded.length > 0);
  assert.deepEqual(
    uploaded.filter((s) => !legit.has(s)),
    [],
    'every upload is one of the legit versions (not the secret, not a mix)',
  );
  for (const dir of [h.dirs.out, h.dirs.qrnt]) {
    for (const f of readdirSync(dir)) assert.equal(readFileSync(join(dir, f)).includes(secretBody.subarray(0, 64)), false, `${dir}/${f} holds no secret bytes`);
  }
  assert.deepEqual(readFileSync(secret), secretBody, 'the secret itself is untouched');
  assert.equal(statSync(secret).nlink >= 1, true);
  assert.deepEqual(
    h.logs.filter((r) => r.event === 'internal').map((r) => `${r.msg} (${r.file ?? ''})`),
    [],
    'no stage change outside the lifecycle table, no internal error',
  );
});

test('a hard-linked file in input is refused, logged once and left alone', async () => {
  const h = await startHarness();
  const outside = join(h.root, 'outside.txt');
  writeFileSync(outside, 'has two names\n');
  linkSync(outside, join(h.dirs.in, 'linked.txt'));
  writeFileSync(join(h.dirs.in, 'plain.txt'), 'one name\n');
  await waitFor('plain.txt routed', () => h.routed.some((r) => r.name === 'plain.txt'));
  await waitFor('hard link reported', () => h.events.some((e) => e.type === 'ignored' && e.name === 'linked.txt' && e.kind === 'hard-link'));
  await waitRescans(h, 3);
  assert.equal(logsOf(h, 'ignored', 'linked.txt').length, 1, 'logged once');
  assert.equal(h.emulator.stats().uploadsBySha256.has(sha256('has two names\n')), false, 'never uploaded');
  assert.deepEqual(readdirSync(h.dirs.in), ['linked.txt']);
  assert.equal(statSync(join(h.dirs.in, 'linked.txt')).nlink, 2);
});

test('quarantine copies are 0600 and the service\'s own; output copies keep the permission bits', async () => {
  const h = await startHarness();
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  chmodSync(join(h.dirs.in, 'eicar.com'), 0o777);
  writeFileSync(join(h.dirs.in, 'report.txt'), 'clean\n');
  chmodSync(join(h.dirs.in, 'report.txt'), 0o640);
  await waitFor('both routed', () => h.routed.length >= 2);
  const q = statSync(join(h.dirs.qrnt, 'eicar.com'));
  assert.equal(q.mode & 0o7777, 0o600);
  assert.equal(q.uid, process.getuid!());
  assert.equal(statSync(join(h.dirs.out, 'report.txt')).mode & 0o7777, 0o640);
});

test('an upload cut because the file changed is not a failure: no retry, no warning; the new version is sent and routed', async () => {
  let held = 0;
  const h = await startHarness({
    wrapApi: (api: ScannerApi): ScannerApi => ({
      submit: async (fh, opts) => {
        if (opts.fileName === 'moving.txt' && held++ === 0) {
          // Hold the first upload until the engine aborts it (it sees a new version).
          await new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve(), { once: true }));
        }
        return api.submit(fh, opts);
      },
      states: () => api.states(),
      deleteResult: (id) => api.deleteResult(id),
      filters: () => api.filters(),
    }),
  });
  writeFileSync(join(h.dirs.in, 'moving.txt'), 'first version\n');
  await waitFor('first upload started', () => held > 0);
  writeFileSync(join(h.dirs.in, 'moving.txt'), 'second version, longer\n');
  const r = await waitFor('moving.txt routed', () => h.routed.find((x) => x.name === 'moving.txt'));
  assert.equal(r.sha256, sha256('second version, longer\n'));
  assert.equal(readFileSync(join(h.dirs.out, 'moving.txt'), 'utf8'), 'second version, longer\n');
  assert.equal(logsOf(h, 'upload-failed').length, 0, 'an abort is not an upload failure');
  assert.equal(stagesOf(h, 'moving.txt').includes('retrying'), false);
  assert.equal(h.emulator.stats().uploadsBySha256.has(sha256('first version\n')), false);
});

test('100 files waiting for approval: per-file state is plain values, and the engine runs a fixed number of timers', async () => {
  const h = await startHarness({ emulator: { autoApprove: false } });
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  writeFileSync(join(h.dirs.in, 'first.txt'), 'first\n');
  await waitFor('approval pending', () => h.built.engine.approvalState === 'pending');
  await waitFor('first awaiting approval', () => stageNow(h, 'first.txt') === 'awaiting-approval');
  await waitRescans(h, 2);
  const before = timers();
  for (let i = 0; i < 100; i++) writeFileSync(join(h.dirs.in, `w-${i}.txt`), `waiting ${i}\n`);
  await waitFor('all awaiting approval', () => h.built.engine.snapshot().files.filter((f) => f.stage === 'awaiting-approval').length === 101);
  await waitRescans(h, 2);
  assert.ok(timers() <= before + 3, `timers ${before} → ${timers()}: none per file`);
  const shares = (h.built.engine as unknown as { shares: Map<string, { records: Map<string, Record<string, unknown>> }> }).shares;
  const records = shares.get('default')!.records;
  assert.equal(records.size, 101);
  for (const rec of records.values()) {
    for (const [k, v] of Object.entries(rec)) assert.ok(v === undefined || ['string', 'number', 'boolean'].includes(typeof v), `${String(rec.name)}.${k} is ${typeof v}`);
  }
  await h.emulator.approve(h.config.system_id);
  await waitFor('all routed after approval', () => h.routed.length >= 101, 60_000);
});

test('KATA failing 25 % of requests with 500 and 20 % with 429: every file routed once, to the right folder, each accepted by KATA once', { timeout: 180_000 }, async () => {
  const h = await startHarness({ emulator: { faults: '500=0.25,429=0.2' } });
  const files = new Map<string, { body: string; dest: 'out' | 'qrnt' }>();
  for (let i = 0; i < 60; i++) {
    const bad = i % 4 === 0;
    const name = bad ? `eicar-${i}.com` : `doc-${i}.txt`;
    const body = bad ? EICAR + ' '.repeat(i % 50) : `clean ${i}\n`.repeat(i + 1);
    files.set(name, { body, dest: bad ? 'qrnt' : 'out' });
    writeFileSync(join(h.dirs.in, name), body, 'latin1');
  }
  await waitFor('all 60 routed', () => h.routed.length >= files.size, 150_000);
  await waitRescans(h, 2);
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.equal(h.routed.length, files.size, 'no duplicates');
  assert.equal(new Set(h.routed.map((r) => r.name)).size, files.size);
  for (const [name, f] of files) {
    assert.equal(readFileSync(join(h.dirs[f.dest], name), 'latin1'), f.body, `${name} in ${f.dest}`);
    assert.equal(existsSync(join(h.dirs[f.dest === 'out' ? 'qrnt' : 'out'], name)), false, `${name} not misrouted`);
  }
  const stats = h.emulator.stats();
  assert.ok(stats.faults['500'] > 0 && stats.faults['429'] > 0, 'faults were injected');
  for (const [name, f] of files) assert.equal(stats.uploadsBySha256.get(sha256(Buffer.from(f.body, 'latin1'))), 1, `${name} accepted once`);
  assert.deepEqual(
    h.logs.filter((r) => r.event === 'internal').map((r) => `${r.msg} (${r.file ?? ''})`),
    [],
  );
});
