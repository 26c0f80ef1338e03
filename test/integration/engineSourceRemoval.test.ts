import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import type { EngineEvent } from '../../src/engine/events';
import { Journal, readJournal } from '../../src/engine/journal';
import { partialPrefix } from '../../src/engine/delivery';
import { asideName, asidePrefix } from '../../src/engine/sourceRemoval';
import { logsOf, stageNow, startHarness, waitFor } from '../helpers/engineHarness';

/*
 * How a scanned file leaves input (src/engine/sourceRemoval.ts), with each race made to happen at
 * its exact moment: the engine's own calls into node:fs/promises are wrapped, and the wrapper
 * does what a producer would do right then. Plus whose failure an error is (issue 18, point 2).
 * The engines here make every file call through node:fs/promises (fileCalls: 'thread-pool', what
 * they do on a share); on a local folder the same steps are synchronous calls (folderFs.ts).
 */

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const realRename = fsp.rename;
const realOpen = fsp.open;
const isAside = (p: unknown) => basename(String(p)).startsWith(asidePrefix);
const folderDown = (h: { events: EngineEvent[] }, folder: string) => h.events.filter((e) => e.type === 'folder' && e.folder === folder && !e.available);

test('race: the file replaced between closing it and renaming it aside → the newcomer is not deleted; it is scanned and delivered', async (t) => {
  const h = await startHarness({ fileCalls: 'thread-pool' });
  let raced = false;
  t.mock.method(fsp, 'rename', async (from: string, to: string) => {
    if (!raced && isAside(to) && basename(from) === 'race.txt') {
      writeFileSync(join(h.root, 'staged'), 'second version, written by the producer');
      // On Windows a name that a handle still holds cannot be replaced (EPERM, seen under Wine):
      // the producer's try fails, the engine's rename with it, and when the engine retries, the
      // producer tries again. The race counts only once the producer has replaced the file.
      renameSync(join(h.root, 'staged'), from);
      raced = true;
    }
    return realRename(from, to);
  });
  writeFileSync(join(h.dirs.in, 'race.txt'), 'first version');
  const r = await waitFor('the second version routed', () => h.routed.find((x) => x.name === 'race.txt' && x.sha256 === sha256('second version, written by the producer')));
  assert.equal(r.destination, 'out');
  assert.ok(raced);
  assert.equal(readFileSync(join(h.dirs.out, 'race.txt'), 'utf8'), 'second version, written by the producer');
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.equal(h.routed.filter((x) => x.name === 'race.txt').length, 1, 'the first version was never delivered: what was set aside was not it');
  assert.ok(logsOf(h, 'abandoned', 'race.txt').length >= 1);
  const uploads = h.emulator.stats().uploadsBySha256;
  assert.equal(uploads.get(sha256('first version')), 1);
  assert.equal(uploads.get(sha256('second version, written by the producer')), 1);
});

test('race: the aside file rewritten between its copy and its unlink → the scanned bytes are delivered, the new ones go back to input and follow', async (t) => {
  const h = await startHarness({ fileCalls: 'thread-pool' });
  let raced = false;
  t.mock.method(fsp, 'rename', async (from: string, to: string) => {
    const res = await realRename(from, to);
    if (!raced && basename(from).startsWith(partialPrefix) && to === join(h.dirs.out, 'two.txt')) {
      raced = true;
      // A writer that held the file open since before the rename writes on.
      const scanId = basename(from).slice(partialPrefix.length);
      writeFileSync(join(h.dirs.in, asideName(scanId)), 'scanned bytes, and more written afterwards');
    }
    return res;
  });
  writeFileSync(join(h.dirs.in, 'two.txt'), 'scanned bytes');
  await waitFor('both versions routed', () => h.routed.filter((x) => x.name === 'two.txt').length >= 2);
  const [first, second] = h.routed.filter((x) => x.name === 'two.txt');
  assert.equal(first!.sha256, sha256('scanned bytes'));
  assert.equal(second!.sha256, sha256('scanned bytes, and more written afterwards'));
  assert.ok(logsOf(h, 'returned', 'two.txt').length === 1);
  assert.equal(readFileSync(join(h.dirs.out, 'two.txt'), 'utf8'), 'scanned bytes, and more written afterwards');
  assert.deepEqual(readdirSync(h.dirs.in), []);
});

