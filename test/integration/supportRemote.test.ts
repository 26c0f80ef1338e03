/**
 * KATA's own logs and the support bundle against a real OpenSSH sshd on 127.0.0.1, with stand-in
 * kata-collect / kata-collect-siem-logs scripts on the SSH user's PATH (test/helpers/kataStandIns.ts)
 * and sudo asking for the password: kds kata-logs, kds collect (verified, removal only when
 * confirmed, resumed after a dropped connection), kds support-bundle with secrets planted in
 * every source, and the "tool missing" answer.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { collect } from '../../src/support/collectFlow';
import { SshHostAccess } from '../../src/support/hostAccess';
import { DownloadInterrupted } from '../../src/support/resumableDownload';
import { SshSession } from '../../src/ssh/sshSession';
import { writeStandIns, type StandIns } from '../helpers/kataStandIns';
import { ensureBuilt, kdsBin, repoRoot } from '../helpers/kdsProcess';
import { ensureTestUser, keygen, sshdUnavailable, TestSshd } from '../helpers/sshd';
import { sshdClient, type SshdClient, uidOf } from '../helpers/sshSessionForTests';

const skip = sshdUnavailable();
let dir: string;
let sshd: TestSshd;
let client: SshdClient;
let stand: StandIns;
let sudoersFile: string;
const configPassword = `CfgPassw0rd-${randomBytes(6).toString('hex')}`;
let privateKey: string;
let plant: string;

function run(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [kdsBin, ...args], { cwd: opts.cwd ?? repoRoot, env: { ...process.env, KDS_LOCALE: 'en', SSH_AUTH_SOCK: '', ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin!.end(opts.input ?? '');
  });
}

const conn = () => ['--host', '127.0.0.1', '--port', String(sshd.port), '--user', sshd.user, '--identity', client.keyPath, '--known-hosts', client.knownHostsPath, '--password-stdin'];

/** /tmp/kds-<label>.* folders (mktemp -d -t) the SSH user left behind. */
function leftTemps(label: string): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith(`kds-${label}.`));
}

before(async () => {
  if (skip) return;
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'kds-support-it-'));
  chmodSync(dir, 0o755);
  const keyPath = join(dir, 'server.key');
  keygen(keyPath, { comment: 'kds-client' });
  privateKey = readFileSync(keyPath, 'utf8');
  chmodSync(keyPath, 0o600);
  const { password } = ensureTestUser('kds-test-support');
  plant = [`sudo password ${password}`, `share_password=${configPassword}`, privateKey.trim()].join('\n') + '\n';
  stand = writeStandIns(dir, { plant, collectBytes: 24 * 1024 * 1024, secretName: configPassword, wording: 'Результат сохранён: {path}.' });
  // The stand-ins come first on the SSH user's PATH, as KATA's tools are on a Central Node's.
  sshd = await TestSshd.start({ user: 'kds-test-support', extraConfig: [`SetEnv PATH=${stand.bin}:/usr/local/bin:/usr/bin:/bin`] });
  client = sshdClient(sshd, 'id_support');
  // sudo asks for the password (no NOPASSWD): the sudo password travels the documented way.
  sudoersFile = `/etc/sudoers.d/kds-test-support-${randomBytes(4).toString('hex')}`;
  writeFileSync(sudoersFile, `${sshd.user} ALL=(ALL:ALL) ALL\n`, { mode: 0o440 });
});

