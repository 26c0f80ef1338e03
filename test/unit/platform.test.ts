import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, chmodSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { flushRenamed, fsyncDir, syncRenameSync } from '../../src/common/fsync';
import {
  type NoFollowFs,
  nameProblem,
  networkShareOf,
  openNoFollow,
  platformFor,
  samePathName,
  windowsNameProblem,
  windowsShareOf,
} from '../../src/common/platform';
import { deliver } from '../../src/engine/delivery';
import { tempDir } from '../helpers/tempDirs';

const linux = platformFor('linux', constants);
const darwin = platformFor('darwin', { O_NOFOLLOW: 0x100, O_NONBLOCK: 0x4 });
// What Node on Windows reports: fs.constants has neither O_NOFOLLOW nor O_NONBLOCK.
const windows = platformFor('win32', {});

test('each platform\'s traits: Windows has no O_NOFOLLOW, no folder fsync, no permission bits; macOS folds case', () => {
  assert.deepEqual(windows, {
    os: 'win32',
    durableRename: 'flush-renamed-file',
    noFollowFlag: 0,
    nonBlockFlag: 0,
    windowsNames: true,
    permissionBits: false,
    caseInsensitiveNames: true,
  });
  assert.equal(linux.durableRename, 'fsync-folder');
  assert.equal(linux.noFollowFlag, constants.O_NOFOLLOW);
  assert.ok(linux.noFollowFlag > 0);
  assert.equal(linux.windowsNames, false);
  assert.equal(linux.caseInsensitiveNames, false);
  assert.equal(darwin.durableRename, 'fsync-folder');
  assert.equal(darwin.noFollowFlag, 0x100);
  assert.equal(darwin.caseInsensitiveNames, true);
  assert.equal(darwin.permissionBits, true);
  assert.equal(platformFor('freebsd', constants).os, 'posix');
});

test('no-follow open with O_NOFOLLOW (Linux, macOS): a regular file opens, a symlink is refused with ELOOP', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'secret'), 'root only\n');
  writeFileSync(join(dir, 'plain.txt'), 'hello\n');
  symlinkSync(join(dir, 'secret'), join(dir, 'link.txt'));
  const fh = await openNoFollow(join(dir, 'plain.txt'), linux);
  assert.equal((await fh.readFile('utf8')), 'hello\n');
  await fh.close();
  await assert.rejects(openNoFollow(join(dir, 'link.txt'), linux), { code: 'ELOOP' });
});

test('no-follow open without O_NOFOLLOW (Windows): a link is refused by its look, and a link or another file swapped in between the look and the open fails the identity check', async () => {
  const dir = tempDir();
  const secret = join(dir, 'secret');
  writeFileSync(secret, 'root only\n');
  writeFileSync(join(dir, 'plain.txt'), 'hello\n');
  symlinkSync(secret, join(dir, 'link.txt'));

  const fh = await openNoFollow(join(dir, 'plain.txt'), windows);
  assert.equal(await fh.readFile('utf8'), 'hello\n');
  await fh.close();
  await assert.rejects(openNoFollow(join(dir, 'link.txt'), windows), { code: 'ELOOP', message: /symbolic link or junction/ });

  // A swapper that acts right after the look: the open (which follows links, as Node's does on
  // Windows) lands on another file, and the handle is closed and refused.
  let opened = 0;
  const racing = (swap: (path: string) => void): NoFollowFs => ({
    lstat: async (path) => {
      const st = await fsp.lstat(path, { bigint: true });
      swap(path);
      return st;
    },
    open: async (path, flags) => {
      assert.equal(flags & constants.O_NOFOLLOW, 0, 'no O_NOFOLLOW on Windows');
      opened++;
      return fsp.open(path, flags);
    },
  });
  writeFileSync(join(dir, 'victim.txt'), 'legit\n');
  await assert.rejects(
    openNoFollow(
      join(dir, 'victim.txt'),
      windows,
      racing((path) => {
        symlinkSync(secret, `${path}.tmp`);
        renameSync(`${path}.tmp`, path);
      }),
    ),
    { code: 'ELOOP', message: /replaced between its check and its open/ },
  );
  writeFileSync(join(dir, 'victim2.txt'), 'legit\n');
  writeFileSync(join(dir, 'other'), 'another file\n');
  await assert.rejects(
    openNoFollow(join(dir, 'victim2.txt'), windows, racing((path) => renameSync(join(dir, 'other'), path))),
    { code: 'ELOOP' },
  );
  assert.equal(opened, 2, 'both opens happened, and both handles were refused');
  assert.equal(readFileSync(secret, 'utf8'), 'root only\n');
});

test('folder fsync: done on POSIX (a missing folder is an error), skipped on Windows where folders cannot be flushed', async () => {
  const dir = tempDir();
  await fsyncDir(dir, linux);
  await assert.rejects(fsyncDir(join(dir, 'missing'), linux), { code: 'ENOENT' });
  await fsyncDir(join(dir, 'missing'), windows);
});

