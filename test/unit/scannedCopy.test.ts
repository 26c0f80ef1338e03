import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { type StagedCopy, deliver, partialPrefix } from '../../src/engine/delivery';
import { type FolderFs, folderFs } from '../../src/engine/folderFs';
import { KeepingReader, ScannedCopies, keepUpToBytes } from '../../src/engine/scannedCopy';
import { StagedCopies, StagingReader } from '../../src/engine/stagedCopy';
import { tempDir } from '../helpers/tempDirs';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('KeepingReader keeps the bytes of one whole read from offset 0, the very buffer that was read into', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a'), 'twelve bytes');
  const fh = await open(join(dir, 'a'));
  try {
    const r = new KeepingReader(fh, 12);
    const buf = Buffer.alloc(20);
    assert.equal((await r.read(buf, 3, 13, 0)).bytesRead, 12);
    assert.equal(r.bytes?.toString(), 'twelve bytes');
    assert.equal(r.bytes?.buffer, buf.buffer, 'no copy: the upload hashed and sent this memory');
    // A second read (growth, a retry) keeps nothing: only one read is known to be the sent bytes.
    await r.read(buf, 0, 1, 12);
    assert.equal(r.bytes, undefined);
  } finally {
    await fh.close();
  }
});

test('KeepingReader keeps nothing from a short read, a longer file or a read elsewhere than offset 0', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a'), 'twelve bytes and more');
  const fh = await open(join(dir, 'a'));
  try {
    const longer = new KeepingReader(fh, 12);
    await longer.read(Buffer.alloc(13), 0, 13, 0);
    assert.equal(longer.bytes, undefined, 'read 13 of a 12-byte version: the file grew');
    const short = new KeepingReader(fh, 30);
    await short.read(Buffer.alloc(31), 0, 31, 0);
    assert.equal(short.bytes, undefined);
    const elsewhere = new KeepingReader(fh, 5);
    await elsewhere.read(Buffer.alloc(5), 0, 5, 1);
    assert.equal(elsewhere.bytes, undefined);
  } finally {
    await fh.close();
  }
});

test('ScannedCopies keeps within its budget; past it, scans whose delivery will never come make room, live ones are never dropped', () => {
  const live = new Set(['a', 'b', 'c']);
  // Buffer.alloc makes an allocation of its own: it costs its length.
  let clock = 10_000;
  const kept = new ScannedCopies((id) => live.has(id), 10, () => clock);
  assert.equal(kept.keep('a', Buffer.alloc(5, 1)), true);
  assert.equal(kept.keep('b', Buffer.alloc(5, 2)), true);
  assert.equal(kept.keep('c', Buffer.alloc(1, 3)), false, 'over the budget: the delivery copies from input');
  assert.equal(kept.bytes, 10);
  live.delete('a'); // abandoned: its delivery never comes
  assert.equal(kept.keep('c', Buffer.alloc(1, 3)), false, 'looked for abandoned scans less than a second ago');
  clock += 1000;
  assert.equal(kept.keep('c', Buffer.alloc(1, 3)), true);
  assert.equal(kept.take('a'), undefined);
  assert.deepEqual(kept.take('b'), Buffer.alloc(5, 2));
  assert.equal(kept.take('b'), undefined, 'taken once');
  assert.equal(kept.bytes, 1);
  kept.drop('c');
  assert.equal(kept.bytes, 0);
  assert.equal(kept.count, 0);
  assert.equal(new ScannedCopies(() => true).keep('big', Buffer.alloc(keepUpToBytes + 1)), false, 'a large file is not kept whatever the budget');
});

test('ScannedCopies counts a slice of Node\'s buffer pool as the whole slab it keeps alive', () => {
  const pooled = Buffer.allocUnsafe(100);
  assert.ok(pooled.buffer.byteLength > 100, 'a pool slice');
  const kept = new ScannedCopies(() => true, 64 * 1024);
  assert.equal(kept.keep('a', pooled), true);
  assert.equal(kept.bytes, pooled.buffer.byteLength);
  kept.drop('a');
  assert.equal(kept.bytes, 0);
});

