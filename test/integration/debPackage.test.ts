/**
 * The Debian package of `npm run package:deb`, installed with dpkg the way an administrator does
 * on a Central Node — into this machine's own Debian, seen through a private mount namespace
 * (test/helpers/privateRoot.ts) so nothing outside it changes: install, `kata-dir-scanner
 * --version` and `kds --version` from the PATH, an upgrade over an edited configuration (kept,
 * the running service restarted), remove (service stopped and disabled, configuration and
 * journal kept), purge (both gone). Once with the systemd stand-in (test/helpers/systemdStandIn.ts),
 * once on a system without systemd or systemctl at all; then lintian's verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findEnginePackage } from '../../src/centralNode/engineManifest';
import { freePort } from '../helpers/sshd';
import { repoRoot } from '../helpers/kdsProcess';
import { PrivateRoot, privateRootUnavailable } from '../helpers/privateRoot';
import { installSystemdStandIn, systemctlCalls } from '../helpers/systemdStandIn';

function unavailable(): string | undefined {
  const why = privateRootUnavailable() ?? (spawnSync('dpkg-deb', ['--version']).error ? 'dpkg-deb is missing (dpkg)' : undefined);
  if (why && process.env.CI === 'true') throw new Error(why);
  return why;
}
const skip = unavailable();

/** The package, built (or found up to date) the way `npm run package:deb` does. */
async function thePackage() {
  execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', 'build-deb.ts')], { cwd: repoRoot, stdio: 'inherit', timeout: 900_000 });
  const found = await findEnginePackage(repoRoot);
  assert.ok(found, 'dist/engine holds the package and engine.json');
  return found;
}

