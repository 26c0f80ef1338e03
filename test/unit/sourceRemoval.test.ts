import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { linkSync, lstatSync, readFileSync, readdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { join } from 'node:path';
import { versionOf } from '../../src/engine/fileVersion';
import { readInputNames } from '../../src/engine/inputListing';
import { asideName, isReservedInputName, removeAside, returnAside, scanIdOfAside, takeAside } from '../../src/engine/sourceRemoval';
import { tempDir } from '../helpers/tempDirs';

const scanId = '6f1c2a8e-1111-4222-8333-444455556666';
const local = { fileIds: true };
const sha = (b: string) => createHash('sha256').update(b).digest('hex');

function scanned(dir: string, name: string, body: string) {
  writeFileSync(join(dir, name), body);
  return versionOf(lstatSync(join(dir, name)));
}

test('the scanned version is set aside under a name carrying the scanId, then removed', async () => {
  const dir = tempDir();
  const v = scanned(dir, 'report.pdf', 'scanned bytes');
  const taken = await takeAside(dir, 'report.pdf', scanId, v, local);
  assert.equal(taken.kind, 'aside');
  assert.deepEqual(readdirSync(dir), [asideName(scanId)]);
  assert.equal(scanIdOfAside(asideName(scanId)), scanId);
  assert.equal(isReservedInputName(asideName(scanId)), true);
  assert.deepEqual(await removeAside(dir, 'report.pdf', scanId, v, local), { kind: 'removed' });
  assert.deepEqual(readdirSync(dir), []);
  assert.deepEqual(await removeAside(dir, 'report.pdf', scanId, v, local), { kind: 'gone' }, 'already removed is fine');
});

test('race: rewritten in place between close and rename → not the scanned version, back under its name with its new bytes', async () => {
  const dir = tempDir();
  const v = scanned(dir, 'a.txt', 'scanned');
  writeFileSync(join(dir, 'a.txt'), 'rewritten by the producer, longer');
  const taken = await takeAside(dir, 'a.txt', scanId, v, local);
  assert.equal(taken.kind, 'changed');
  assert.equal(taken.kind === 'changed' && taken.returnedAs, 'a.txt');
  assert.deepEqual(readdirSync(dir), ['a.txt']);
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'rewritten by the producer, longer');
  assert.equal(lstatSync(join(dir, 'a.txt')).nlink, 1);
});

test('race: replaced by another file of the same size and mtime between close and rename → the file id tells it apart', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a.txt'), 'AAAA');
  utimesSync(join(dir, 'a.txt'), 1_700_000_000, 1_700_000_000);
  const v = versionOf(lstatSync(join(dir, 'a.txt')));
  writeFileSync(join(dir, 'staged'), 'BBBB');
  utimesSync(join(dir, 'staged'), 1_700_000_000, 1_700_000_000);
  renameSync(join(dir, 'staged'), join(dir, 'a.txt'));
  assert.equal(lstatSync(join(dir, 'a.txt')).mtimeMs, v.mtimeMs, 'precondition: same mtime');
  const taken = await takeAside(dir, 'a.txt', scanId, v, local);
  assert.equal(taken.kind, 'changed');
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'BBBB');
  // Without file ids (smbnetfs) size and mtime are all there is: only the hash can tell (see removeAside's verifySha256).
  const again = await takeAside(dir, 'a.txt', scanId, { ...v, ino: 0, dev: 0 }, { fileIds: false });
  assert.equal(again.kind, 'aside');
  const verified = await removeAside(dir, 'a.txt', scanId, v, { fileIds: false }, sha('AAAA'));
  assert.deepEqual(verified, { kind: 'returned', returnedAs: 'a.txt' });
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'BBBB');
});