test('after a rename: Windows flushes the renamed file itself (write access, so a read-only file would fail), POSIX syncs the folder', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'journal.jsonl.tmp'), 'x\n');
  renameSync(join(dir, 'journal.jsonl.tmp'), join(dir, 'journal.jsonl'));
  syncRenameSync(join(dir, 'journal.jsonl'), dir, windows);
  syncRenameSync(join(dir, 'journal.jsonl'), dir, linux);
  assert.throws(() => syncRenameSync(join(dir, 'gone.jsonl'), dir, windows), { code: 'ENOENT' }, 'Windows opens the file');
  syncRenameSync(join(dir, 'gone.jsonl'), dir, linux); // POSIX looks at the folder only
  await flushRenamed(join(dir, 'journal.jsonl'), windows);
  await flushRenamed(join(dir, 'moved-on-already'), windows);
  await flushRenamed(join(dir, 'anything'), linux);
});

test('delivery on Windows: the copy does not take the source\'s read-only bit (a read-only copy could not be replaced by the next file of its name)', async () => {
  const src = tempDir();
  const dst = tempDir();
  writeFileSync(join(src, 'report.txt'), 'read-only at the source\n');
  chmodSync(join(src, 'report.txt'), 0o444);
  const onWindows = await deliver({ source: join(src, 'report.txt'), destDir: dst, name: 'report.txt', tag: 'w1', platform: windows });
  assert.equal(onWindows.ok, true);
  assert.equal(statSync(join(dst, 'report.txt')).mode & 0o200, 0o200, 'writable');
  const onLinux = await deliver({ source: join(src, 'report.txt'), destDir: dst, name: 'copy.txt', tag: 'l1', platform: linux });
  assert.equal(onLinux.ok, true);
  assert.equal(statSync(join(dst, 'copy.txt')).mode & 0o777, 0o444, 'POSIX keeps the bits');
});

test('names Windows cannot open are refused in input there, and only there', () => {
  for (const name of ['a:b', 'report.txt:hidden', 'x<y', 'x>y', 'say "hi"', 'a|b', 'why?', 'star*', 'back\\slash', 'tab\there', 'nl\nname']) {
    assert.equal(windowsNameProblem(name), 'forbidden-character', JSON.stringify(name));
    assert.equal(nameProblem(name, windows), 'forbidden-character');
    assert.equal(nameProblem(name, linux), undefined, 'Linux writes it back unchanged');
  }
  // Opened literally through \\?\ paths; the delivery makes them portable (destinationNames.ts).
  for (const name of ['CON', 'nul.txt', 'report.', 'trailing ', 'Отчёт 2024 (final).docx', '.hidden', 'a;b,c=d+e[f]{g}']) {
    assert.equal(windowsNameProblem(name), undefined, JSON.stringify(name));
  }
});

test('the share of a Windows path: UNC in both spellings; local drives, long-path and device forms are not shares', () => {
  assert.equal(windowsShareOf('\\\\fs01\\kds\\in'), '\\\\fs01\\kds');
  assert.equal(windowsShareOf('\\\\fs01\\kds'), '\\\\fs01\\kds');
  assert.equal(windowsShareOf('//fs01/kds/in'), '\\\\fs01\\kds');
  assert.equal(windowsShareOf('\\\\?\\UNC\\fs01\\kds\\in'), '\\\\fs01\\kds');
  assert.equal(windowsShareOf('\\\\?\\C:\\very\\long\\path'), undefined);
  assert.equal(windowsShareOf('\\\\.\\pipe\\openssh-ssh-agent'), undefined);
  assert.equal(windowsShareOf('C:\\KDS\\in'), undefined);
  assert.equal(windowsShareOf('Z:\\in'), undefined);
  assert.equal(windowsShareOf('/mnt/in'), undefined);
});

test('a mapped drive is a share once resolved (Node\'s native realpath gives its UNC form); nothing is a Windows share elsewhere', async () => {
  const mapped = async (p: string) => p.replace(/^Z:/i, '\\\\fs01\\kds');
  assert.equal(await networkShareOf('Z:\\in', windows, mapped), '\\\\fs01\\kds');
  assert.equal(await networkShareOf('\\\\fs02\\drop\\in', windows, mapped), '\\\\fs02\\drop');
  assert.equal(await networkShareOf('C:\\KDS\\in', windows, async (p) => p), undefined);
  assert.equal(await networkShareOf('Y:\\gone', windows, async () => Promise.reject(Object.assign(new Error('gone'), { code: 'ENOENT' }))), undefined);
  assert.equal(await networkShareOf('\\\\fs01\\kds\\in', linux, mapped), undefined);
});

test('the same folder twice in a configuration: by spelling on Linux, without case (and \\\\?\\ forms) on Windows and macOS', () => {
  assert.equal(samePathName('C:\\KDS\\In', 'c:\\kds\\in', windows), true);
  assert.equal(samePathName('\\\\?\\C:\\KDS\\in', 'C:\\kds\\in\\', windows), true);
  assert.equal(samePathName('\\\\?\\UNC\\fs01\\kds\\in', '\\\\FS01\\kds\\in', windows), true);
  assert.equal(samePathName('C:/kds/in', 'C:\\kds\\in', windows), true);
  assert.equal(samePathName('C:\\kds\\in', 'C:\\kds\\out', windows), false);
  assert.equal(samePathName('/mnt/In', '/mnt/in', linux), false);
  assert.equal(samePathName('/mnt/in', '/mnt/in', linux), true);
  assert.equal(samePathName('/Volumes/KDS/In', '/volumes/kds/in', darwin), true);
});