test('deliver with the scanned bytes writes exactly them, with the source\'s permissions and times, and never opens the source', async () => {
  const src = tempDir();
  const dst = tempDir();
  writeFileSync(join(src, 'a.txt'), 'bytes now in input', { mode: 0o640 });
  const stats = lstatSync(join(src, 'a.txt'));
  writeFileSync(join(dst, 'a.txt'), 'previous');
  const scanned = Buffer.from('scanned bytes');
  const res = await deliver({
    // A path that does not exist: the source is not read at all.
    source: join(src, 'nothing-here'),
    scanned: { bytes: scanned, stats },
    destDir: dst,
    name: 'a.txt',
    expectedSha256: sha(scanned),
    tag: 'scan-1',
  });
  assert.deepEqual(res, { ok: true, path: join(dst, 'a.txt'), sha256: sha(scanned), bytes: scanned.length, from: 'scanned' });
  assert.equal(readFileSync(join(dst, 'a.txt'), 'utf8'), 'scanned bytes');
  assert.equal(statSync(join(dst, 'a.txt')).mode & 0o777, 0o640);
  assert.ok(Math.abs(statSync(join(dst, 'a.txt')).mtimeMs - stats.mtimeMs) < 1);
  assert.deepEqual(readdirSync(dst), ['a.txt'], 'no temporary left');
});

test('deliver with the scanned bytes into quarantine: private mode, and a failed rename leaves no temporary', async () => {
  const src = tempDir();
  const dst = tempDir();
  writeFileSync(join(src, 'x'), 'x', { mode: 0o644 });
  const stats = lstatSync(join(src, 'x'));
  const ok = await deliver({ source: '', scanned: { bytes: Buffer.from('x'), stats }, destDir: dst, name: 'x', expectedSha256: sha('x'), tag: 'q', permissions: 'private' });
  assert.equal(ok.ok, true);
  assert.equal(statSync(join(dst, 'x')).mode & 0o777, 0o600);
  // A folder under the name: the rename fails, the copy's temporary name is removed.
  await assert.rejects(
    deliver({ source: '', scanned: { bytes: Buffer.from('y'), stats }, destDir: src, name: '..', expectedSha256: sha('y'), tag: 'r' }),
    (err: Error & { side?: string; step?: string }) => err.side === 'destination' && err.step === 'rename',
  );
  assert.deepEqual(readdirSync(src), ['x']);
});

test('StagingReader writes what the upload reads, in order, into the staged copy; a read out of order spoils it without failing the read', async () => {
  const dir = tempDir();
  const body = Buffer.alloc(3 * 1024 + 5, 9);
  writeFileSync(join(dir, 'src'), body);
  const fh = await open(join(dir, 'src'));
  const out = await folderFs(false).open(join(dir, 'staged'), 'wx', 0o600);
  try {
    const r = new StagingReader(fh, body.length, out);
    const buf = Buffer.alloc(2048);
    assert.equal((await r.read(buf, 0, 2048, 0)).bytesRead, 2048);
    assert.equal(r.complete, false);
    assert.equal((await r.read(buf, 0, 2048, 2048)).bytesRead, body.length - 2048);
    assert.equal(r.complete, true);
    await out.close();
    assert.deepEqual(readFileSync(join(dir, 'staged')), body);
    const again = new StagingReader(fh, body.length, await folderFs(false).open(join(dir, 'staged2'), 'wx', 0o600));
    await again.read(buf, 0, 10, 0);
    assert.equal((await again.read(buf, 0, 10, 0)).bytesRead, 10, 'the upload still gets its bytes');
    assert.equal(again.complete, false, 'a re-read from the start: the staged copy is not used');
  } finally {
    await fh.close();
  }
});

function stagedCopyOf(dir: string, name: string, body: Buffer): StagedCopy {
  writeFileSync(join(dir, name), body, { mode: 0o600 });
  const st = statSync(join(dir, name));
  return { path: join(dir, name), ino: st.ino, dev: st.dev, size: st.size };
}

