/**
 * `kds remote setup` against a stock Central Node without Node.js (test/helpers/freshCn.ts: a
 * real sshd in a private mount namespace, /usr/bin/node gone, sudo, the systemd stand-in), as
 * root on its real paths — no --prefix. The set-up uploads the engine package (resuming a part
 * left by an interrupted upload), takes the single executable out of it on the CN, installs it
 * root's and 0755, starts the unit; the service routes a clean file and EICAR. The same CN then
 * switches to the Debian package (apt-get install): configuration and journal kept. A CN whose C
 * library is too old, and one whose /opt is too small, get a plain message and nothing installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { startEmulator } from '../../src/emulator/server';
import { type EnginePackage, findEnginePackage } from '../../src/centralNode/engineManifest';
import { uploadFolder } from '../../src/centralNode/engineUpload';
import { type FreshCn, freshCnUnavailable, startFreshCn } from '../helpers/freshCn';
import { ensureBuilt, kdsBin, repoRoot } from '../helpers/kdsProcess';
import { systemctlCalls } from '../helpers/systemdStandIn';

const skip = freshCnUnavailable();

function runKds(args: string[], o: { env: NodeJS.ProcessEnv; input: string; timeoutMs?: number }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [kdsBin, ...args], { cwd: repoRoot, env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 600_000);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin!.end(o.input);
  });
}

/** The engine package the CLI uploads, built like `npm run package:deb` (kept when up to date). */
async function enginePackage(): Promise<EnginePackage> {
  ensureBuilt();
  const built = await runKdsBuild();
  assert.equal(built, 0, 'scripts/build-deb.ts');
  const found = await findEnginePackage(repoRoot);
  assert.ok(found);
  return found;
}

function runKdsBuild(): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', 'build-deb.ts')], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('close', resolve);
  });
}