/** The same package as version `version`: an upgrade without compressing 90 MB again. */
function repackAs(deb: string, version: string, dir: string): string {
  const tree = join(dir, 'tree');
  execFileSync('dpkg-deb', ['-R', deb, tree]);
  const control = join(tree, 'DEBIAN', 'control');
  writeFileSync(control, execFileSync('sed', [`s/^Version: .*/Version: ${version}/`, control]));
  const out = join(dir, `kata-dir-scanner_${version}_amd64.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Znone', '--build', tree, out], { stdio: 'ignore' });
  rmSync(tree, { recursive: true, force: true });
  return out;
}

const opt = '/opt/kata-dir-scanner';
const conf = `${opt}/kata_dir_scanner.conf`;

test('dpkg -i, --version from the PATH, upgrade over an edited configuration, remove, purge — with systemd (stand-in)', { skip, timeout: 900_000 }, async (t) => {
  const pkg = await thePackage();
  const work = mkdtempSync(join(tmpdir(), 'kds-deb-'));
  const root = await PrivateRoot.start();
  t.after(async () => {
    await root.stop();
    rmSync(work, { recursive: true, force: true });
  });
  await installSystemdStandIn(root);
  const deb = join(work, pkg.manifest.package.file);
  execFileSync('cp', [pkg.path, deb]);

  const install = await root.run(['dpkg', '-i', deb]);
  t.diagnostic(install);
  assert.equal((await root.run(['kata-dir-scanner', '--version'])).trim(), pkg.manifest.version);
  assert.equal((await root.run(['kds', '--version'])).trim(), pkg.manifest.version);
  assert.equal((await root.run(['stat', '-c', '%U:%G %a', `${opt}/kata-dir-scanner`])).trim(), 'root:root 755');
  assert.equal((await root.run(['sha256sum', `${opt}/kata-dir-scanner`])).split(' ')[0], pkg.manifest.sha256);
  // The configuration made from the template: root's alone, a fresh system_id; the exclude list; the journal folder.
  assert.equal((await root.run(['stat', '-c', '%a', conf])).trim(), '600');
  const made = JSON.parse(await root.readFile(conf)) as Record<string, string>;
  assert.match(made.system_id!, /^[0-9a-f-]{36}$/);
  assert.ok(await root.exists(`${opt}/exclude_list.txt`));
  assert.equal((await root.run(['stat', '-c', '%a', `${opt}/kds-state`])).trim(), '700');
  assert.match(await root.readFile('/lib/systemd/system/kata-dir-scanner.service'), /^ExecStart=\/opt\/kata-dir-scanner\/kata-dir-scanner run --config \/opt\/kata-dir-scanner\/kata_dir_scanner\.conf$/m);
  assert.match(await root.readFile('/etc/logrotate.d/kata-dir-scanner'), /\/var\/log\/kata-dir-scanner\.log \{/);
  assert.match(await root.run(['dpkg-query', '-W', '-f', '${Conffiles}', 'kata-dir-scanner']), /\/etc\/logrotate\.d\/kata-dir-scanner/);
  // Enabled, not started: the templates alone cannot reach KATA.
  assert.equal((await root.exec(['systemctl', 'is-enabled', 'kata-dir-scanner.service'])).code, 0);
  assert.equal((await root.exec(['systemctl', 'is-active', 'kata-dir-scanner.service'])).code, 3);
  assert.match(install, /installed\. Put the client certificate in \/opt\/kata-dir-scanner/);

  // The administrator configures it: a certificate (made by the installed engine), folders, KATA; starts it.
  await root.run(['kds', 'cert', '--out', opt]);
  await root.run(['mkdir', '-p', '/var/lib/kds-deb-test/in', '/var/lib/kds-deb-test/out', '/var/lib/kds-deb-test/qrnt']);
  const edited = JSON.stringify({ ...made, in_dir: '/var/lib/kds-deb-test/in/', out_dir: '/var/lib/kds-deb-test/out/', qrnt_dir: '/var/lib/kds-deb-test/qrnt/', kata_cn_addr: '127.0.0.1', kata_cn_port: await freePort(), poll_interval_s: 1 }, null, 2) + '\n';
  await root.writeFile(conf, edited, 0o600);
  await root.writeFile(`${opt}/exclude_list.txt`, '*.edited\n');
  await root.run(['systemctl', 'start', 'kata-dir-scanner.service']);
  await waitUntil('the service writes its journal folder', async () => (await root.exec(['sh', '-c', 'ls /opt/kata-dir-scanner/kds-state | grep -q .'])).code === 0);
  assert.equal((await root.exec(['systemctl', 'is-active', 'kata-dir-scanner.service'])).code, 0, await root.readFile('/run/kds-systemctl/kata-dir-scanner.service.log'));
  const pidBefore = (await root.readFile('/run/kds-systemctl/kata-dir-scanner.service.pid')).trim();
  const eventsBefore = await root.readFile(`${opt}/kds-state/events.jsonl`);

  // Upgrade: configuration and exclude list as edited, journal kept, service restarted.
  const upgrade = await root.run(['dpkg', '-i', repackAs(pkg.path, `${pkg.manifest.package.version}+test1`, work)]);
  t.diagnostic(upgrade);
  assert.equal(await root.readFile(conf), edited);
  assert.equal(await root.readFile(`${opt}/exclude_list.txt`), '*.edited\n');
  assert.ok((await root.readFile(`${opt}/kds-state/events.jsonl`)).startsWith(eventsBefore), 'the journal folder is the same, appended to');
  assert.ok(await root.exists(`${opt}/kds-state/journal.jsonl`));
  assert.ok((await systemctlCalls(root)).some((c) => /restart kata-dir-scanner\.service/.test(c)), (await systemctlCalls(root)).join('\n'));
  assert.equal((await root.exec(['systemctl', 'is-active', 'kata-dir-scanner.service'])).code, 0, 'running after the upgrade');
  assert.notEqual((await root.readFile('/run/kds-systemctl/kata-dir-scanner.service.pid')).trim(), pidBefore, 'a new process');
  assert.match(await root.run(['dpkg-query', '-W', '-f', '${Version}', 'kata-dir-scanner']), /\+test1$/);

  // Remove: stopped and disabled; configuration, certificate and journal kept; the engine and the commands gone.
  await root.run(['dpkg', '-r', 'kata-dir-scanner']);
  assert.equal((await root.exec(['systemctl', 'is-active', 'kata-dir-scanner.service'])).code, 3);
  assert.equal((await root.exec(['sh', '-c', 'ls /etc/systemd/system/*.wants/kata-dir-scanner.service'])).code, 2, 'disabled');
  assert.equal(await root.readFile(conf), edited);
  for (const kept of [`${opt}/exclude_list.txt`, `${opt}/cert.pem`, `${opt}/server.key`, `${opt}/kds-state`]) assert.ok(await root.exists(kept), kept);
  for (const gone of [`${opt}/kata-dir-scanner`, '/usr/bin/kds', '/usr/bin/kata-dir-scanner', '/lib/systemd/system/kata-dir-scanner.service']) assert.ok(!(await root.exists(gone)), gone);

  // Purge: the configuration, certificate, journal, logrotate snippet and the folder go too.
  await root.run(['dpkg', '-P', 'kata-dir-scanner']);
  for (const gone of [conf, `${opt}/cert.pem`, `${opt}/kds-state`, '/etc/logrotate.d/kata-dir-scanner', opt]) assert.ok(!(await root.exists(gone)), gone);
  assert.equal((await root.exec(['dpkg-query', '-W', 'kata-dir-scanner'])).code, 1, 'dpkg knows it no more');
});

test('without systemd or systemctl: install, --version, remove and purge still succeed', { skip, timeout: 900_000 }, async (t) => {
  const pkg = await thePackage();
  const root = await PrivateRoot.start();
  t.after(() => root.stop());
  await root.run(['rm', '-f', '/usr/bin/systemctl', '/bin/systemctl']);
  await root.run(['rm', '-rf', '/run/systemd/system']);
  const install = await root.run(['dpkg', '-i', pkg.path]);
  assert.match(install, /systemd is not running here, so the service was not started/);
  assert.equal((await root.run(['kata-dir-scanner', '--version'])).trim(), pkg.manifest.version);
  await root.run(['dpkg', '-r', 'kata-dir-scanner']);
  assert.ok(await root.exists(conf), 'the configuration stays after remove');
  await root.run(['dpkg', '-P', 'kata-dir-scanner']);
  assert.ok(!(await root.exists(opt)));
});

test('lintian: nothing but the tags the package has on purpose', { skip: skip ?? lintianMissing(), timeout: 900_000 }, async (t) => {
  const pkg = await thePackage();
  // Each suppressed tag and why:
  const expected = new Set([
    // The seed and every document put KDS in /opt/kata-dir-scanner; FHS gives /opt to add-on packages.
    'dir-or-file-in-opt',
    // The single executable is Node.js, which carries zlib, OpenSSL, ICU… of its own build.
    'embedded-library',
    'hardening-no-pie',
    'hardening-no-fortify-functions',
    'binary-has-unneeded-section',
    'spelling-error-in-binary',
    // The service needs systemd; there is no init.d script to go with it.
    'package-supports-alternative-init-but-no-init.d-script',
    'systemd-service-file-missing-documentation-key',
    // kds --help is the manual; the templates the postinst copies are not documentation.
    'no-manual-page',
    'package-contains-documentation-outside-usr-share-doc',
  ]);
  const r = spawnSync('lintian', ['--tag-display-limit', '0', '--display-info', pkg.path], { encoding: 'utf8', timeout: 600_000 });
  t.diagnostic(r.stdout);
  const unexpected = r.stdout
    .split('\n')
    .map((l) => /^([EWI]): kata-dir-scanner(?: \w+)?: ([a-z0-9.+-]+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m && !expected.has(m[2]!))
    .map((m) => m.input);
  assert.deepEqual(unexpected, [], `lintian found:\n${unexpected.join('\n')}`);
});

function lintianMissing(): string | undefined {
  if (!spawnSync('lintian', ['--version']).error) return undefined;
  const why = 'lintian is missing: scripts/install-system-deps.sh installs it';
  if (process.env.CI === 'true') throw new Error(why);
  return why;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
