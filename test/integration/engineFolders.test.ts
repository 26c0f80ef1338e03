import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { logsOf, stageNow, startHarness, waitFor, waitRescans } from '../helpers/engineHarness';
import { removeTree } from '../helpers/tempDirs';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

test('exclude list: names and masks match case-insensitively, and edits apply without a restart', async () => {
  const h = await startHarness({ excludeList: 'File1.txt\n*.doc\n' });
  writeFileSync(join(h.dirs.in, 'file1.TXT'), 'excluded by name\n');
  writeFileSync(join(h.dirs.in, 'a.DOC'), 'excluded by mask\n');
  writeFileSync(join(h.dirs.in, 'ok.txt'), 'scanned\n');

  await waitFor('ok.txt routed', () => h.routed.some((r) => r.name === 'ok.txt'));
  await waitFor('both excluded', () => stageNow(h, 'file1.TXT') === 'excluded' && stageNow(h, 'a.DOC') === 'excluded');
  await waitRescans(h, 2);
  assert.equal(h.emulator.stats().postsAccepted, 1);
  assert.equal(logsOf(h, 'excluded', 'file1.TXT').length, 1);
  assert.equal(logsOf(h, 'excluded', 'a.DOC').length, 1);
  assert.deepEqual(readdirSync(h.dirs.in).sort(), ['a.DOC', 'file1.TXT']);

  // Remove "*.doc" while running: a.DOC is scanned now.
  writeFileSync(join(h.root, 'exclude_list.txt'), 'File1.txt\n');
  const aDoc = await waitFor('a.DOC routed', () => h.routed.find((r) => r.name === 'a.DOC'));
  assert.equal(aDoc.destination, 'out');
  assert.equal(readFileSync(join(h.dirs.out, 'a.DOC'), 'utf8'), 'excluded by mask\n');

  // Add a mask: files arriving afterwards are excluded.
  writeFileSync(join(h.root, 'exclude_list.txt'), 'File1.txt\n*.pdf\n');
  await waitRescans(h, 2);
  writeFileSync(join(h.dirs.in, 'new.PDF'), 'arrives after the edit\n');
  writeFileSync(join(h.dirs.in, 'later.txt'), 'scanned\n');
  await waitFor('later.txt routed', () => h.routed.some((r) => r.name === 'later.txt'));
  await waitFor('new.PDF excluded', () => stageNow(h, 'new.PDF') === 'excluded');
  await waitRescans(h, 2);
  const stats = h.emulator.stats();
  assert.equal(stats.postsAccepted, 3, 'ok.txt, a.DOC, later.txt');
  assert.equal(stats.uploadsBySha256.has(sha256('arrives after the edit\n')), false);
  assert.equal(stats.uploadsBySha256.has(sha256('excluded by name\n')), false);
  assert.deepEqual(readdirSync(h.dirs.in).sort(), ['file1.TXT', 'new.PDF']);
  assert.equal(readFileSync(join(h.dirs.in, 'file1.TXT'), 'utf8'), 'excluded by name\n');
});

test('a file of the same name in the destination is replaced by the new one', async () => {
  const h = await startHarness();
  writeFileSync(join(h.dirs.out, 'report.txt'), 'an older report that is longer than the new one\n');
  writeFileSync(join(h.dirs.qrnt, 'eicar.com'), 'an older quarantined file\n');
  writeFileSync(join(h.dirs.in, 'report.txt'), 'new report\n');
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  await waitFor('both routed', () => h.routed.length >= 2);
  assert.equal(readFileSync(join(h.dirs.out, 'report.txt'), 'utf8'), 'new report\n');
  assert.equal(readFileSync(join(h.dirs.qrnt, 'eicar.com'), 'latin1'), EICAR);
  assert.deepEqual(readdirSync(h.dirs.out), ['report.txt']);
  assert.deepEqual(readdirSync(h.dirs.qrnt), ['eicar.com']);
  assert.deepEqual(readdirSync(h.dirs.in), []);
});

test('output and quarantine on another file system (EXDEV): files are copied whole, originals removed, no partials left', async (t) => {
  // resolve(): on Windows (Wine's drive Z: is /) a path without a drive letter is not absolute.
  const shm = resolve(mkdtempSync('/dev/shm/kds-exdev-'));
  const h = await startHarness({ dirs: { out: join(shm, 'out'), qrnt: join(shm, 'qrnt') } });
  // The harness removes out and qrnt; this removes their parent.
  t.after(() => removeTree(shm));
  assert.notEqual(statSync(h.dirs.out).dev, statSync(h.dirs.in).dev, 'precondition: a different file system');

  const clean = Buffer.concat([Buffer.from('clean binary '), Buffer.alloc(3 * 1024 * 1024 + 17, 0xab)]);
  writeFileSync(join(h.dirs.in, 'clean.bin'), clean);
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR + '\r\n');
  await waitFor('both routed', () => h.routed.length >= 2);
  assert.ok(readFileSync(join(h.dirs.out, 'clean.bin')).equals(clean));
  assert.equal(readFileSync(join(h.dirs.qrnt, 'eicar.com'), 'latin1'), EICAR + '\r\n');
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.deepEqual(readdirSync(h.dirs.out), ['clean.bin']);
  assert.deepEqual(readdirSync(h.dirs.qrnt), ['eicar.com']);
  assert.equal(h.routed.find((r) => r.name === 'clean.bin')!.sha256, sha256(clean));
});

