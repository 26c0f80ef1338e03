import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { deliver } from '../../src/engine/delivery';
import { KeepingReader, ScannedCopies, keepUpToBytes } from '../../src/engine/scannedCopy';
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
  const kept = new ScannedCopies((id) => live.has(id), 10);
  assert.equal(kept.keep('a', Buffer.from('12345')), true);
  assert.equal(kept.keep('b', Buffer.from('12345')), true);
  assert.equal(kept.keep('c', Buffer.from('1')), false, 'over the budget: the delivery copies from input');
  assert.equal(kept.bytes, 10);
  live.delete('a'); // abandoned: its delivery never comes
  assert.equal(kept.keep('c', Buffer.from('1')), true);
  assert.equal(kept.take('a'), undefined);
  assert.equal(kept.take('b')?.toString(), '12345');
  assert.equal(kept.take('b'), undefined, 'taken once');
  assert.equal(kept.bytes, 1);
  kept.drop('c');
  assert.equal(kept.bytes, 0);
  assert.equal(kept.count, 0);
  assert.equal(new ScannedCopies(() => true).keep('big', Buffer.alloc(keepUpToBytes + 1)), false, 'a large file is not kept whatever the budget');
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
  assert.deepEqual(res, { ok: true, path: join(dst, 'a.txt'), sha256: sha(scanned), bytes: scanned.length });
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
