/** SshByteSource: the CN's ICAP log over SFTP, and through `sudo -n dd` when the SSH user may not read it. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SshByteSource } from '../../src/ssh/sshByteSource';
import type { SshSession } from '../../src/ssh/sshSession';
import { sshdUnavailable, TestSshd } from '../helpers/sshd';
import { allowPasswordlessSudo, connectToSshd, uidOf } from '../helpers/sshSessionForTests';

const skip = sshdUnavailable();
let sshd: TestSshd;
let session: SshSession;
let dir: string;
let uid: number;
let removeSudo: (() => void) | undefined;

before(async () => {
  if (skip) return;
  sshd = await TestSshd.start();
  session = await connectToSshd(sshd, 'id_bytes');
  dir = mkdtempSync(join(tmpdir(), 'kds-remote-bytes-'));
  chmodSync(dir, 0o755);
  uid = uidOf(sshd.user);
  removeSudo = allowPasswordlessSudo(sshd.user, 'bytes');
});

after(async () => {
  removeSudo?.();
  await session?.close();
  await sshd?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `2024-01-01 00:00:${String(i % 60).padStart(2, '0')} ${tag} line ${i} ✓\n`).join('');

test('readable log: ranges over SFTP; growth, truncation and rotation change the stat', { skip }, async () => {
  const path = join(dir, 'readable.log');
  const text = lines(200, 'a');
  writeFileSync(path, text, { mode: 0o644 });
  const src = new SshByteSource(async () => session, path, { sudo: true });
  const st = await src.stat();
  assert.equal(st.size, Buffer.byteLength(text));
  assert.equal(st.generation, 0);
  assert.deepEqual(await src.read(10, 100), Buffer.from(text).subarray(10, 110));
  assert.equal(src.via, 'sftp');
  assert.equal((await src.read(st.size - 5, 100)).length, 5, 'fewer at end of file');
  appendFileSync(path, 'more\n');
  assert.equal((await src.stat()).size, st.size + 5);
  writeFileSync(path, 'short\n');
  const tr = await src.stat();
  assert.equal(tr.lastChange, 'truncated');
  assert.equal(tr.generation, 1);
  renameSync(path, path + '.1');
  writeFileSync(path, 'new file, rather longer than before\n');
  const rot = await src.stat();
  assert.equal(rot.lastChange, 'rotated');
  assert.equal(rot.generation, 2);
  assert.equal((await src.read(0, 8)).toString(), 'new file');
  await src.close();
});

test('root-only log: stat and dd through sudo -n; without sudo a clear error', { skip }, async () => {
  const sub = join(dir, 'private');
  execFileSync('/bin/mkdir', ['-m', '0700', sub]);
  const path = join(sub, 'preprocessor_icap.log');
  const text = lines(500, 'b');
  writeFileSync(path, text, { mode: 0o600 });
  const src = new SshByteSource(async () => session, path, { sudo: true });
  const st = await src.stat();
  assert.equal(st.size, Buffer.byteLength(text));
  assert.deepEqual(await src.read(1000, 4096), Buffer.from(text).subarray(1000, 5096));
  assert.equal(src.via, 'sudo');
  const plain = new SshByteSource(async () => session, path);
  await assert.rejects(plain.stat(), /cannot be opened/);
  // Readable folder, unreadable file: SFTP is refused, dd takes over.
  const f2 = join(dir, 'unreadable.log');
  writeFileSync(f2, 'secret bytes\n', { mode: 0o600 });
  chownSync(dir, uid, 0);
  const s2 = new SshByteSource(async () => session, f2, { sudo: true });
  await s2.stat();
  assert.equal((await s2.read(0, 6)).toString(), 'secret');
  assert.equal(s2.via, 'sudo');
});