test('race: a changed aside file goes back beside a newcomer that took its name, never over it', async (t) => {
  const h = await startHarness({ fileCalls: 'thread-pool' });
  let raced = false;
  t.mock.method(fsp, 'rename', async (from: string, to: string) => {
    const res = await realRename(from, to);
    if (!raced && isAside(to) && basename(from) === 'three.txt') {
      raced = true;
      writeFileSync(join(h.dirs.in, 'three.txt'), 'a newcomer under the same name');
      writeFileSync(to, 'the set-aside file, rewritten');
    }
    return res;
  });
  writeFileSync(join(h.dirs.in, 'three.txt'), 'scanned');
  await waitFor('the newcomer and the returned file routed', () => h.routed.length >= 2 && readdirSync(h.dirs.in).length === 0, 30_000);
  const out = readdirSync(h.dirs.out).sort();
  assert.equal(out.length, 2, out.join(', '));
  const returned = out.find((n) => n !== 'three.txt')!;
  assert.match(returned, /^three \([0-9a-f]{8}\)\.txt$/);
  assert.equal(readFileSync(join(h.dirs.out, 'three.txt'), 'utf8'), 'a newcomer under the same name');
  assert.equal(readFileSync(join(h.dirs.out, returned), 'utf8'), 'the set-aside file, rewritten');
  assert.equal(h.emulator.stats().uploadsBySha256.has(sha256('scanned')), true);
});

test('EBUSY on the source (another program holds it open) is that file\'s: retried, reported with its name, no folder paused, the others flow', async (t) => {
  const h = await startHarness({ fileCalls: 'thread-pool' });
  let busy = 3;
  t.mock.method(fsp, 'rename', async (from: string, to: string) => {
    if (isAside(to) && basename(from) === 'busy.txt' && busy > 0) {
      busy--;
      throw Object.assign(new Error(`EBUSY: resource busy or locked, rename '${from}' -> '${to}'`), { code: 'EBUSY' });
    }
    return realRename(from, to);
  });
  writeFileSync(join(h.dirs.in, 'busy.txt'), 'held open elsewhere\n');
  await waitFor('busy.txt retrying with EBUSY', () => h.built.engine.snapshot().files.find((f) => f.name === 'busy.txt' && f.stage === 'retrying' && f.reason === 'EBUSY'));
  for (let i = 0; i < 5; i++) writeFileSync(join(h.dirs.in, `other-${i}.txt`), `other ${i}\n`);
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  await waitFor('everything routed', () => h.routed.length >= 7, 30_000);
  assert.equal(busy, 0);
  const warn = logsOf(h, 'delivery-failed', 'busy.txt');
  assert.ok(warn.length >= 1 && warn[0]!.level === 'warn' && /EBUSY/.test(warn[0]!.msg), JSON.stringify(warn[0]));
  assert.deepEqual(folderDown(h, 'out'), [], 'a source error is not the destination\'s');
  assert.deepEqual(folderDown(h, 'qrnt'), []);
  assert.equal(logsOf(h, 'folder-unavailable').length, 0);
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.equal(readFileSync(join(h.dirs.out, 'busy.txt'), 'utf8'), 'held open elsewhere\n');
});

test('output full (ENOSPC) pauses output only: quarantine deliveries go on, and output resumes when there is room', async (t) => {
  const h = await startHarness({ fileCalls: 'thread-pool' });
  let full = true;
  let refused = 0;
  t.mock.method(fsp, 'open', async (path: string, ...rest: unknown[]) => {
    if (full && dirname(String(path)) === h.dirs.out && basename(String(path)).startsWith(partialPrefix)) {
      refused++;
      throw Object.assign(new Error(`ENOSPC: no space left on device, open '${path}'`), { code: 'ENOSPC' });
    }
    return (realOpen as (...a: unknown[]) => ReturnType<typeof fsp.open>)(path, ...rest);
  });
  writeFileSync(join(h.dirs.in, 'clean.txt'), 'waits for room\n');
  await waitFor('output paused', () => folderDown(h, 'out').length > 0);
  const down = folderDown(h, 'out')[0];
  assert.equal(down?.type === 'folder' ? down.reason : undefined, 'ENOSPC');
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  await waitFor('EICAR quarantined while output is full', () => h.routed.find((r) => r.name === 'eicar.com'));
  assert.deepEqual(folderDown(h, 'qrnt'), []);
  // Waiting for its next try, or in it (on a slow machine the short test back-off may have run out).
  assert.ok(['retrying', 'routing'].includes(stageNow(h, 'clean.txt') ?? ''), stageNow(h, 'clean.txt'));
  assert.ok(existsSync(join(h.dirs.in, 'clean.txt')) || readdirSync(h.dirs.in).some((n) => n.startsWith(asidePrefix)), 'the clean file is still in input');
  full = false;
  await waitFor('clean.txt delivered', () => h.routed.find((r) => r.name === 'clean.txt'), 30_000);
  await waitFor('output available again', () => h.events.some((e) => e.type === 'folder' && e.folder === 'out' && e.available));
  assert.ok(refused >= 1);
  assert.deepEqual(readdirSync(h.dirs.in), []);
});

