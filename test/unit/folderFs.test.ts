import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { folderFs, syncIoMaxBytes } from '../../src/engine/folderFs';

/** Counts the synchronous and the thread-pool reads and writes made while `fn` runs. */
async function countingCalls<T>(fn: () => Promise<T>): Promise<{ result: T; calls: Record<string, number> }> {
  const calls: Record<string, number> = { readSync: 0, read: 0, writeSync: 0, write: 0 };
  const originals = { readSync: fs.readSync, read: fs.read, writeSync: fs.writeSync, write: fs.write };
  const patched = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of Object.keys(originals) as Array<keyof typeof originals>) {
    const original = originals[name] as (...args: unknown[]) => unknown;
    patched[name] = (...args: unknown[]) => {
      calls[name]!++;
      return original.apply(fs, args);
    };
  }
  syncBuiltinESMExports();
  try {
    return { result: await fn(), calls };
  } finally {
    Object.assign(fs, originals);
    syncBuiltinESMExports();
  }
}

test('local folders: small reads and writes are synchronous, large ones go through the thread pool (never a long wait on the event loop)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-folderfs-'));
  try {
    const data = Buffer.alloc(syncIoMaxBytes * 2 + 5, 7);
    writeFileSync(join(dir, 'big'), data);
    const local = folderFs(true);

    const f = await local.open(join(dir, 'big'), 'r');
    const small = Buffer.alloc(4096);
    const large = Buffer.alloc(data.length);
    const reads = await countingCalls(async () => {
      await f.read(small, 0, small.length, 0);
      return (await f.read(large, 0, large.length, 0)).bytesRead;
    });
    await f.close();
    assert.equal(reads.result, data.length);
    assert.deepEqual(large, data);
    assert.equal(reads.calls.readSync, 1, 'the 4 KiB read is one synchronous call');
    assert.ok(reads.calls.read! >= 1, 'the large read went through the thread pool');

    const out = await local.open(join(dir, 'copy'), 'wx', 0o600);
    const writes = await countingCalls(async () => {
      await out.write(data, 0, 100);
      await out.write(data, 100, data.length - 100);
    });
    await out.close();
    assert.equal(writes.calls.writeSync, 1);
    assert.ok(writes.calls.write! >= 1);
    assert.deepEqual(readFileSync(join(dir, 'copy')), data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('local folders: close() while a large read is in the thread pool waits for it (its descriptor is not closed under it)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-folderfs-'));
  try {
    const data = Buffer.alloc(syncIoMaxBytes * 4, 3);
    writeFileSync(join(dir, 'big'), data);
    const f = await folderFs(true).open(join(dir, 'big'), 'r');
    const buf = Buffer.alloc(data.length);
    const reading = f.read(buf, 0, buf.length, 0);
    const closing = f.close();
    assert.equal((await reading).bytesRead, data.length);
    await closing;
    assert.deepEqual(buf, data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
