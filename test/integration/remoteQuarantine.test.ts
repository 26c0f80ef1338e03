/**
 * `kds quarantine release|delete` (src/cli/quarantineCommand.ts): locally, and on "the CN" over
 * a real sshd through remoteQuarantine (argv over SSH, as the extension does it).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { findEngine, remoteQuarantine, type CnContext } from '../../src/centralNode/cnOps';
import { sftpPerSession } from '../../src/centralNode/sftpFolderLister';
import type { SshSession } from '../../src/ssh/sshSession';
import { sshdUnavailable, TestSshd } from '../helpers/sshd';
import { connectToSshd, uidOf } from '../helpers/sshSessionForTests';

const repo = resolve(__dirname, '../..');
const kds = join(repo, 'bin/kds.js');
const skip = sshdUnavailable();
let sshd: TestSshd;
let session: SshSession;
let dir: string;

function setupCn(root: string): string {
  for (const d of ['in', 'out', 'qrnt', 'state']) mkdirSync(join(root, d), { recursive: true });
  const conf = join(root, 'kata_dir_scanner.conf');
  writeFileSync(
    conf,
    JSON.stringify({ in_dir: 'in', out_dir: 'out', qrnt_dir: 'qrnt', cert_pem: 'cert.pem', cert_key: 'server.key', kata_cn_addr: '127.0.0.1', kata_cn_port: 8443, system_id: '11111111-2222-3333-4444-555555555555', state_dir: 'state', log_file: 'kds.log' }, null, 2),
  );
  return conf;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kds-remote-qrnt-'));
  chmodSync(dir, 0o755);
  if (skip) return;
  sshd = await TestSshd.start();
  session = await connectToSshd(sshd, 'id_qrnt');
});

after(async () => {
  await session?.close();
  await sshd?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('kds quarantine locally: release moves to out_dir, delete removes, both audited; bad names refused', () => {
  const root = join(dir, 'local');
  const conf = setupCn(root);
  writeFileSync(join(root, 'qrnt', 'a.exe'), 'AAAA');
  writeFileSync(join(root, 'qrnt', 'b.exe'), 'BBBB');
  const run = (...args: string[]) => spawnSync(process.execPath, [kds, 'quarantine', ...args], { encoding: 'utf8', env: { ...process.env, KDS_LOCALE: 'en' } });
  const rel = run('release', '--config', conf, 'a.exe', '--user', 'alice', '--reason', 'false positive', '--json');
  assert.equal(rel.status, 0, rel.stderr);
  const out = JSON.parse(rel.stdout) as { ok: boolean; path: string; sha256: string };
  assert.equal(out.ok, true);
  assert.equal(readFileSync(join(root, 'out', 'a.exe'), 'utf8'), 'AAAA');
  assert.ok(!existsSync(join(root, 'qrnt', 'a.exe')));
  const del = run('delete', '--config', conf, 'b.exe', '--user', 'bob');
  assert.equal(del.status, 0, del.stderr);
  assert.match(del.stdout, /deleted from quarantine/);
  assert.ok(!existsSync(join(root, 'qrnt', 'b.exe')));
  const audit = readFileSync(join(root, 'state', 'quarantine-audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  assert.deepEqual(audit.map((a) => [a.action, a.user, a.file, a.reason]), [['release', 'alice', 'a.exe', 'false positive'], ['delete', 'bob', 'b.exe', undefined]]);
  assert.equal(run('delete', '--config', conf, '../kata_dir_scanner.conf').status, 1);
  assert.ok(existsSync(conf));
  assert.equal(run('delete', '--config', conf, 'missing.exe').status, 1);
  assert.equal(run('explode', '--config', conf, 'x').status, 2);
  assert.equal(run('release', 'x').status, 2);
});

test('over SSH: the extension releases and deletes on the CN with an argv (names with quotes and $() stay data)', { skip }, async () => {
  const root = join(dir, 'cn');
  const conf = setupCn(root);
  const nasty = `it's $(touch kds-pwned-q) "x".exe`;
  writeFileSync(join(root, 'qrnt', nasty), 'EICAR-ish');
  writeFileSync(join(root, 'qrnt', 'del.exe'), 'gone');
  const uid = uidOf(sshd.user);
  execFileSync('/bin/chown', ['-R', `${uid}:0`, root]);
  const c: CnContext = { shell: async () => session, files: sftpPerSession(async () => session) };
  await assert.rejects(findEngine(c, conf), /not installed/);
  const engine = await findEngine(c, conf, [process.execPath, kds], { runsAsRoot: false });
  const done = await remoteQuarantine(c, engine, conf, { action: 'release', name: nasty, user: 'admin (VS Code)', reason: 'ok', asRoot: false });
  assert.equal(done.path, join(root, 'out', nasty));
  assert.ok(existsSync(join(root, 'out', nasty)));
  assert.ok(!existsSync(`/home/${sshd.user}/kds-pwned-q`));
  const d = await remoteQuarantine(c, engine, conf, { action: 'delete', name: 'del.exe', user: 'admin (VS Code)', asRoot: false });
  assert.match(d.sha256, /^[0-9a-f]{64}$/);
  assert.ok(!existsSync(join(root, 'qrnt', 'del.exe')));
  await assert.rejects(remoteQuarantine(c, engine, conf, { action: 'delete', name: 'del.exe', user: 'x', asRoot: false }), /no longer in quarantine/);
  const audit = readFileSync(join(root, 'state', 'quarantine-audit.jsonl'), 'utf8');
  assert.match(audit, /admin \(VS Code\)/);
});

test('over SSH: a --reason and a user that start with "-" reach the audit as they are (passed as --reason=VALUE)', { skip }, async () => {
  const root = join(dir, 'cn-dash');
  const conf = setupCn(root);
  writeFileSync(join(root, 'qrnt', 'dash.exe'), 'x');
  writeFileSync(join(root, 'qrnt', 'dash2.exe'), 'y');
  execFileSync('/bin/chown', ['-R', `${uidOf(sshd.user)}:0`, root]);
  const c: CnContext = { shell: async () => session, files: sftpPerSession(async () => session) };
  const engine = await findEngine(c, conf, [process.execPath, kds], { runsAsRoot: false });
  await remoteQuarantine(c, engine, conf, { action: 'release', name: 'dash.exe', user: '-admin', reason: '-- false positive, see ticket -42', asRoot: false });
  await remoteQuarantine(c, engine, conf, { action: 'delete', name: 'dash2.exe', user: 'admin', reason: '-x', asRoot: false });
  const audit = readFileSync(join(root, 'state', 'quarantine-audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  assert.deepEqual(audit.map((a) => [a.action, a.user, a.reason]), [['release', '-admin', '-- false positive, see ticket -42'], ['delete', 'admin', '-x']]);
});