test('race: the aside file rewritten between rename and unlink → not removed, back in input as a new file', async () => {
  const dir = tempDir();
  const v = scanned(dir, 'a.txt', 'scanned');
  assert.equal((await takeAside(dir, 'a.txt', scanId, v, local)).kind, 'aside');
  writeFileSync(join(dir, asideName(scanId)), 'written through a handle opened before the rename');
  const removed = await removeAside(dir, 'a.txt', scanId, v, local);
  assert.deepEqual(removed, { kind: 'returned', returnedAs: 'a.txt' });
  assert.deepEqual(readdirSync(dir), ['a.txt']);
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'written through a handle opened before the rename');
});

test('race: putting back onto a name a new file took meanwhile → never over it, under "name (8 hex).ext"', async () => {
  const dir = tempDir();
  const v = scanned(dir, 'report.pdf', 'scanned');
  assert.equal((await takeAside(dir, 'report.pdf', scanId, v, local)).kind, 'aside');
  writeFileSync(join(dir, 'report.pdf'), 'a newcomer');
  writeFileSync(join(dir, asideName(scanId)), 'changed while aside');
  const removed = await removeAside(dir, 'report.pdf', scanId, v, local);
  assert.deepEqual(removed, { kind: 'returned', returnedAs: 'report (6f1c2a8e).pdf' });
  assert.equal(readFileSync(join(dir, 'report.pdf'), 'utf8'), 'a newcomer');
  assert.equal(readFileSync(join(dir, 'report (6f1c2a8e).pdf'), 'utf8'), 'changed while aside');
  assert.deepEqual(readdirSync(dir).sort(), ['report (6f1c2a8e).pdf', 'report.pdf']);
});

test('without hard links (SMB through smbnetfs: EPERM) a put-back renames, still only onto a free name', async (t) => {
  const dir = tempDir();
  const v = scanned(dir, 'a.txt', 'scanned');
  assert.equal((await takeAside(dir, 'a.txt', scanId, v, local)).kind, 'aside');
  writeFileSync(join(dir, asideName(scanId)), 'changed');
  const link = t.mock.method(fsp, 'link', async () => {
    throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
  });
  assert.deepEqual(await returnAside(dir, 'a.txt', scanId, local), { kind: 'returned', returnedAs: 'a.txt' });
  assert.equal(link.mock.callCount(), 1);
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'changed');
  mock.restoreAll();
});

test('a put-back cut after its link() (both names one file) is finished, not duplicated', async () => {
  const dir = tempDir();
  const v = scanned(dir, 'a.txt', 'scanned');
  assert.equal((await takeAside(dir, 'a.txt', scanId, v, local)).kind, 'aside');
  writeFileSync(join(dir, asideName(scanId)), 'changed');
  linkSync(join(dir, asideName(scanId)), join(dir, 'a.txt'));
  const again = await takeAside(dir, 'a.txt', scanId, v, local);
  assert.equal(again.kind === 'changed' && again.returnedAs, 'a.txt');
  assert.deepEqual(readdirSync(dir), ['a.txt']);
  assert.equal(lstatSync(join(dir, 'a.txt')).nlink, 1);
});

test('nothing under the name and nothing aside → missing; an aside file from an earlier attempt is taken as it is', async () => {
  const dir = tempDir();
  assert.deepEqual(await takeAside(dir, 'gone.txt', scanId, { size: 1, mtimeMs: 1, ino: 1, dev: 1 }, local), { kind: 'missing' });
  const v = scanned(dir, 'b.txt', 'scanned');
  renameSync(join(dir, 'b.txt'), join(dir, asideName(scanId)));
  writeFileSync(join(dir, 'b.txt'), 'a newer file under the name');
  const taken = await takeAside(dir, 'b.txt', scanId, v, local);
  assert.equal(taken.kind, 'aside');
  assert.equal(readFileSync(join(dir, 'b.txt'), 'utf8'), 'a newer file under the name', 'the newer file is not touched');
});

test('intake never lists an aside name as an input file', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, asideName(scanId)), 'x');
  writeFileSync(join(dir, 'real.txt'), 'y');
  assert.deepEqual((await readInputNames(dir)).candidates, ['real.txt']);
});
