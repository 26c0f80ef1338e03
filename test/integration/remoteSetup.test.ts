/**
 * `kds remote setup` over a private sshd into a prefix folder standing in for / on the CN, then
 * the installed service started directly (no systemd here) against the embedded KATA, files
 * dropped into the remote input folder over SFTP, and the service's events followed over SSH
 * across a forced disconnect: nothing lost, nothing repeated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { startEmulator } from '../../src/emulator/server';
import type { EventStreamRecord } from '../../src/engine/eventStream';
import { EventFollower, type EventFileReader } from '../../src/centralNode/eventFollower';
import { ReconnectingSession } from '../../src/ssh/reconnectingSession';
import { sftpEventFileReader } from '../../src/centralNode/sftpEventReader';
import { waitFor } from '../helpers/engineHarness';
import { ensureBuilt, kdsBin, repoRoot } from '../helpers/kdsProcess';
import { TestSshd, sshdUnavailable } from '../helpers/sshd';

const skip = sshdUnavailable();

/** Runs a command to completion without blocking this process (the embedded KATA runs in it). */
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

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

test('kds remote setup --prefix, the remote service routes files, events followed across a disconnect', { skip, timeout: 240_000 }, async (t) => {
  ensureBuilt();
  const work = mkdtempSync(join(tmpdir(), 'kds-remote-'));
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
  // The folder standing in for / on the CN belongs to the SSH user, like / would to root.
  const prefix = join(work, 'cn root');
  execFileSync('mkdir', ['-p', prefix]);
  chownSync(prefix, uid, gid);

  // The administrator's local configuration: the original keys, KATA = the embedded one.
  const local = join(work, 'local');
  execFileSync('mkdir', ['-p', local]);
  writeFileSync(join(local, 'kata_ca.pem'), emu.caPem);
  writeFileSync(join(local, 'exclude_list.txt'), '*.skip\n');
  writeFileSync(
    join(local, 'kata_dir_scanner.conf'),
    JSON.stringify({
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
    }),
  );
  const sharePassword = `q'u"o$(touch /tmp/kds-pwned)\`id\`\\ ;|&`;
  const setupArgs = [
    kdsBin, 'remote', 'setup',
    '--host', sshd.host, '--port', String(sshd.port), '--user', sshd.user,
    '--password-stdin', '--accept-new-host-key',
    '--config', join(local, 'kata_dir_scanner.conf'),
    '--share-host', 'fileserver', '--share-user', 'scanner',
    '--engine', 'js', '--prefix', prefix, '--yes',
  ];
  const env = { ...process.env, KDS_LOCALE: 'en', XDG_CONFIG_HOME: join(work, 'xdg'), KDS_SHARE_PASSWORD: sharePassword, SSH_AUTH_SOCK: '' };
  const started = Date.now();
  const setup = await runAsync(setupArgs, { env, input: sshd.password + '\n', timeoutMs: 120_000 });
  t.diagnostic(`setup took ${Date.now() - started} ms`);
  assert.equal(setup.status, 0, `setup failed:\n${setup.stdout}\n${setup.stderr}`);
  assert.match(setup.stdout, /skipped \(--prefix\): mount -a/);
  assert.match(setup.stdout, /skipped \(--prefix\): systemctl daemon-reload/);
  assert.ok(!setup.stdout.includes('touch /tmp/kds-pwned'), 'the share password is never shown');
  assert.ok(!existsSync('/tmp/kds-pwned'));

  const opt = join(prefix, 'opt/kata-dir-scanner');
  for (const f of ['server.key', 'server.crt', 'cert.pem', 'kata_dir_scanner.conf']) assert.equal(modeOf(join(opt, f)), 0o600, f);
  assert.equal(modeOf(join(prefix, 'root/.kata-secret')), 0o600);
  assert.equal(readFileSync(join(prefix, 'root/.kata-secret'), 'utf8'), `username=scanner\npassword=${sharePassword}\n`);
  assert.equal(modeOf(join(opt, 'app/bin/kds.js')), 0o755);
  // `kds run` loads its own bundle (bin/kds.js): it is installed beside the whole CLI's.
  for (const f of ['app/dist/kds.js', 'app/dist/kds-run.js']) assert.equal(modeOf(join(opt, f)), 0o644, f);
  assert.equal(readFileSync(join(opt, 'exclude_list.txt'), 'utf8'), '*.skip\n');
  assert.equal(statSync(join(opt, 'cert.pem')).uid, uid);
  const fstab = readFileSync(join(prefix, 'etc/fstab'), 'utf8');
  assert.match(fstab, /^\/\/fileserver\/in .*\/cn\\040root\/mnt\/in cifs credentials=\/root\/\.kata-secret 0 0$/m);
  const cnConfig = JSON.parse(readFileSync(join(opt, 'kata_dir_scanner.conf'), 'utf8')) as Record<string, string>;
  assert.equal(cnConfig.in_dir, `${prefix}/mnt/in/`);
  assert.equal(cnConfig.kata_ca, `${opt}/kata_ca.pem`);
  assert.match(cnConfig.system_id!, /^[0-9a-f-]{36}$/);
  const unitPath = join(prefix, 'etc/systemd/system/kata-dir-scanner.service');
  const unit = readFileSync(unitPath, 'utf8');
  assert.match(unit, /^ExecStart=.*app\/bin\/kds\.js" run --config ".*kata_dir_scanner\.conf"$/m);
  // The enrolment ran from the "CN" and the embedded KATA saw it.
  assert.ok((await emu.systems()).some((s) => s.sensorId === cnConfig.system_id), 'integration request from the CN');

  // systemd-analyze verify where it exists and works without a running systemd.
  const analyze = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
  if (analyze.error) t.diagnostic(`systemd-analyze is not available here (${analyze.error.message}); the unit was not verified by systemd`);
  else {
    t.diagnostic(`systemd-analyze verify: exit ${analyze.status}\n${analyze.stderr}`);
    // Without systemd as PID 1 verify may fail to load the manager; only unit syntax errors count here.
    assert.doesNotMatch(analyze.stderr, /Unknown (key|section)|Invalid|Failed to parse/i);
  }

  // Running the set-up again changes nothing it does not need to.
  const again = await runAsync(setupArgs, { env, input: sshd.password + '\n', timeoutMs: 120_000 });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /already has a client certificate/);
  assert.match(again.stdout, /same engine is already installed/);
  assert.match(again.stdout, /fstab already has the three lines/);

  // kds remote icap-probe runs the probe ON the CN with the installed engine: same output, same exit code.
  const connArgs = ['--host', sshd.host, '--port', String(sshd.port), '--user', sshd.user, '--password-stdin', '--prefix', prefix];
  const probe = await runAsync([kdsBin, 'remote', 'icap-probe', ...connArgs, `${emu.icap!.respmodUrl}`, '--eicar'], { env, input: sshd.password + '\n', timeoutMs: 120_000 });
  assert.equal(probe.status, 0, `${probe.stdout}\n${probe.stderr}`);
  assert.match(probe.stdout, /Conclusion: icap:\/\/127\.0\.0\.1:\d+\/respmod: detects EICAR and blocks it \(HTTP 403\)/);
  const refused = await runAsync([kdsBin, 'remote', 'icap-probe', ...connArgs, 'icap://127.0.0.1:1/respmod', '--timeout', '5'], { env, input: sshd.password + '\n', timeoutMs: 120_000 });
  assert.equal(refused.status, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /unreachable: connection refused/);

  // The service, started directly as the SSH user (there is no systemd here).
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
  const stateDir = cnConfig.state_dir!;
  await waitFor('the event stream', () => existsSync(join(stateDir, 'events.jsonl')), 30_000);

  // Follow the events over SSH, through a session that reconnects.
  const session = new ReconnectingSession(
    { host: sshd.host, port: sshd.port, user: sshd.user },
    { password: async () => sshd.password },
    { knownHostsFiles: [], trustStorePath: join(work, 'xdg', 'kds', 'ssh-host-keys.json'), onUnknown: async () => false },
    { maxAttempts: Infinity, initialDelayMs: 100, maxDelayMs: 1000, keepaliveIntervalMs: 1000 },
  );
  cleanups.push(() => session.close());
  const states: string[] = [];
  session.onState((e) => states.push(e.state));
  const reader: EventFileReader = sftpEventFileReader(() => session.whenConnected());
  const records: EventStreamRecord[] = [];
  const errors: string[] = [];
  const follower = new EventFollower(reader, stateDir, { start: 'oldest', pollMs: 200, onRecord: (r) => records.push(r), onError: (e) => errors.push(e.message) });
  follower.start();
  cleanups.push(() => follower.stop());

  // Over SFTP, like an administrator's upload; retried while the connection is being re-made.
  const drop = async (name: string, content: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const sftp = await (await session.whenConnected()).sftp();
        await sftp.writeFileAtomic(`${prefix}/mnt/in/${name}`, content, 0o644);
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  const routedNames = () => records.flatMap((r) => (r.kind === 'event' && r.event.type === 'routed' ? [r.event.file.name] : []));

  await drop('clean-1.txt', 'hello\n');
  await drop('eicar-1.com', EICAR);
  await waitFor('first files routed (events over SSH)', () => routedNames().length >= 2, 60_000);

  // A forced disconnect: the sshd processes serving our connection are killed.
  const dropped = sshd.dropConnections();
  t.diagnostic(`dropped ${dropped} SSH connection process(es)`);
  // Written while the follower is cut off: still delivered after the reconnect.
  writeFileSync(join(prefix, 'mnt/in/clean-2.txt'), 'written during the outage\n');
  chownSync(join(prefix, 'mnt/in/clean-2.txt'), uid, gid);
  await drop('clean-3.txt', 'after the reconnect\n');
  await drop('eicar-2.com', EICAR);
  await waitFor('all files routed and followed', () => routedNames().length >= 5, 90_000);

  assert.deepEqual(readdirSync(join(prefix, 'mnt/out')).sort(), ['clean-1.txt', 'clean-2.txt', 'clean-3.txt']);
  assert.deepEqual(readdirSync(join(prefix, 'mnt/qrnt')).sort(), ['eicar-1.com', 'eicar-2.com']);
  assert.deepEqual(readdirSync(join(prefix, 'mnt/in')), []);

  // Nothing lost or repeated: what the follower got is exactly the file, line by line.
  await follower.poll();
  const onDisk = readFileSync(join(stateDir, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => (JSON.parse(l) as EventStreamRecord).seq);
  const got = records.map((r) => r.seq);
  assert.deepEqual(got, onDisk.slice(0, got.length));
  for (let i = 1; i < got.length; i++) assert.equal(got[i], got[i - 1]! + 1);
  assert.deepEqual([...new Set(routedNames())].length, routedNames().length);
  t.diagnostic(`followed ${records.length} records; poll errors during the outage: ${errors.length}`);
  assert.ok(dropped > 0, 'a connection was really dropped');
  assert.ok(states.includes('reconnecting'), `the follower's session was dropped and re-made (${states.join(', ')})`);
  assert.equal(service.exitCode, null, `the service is still running:\n${serviceErr}`);

  // The day-to-day sub-commands against the same "CN".
  const conn = ['--host', sshd.host, '--port', String(sshd.port), '--user', sshd.user, '--password-stdin', '--prefix', prefix];
  const status = await runAsync([kdsBin, 'remote', 'status', ...conn], { env, input: sshd.password + '\n', timeoutMs: 60_000 });
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /--prefix: systemctl status skipped/);
  assert.match(status.stdout, /"recent"/);
  const logs = await runAsync([kdsBin, 'remote', 'logs', ...conn, '--no-follow', '--lines', '500'], { env, input: sshd.password + '\n', timeoutMs: 60_000 });
  assert.equal(logs.status, 0, logs.stderr);
  assert.match(logs.stdout, /routed/);
});