test('input folder renamed away: a warning, no crash, nothing touched; back again, files flow', async () => {
  const h = await startHarness({ emulator: { verdictDelayMs: 150 } });
  writeFileSync(join(h.dirs.in, 'first.txt'), 'first\n');
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  await waitFor('first two routed', () => h.routed.length >= 2);
  // One file still with KATA (1.5 s) when the folder goes away.
  writeFileSync(join(h.dirs.in, 'pending.bin'), 'KDS-TEST-SLOW pending\n');
  await waitFor('pending.bin submitted', () => stageNow(h, 'pending.bin') === 'submitted');

  const away = h.dirs.in + '.away';
  renameSync(h.dirs.in, away);
  await waitFor('folder-unavailable warning', () => h.logs.find((r) => r.event === 'folder-unavailable' && r.level === 'warn' && r.path === h.dirs.in));
  assert.ok(h.events.some((e) => e.type === 'folder' && e.folder === 'in' && !e.available));
  // Let the pending verdict arrive while input is gone, and a few rescans pass.
  await waitFor('verdict for pending.bin', () => logsOf(h, 'verdict', 'pending.bin').length > 0);
  await waitRescans(h, 3);
  assert.equal(h.built.engine.snapshot().running, true);
  assert.equal(logsOf(h, 'folder-unavailable').length, 1, 'warned once');
  assert.equal(h.logs.some((r) => r.level === 'error'), false);
  assert.deepEqual(readdirSync(h.dirs.out), ['first.txt']);
  assert.deepEqual(readdirSync(h.dirs.qrnt), ['eicar.com']);
  assert.equal(readFileSync(join(h.dirs.out, 'first.txt'), 'utf8'), 'first\n');
  assert.deepEqual(readdirSync(away), ['pending.bin'], 'nothing taken from the renamed folder');
  assert.equal(h.routed.length, 2);
  assert.ok(h.built.engine.snapshot().files.some((f) => f.name === 'pending.bin'), 'pending.bin is still known');

  renameSync(away, h.dirs.in);
  await waitFor('folder available again', () => logsOf(h, 'folder-available').length > 0);
  writeFileSync(join(h.dirs.in, 'after.txt'), 'after\n');
  await waitFor('pending.bin and after.txt routed', () => h.routed.some((r) => r.name === 'pending.bin') && h.routed.some((r) => r.name === 'after.txt'));
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.deepEqual(readdirSync(h.dirs.out).sort(), ['after.txt', 'first.txt', 'pending.bin']);
  assert.equal(h.emulator.stats().uploadsBySha256.get(sha256('KDS-TEST-SLOW pending\n')), 1, 'its scan was kept, not repeated');
});

test('output folder removed while a verdict is pending: the file waits in input, then is delivered when it is back', async () => {
  const h = await startHarness({ emulator: { verdictDelayMs: 100 } });
  const body = 'KDS-TEST-SLOW clean but slow\n';
  writeFileSync(join(h.dirs.in, 'waiting.txt'), body);
  await waitFor('submitted', () => stageNow(h, 'waiting.txt') === 'submitted');
  rmSync(h.dirs.out, { recursive: true });

  await waitFor('retrying', () => stageNow(h, 'waiting.txt') === 'retrying');
  await waitFor('out unavailable', () => h.events.some((e) => e.type === 'folder' && e.folder === 'out' && !e.available));
  assert.ok(h.logs.some((r) => r.event === 'folder-unavailable' && r.path === h.dirs.out));
  await waitRescans(h, 2);
  assert.equal(readFileSync(join(h.dirs.in, 'waiting.txt'), 'utf8'), body);
  assert.equal(existsSync(h.dirs.out), false, 'KDS does not create a missing destination (it may be an unmounted share)');
  assert.equal(h.routed.length, 0);

  mkdirSync(h.dirs.out);
  const r = await waitFor('delivered', () => h.routed.find((x) => x.name === 'waiting.txt'));
  assert.equal(r.destination, 'out');
  assert.equal(readFileSync(join(h.dirs.out, 'waiting.txt'), 'utf8'), body);
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.equal(h.emulator.stats().postsAccepted, 1, 'not submitted again');
});
