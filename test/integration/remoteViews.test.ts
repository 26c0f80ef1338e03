/**
 * The Quarantine/Output views over SFTP (SftpFolderLister in DestinationFolderModel) and the CN
 * file edits (read/write with and without sudo), against a real sshd on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { readRemoteText, writeRemoteText, type CnContext } from '../../src/centralNode/cnOps';
import { SftpFolderLister, sftpPerSession } from '../../src/centralNode/sftpFolderLister';
import type { SshSession } from '../../src/ssh/sshSession';
import { DestinationFolderModel } from '../../src/viewModel/destinationFolderModel';
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
  session = await connectToSshd(sshd, 'id_views');
  dir = mkdtempSync(join(tmpdir(), 'kds-remote-views-'));
  uid = uidOf(sshd.user);
  chownSync(dir, uid, 0);
  removeSudo = allowPasswordlessSudo(sshd.user, 'views');
});

after(async () => {
  removeSudo?.();
  await session?.close();
  await sshd?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('SftpFolderLister: regular files only count as files; sizes and times come with the listing', { skip }, async () => {
  const q = join(dir, 'qrnt');
  mkdirSync(q);
  writeFileSync(join(q, 'eicar.com'), 'X'.repeat(68));
  writeFileSync(join(q, 'b.bin'), Buffer.alloc(1234));
  mkdirSync(join(q, 'sub'));
  symlinkSync('/etc/passwd', join(q, 'link'));
  const lister = new SftpFolderLister(sftpPerSession(async () => session));
  const list = await lister.list(q);
  const byName = new Map(list.map((e) => [e.name, e]));
  assert.equal(byName.get('eicar.com')?.size, 68);
  assert.equal(byName.get('eicar.com')?.isFile, true);
  assert.equal(byName.get('sub')?.isFile, false);
  assert.equal(byName.get('link')?.isFile, false, 'a symlink is not followed');
  assert.ok(Math.abs(byName.get('b.bin')!.mtimeMs - statSync(join(q, 'b.bin')).mtimeMs) < 1500);
  assert.equal(lister.join('/mnt/qrnt', 'x y'), '/mnt/qrnt/x y');
  await assert.rejects(lister.list(join(dir, 'missing')));
});

test('DestinationFolderModel lists the CN quarantine through SFTP and takes verdicts from routed events', { skip }, async () => {
  const q = join(dir, 'qrnt2');
  mkdirSync(q);
  chownSync(q, uid, 0);
  writeFileSync(join(q, 'eicar.com'), 'X'.repeat(68));
  writeFileSync(join(q, '.kds-partial-x'), 'partial');
  const listeners = new Set<(e: never) => void>();
  const source = { onEvent: (l: (e: never) => void) => (listeners.add(l), () => listeners.delete(l)), snapshot: () => ({ running: true, approval: 'approved' as const, files: [] }) };
  const model = new DestinationFolderModel({ folder: 'qrnt', dir: q, lister: new SftpFolderLister(sftpPerSession(async () => session)), source, debounceMs: 10, coalesceMs: 0 });
  await model.refresh();
  assert.deepEqual(model.items().map((i) => i.name), ['eicar.com']);
  assert.equal(model.items()[0]!.path, join(q, 'eicar.com'));
  for (const l of listeners) l({ type: 'routed', file: { name: 'eicar.com', size: 68, sha256: 'a'.repeat(64), scanId: 's', verdict: 'detect', rawState: 'detect', destination: 'qrnt', path: join(q, 'eicar.com'), submittedAt: 1, routedAt: Date.now() } } as never);
  writeFileSync(join(q, 'second.exe'), 'MZ');
  await new Promise((r) => setTimeout(r, 100));
  await model.refresh();
  const items = model.items();
  assert.deepEqual(items.map((i) => i.name).sort(), ['eicar.com', 'second.exe']);
  assert.equal(items.find((i) => i.name === 'eicar.com')!.verdict, 'detect');
  model.dispose();
});

test('CN files: read and written atomically over SFTP; root-only files through sudo', { skip }, async () => {
  const c: CnContext = { shell: async () => session, files: sftpPerSession(async () => session), sudo: true };
  const mine = join(dir, 'exclude_list.txt');
  writeFileSync(mine, '# comment\n*.tmp\n');
  chownSync(mine, uid, 0);
  assert.equal(await readRemoteText(c, mine), '# comment\n*.tmp\n');
  await writeRemoteText(c, mine, '# comment\n*.tmp\n*.log\n');
  assert.equal(readFileSync(mine, 'utf8'), '# comment\n*.tmp\n*.log\n');

  // Root writes only where every folder up to / is root's alone (dir belongs to the SSH user).
  const rootDir = mkdtempSync(join(tmpdir(), 'kds-remote-views-opt-'));
  chmodSync(rootDir, 0o700);
  after(() => rmSync(rootDir, { recursive: true, force: true }));
  const conf = join(rootDir, 'kata_dir_scanner.conf');
  writeFileSync(conf, '{"a": 1}\n', { mode: 0o600 });
  assert.equal(await readRemoteText(c, conf), '{"a": 1}\n');
  await writeRemoteText(c, conf, '{"a": 2, "q": "it\'s $(x)"}\n');
  assert.equal(readFileSync(conf, 'utf8'), '{"a": 2, "q": "it\'s $(x)"}\n');
  const st = statSync(conf);
  assert.equal(st.uid, 0, 'still owned by root');
  assert.equal(st.mode & 0o777, 0o600, 'mode kept');
  await assert.rejects(readRemoteText({ ...c, sudo: undefined }, conf));
});

test('CN files through sudo: never written as root in a folder another user can write (a planted link is not followed)', { skip }, async () => {
  const c: CnContext = { shell: async () => session, files: sftpPerSession(async () => session), sudo: true };
  // A folder a share user ("nobody") owns, with a file the SSH user cannot write: the sudo path.
  const shared = mkdtempSync(join(tmpdir(), 'kds-remote-views-shared-'));
  after(() => rmSync(shared, { recursive: true, force: true }));
  const victim = join(shared, 'victim');
  writeFileSync(victim, 'root-only secret\n', { mode: 0o600 });
  const target = join(shared, 'owned-by-nobody', 'exclude_list.txt');
  mkdirSync(dirname(target), { mode: 0o755 });
  writeFileSync(target, 'old\n', { mode: 0o644 });
  // Links at every name a root shell could pick for its temporary file ($1.kds-new.$$ for the next pids).
  const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  for (let p = last; p < last + 2000; p++) symlinkSync(victim, `${target}.kds-new.${p}`);
  chownSync(dirname(target), 65534, 65534);
  await assert.rejects(writeRemoteText(c, target, 'new\n'), (e: Error) => {
    assert.match(e.message, /Refused to write .* as root: the folder .*owned-by-nobody \(65534 drwxr-xr-x\) is not root's alone/);
    return true;
  });
  assert.equal(readFileSync(victim, 'utf8'), 'root-only secret\n', 'the file behind the planted links is untouched');
  assert.equal(readFileSync(target, 'utf8'), 'old\n');
});