test('deliver with a staged copy renames that very file into place, with the source\'s permissions and times', async () => {
  const src = tempDir();
  const qrnt = tempDir();
  const out = tempDir();
  writeFileSync(join(src, 'big.bin'), 'in input now', { mode: 0o640 });
  const stats = lstatSync(join(src, 'big.bin'));
  const body = Buffer.alloc(200 * 1024, 3);
  const copy = stagedCopyOf(qrnt, `${partialPrefix}staged-s1`, body);
  const res = await deliver({ source: join(src, 'big.bin'), staged: { copy, fs: folderFs(true), stats }, destDir: out, name: 'big.bin', expectedSha256: sha(body), tag: 's1' });
  assert.deepEqual(res, { ok: true, path: join(out, 'big.bin'), sha256: sha(body), bytes: body.length, from: 'staged' });
  const st = statSync(join(out, 'big.bin'));
  assert.equal(st.ino, copy.ino, 'renamed, not copied');
  assert.equal(st.mode & 0o777, 0o640);
  assert.ok(Math.abs(st.mtimeMs - stats.mtimeMs) < 1);
  assert.deepEqual(readdirSync(qrnt), []);
});

test('deliver with a staged copy that is not the file KDS wrote, or that cannot be renamed (EXDEV), copies the source with its hash checked and removes the staged copy', async () => {
  const src = tempDir();
  const qrnt = tempDir();
  const out = tempDir();
  const body = Buffer.alloc(100 * 1024, 4);
  writeFileSync(join(src, 'a.bin'), body);
  const stats = lstatSync(join(src, 'a.bin'));
  // Replaced under its name (another inode): never renamed into place.
  const swapped = stagedCopyOf(qrnt, `${partialPrefix}staged-s2`, Buffer.alloc(100 * 1024, 5));
  const res1 = await deliver({ source: join(src, 'a.bin'), staged: { copy: { ...swapped, ino: swapped.ino + 1 }, fs: folderFs(true), stats }, destDir: out, name: 'a.bin', expectedSha256: sha(body), tag: 's2' });
  assert.equal(res1.ok && res1.from, 'source');
  assert.deepEqual(readFileSync(join(out, 'a.bin')), body);
  assert.deepEqual(readdirSync(qrnt), []);
  // A destination on another mount of the same file system: rename gives EXDEV.
  const copy = stagedCopyOf(qrnt, `${partialPrefix}staged-s3`, body);
  const exdev: FolderFs = { ...folderFs(true), rename: async (from, to) => (from === copy.path ? Promise.reject(Object.assign(new Error('EXDEV'), { code: 'EXDEV' })) : folderFs(true).rename(from, to)) };
  const res2 = await deliver({ source: join(src, 'a.bin'), staged: { copy, fs: folderFs(true), stats }, destDir: out, name: 'b.bin', expectedSha256: sha(body), tag: 's3', fs: exdev });
  assert.equal(res2.ok && res2.from, 'source');
  assert.deepEqual(readFileSync(join(out, 'b.bin')), body);
  assert.deepEqual(readdirSync(qrnt), [], 'the staged copy is gone');
  assert.deepEqual(readdirSync(out).sort(), ['a.bin', 'b.bin']);
});

test('StagedCopies stays within its budget of bytes on disk: a copy past it is not staged, abandoned ones make room and are deleted', async () => {
  const dir = tempDir();
  const live = new Set(['a', 'b']);
  let clock = 5_000;
  const staged = new StagedCopies((id) => live.has(id), 100, () => clock);
  const stage = (id: string, size: number) => {
    assert.equal(staged.reserve(size), true, `room for ${id}`);
    staged.add(id, stagedCopyOf(dir, `${partialPrefix}staged-${id}`, Buffer.alloc(size)), folderFs(true));
  };
  stage('a', 60);
  stage('b', 40);
  assert.equal(staged.reserve(1), false, 'the budget is spent: this upload is not staged');
  assert.equal(staged.bytes, 100);
  live.delete('a'); // abandoned
  clock += 1000;
  assert.equal(staged.reserve(50), true, 'the abandoned copy made room');
  staged.release(50); // that upload failed
  // The unlink is not waited for; on a local folder it is made at once.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(readdirSync(dir).includes(`${partialPrefix}staged-a`), false, 'the abandoned copy deleted');
  assert.equal(staged.take('b')?.size, 40);
  assert.equal(staged.bytes, 0, 'taken by its delivery: no longer counted');
  assert.deepEqual(readdirSync(dir), [`${partialPrefix}staged-b`], 'the delivery, not the list, renames or removes a taken copy');
});
