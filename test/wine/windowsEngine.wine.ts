import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { networkShareOf } from '../../src/common/platform';
import { EICAR } from '../../src/emulator/eicar';
import { logsOf, stageNow, startHarness, waitFor } from '../helpers/engineHarness';
import { mulberry32 } from '../helpers/prng';

/*
 * The engine on Windows' own terms, run by test/integration/windowsUnderWine.test.ts with the
 * Windows build of Node.js under Wine. Wine's file system is a stand-in: docs/testing.md says
 * what it does not prove.
 */

/** libuv's UV_FS_O_EXLOCK: open with no sharing at all, as Word and many writers hold their files. */
const EXCLUSIVE = 0x10000000;
const holdExclusively = (path: string) => openSync(path, constants.O_RDWR | EXCLUSIVE);
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('names a share lists that Windows cannot open stay in input with one warning; device names and a trailing dot are delivered under names Windows users can open', async () => {
  const h = await startHarness();
  // Wine, like a share served from Linux, lets these names exist; Windows would read `a:b.txt`
  // as the stream `b.txt` of the file `a`.
  writeFileSync(join(h.dirs.in, 'a:b.txt'), 'colon\n');
  writeFileSync(join(h.dirs.in, 'CON'), 'device name\n');
  writeFileSync(join(h.dirs.in, 'report.'), 'trailing dot\n');
  writeFileSync(join(h.dirs.in, 'plain.txt'), 'plain\n');
  await waitFor('three routed', () => h.routed.length >= 3);
  await waitFor('a:b.txt reported', () => h.events.some((e) => e.type === 'ignored' && e.name === 'a:b.txt' && e.kind === 'forbidden-name'));
  assert.deepEqual(readdirSync(h.dirs.out).sort(), ['_CON', 'plain.txt', 'report_'].sort());
  assert.equal(readFileSync(join(h.dirs.out, '_CON'), 'utf8'), 'device name\n');
  assert.deepEqual(readdirSync(h.dirs.in), ['a:b.txt']);
  const warned = logsOf(h, 'ignored', 'a:b.txt');
  assert.equal(warned.length, 1);
  assert.match(warned[0]!.msg, /alternate data stream/);
  assert.equal(h.emulator.stats().uploadsBySha256.has(sha256('colon\n')), false, 'never uploaded');
});

test('a file another program holds without sharing waits in input ("open in another program"), is not held against KATA, and is routed once released', async () => {
  const h = await startHarness();
  const path = join(h.dirs.in, 'being-written.docx');
  writeFileSync(path, 'draft');
  const fd = holdExclusively(path);
  try {
    await waitFor('the in-use warning', () => logsOf(h, 'unreadable', 'being-written.docx').length > 0);
    assert.equal(stageNow(h, 'being-written.docx'), 'unreadable');
    assert.match(logsOf(h, 'unreadable', 'being-written.docx')[0]!.msg, /open in another program/);
    assert.equal(logsOf(h, 'upload-failed').length, 0, 'not an upload failure');
    assert.equal(h.emulator.stats().apiRequests > 0, true);
    assert.equal(h.emulator.stats().postsAccepted, 0);
    writeSync(fd, ' and the rest', 5);
  } finally {
    closeSync(fd);
  }
  const r = await waitFor('routed once released', () => h.routed.find((x) => x.name === 'being-written.docx'), 30_000);
  assert.equal(r.sha256, sha256('draft and the rest'));
  assert.equal(readFileSync(join(h.dirs.out, 'being-written.docx'), 'utf8'), 'draft and the rest');
  assert.deepEqual(readdirSync(h.dirs.in), []);
});

test('the output file of that name is open in another program: the old one stays, the new one stays in input, and it is delivered once the other program lets go', async () => {
  const h = await startHarness();
  writeFileSync(join(h.dirs.out, 'report.txt'), 'old version\n');
  const fd = holdExclusively(join(h.dirs.out, 'report.txt'));
  try {
    writeFileSync(join(h.dirs.in, 'report.txt'), 'new version\n');
    await waitFor('a refused delivery', () => h.logs.some((r) => r.file === 'report.txt' && r.level === 'warn'), 30_000);
    assert.equal(h.routed.length, 0);
    assert.equal(readdirSync(h.dirs.in).length, 1, 'the source (under its name or set aside) is still in input');
  } finally {
    closeSync(fd);
  }
  await waitFor('delivered', () => h.routed.some((x) => x.name === 'report.txt'), 30_000);
  assert.equal(readFileSync(join(h.dirs.out, 'report.txt'), 'utf8'), 'new version\n');
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.deepEqual(readdirSync(h.dirs.out), ['report.txt'], 'no partial copy left');
});

