import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, syncRenameSync } from '../../src/common/fsync';
import { hostPlatform, type NoFollowFs, openNoFollow } from '../../src/common/platform';
import { Journal } from '../../src/engine/journal';
import { tempDir } from '../helpers/tempDirs';

/*
 * Run by test/integration/windowsUnderWine.test.ts with the Windows build of Node.js: the facts
 * the platform module (src/common/platform.ts) assumes about Windows, checked on Windows' Node.
 */

test('this is the Windows build of Node.js: the platform module picks the Windows behaviour', () => {
  assert.equal(process.platform, 'win32');
  assert.equal(constants.O_NOFOLLOW, undefined, 'no O_NOFOLLOW on Windows');
  assert.equal(hostPlatform.os, 'win32');
  assert.equal(hostPlatform.noFollowFlag, 0);
  assert.equal(hostPlatform.durableRename, 'flush-renamed-file');
});

test('a folder cannot be fsynced on Windows (EPERM, the crash of issue 25); the platform module skips it and flushes renamed files instead', async () => {
  const dir = tempDir();
  const fd = openSync(dir, 'r');
  try {
    assert.throws(() => fsyncSync(fd), { code: 'EPERM' });
  } finally {
    closeSync(fd);
  }
  await fsyncDir(dir);
  writeFileSync(join(dir, 'a.tmp'), 'x');
  renameSync(join(dir, 'a.tmp'), join(dir, 'a'));
  syncRenameSync(join(dir, 'a'), dir);
});

test('the journal opens, compacts and reopens on Windows', async () => {
  const dir = tempDir();
  const j = Journal.open(dir);
  await j.intent({ scanId: 's1', name: 'a.txt', size: 1, mtimeMs: 1, ino: 1 });
  await j.done('s1', 'routed');
  j.close();
  const again = Journal.open(dir);
  assert.equal(again.finished()[0]?.scanId, 's1');
  again.close();
});

test('no-follow open on Windows: the handle is the file looked at (64-bit file index and volume); another file renamed in between is refused', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'plain.txt'), 'hello\n');
  const fh = await openNoFollow(join(dir, 'plain.txt'));
  const [a, b] = [await fsp.lstat(join(dir, 'plain.txt'), { bigint: true }), await fh.stat({ bigint: true })];
  assert.equal(a.ino, b.ino);
  assert.ok(a.ino > 0n, 'Windows gives a file index');
  await fh.close();
  writeFileSync(join(dir, 'other'), 'another file\n');
  const swapping: NoFollowFs = {
    lstat: async (path) => {
      const st = await fsp.lstat(path, { bigint: true });
      renameSync(join(dir, 'other'), path);
      return st;
    },
    open: (path, flags) => fsp.open(path, flags),
  };
  await assert.rejects(openNoFollow(join(dir, 'plain.txt'), hostPlatform, swapping), { code: 'ELOOP' });
});
