/**
 * `kds remote setup` of several shares over a private sshd into a prefix folder standing in for /
 * on the CN: a configuration with the top-level folders and share hr is set up (each share's fstab
 * lines, folders and exclude list), then share partners is added with --add-shares without touching
 * the rest, and the installed service, started directly (no systemd here), routes a file of each
 * share into that share's folders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { startEmulator } from '../../src/emulator/server';
import { waitFor } from '../helpers/engineHarness';
import { ensureBuilt, kdsBin, repoRoot } from '../helpers/kdsProcess';
import { TestSshd, sshdUnavailable } from '../helpers/sshd';

const skip = sshdUnavailable();

function runAsync(args: string[], opts: { env: NodeJS.ProcessEnv; input: string; timeoutMs: number }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin!.end(opts.input);
  });
}

test('kds remote setup with several shares, then --add-shares, and the service routes each share\'s files into its own folders', { skip, timeout: 300_000 }, async (t) => {
  ensureBuilt();
  const work = mkdtempSync(join(tmpdir(), 'kds-remote-shares-'));
  const cleanups: Array<() => Promise<unknown> | unknown> = [() => rmSync(work, { recursive: true, force: true })];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const sshd = await TestSshd.start();
  cleanups.push(() => sshd.dispose());
  const emu = await startEmulator({ host: '127.0.0.1', port: 0, dataDir: join(work, 'kata'), autoApprove: true, verdictDelayMs: 50, icapPort: 0 });
  cleanups.push(() => emu.close());
  const uid = Number(execFileSync('id', ['-u', sshd.user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', sshd.user], { encoding: 'utf8' }).trim());
  chmodSync(work, 0o755);
  const prefix = join(work, 'cn');
  execFileSync('mkdir', ['-p', prefix]);
  chownSync(prefix, uid, gid);

  const local = join(work, 'local');
  execFileSync('mkdir', ['-p', local]);
  writeFileSync(join(local, 'kata_ca.pem'), emu.caPem);
  writeFileSync(join(local, 'exclude_list.txt'), '*.skip\n');
  writeFileSync(join(local, 'hr.exclude'), '*.hr-skip\n');
  writeFileSync(join(local, 'exclude_list.partners.txt'), '*.p-skip\n');
  const hr = { name: 'hr', in_dir: '/srv/hr/in/', out_dir: '/srv/hr/out/', qrnt_dir: '/srv/hr/qrnt/', exclude_list: 'hr.exclude' };
  const partners = { name: 'partners', in_dir: '/srv/p/in/', out_dir: '/srv/p/out/', qrnt_dir: '/srv/p/qrnt/', stable_ms: 100 };
  const base = {
    in_dir: '/mnt/in/',
    out_dir: '/mnt/out/',
    qrnt_dir: '/mnt/qrnt/',
    cert_pem: '/opt/kata-dir-scanner/cert.pem',
    cert_key: '/opt/kata-dir-scanner/server.key',
    kata_cn_addr: '127.0.0.1',
    kata_cn_port: emu.port,
    kata_ca: 'kata_ca.pem',
    system_id: '',
    stable_ms: 200,
    poll_interval_s: 1,
  };
  const conf = join(local, 'kata_dir_scanner.conf');
  writeFileSync(conf, JSON.stringify({ ...base, shares: [hr] }));
  const args = (...more: string[]) => [
    kdsBin, 'remote', 'setup',
    '--host', sshd.host, '--port', String(sshd.port), '--user', sshd.user,
    '--password-stdin', '--accept-new-host-key', '--config', conf,
    '--share-host', 'fileserver', '--share-user', 'scanner',
    '--engine', 'js', '--prefix', prefix, '--yes', ...more,
  ];
  const env = { ...process.env, KDS_LOCALE: 'en', XDG_CONFIG_HOME: join(work, 'xdg'), KDS_SHARE_PASSWORD: 'pw', SSH_AUTH_SOCK: '' };

  // 1. The full set-up of two shares: default and hr (its CIFS shares named on the command line).
  const setup = await runAsync(args('--share-cifs', 'hr=HR$,hr-clean,hr-bad'), { env, input: sshd.password + '\n', timeoutMs: 120_000 });
  assert.equal(setup.status, 0, `setup failed:\n${setup.stdout}\n${setup.stderr}`);
  assert.match(setup.stdout, /Shares default, hr: mount points, credentials, fstab, mount -a/);
  const opt = join(prefix, 'opt/kata-dir-scanner');
  const fstab1 = readFileSync(join(prefix, 'etc/fstab'), 'utf8');
  assert.equal(fstab1.trim().split('\n').length, 6, fstab1);
  assert.ok(fstab1.includes(`//fileserver/HR$ ${prefix}/mnt/hr/in cifs credentials=/root/.kata-secret 0 0\n`), fstab1);
  assert.ok(fstab1.includes(`//fileserver/hr-bad ${prefix}/mnt/hr/qrnt cifs`), fstab1);
  for (const f of ['in', 'out', 'qrnt']) assert.ok(statSync(join(prefix, 'mnt/hr', f)).isDirectory());
  assert.equal(readFileSync(join(opt, 'exclude_list.txt'), 'utf8'), '*.skip\n');
  assert.equal(readFileSync(join(opt, 'exclude_list.hr.txt'), 'utf8'), '*.hr-skip\n');
  const cfg1 = JSON.parse(readFileSync(join(opt, 'kata_dir_scanner.conf'), 'utf8')) as { system_id: string; shares: Array<Record<string, string>> };
  assert.deepEqual(cfg1.shares, [{ ...hr, in_dir: `${prefix}/mnt/hr/in/`, out_dir: `${prefix}/mnt/hr/out/`, qrnt_dir: `${prefix}/mnt/hr/qrnt/`, exclude_list: `${opt}/exclude_list.hr.txt` }]);
  assert.match(readFileSync(join(prefix, 'etc/systemd/system/kata-dir-scanner.service'), 'utf8'), /^RequiresMountsFor=.*mnt\/hr\/qrnt/m);
  const systemsAfterSetup = (await emu.systems()).length;
  assert.ok(systemsAfterSetup >= 1, 'integration request from the CN');

  // 2. partners is added to the local file (which also differs elsewhere): only partners reaches the CN.
  writeFileSync(conf, JSON.stringify({ ...base, max_inflight: 2, shares: [hr, partners] }));
  const add = await runAsync(args('--add-shares'), { env, input: sshd.password + '\n', timeoutMs: 120_000 });
  assert.equal(add.status, 0, `--add-shares failed:\n${add.stdout}\n${add.stderr}`);
  assert.match(add.stdout, /Shares to add: partners/);
  assert.match(add.stdout, /KATA needs no new approval/);
  assert.doesNotMatch(add.stdout, /Client certificate|Integration request/);
  const cfg2 = JSON.parse(readFileSync(join(opt, 'kata_dir_scanner.conf'), 'utf8')) as Record<string, unknown> & { shares: Array<Record<string, unknown>> };
  const { shares: s1, ...rest1 } = cfg1;
  const { shares: s2, ...rest2 } = cfg2;
  assert.deepEqual(rest2, rest1, 'every installed key is kept (system_id, no max_inflight from the local file)');
  assert.deepEqual(s2.slice(0, 1), s1);
  assert.deepEqual(s2[1], { ...partners, in_dir: `${prefix}/mnt/partners/in/`, out_dir: `${prefix}/mnt/partners/out/`, qrnt_dir: `${prefix}/mnt/partners/qrnt/`, exclude_list: `${opt}/exclude_list.partners.txt` });
  assert.ok(readdirSync(opt).some((n) => n.startsWith('kata_dir_scanner.conf.kds-backup-')), 'the previous configuration is kept as a backup');
  assert.equal(readFileSync(join(opt, 'exclude_list.partners.txt'), 'utf8'), '*.p-skip\n');
  assert.equal(readFileSync(join(opt, 'exclude_list.hr.txt'), 'utf8'), '*.hr-skip\n');
  const fstab2 = readFileSync(join(prefix, 'etc/fstab'), 'utf8');
  assert.ok(fstab2.startsWith(fstab1), 'the installed fstab lines are left as they are');
  assert.ok(fstab2.includes(`//fileserver/partners-in ${prefix}/mnt/partners/in cifs credentials=/root/.kata-secret.partners 0 0\n`), fstab2);
  assert.equal(readFileSync(join(prefix, 'root/.kata-secret'), 'utf8'), 'username=scanner\npassword=pw\n');
  assert.equal(statSync(join(prefix, 'root/.kata-secret.partners')).mode & 0o777, 0o600);
  assert.match(readFileSync(join(prefix, 'etc/systemd/system/kata-dir-scanner.service'), 'utf8'), /^RequiresMountsFor=.*mnt\/partners\/qrnt/m);
  assert.equal((await emu.systems()).length, systemsAfterSetup, 'no second integration request');

  // Nothing left to add: refused before anything changes.
  const again = await runAsync(args('--add-shares'), { env, input: sshd.password + '\n', timeoutMs: 120_000 });
  assert.equal(again.status, 2, again.stdout + again.stderr);
  assert.match(again.stderr, /already has every share of this configuration \(default, hr, partners\)/);

  // 3. The installed service serves the three shares under one identity: each file to its own share.
  const service: ChildProcess = spawn(process.execPath, [join(opt, 'app/bin/kds.js'), 'run', '--config', join(opt, 'kata_dir_scanner.conf')], {
    uid,
    gid,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KDS_LOCALE: 'en' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let serviceErr = '';
  service.stderr!.on('data', (d: Buffer) => (serviceErr += d.toString()));
  cleanups.push(async () => {
    if (service.exitCode === null && service.signalCode === null) {
      const gone = new Promise((r) => service.once('exit', r));
      service.kill('SIGTERM');
      await gone;
    }
  });
  const drop = (share: string, name: string, body: string) => {
    const p = join(prefix, share === 'default' ? 'mnt/in' : `mnt/${share}/in`, name);
    writeFileSync(p, body);
    chownSync(p, uid, gid);
  };
  drop('default', 'same.txt', 'default\n');
  drop('hr', 'same.txt', 'hr\n');
  drop('partners', 'eicar.com', EICAR);
  drop('partners', 'kept.p-skip', 'excluded in partners\n');
  const at = (rel: string) => join(prefix, rel);
  await waitFor('each share\'s files routed', () => existsSync(at('mnt/out/same.txt')) && existsSync(at('mnt/hr/out/same.txt')) && existsSync(at('mnt/partners/qrnt/eicar.com')), 90_000);
  assert.equal(readFileSync(at('mnt/out/same.txt'), 'utf8'), 'default\n');
  assert.equal(readFileSync(at('mnt/hr/out/same.txt'), 'utf8'), 'hr\n');
  // A delivered file's set-aside source is unlinked just after its copy is in place: wait for it to go.
  await waitFor('the routed files gone from input', () => readdirSync(at('mnt/partners/in')).length === 1, 30_000).catch(() => undefined);
  assert.deepEqual(readdirSync(at('mnt/partners/in')), ['kept.p-skip'], 'excluded by the share\'s own list');
  assert.deepEqual(readdirSync(at('mnt/qrnt')), []);
  assert.deepEqual(readdirSync(at('mnt/hr/qrnt')), []);
  assert.equal(service.exitCode, null, `the service is still running:\n${serviceErr}`);
});