after(async () => {
  if (sudoersFile) rmSync(sudoersFile, { force: true });
  await sshd?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('kds kata-logs history over SSH: runs the tool with sudo in a private temp folder, downloads, removes it, prints ICAP lines with counts equal to grep -ci', { skip, timeout: 200_000 }, async () => {
  const out = join(dir, 'logs-out');
  const before = leftTemps('siem-history');
  const r = await run(['kata-logs', 'history', ...conn(), '--out', out], { input: sshd.password + '\n' });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const file = join(out, 'log-history.log');
  assert.ok(existsSync(file));
  const grepCount = Number(execFileSync('grep', ['-ci', 'ICAP', file], { encoding: 'utf8' }).trim());
  assert.match(r.stdout, new RegExp(`log-history\\.log: ${grepCount} of ${readFileSync(file, 'utf8').split('\n').length - 1} lines match "ICAP"`));
  assert.match(r.stdout, /ICAP object scanned from 10\.0\.0\.1/);
  assert.ok(readFileSync(file, 'utf8').includes(sshd.password), 'the stand-in planted the sudo password in its output');
  assert.doesNotMatch(r.stdout, /SPAN object scanned/);
  assert.deepEqual(leftTemps('siem-history'), before, 'the remote temporary folder is removed');
  // --grep and --since narrow it down.
  const r2 = await run(['kata-logs', 'detects', ...conn(), '--out', join(dir, 'logs-out2'), '--grep', 'span', '--since', '2024-05-01 10:05:00', '--json'], { input: sshd.password + '\n' });
  assert.equal(r2.status, 0, r2.stderr);
  const j = JSON.parse(r2.stdout) as { files: Array<{ file: string; matched: number }> };
  assert.deepEqual(j.files.map((f) => [f.file.endsWith('log-detects.log'), f.matched]), [[true, 1]]);
});

test('kds collect over SSH: archive path from other wording, size + SHA-256 from the CN, root-only archive copied privately, removed after --yes', { skip, timeout: 200_000 }, async () => {
  const out = join(dir, 'collect-out');
  const collectBefore = leftTemps('collect');
  const r = await run(['collect', ...conn(), '--out', out, '--yes'], { input: sshd.password + '\n' });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const m = /Archive (\S+collect-\S+\.tar\.gz): .* SHA-256 ([0-9a-f]{64})/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const local = join(out, m![1]!.split('/').pop()!);
  assert.equal(createHash('sha256').update(readFileSync(local)).digest('hex'), m![2]);
  assert.match(r.stdout, /size and SHA-256 match the Central Node/);
  assert.ok(!existsSync(m![1]!), 'removed on the CN after confirmation');
  assert.deepEqual(leftTemps('collect').filter((d) => !collectBefore.includes(d)), [], 'the private copy is removed too');
  assert.ok(!existsSync(local + '.part') && !existsSync(local + '.kds-download.json'));
  // Without --yes (and no terminal) the remote archive stays.
  const r2 = await run(['collect', ...conn(), '--out', join(dir, 'collect-out2')], { input: sshd.password + '\n' });
  assert.equal(r2.status, 0, r2.stderr);
  const kept = /Archive (\S+\.tar\.gz):/.exec(r2.stdout)![1]!;
  assert.ok(existsSync(kept), 'kept without confirmation');
  assert.match(r2.stdout, /stays on/);
  rmSync(kept);
  for (const d of leftTemps('collect')) rmSync(join(tmpdir(), d), { recursive: true, force: true });
});

test('a connection dropped during the collect download: the next run continues from the offset, without running kata-collect again, and the SHA-256 matches', { skip, timeout: 200_000 }, async () => {
  const out = join(dir, 'resume-out');
  const sudo = { password: async () => sshd.password };
  const runsBefore = existsSync(stand.runsFile) ? readFileSync(stand.runsFile, 'utf8').split('\n').filter(Boolean).length : 0;
  const s1 = await SshSession.connect(client.target, client.auth, client.hostKeys);
  let dropped = false;
  const lines: string[] = [];
  await assert.rejects(
    collect(new SshHostAccess(s1, sudo), out, {
      print: (l) => lines.push(l),
      progress: (done) => {
        if (!dropped && done > 4 * 1024 * 1024) {
          dropped = true;
          assert.ok(sshd.dropConnections() > 0);
        }
      },
      confirmRemoval: async () => true,
    }),
    (e: Error) => e instanceof DownloadInterrupted && e.received > 0,
  );
  await s1.close();
  const part = readdirSync(out).find((n) => n.endsWith('.part'))!;
  assert.ok(part, 'a partial file is kept');
  const partSize = statSync(join(out, part)).size;
  assert.ok(partSize > 4 * 1024 * 1024);

  const s2 = await SshSession.connect(client.target, client.auth, client.hostKeys);
  try {
    const done = await collect(new SshHostAccess(s2, sudo), out, { print: (l) => lines.push(l), confirmRemoval: async () => true });
    assert.equal(done.download.resumedFrom, partSize, 'continued from the offset the first run reached');
    assert.ok(done.download.size > partSize);
    assert.equal(createHash('sha256').update(readFileSync(done.download.local)).digest('hex'), done.state.sha256);
    assert.equal(done.removed, true);
    assert.ok(!existsSync(done.state.remotePath));
    assert.match(lines.join('\n'), /Continuing the unfinished download/);
  } finally {
    await s2.close();
  }
  assert.equal(readFileSync(stand.runsFile, 'utf8').split('\n').filter(Boolean).length, runsBefore + 1, 'kata-collect ran once');
  assert.deepEqual(leftTemps('collect'), []);
});

/** Every file of the bundle, nested collect archive and .gz members opened, as one text. */
function everything(bundle: string): { root: string; text: string; files: string[] } {
  const x = mkdtempSync(join(dir, 'x-'));
  execFileSync('tar', ['-xzf', bundle, '-C', x]);
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(x);
  for (const f of files.filter((f) => f.endsWith('.tar.gz'))) {
    const y = mkdtempSync(join(dir, 'y-'));
    execFileSync('tar', ['-xzf', f, '-C', y]);
    walk(y);
  }
  let text = '';
  for (const f of files) {
    let data = readFileSync(f);
    if (f.endsWith('.gz') && !f.endsWith('.tar.gz')) data = execFileSync('gzip', ['-dc', f]);
    text += `\n@@ ${f}\n` + data.toString('latin1');
  }
  return { root: x, text, files };
}

test('kds support-bundle over SSH: secrets planted in config, KDS log, journal, collect archive (listing too), kata-logs output, answers and a pcap — none reaches the archive', { skip, timeout: 300_000 }, async () => {
  // The KDS installation on "the CN": a configuration with a secret key and the client key; a log with errors and secrets.
  const cn = join(dir, 'cn');
  mkdirSync(cn, { recursive: true });
  const keyFile = join(cn, 'server.key');
  writeFileSync(keyFile, privateKey, { mode: 0o600 }); // root-only, read with sudo
  const logFile = join(cn, 'kds.log');
  writeFileSync(logFile, ['2024-05-01T09:00:00.000Z INFO  start "KDS started"', `2024-05-01T10:00:00.000Z ERROR kata.error "login failed with ${sshd.password}"`, `2024-05-01T10:30:00.000Z ERROR kata.error "share ${configPassword}"`, privateKey.trim(), ''].join('\n'));
  chownSync(logFile, uidOf(sshd.user), 0);
  // The installed engine beside the configuration (as kds remote setup puts it): the real kds.
  writeFileSync(join(cn, 'kata-dir-scanner'), `#!/bin/sh\nexec ${process.execPath} ${kdsBin} "$@"\n`, { mode: 0o755 });
  const config = join(cn, 'kata_dir_scanner.conf');
  writeFileSync(config, JSON.stringify({ in_dir: '/mnt/in', out_dir: '/mnt/out', qrnt_dir: '/mnt/qrnt', cert_pem: 'cert.pem', cert_key: 'server.key', kata_cn_addr: '127.0.0.1', system_id: '11111111-2222-3333-4444-555555555555', log_file: logFile, share_password: configPassword }, null, 2));
  const answers = join(dir, 'answers.json');
  writeFileSync(answers, JSON.stringify({ language: 'ru', traffic: '200 Мбит/с', description: `Нет обнаружений ICAP. Пароль ${sshd.password}, sudo ${sshd.password}, конфиг ${configPassword}`, steps: `1. скачать .deb\n2. ключ:\n${privateKey}`, kedrVersion: '' }));
  const pcap = join(dir, 'proxy-side.pcap');
  writeFileSync(pcap, Buffer.concat([Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex'), Buffer.from(`ICAP auth ${sshd.password} ${configPassword}`), Buffer.from([0, 1, 2, 3])]));
  // KATA's ICAP log on "the CN", readable by root only (read with sudo), with a secret in it.
  const icapLog = join(cn, 'preprocessor_icap.log');
  writeFileSync(icapLog, [`2024-05-01 10:05:00.000 [2562] INFO preprocessor_icap: RESPMOD request from 10.0.0.2:40000 url=http://files.test/a.deb accepted in blocking_simple mode`, `2024-05-01 10:05:00.100 [2562] INFO preprocessor_icap: scan_id=1 size=68 sha256=275a verdict=clean action=passed note="login ${sshd.password}"`, ''].join('\n'), { mode: 0o600 });
  // The latest probe report the SSH user's `kds remote icap-probe` kept on the CN.
  const home = execFileSync('getent', ['passwd', sshd.user], { encoding: 'utf8' }).split(':')[5]!;
  const stateDir = join(home, '.local', 'state', 'kds');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'icap-probe-latest.json'), JSON.stringify({ uri: 'icap://10.0.0.9:1344/respmod', host: '10.0.0.9', port: 1344, service: 'respmod', startedAt: '2024-05-01T10:06:00.000Z', run: '1a2b3c4d', steps: [], conclusion: { kind: 'does-not-block', text: 'EICAR was not blocked', next: 'check Detections' }, exitCode: 0 }));
  for (const d of [join(home, '.local'), join(home, '.local', 'state'), stateDir, join(stateDir, 'icap-probe-latest.json')]) chownSync(d, uidOf(sshd.user), 0);
  after(() => rmSync(stateDir, { recursive: true, force: true }));
  const out = join(dir, 'support.tar.gz');
  const r = await run(['support-bundle', ...conn(), '--config', config, '--answers', answers, '--add', pcap, '--icap-log', icapLog, '--out', out, '--yes'], { input: sshd.password + '\n' });
  assert.equal(r.status, 0, r.stderr + r.stdout);

  // The contents are shown before the archive is written.
  const preview = r.stdout.indexOf('will hold:');
  assert.ok(preview >= 0 && preview < r.stdout.indexOf('Written '), r.stdout);
  for (const name of ['summary.md', 'kds/kata_dir_scanner.conf', 'kds/kds.log', 'kds/service-status.txt', 'icap/preprocessor_icap.log', 'icap/probe-latest.json', 'kata-logs/log-history.log.ICAP.txt', 'kata-logs/log-detects.log.ICAP.txt', 'captures/proxy-side.pcap', 'captures/proxy-side.pcap.analysis.txt', 'facts.json']) assert.match(r.stdout, new RegExp(name.replace(/[.]/g, '\\.')), name);
  assert.match(r.stdout, /kata-collect\/collect-\S+\.tar\.gz/);
  assert.match(r.stdout, /kata-collect\/collect-\S+\.listing\.txt/);

  const all = everything(out);
  const secrets = [sshd.password, configPassword, ...privateKey.split('\n').filter((l) => l.length > 16 && !l.startsWith('-----'))];
  for (const s of secrets) assert.ok(!all.text.includes(s), `a secret (${s.slice(0, 6)}…) reached the archive`);
  assert.ok(!/BEGIN OPENSSH PRIVATE KEY-----\s*b3Bl/.test(all.text));
  // The pcap is masked, not rewritten: same size, still a pcap.
  const pcapOut = all.files.find((f) => f.endsWith('captures/proxy-side.pcap'))!;
  assert.equal(statSync(pcapOut).size, statSync(pcap).size);
  assert.equal(readFileSync(pcapOut).subarray(0, 4).toString('hex'), 'd4c3b2a1');
  // summary.md in Russian with the checklist filled (what KDS found + the answers).
  const summary = readFileSync(all.files.find((f) => f.endsWith('/summary.md'))!, 'utf8');
  assert.match(summary, /Заявка в техническую поддержку KATA/);
  assert.match(summary, /Уровень трафика:\*\* 200 Мбит\/с/);
  assert.match(summary, /Дата и время проблемы:\*\* 2024-05-01T10:00:00\.000Z – 2024-05-01T10:30:00\.000Z/);
  assert.match(summary, /Модель и характеристики оборудования:\*\* .*RAM/);
  // The ICAP evidence: the CN's root-only log (read with sudo, scrubbed), the CN's latest probe, the capture's analysis.
  assert.match(summary, /## Что показывают данные ICAP\n\n- \*\*preprocessor_icap\.log\*\* \(`icap\/preprocessor_icap\.log`, с .*preprocessor_icap\.log\): весь журнал \(строк: 2, .*Принято транзакций: blocking_simple 1\. Вердикты: clean 1\./);
  assert.match(summary, /\*\*Последняя проверка ICAP\*\* \(`icap\/probe-latest\.json`, 2024-05-01 10:06:00 UTC\) для icap:\/\/10\.0\.0\.9:1344\/respmod: EICAR was not blocked\./);
  assert.match(summary, /\*\*Запись трафика\*\* `captures\/proxy-side\.pcap` \(добавлена заявителем/);
  assert.match(readFileSync(all.files.find((f) => f.endsWith('icap/preprocessor_icap.log'))!, 'utf8'), /verdict=clean action=passed note="login \[removed by KDS\]"/);
  const check = JSON.parse(readFileSync(all.files.find((f) => f.endsWith('kds/check.json'))!, 'utf8')) as { items: Array<{ id: string }> };
  assert.ok(check.items.some((i) => i.id === 'config'), 'kds check --json of the installed engine on the CN');
  assert.match(readFileSync(all.files.find((f) => f.endsWith('kds/service-status.txt'))!, 'utf8'), /Active: failed[\s\S]*share_password=\[removed by KDS\][\s\S]*kds\[1\]: sudo password \[removed by KDS\]/);
  // The collect archive is inside, its entries scrubbed, the secret-named file renamed, the listing too.
  assert.ok(all.files.some((f) => f.includes('var/log/kaspersky/payload.bin')));
  assert.ok(all.files.some((f) => f.includes('[removed by KDS].txt')));
  // Nothing left behind on the CN.
  assert.deepEqual([...leftTemps('siem-history'), ...leftTemps('siem-detects'), ...leftTemps('collect')], []);
  assert.equal(statSync(out).mode & 0o777, 0o600);
});

test('without KATA on the host: kata-logs and collect say which tool is missing and what to check; support-bundle still writes KDS\'s part with kds check --json', { skip, timeout: 200_000 }, async () => {
  const env = { PATH: '/usr/bin:/bin' };
  const a = await run(['kata-logs', 'history', '--out', join(dir, 'none')], { env });
  assert.equal(a.status, 1);
  assert.match(a.stderr, /kata-collect-siem-logs was not found on this computer\. It is KATA's own tool .* Check that this computer is a KATA Central Node, which KATA version/);
  const b = await run(['collect', '--out', join(dir, 'none')], { env });
  assert.equal(b.status, 1);
  assert.match(b.stderr, /kata-collect was not found/);
  const config = join(dir, 'local.conf');
  writeFileSync(config, JSON.stringify({ in_dir: join(dir, 'in'), out_dir: join(dir, 'out'), qrnt_dir: join(dir, 'q'), cert_pem: 'c.pem', cert_key: 'c.key', kata_cn_addr: '127.0.0.1', system_id: '11111111-2222-3333-4444-555555555555', log_file: join(dir, 'local.log') }));
  const out = join(dir, 'local-support.tar.gz');
  const c = await run(['support-bundle', '--config', config, '--out', out, '--yes', '--language', 'en'], { env });
  assert.equal(c.status, 0, c.stderr + c.stdout);
  const all = everything(out);
  const check = JSON.parse(readFileSync(all.files.find((f) => f.endsWith('kds/check.json'))!, 'utf8')) as { items: Array<{ id: string }> };
  assert.ok(check.items.some((i) => i.id === 'config'));
  const summary = readFileSync(all.files.find((f) => f.endsWith('/summary.md'))!, 'utf8');
  assert.match(summary, /# KATA support request/);
  assert.match(summary, /kata-collect-siem-logs was not found/);
  assert.match(summary, /## Steps to reproduce\n\n\(not given\)\n/);
  assert.match(summary, /- \*\*KATA version:\*\* \(not given\)/);
});
