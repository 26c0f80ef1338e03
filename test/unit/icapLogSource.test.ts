import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalFileSource } from '../../src/icapLog/byteSource';
import { tempDir } from '../helpers/tempDirs';

test('concurrent first calls share one file handle (no EBADF from a handle closed under a read)', async () => {
  const dir = tempDir();
  const path = join(dir, 'preprocessor_icap.log');
  writeFileSync(path, 'x'.repeat(100_000));
  const src = new LocalFileSource(path);
  const results = await Promise.all([src.stat(), ...Array.from({ length: 20 }, (_, i) => src.read(i * 1000, 1000)), src.stat()]);
  for (const r of results.slice(1, -1)) assert.equal((r as Buffer).length, 1000);
  await src.close();
});

test('a rotation while reads are in flight lets them finish on the old file, then serves the new one', async () => {
  const dir = tempDir();
  const path = join(dir, 'preprocessor_icap.log');
  writeFileSync(path, 'old '.repeat(50_000));
  const src = new LocalFileSource(path);
  await src.stat();
  const reads = Array.from({ length: 20 }, (_, i) => src.read(i * 4000, 4000));
  renameSync(path, path + '.1');
  writeFileSync(path, 'new line\n');
  const st = await src.stat();
  assert.equal(st.lastChange, 'rotated');
  for (const b of await Promise.all(reads)) assert.match(b.toString(), /^(old )+$/);
  assert.equal((await src.read(0, 9)).toString(), 'new line\n');
  await src.close();
});