test('a folder in output under the file\'s name (EISDIR) is that file\'s trouble: output is not paused, other files reach it', async () => {
  const h = await startHarness();
  mkdirSync(join(h.dirs.out, 'blocked.txt'));
  writeFileSync(join(h.dirs.in, 'blocked.txt'), 'cannot replace a folder\n');
  await waitFor('blocked.txt failing on its own', () => logsOf(h, 'delivery-failed', 'blocked.txt').length > 0);
  writeFileSync(join(h.dirs.in, 'fine.txt'), 'goes through\n');
  await waitFor('fine.txt delivered', () => h.routed.find((r) => r.name === 'fine.txt'));
  assert.deepEqual(folderDown(h, 'out'), []);
  assert.match(logsOf(h, 'delivery-failed', 'blocked.txt')[0]!.msg, /rename in the out folder failed for this file: (EISDIR|EEXIST|ENOTEMPTY|EPERM)/);
  rmdirSync(join(h.dirs.out, 'blocked.txt'));
  await waitFor('blocked.txt delivered once the folder is gone', () => h.routed.find((r) => r.name === 'blocked.txt'), 30_000);
  assert.equal(readFileSync(join(h.dirs.out, 'blocked.txt'), 'utf8'), 'cannot replace a folder\n');
});

test('a name the destination refuses (EINVAL on the final rename) is delivered under a name it takes, without pausing it', async (t) => {
  const h = await startHarness({ fileCalls: 'thread-pool' });
  t.mock.method(fsp, 'rename', async (from: string, to: string) => {
    if (dirname(to) === h.dirs.out && /[:*?"<>|]/.test(basename(to))) throw Object.assign(new Error(`EINVAL: invalid argument, rename '${from}' -> '${to}'`), { code: 'EINVAL' });
    return realRename(from, to);
  });
  writeFileSync(join(h.dirs.in, 'meeting 10:30?.txt'), 'notes\n');
  const r = await waitFor('routed', () => h.routed.find((x) => x.name === 'meeting 10:30?.txt'));
  assert.equal(r.path, join(h.dirs.out, 'meeting 10_30_.txt'));
  assert.equal(readFileSync(join(h.dirs.out, 'meeting 10_30_.txt'), 'utf8'), 'notes\n');
  assert.equal(logsOf(h, 'renamed', 'meeting 10:30?.txt').length, 1);
  assert.deepEqual(folderDown(h, 'out'), []);
  assert.deepEqual(readdirSync(h.dirs.in), []);
});

test('after a crash with a file set aside: not yet copied → delivered; copied → removed; changed while down → back in input and scanned anew', async () => {
  const h = await startHarness({ startEngine: false });
  const j = Journal.open(h.dirs.state);
  const plant = (scanId: string, name: string, body: string, placed: boolean, onDisk = body) => {
    // onDisk ≠ body: the aside file has the recorded size and mtime but other bytes than the
    // scanned ones — what a file system without file ids cannot tell apart; only the hash can.
    const aside = join(h.dirs.in, asideName(scanId));
    writeFileSync(aside, onDisk);
    const st = lstatSync(aside);
    j.intent({ scanId, name, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev });
    j.submitted(scanId, sha256(body));
    j.verdict(scanId, 'not detected', 'out');
    if (placed) {
      writeFileSync(join(h.dirs.out, name), body);
      j.placed(scanId, join(h.dirs.out, name));
    }
  };
  plant('aaaaaaaa-0000-4000-8000-000000000001', 'not-copied.txt', 'set aside, not copied yet\n', false);
  plant('aaaaaaaa-0000-4000-8000-000000000002', 'copied.txt', 'set aside and copied\n', true);
  plant('aaaaaaaa-0000-4000-8000-000000000003', 'tampered.txt', 'scanned version!\n', true, 'other bytes here\n');
  await j.flushed();
  j.close();
  await h.start();
  await waitFor('all three finished and input empty', () => readJournal(h.dirs.state).live.every((e) => e.outcome) && readdirSync(h.dirs.in).length === 0 && h.routed.some((r) => r.name === 'tampered.txt' && r.sha256 === sha256('other bytes here\n')), 30_000);
  assert.equal(readFileSync(join(h.dirs.out, 'not-copied.txt'), 'utf8'), 'set aside, not copied yet\n');
  assert.equal(readFileSync(join(h.dirs.out, 'copied.txt'), 'utf8'), 'set aside and copied\n');
  assert.equal(readFileSync(join(h.dirs.out, 'tampered.txt'), 'utf8'), 'other bytes here\n', 'the changed file was scanned and delivered in turn');
  assert.equal(h.emulator.stats().uploadsBySha256.get(sha256('other bytes here\n')), 1);
  assert.equal(h.emulator.stats().uploadsBySha256.has(sha256('set aside and copied\n')), false, 'nothing uploaded again');
});