function localConfig(dir: string, kata: { port: number; caPem: string }): string {
  writeFileSync(join(dir, 'kata_ca.pem'), kata.caPem);
  writeFileSync(join(dir, 'exclude_list.txt'), '*.skip\n');
  const path = join(dir, 'kata_dir_scanner.conf');
  writeFileSync(
    path,
    JSON.stringify({ in_dir: './in/', out_dir: './out/', qrnt_dir: './qrnt/', cert_pem: './cert.pem', cert_key: './server.key', kata_cn_addr: '127.0.0.1', kata_cn_port: kata.port, kata_ca: 'kata_ca.pem', system_id: '', stable_ms: 200, poll_interval_s: 1 }),
  );
  return path;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const opt = '/opt/kata-dir-scanner';
const folders = { in: '/var/lib/kds-fresh/in', out: '/var/lib/kds-fresh/out', qrnt: '/var/lib/kds-fresh/qrnt' };

test('a CN without Node.js: the single executable from the package, resumed upload, service started, files routed; then the Debian package over it keeps configuration and journal', { skip, timeout: 900_000 }, async (t) => {
  const pkg = await enginePackage();
  const work = mkdtempSync(join(tmpdir(), 'kds-fresh-cn-'));
  const emu = await startEmulator({ host: '127.0.0.1', port: 0, dataDir: join(work, 'kata'), autoApprove: true, verdictDelayMs: 50 });
  let cn: FreshCn | undefined;
  t.after(async () => {
    await cn?.stop();
    await emu.close();
    rmSync(work, { recursive: true, force: true });
  });
  cn = await startFreshCn({ systemd: true });
  const c = cn;
  assert.notEqual((await c.root.exec(['sh', '-c', 'command -v node'])).code, 0, 'the CN has no Node.js');
  const config = localConfig(work, emu);

  // An upload that stopped half-way earlier: the first half is on the CN already.
  const partial = join(c.user.home, uploadFolder, `${pkg.manifest.package.sha256.slice(0, 16)}-${pkg.manifest.package.file}`);
  const half = Math.floor(pkg.manifest.package.size / 2);
  await c.root.run(['mkdir', '-p', join(c.user.home, uploadFolder)]);
  await c.root.writeFile(partial, readFileSync(pkg.path).subarray(0, half), 0o600);
  await c.root.run(['chown', '-R', `${c.user.uid}:${c.user.gid}`, join(c.user.home, '.cache')]);

  const env = { ...process.env, KDS_LOCALE: 'en', XDG_CONFIG_HOME: join(work, 'xdg'), SSH_AUTH_SOCK: '' };
  const conn = ['--host', c.sshd.host, '--port', String(c.sshd.port), '--user', c.sshd.user, '--password-stdin', '--accept-new-host-key'];
  const setupArgs = ['remote', 'setup', ...conn, '--config', config, '--in-dir', folders.in, '--out-dir', folders.out, '--qrnt-dir', folders.qrnt, '--yes'];
  const first = await runKds(setupArgs, { env, input: c.sshd.password + '\n' });
  t.diagnostic(first.stdout);
  assert.equal(first.status, 0, `set-up failed:\n${first.stdout}\n${first.stderr}`);
  assert.match(first.stdout, /Node\.js none/);
  assert.match(first.stdout, /Engine: single executable \(Node\.js v\d+\.\d+\.\d+ inside\), taken out of kata-dir-scanner_[^ ]+_amd64\.deb/);
  assert.match(first.stdout, new RegExp(`continuing an interrupted upload at ${half} of ${pkg.manifest.package.size} bytes`));
  assert.match(first.stdout, /uploading the engine package: 100%/);
  assert.match(first.stdout, /installed: \/opt\/kata-dir-scanner\/kata-dir-scanner \(SHA-256 [0-9a-f]{64}\)/);
  assert.equal((await c.root.run(['stat', '-c', '%U:%G %a', `${opt}/kata-dir-scanner`])).trim(), 'root:root 755');
  assert.equal((await c.root.run(['sha256sum', `${opt}/kata-dir-scanner`])).split(' ')[0], pkg.manifest.sha256);
  assert.ok(!(await c.root.exists(partial)), 'the upload is removed once installed');
  assert.match(await c.root.readFile('/etc/systemd/system/kata-dir-scanner.service'), /^ExecStart=\/opt\/kata-dir-scanner\/kata-dir-scanner run --config \/opt\/kata-dir-scanner\/kata_dir_scanner\.conf$/m);
  assert.ok((await systemctlCalls(c.root)).some((l) => /^start kata-dir-scanner\.service$/.test(l)));
  const cnConfig = JSON.parse(await c.root.readFile(`${opt}/kata_dir_scanner.conf`)) as Record<string, string>;
  assert.ok((await emu.systems()).some((s) => s.sensorId === cnConfig.system_id), 'the integration request came from the installed engine');

  // The service the stand-in systemd started (as root, from the unit's ExecStart) routes files.
  await c.root.writeFile(`${folders.in}/clean.txt`, 'a clean file on a CN without Node.js\n');
  await c.root.writeFile(`${folders.in}/eicar.com`, EICAR);
  await waitUntil('both files routed', async () => (await c.root.exists(`${folders.out}/clean.txt`)) && (await c.root.exists(`${folders.qrnt}/eicar.com`)));
  const configBefore = await c.root.readFile(`${opt}/kata_dir_scanner.conf`);
  const eventsBefore = await c.root.readFile(`${opt}/kds-state/events.jsonl`);

  // The administrator prefers packages: the same CN, --engine deb.
  const second = await runKds([...setupArgs, '--engine', 'deb'], { env, input: c.sshd.password + '\n' });
  t.diagnostic(second.stdout);
  assert.equal(second.status, 0, `set-up with the package failed:\n${second.stdout}\n${second.stderr}`);
  assert.match(second.stdout, /Engine: Debian package kata-dir-scanner_/);
  assert.match(second.stdout, /the installed configuration \/opt\/kata-dir-scanner\/kata_dir_scanner\.conf is kept/);
  assert.match(await c.root.run(['dpkg-query', '-W', '-f', '${Status} ${Version}', 'kata-dir-scanner']), new RegExp(`^install ok installed ${pkg.manifest.package.version.replace(/\./g, '\\.')}$`));
  assert.equal(await c.root.readFile(`${opt}/kata_dir_scanner.conf`), configBefore, 'the configuration is kept');
  // The kept configuration keeps the system_id KATA knows: the summary names that one only.
  const named = [...second.stdout.matchAll(/system_id ([0-9a-f-]{36})/g)].map((m) => m[1]);
  assert.ok(named.length > 0, 'the summary names the system_id');
  assert.deepEqual([...new Set(named)], [cnConfig.system_id]);
  assert.ok((await c.root.readFile(`${opt}/kds-state/events.jsonl`)).startsWith(eventsBefore), 'the journal folder is kept');
  assert.ok((await systemctlCalls(c.root)).some((l) => /^restart kata-dir-scanner\.service$/.test(l)), 'the service was restarted');
  await c.root.writeFile(`${folders.in}/after-upgrade.txt`, 'routed by the packaged engine\n');
  await waitUntil('the file dropped after the upgrade is routed', async () => c.root.exists(`${folders.out}/after-upgrade.txt`));
});

test('a CN whose C library is too old, and one whose /opt is too small: a plain message, nothing installed, nothing uploaded', { skip, timeout: 600_000 }, async (t) => {
  const pkg = await enginePackage();
  const work = mkdtempSync(join(tmpdir(), 'kds-fresh-cn-'));
  const emu = await startEmulator({ host: '127.0.0.1', port: 0, dataDir: join(work, 'kata'), autoApprove: true });
  const cns: FreshCn[] = [];
  t.after(async () => {
    for (const c of cns) await c.stop();
    await emu.close();
    rmSync(work, { recursive: true, force: true });
  });
  const config = localConfig(work, emu);
  const env = { ...process.env, KDS_LOCALE: 'en', XDG_CONFIG_HOME: join(work, 'xdg'), SSH_AUTH_SOCK: '' };
  const attempt = async (c: FreshCn) => {
    const conn = ['--host', c.sshd.host, '--port', String(c.sshd.port), '--user', c.sshd.user, '--password-stdin', '--accept-new-host-key'];
    const r = await runKds(['remote', 'setup', ...conn, '--config', config, '--in-dir', folders.in, '--out-dir', folders.out, '--qrnt-dir', folders.qrnt, '--yes'], { env, input: c.sshd.password + '\n', timeoutMs: 300_000 });
    t.diagnostic(r.stderr);
    assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
    for (const untouched of [opt, folders.in, join(c.user.home, uploadFolder), '/etc/systemd/system/kata-dir-scanner.service']) assert.ok(!(await c.root.exists(untouched)), `${untouched} was not created`);
    return r.stderr;
  };

  const old = await startFreshCn();
  cns.push(old);
  await old.setLibc('glibc 2.17');
  assert.match(
    await attempt(old),
    new RegExp(`^No engine fits the Central Node, so nothing was changed there: the CN has no Node\\.js; and the single executable cannot be used: the CN's C library is glibc 2\\.17; the engine \\(Node\\.js ${pkg.manifest.node.replace(/\./g, '\\.')} inside\\) needs glibc 2\\.28 or later\\.$`, 'm'),
  );

  const small = await startFreshCn({ optSizeMiB: 64 });
  cns.push(small);
  assert.match(await attempt(small), /the single executable cannot be used: \/opt\/kata-dir-scanner has 67\.1 MB free \(file system mounted on \/opt\); installing the engine needs \d+\.\d MB there\./);
});
