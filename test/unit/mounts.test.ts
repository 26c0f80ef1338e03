import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MountPointGuard, decodeMountField, findMount, isMountPoint, isMountedNow, isNetworkFs, mountOf, parseMounts, shouldPoll } from '../../src/engine/mounts';

// A Central Node with the three CIFS shares of the original set-up, one share with a space in
// its name, an NFS mount and an sshfs mount.
const FIXTURE = [
  'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0',
  'proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0',
  '/dev/sda1 / ext4 rw,relatime,errors=remount-ro 0 0',
  'tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=812580k,mode=755 0 0',
  '/dev/sda2 /mnt ext4 rw,relatime 0 0',
  '//fileserver/in /mnt/in cifs rw,relatime,vers=3.1.1,cache=strict,username=kata,uid=0,noforceuid 0 0',
  '//fileserver/out /mnt/out cifs rw,relatime,vers=3.1.1 0 0',
  '//fileserver/qrnt /mnt/qrnt cifs rw,relatime,vers=3.1.1 0 0',
  '//fileserver/Public\\040Share /mnt/public\\040share cifs rw,relatime 0 0',
  'nas:/export/scan /srv/nfs\\011tab nfs4 rw,relatime,vers=4.2 0 0',
  'user@host:/data /srv/ssh fuse.sshfs rw,nosuid,nodev,relatime,user_id=0 0 0',
  '/dev/sdb1 /mnt/in ext4 rw 0 0',
  'garbage',
  '',
].join('\n');

test('parseMounts reads fields and decodes octal escapes', () => {
  const mounts = parseMounts(FIXTURE);
  assert.equal(mounts.length, 12);
  assert.deepEqual(mounts[5], {
    device: '//fileserver/in',
    mountPoint: '/mnt/in',
    fsType: 'cifs',
    options: ['rw', 'relatime', 'vers=3.1.1', 'cache=strict', 'username=kata', 'uid=0', 'noforceuid'],
  });
  assert.equal(mounts[8]!.device, '//fileserver/Public Share');
  assert.equal(mounts[8]!.mountPoint, '/mnt/public share');
  assert.equal(mounts[9]!.mountPoint, '/srv/nfs\ttab');
  assert.equal(decodeMountField('a\\134b\\012c'), 'a\\b\nc');
});

test('findMount picks the longest mount point by whole path segments; a later mount hides an earlier one', () => {
  const mounts = parseMounts(FIXTURE);
  assert.equal(findMount('/mnt/out', mounts)!.fsType, 'cifs');
  assert.equal(findMount('/mnt/out/', mounts)!.mountPoint, '/mnt/out');
  assert.equal(findMount('/mnt/qrnt/sub/file', mounts)!.device, '//fileserver/qrnt');
  assert.equal(findMount('/mnt/outside', mounts)!.mountPoint, '/mnt', 'not a prefix match on /mnt/out');
  assert.equal(findMount('/mnt/public share/x', mounts)!.fsType, 'cifs');
  assert.equal(findMount('/etc/passwd', mounts)!.mountPoint, '/');
  assert.equal(findMount('/mnt/in', mounts)!.fsType, 'ext4', 'the ext4 mounted over /mnt/in later wins');
  assert.equal(findMount('/x', []), undefined);
});

test('isMountPoint tells a mount point from a folder below one', () => {
  const mounts = parseMounts(FIXTURE);
  assert.equal(isMountPoint('/mnt/in', mounts), true);
  assert.equal(isMountPoint('/mnt/in/', mounts), true);
  assert.equal(isMountPoint('/mnt/in/sub', mounts), false);
  assert.equal(isMountPoint('/', mounts), true);
});

test('isNetworkFs knows SMB, NFS and the other shared file systems', () => {
  for (const type of ['cifs', 'smb3', 'smbfs', 'nfs', 'nfs4', 'NFS4', 'ceph', 'glusterfs', '9p', 'afs', 'fuse.sshfs', 'davfs', 'fuse.davfs2', 'virtiofs', 'vboxsf', 'lustre', 'fuse.rclone']) {
    assert.equal(isNetworkFs(type), true, type);
  }
  for (const type of ['ext4', 'xfs', 'btrfs', 'tmpfs', 'overlay', 'zfs', 'vfat', 'fuse', 'fuseblk', 'proc']) {
    assert.equal(isNetworkFs(type), false, type);
  }
});

test('shouldPoll resolves use_polling: "auto" polls exactly on network file systems', () => {
  const mounts = parseMounts(FIXTURE);
  assert.equal(shouldPoll('auto', findMount('/mnt/out', mounts)), true);
  assert.equal(shouldPoll('auto', findMount('/srv/ssh/x', mounts)), true);
  assert.equal(shouldPoll('auto', findMount('/var/in', mounts)), false);
  assert.equal(shouldPoll('auto', undefined), false);
  assert.equal(shouldPoll(true, findMount('/var/in', mounts)), true);
  assert.equal(shouldPoll(false, findMount('/mnt/out', mounts)), false);
});

test('mountOf and isMountedNow read a mount table file and follow the real path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kds-mounts-'));
  try {
    const table = join(dir, 'mounts');
    await writeFile(table, `/dev/sda1 / ext4 rw 0 0\n//srv/in ${dir.replace(/ /g, '\\040')} cifs rw 0 0\n`);
    assert.equal((await mountOf(join(dir, 'mounts'), table))!.fsType, 'cifs');
    assert.equal(await isMountedNow(dir, table), true);
    assert.equal(await isMountedNow(join(dir, 'missing'), table), false);
    assert.equal(await mountOf(dir, join(dir, 'no-such-table')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('MountPointGuard notices that a share is no longer mounted at its folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kds-mounts-'));
  try {
    const table = join(dir, 'mounts');
    const share = join(dir, 'in');
    await mkdir(share);
    await writeFile(table, `/dev/sda1 / ext4 rw 0 0\n//srv/in ${share} cifs rw 0 0\n`);
    const guard = await MountPointGuard.capture(share, table);
    assert.equal(guard.wasMountPoint, true);
    assert.equal(guard.mount!.fsType, 'cifs');
    assert.equal(await guard.stillMounted(), true);
    // Unmounted: the table no longer lists it and the folder is on its parent's device.
    await writeFile(table, '/dev/sda1 / ext4 rw 0 0\n');
    assert.equal(await guard.stillMounted(), false);

    const plain = await MountPointGuard.capture(join(dir), join(dir, 'empty-table'));
    assert.equal(plain.wasMountPoint, false);
    assert.equal(await plain.stillMounted(), true, 'a plain folder cannot be unmounted');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