test('the scanned file is held by another program when it should leave input: it stays until released, is delivered once, and is not uploaded again', async () => {
  // KDS-TEST-SLOW keeps the verdict 10 × 300 ms away: time to take the file once KDS let go of it.
  const h = await startHarness({ emulator: { verdictDelayMs: 300 } });
  const body = 'KDS-TEST-SLOW scanned, then opened by a viewer\n';
  writeFileSync(join(h.dirs.in, 'locked.pdf'), body);
  writeFileSync(join(h.dirs.in, 'free.txt'), 'nobody holds me\n');
  await waitFor('locked.pdf sent to KATA', () => stageNow(h, 'locked.pdf') === 'submitted', 30_000);
  // The engine closes its own handle right after the upload; until then it shares the file.
  const hold = await waitFor('locked.pdf held by "another program"', () => {
    try {
      return holdExclusively(join(h.dirs.in, 'locked.pdf'));
    } catch {
      return undefined;
    }
  });
  try {
    await waitFor('locked.pdf retrying', () => h.built.engine.snapshot().files.some((f) => f.name === 'locked.pdf' && f.stage === 'retrying'), 30_000);
    assert.ok(h.routed.some((r) => r.name === 'free.txt'), 'the other file flowed meanwhile');
    assert.ok(existsSync(join(h.dirs.in, 'locked.pdf')));
  } finally {
    closeSync(hold);
  }
  await waitFor('locked.pdf routed', () => h.routed.some((r) => r.name === 'locked.pdf'), 30_000);
  assert.equal(readFileSync(join(h.dirs.out, 'locked.pdf'), 'utf8'), body);
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.equal(h.emulator.stats().uploadsBySha256.get(sha256(body)), 1, 'uploaded once');
});

test('a swapper racing hard links to a secret and other files into input for 10 s: no byte of the secret is uploaded or delivered', { timeout: 120_000 }, async (t) => {
  const h = await startHarness({ conf: { stable_ms: 50, max_inflight: 4 } });
  const seed = Number(process.env.KDS_SWAP_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (replay: KDS_SWAP_SEED=${seed})`);
  const rand = mulberry32(seed);
  const secret = join(h.root, 'secret');
  const secretBody = randomBytes(4096);
  writeFileSync(secret, secretBody);
  const staging = join(h.root, 'staging');
  mkdirSync(staging);
  const legit = new Set<string>();
  const names = ['victim-0.bin', 'victim-1.bin', 'victim-2.bin'];
  const counts = { file: 0, hardlink: 0, refused: 0 };
  let n = 0;
  const put = (name: string, make: (tmp: string) => void, kind: 'file' | 'hardlink') => {
    const tmp = join(staging, `x${n++}`);
    make(tmp);
    try {
      renameSync(tmp, join(h.dirs.in, name));
      counts[kind]++;
    } catch (err) {
      // Windows refuses to replace a file someone holds open (the engine reading it, say).
      if (!['EPERM', 'EBUSY', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      counts.refused++;
    }
  };
  const putLegit = (name: string) =>
    put(
      name,
      (tmp) => {
        const body = Buffer.from(`legit ${n} ${randomBytes(8).toString('hex')}\n`);
        legit.add(sha256(body));
        writeFileSync(tmp, body);
      },
      'file',
    );
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const name = names[Math.floor(rand() * names.length)]!;
    if (rand() < 0.6) putLegit(name);
    else put(name, (tmp) => linkSync(secret, tmp), 'hardlink');
    await new Promise((r) => setTimeout(r, rand() < 0.7 ? rand() * 30 : 50 + rand() * 300));
  }
  t.diagnostic(`swaps: ${JSON.stringify(counts)}`);
  for (const name of names) {
    for (;;) {
      const before = counts.file;
      putLegit(name);
      if (counts.file > before) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const last = new Map(names.map((name) => [name, readFileSync(join(h.dirs.in, name))]));
  await waitFor('the last version of every victim delivered', () => names.every((name) => existsSync(join(h.dirs.out, name)) && readFileSync(join(h.dirs.out, name)).equals(last.get(name)!)), 60_000);
  const uploaded = [...h.emulator.stats().uploadsBySha256.keys()];
  assert.ok(uploaded.length > 0);
  assert.deepEqual(uploaded.filter((s) => !legit.has(s)), [], 'every upload is a legit version, never the secret');
  for (const dir of [h.dirs.out, h.dirs.qrnt]) {
    for (const f of readdirSync(dir)) assert.equal(readFileSync(join(dir, f)).includes(secretBody.subarray(0, 64)), false, `${f} holds no secret bytes`);
  }
  assert.deepEqual(readFileSync(secret), secretBody);
  assert.deepEqual(h.logs.filter((r) => r.event === 'internal').map((r) => r.msg), []);
});

test('input on a UNC path (\\\\server\\share), output on a mapped drive, quarantine on a path longer than 260 characters', async () => {
  const unc = process.env.KDS_WINE_UNC;
  const drive = process.env.KDS_WINE_DRIVE;
  assert.ok(unc && drive, 'run by windowsUnderWine.test.ts, which maps a UNC share and a drive letter');
  const tag = randomBytes(4).toString('hex');
  const long = join(tmpdir(), `kds-long-${tag}`, 'a'.repeat(120), 'b'.repeat(120), 'qrnt');
  assert.ok(long.length > 260, `${long.length} characters`);
  const h = await startHarness({ dirs: { in: join(unc, `in-${tag}`), out: join(drive, `out-${tag}`), qrnt: long } });
  assert.equal(await networkShareOf(h.dirs.in), unc);
  writeFileSync(join(h.dirs.in, 'clean.txt'), 'over the share\n');
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  await waitFor('both routed', () => h.routed.length >= 2);
  assert.equal(readFileSync(join(h.dirs.out, 'clean.txt'), 'utf8'), 'over the share\n');
  assert.equal(readFileSync(join(h.dirs.qrnt, 'eicar.com'), 'latin1'), EICAR);
  assert.deepEqual(readdirSync(h.dirs.in), []);
});
