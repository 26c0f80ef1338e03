import { rootOnlyFolderArgv } from '../../src/centralNode/rootFileWrite';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../src/engine/config';
import { chooseEngine, kernelNote } from '../../src/centralNode/engineChoice';
import type { EngineManifest } from '../../src/centralNode/engineManifest';
import {
  type Action,
  type EngineFiles,
  type PlanInputs,
  buildSetupPlan,
  configForCn,
  credentialsFileContent,
  describeAction,
  editFstab,
  fstabLines,
  layout,
  mapPath,
  writabilityCheck,
} from '../../src/centralNode/setupPlan';
import { remoteFacts } from '../helpers/remoteFacts';

const SID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const original = JSON.stringify({ in_dir: '/mnt/in/', out_dir: '/mnt/out/', qrnt_dir: '/mnt/qrnt/', cert_pem: '/opt/kata-dir-scanner/cert.pem', cert_key: '/opt/kata-dir-scanner/server.key', kata_cn_addr: 'localhost', system_id: '' });
const now = new Date('2025-01-02T03:04:05.678Z');

const facts = remoteFacts;

const pkg = { localPath: '/build/kata-dir-scanner_0.1.0_amd64.deb', file: 'kata-dir-scanner_0.1.0_amd64.deb', size: 22_000_000, sha256: 'dd'.repeat(32), member: './opt/kata-dir-scanner/kata-dir-scanner', version: '0.1.0' };
const seaEngine = (sha256 = 'aa'): EngineFiles => ({ kind: 'sea', sha256, package: pkg, files: [{ path: 'l10n/bundle.l10n.ru.json', data: '{}', mode: 0o644 }] });

function inputs(over: Partial<PlanInputs> = {}): PlanInputs {
  const prefix = over.prefix;
  const cn = configForCn(original, layout(prefix), () => SID);
  return {
    configText: original,
    configName: 'kata_dir_scanner.conf',
    engine: seaEngine(),
    shares: { host: 'fileserver', names: { in: 'in', out: 'out', qrnt: 'qrnt' }, user: 'scanner', password: 'pw' },
    facts: facts(),
    cnConfigText: cn.text,
    certificate: { files: { 'server.key': 'K', 'server.crt': 'C', 'cert.pem': 'CK' }, fingerprint256: 'AB:CD' },
    now,
    ...over,
  };
}

const runs = (actions: Action[]) => actions.filter((a): a is Extract<Action, { kind: 'run' }> => a.kind === 'run').map((a) => a.argv);
const writes = (actions: Action[]) => actions.filter((a): a is Extract<Action, { kind: 'write' }> => a.kind === 'write');

test('fstab lines of the original set-up, with octal escapes for odd names', () => {
  assert.deepEqual(fstabLines({ host: 'fileserver', names: { in: 'in', out: 'out', qrnt: 'qrnt' } }, '/root/.kata-secret'), [
    '//fileserver/in /mnt/in cifs credentials=/root/.kata-secret 0 0',
    '//fileserver/out /mnt/out cifs credentials=/root/.kata-secret 0 0',
    '//fileserver/qrnt /mnt/qrnt cifs credentials=/root/.kata-secret 0 0',
  ]);
  assert.equal(fstabLines({ host: '10.0.0.5', names: { in: 'Scan In', out: 'out', qrnt: 'q' } }, '/root/.kata-secret')[0], '//10.0.0.5/Scan\\040In /mnt/in cifs credentials=/root/.kata-secret 0 0');
  assert.throws(() => fstabLines({ host: 'a b', names: { in: 'in', out: 'out', qrnt: 'q' } }, '/x'));
  assert.throws(() => fstabLines({ host: 'h', names: { in: 'in\n/x', out: 'out', qrnt: 'q' } }, '/x'));
});

test('fstab editing adds once, is idempotent, and comments out a different line for the same mount point', () => {
  const lines = fstabLines({ host: 'fs', names: { in: 'in', out: 'out', qrnt: 'qrnt' } }, '/root/.kata-secret');
  const first = editFstab('UUID=abc / ext4 defaults 0 1\n', lines, now);
  assert.equal(first.changed, true);
  assert.equal(first.added.length, 3);
  assert.ok(first.text.startsWith('UUID=abc / ext4 defaults 0 1\n'));
  const again = editFstab(first.text, lines, now);
  assert.equal(again.changed, false);
  assert.equal(again.text, first.text);
  // Whitespace differences are the same line.
  assert.equal(editFstab(first.text.replace(/ cifs /g, '\tcifs   '), lines, now).changed, false);
  const old = '//old/in /mnt/in cifs credentials=/etc/old 0 0\n';
  const replaced = editFstab(old, lines, now);
  assert.deepEqual(replaced.replaced, ['//old/in /mnt/in cifs credentials=/etc/old 0 0']);
  assert.match(replaced.text, /^# \/\/old\/in \/mnt\/in .* # replaced by kds remote setup 2025-01-02T03:04:05.678Z$/m);
  assert.equal(replaced.text.split('\n').filter((l) => l.includes('/mnt/in') && !l.startsWith('#')).length, 1);
  assert.equal(editFstab('', lines, now).text, lines.join('\n') + '\n');
});

test('credentials file: quotes, $() and backslashes are plain data; line breaks are refused', () => {
  const pw = `p'a"s$(rm -rf /)\`x\`\\n;|&*`;
  assert.equal(credentialsFileContent('scan user', pw), `username=scan user\npassword=${pw}\n`);
  assert.equal(credentialsFileContent('u', 'p', 'CORP'), 'username=u\npassword=p\ndomain=CORP\n');
  assert.throws(() => credentialsFileContent('u', 'a\nusername=evil'), /line break/);
  assert.throws(() => credentialsFileContent('u', 'a\r'), /line break/);
  assert.throws(() => credentialsFileContent('', 'p'));
  // In the plan the password travels as file data with mode 0600 and is never shown.
  const plan = buildSetupPlan(inputs({ shares: { host: 'fs', names: { in: 'in', out: 'out', qrnt: 'qrnt' }, user: 'u', password: pw } }));
  const cred = writes(plan[0]!.actions).find((w) => w.path === '/root/.kata-secret')!;
  assert.equal(cred.mode, 0o600);
  assert.equal(cred.secret, true);
  assert.equal(cred.data, `username=u\npassword=${pw}\n`);
  for (const step of plan) for (const a of step.actions) assert.ok(!describeAction(a, false, false).includes('rm -rf'), 'the password is never displayed');
});

test('the plan for a fresh CN: steps, exact argv lists, modes', () => {
  const plan = buildSetupPlan(inputs());
  assert.deepEqual(plan.map((s) => s.id), ['mounts', 'certificate', 'engine', 'unit', 'enroll']);
  const [mounts, cert, engine, unit, enroll] = plan;
  assert.deepEqual(runs(mounts!.actions), [['mount', '-a'], writabilityCheck('/mnt/in'), writabilityCheck('/mnt/out'), writabilityCheck('/mnt/qrnt')]);
  assert.deepEqual(mounts!.actions.filter((a) => a.kind === 'mkdir').map((a) => (a as { path: string }).path), ['/mnt/in', '/mnt/out', '/mnt/qrnt', '/root']);
  const fstab = writes(mounts!.actions).find((w) => w.path === '/etc/fstab')!;
  assert.equal(fstab.backup, '/etc/fstab.kds-backup-20250102T030405Z');
  assert.deepEqual(runs(mounts!.rollback), [['cp', '-p', '/etc/fstab.kds-backup-20250102T030405Z', '/etc/fstab']]);
  assert.deepEqual(writes(cert!.actions).map((w) => [w.path, w.mode]), [
    ['/opt/kata-dir-scanner/server.key', 0o600],
    ['/opt/kata-dir-scanner/server.crt', 0o600],
    ['/opt/kata-dir-scanner/cert.pem', 0o600],
  ]);
  const upload = engine!.actions.find((a) => a.kind === 'engine')!;
  assert.deepEqual(upload.kind === 'engine' && [upload.how, upload.target, upload.sha256, upload.package.file, upload.root], ['extract', '/opt/kata-dir-scanner/kata-dir-scanner', 'aa', pkg.file, true]);
  assert.match(describeAction(upload, false, true), /^upload kata-dir-scanner_0\.1\.0_amd64\.deb \(22\.0 MB, SHA-256 d{64}\) to ~\/\.cache\/kds-upload; then sudo in a private folder .*check its SHA-256, dpkg-deb --fsys-tarfile \| tar -xO \.\/opt\/kata-dir-scanner\/kata-dir-scanner, check the engine's SHA-256 aa, chmod 0755, chown root:root, run it once with --version/);
  assert.ok(engine!.notes.some((n) => /an interrupted upload continues where it stopped/.test(n)));
  assert.deepEqual(writes(engine!.actions).map((w) => [w.path, w.mode]), [
    ['/opt/kata-dir-scanner/l10n/bundle.l10n.ru.json', 0o644],
    ['/opt/kata-dir-scanner/kata_dir_scanner.conf', 0o600],
    ['/opt/kata-dir-scanner/exclude_list.txt', 0o644],
  ]);
  assert.deepEqual(runs(engine!.actions), [rootOnlyFolderArgv('/opt/kata-dir-scanner'), ['/opt/kata-dir-scanner/kata-dir-scanner', '--version']]);
  assert.deepEqual(runs(unit!.actions), [
    ['systemctl', 'daemon-reload'],
    ['systemctl', 'enable', 'kata-dir-scanner.service'],
    ['systemctl', 'start', 'kata-dir-scanner.service'],
    ['systemctl', 'status', '--no-pager', '--lines=20', 'kata-dir-scanner.service'],
  ]);
  const unitFile = writes(unit!.actions).find((w) => w.path === '/etc/systemd/system/kata-dir-scanner.service')!;
  assert.match(String(unitFile.data), /^ExecStart=\/opt\/kata-dir-scanner\/kata-dir-scanner run --config \/opt\/kata-dir-scanner\/kata_dir_scanner.conf$/m);
  assert.deepEqual(runs(enroll!.actions), [['/opt/kata-dir-scanner/kata-dir-scanner', 'enroll', '--config', '/opt/kata-dir-scanner/kata_dir_scanner.conf']]);
  // Shown before asking: sudo when not root, exact quoting.
  assert.equal(describeAction(mounts!.actions.find((a) => a.kind === 'run')!, false, true), '$ sudo mount -a    # mount everything in fstab');
  assert.match(describeAction(runs(mounts!.actions)[1] && mounts!.actions.filter((a) => a.kind === 'run')[1]!, false, false), /^\$ sh -c 'f=\$\(mktemp -- "\$1\/\.kds-write-test\.XXXXXXXXXX"\) && rm -f -- "\$f"' kds-write-test \/mnt\/in/);
});

test('the configuration is rewritten for the CN, other keys kept, empty system_id filled', () => {
  const text = JSON.stringify({ ...JSON.parse(original), in_dir: 'C:\\scan\\in', kata_cn_addr: '10.1.1.1', max_inflight: 3, kata_cert_sha256: 'ab'.repeat(32) });
  const cn = configForCn(text, layout(undefined), () => SID);
  const cfg = parseConfigText(cn.text, '/opt/kata-dir-scanner/kata_dir_scanner.conf').config;
  assert.equal(cfg.shares[0]!.in_dir, '/mnt/in');
  assert.equal(cfg.shares[0]!.out_dir, '/mnt/out');
  assert.equal(cfg.shares[0]!.qrnt_dir, '/mnt/qrnt');
  assert.equal(cfg.cert_pem, '/opt/kata-dir-scanner/cert.pem');
  assert.equal(cfg.shares[0]!.exclude_list, '/opt/kata-dir-scanner/exclude_list.txt');
  assert.equal(cfg.state_dir, '/opt/kata-dir-scanner/kds-state');
  assert.equal(cfg.log_file, '/var/log/kata-dir-scanner.log');
  assert.equal(cfg.kata_cn_addr, '10.1.1.1');
  assert.equal(cfg.max_inflight, 3);
  assert.equal(cfg.system_id, SID);
  assert.equal(configForCn(JSON.stringify({ ...JSON.parse(original), system_id: 'keep-me' }), layout(undefined), () => SID).systemId, 'keep-me');
});

test('--prefix maps every absolute path and skips mount/systemctl', () => {
  assert.equal(mapPath('/tmp/cn', '/etc/fstab'), '/tmp/cn/etc/fstab');
  assert.equal(mapPath(undefined, '/etc/fstab'), '/etc/fstab');
  const prefix = '/tmp/cn root';
  const plan = buildSetupPlan(inputs({ prefix, facts: facts({ fstab: '', isRoot: false }) }));
  for (const step of plan) {
    for (const a of step.actions) {
      if (a.kind === 'write' || a.kind === 'mkdir') assert.ok(a.path.startsWith(prefix + '/'), a.path);
      if (a.kind === 'write' || a.kind === 'mkdir') assert.equal(a.root, false);
      if (a.kind === 'run' && (a.argv[0] === 'mount' || a.argv[0] === 'systemctl')) {
        assert.equal(a.needsRealSystem, true);
        assert.match(describeAction(a, true, false), /skipped: --prefix/);
      }
    }
  }
  const cfg = parseConfigText(writes(plan[2]!.actions).find((w) => w.path.endsWith('.conf'))!.data as string, `${prefix}/opt/kata-dir-scanner/kata_dir_scanner.conf`).config;
  assert.equal(cfg.shares[0]!.in_dir, `${prefix}/mnt/in`);
  assert.equal(cfg.log_file, `${prefix}/var/log/kata-dir-scanner.log`);
  const unit = String(writes(plan[3]!.actions).find((w) => w.path.endsWith('.service'))!.data);
  assert.match(unit, /^ExecStart="\/tmp\/cn root\/opt\/kata-dir-scanner\/kata-dir-scanner" run --config "\/tmp\/cn root\/opt/m);
  // Quoting of the shown commands: the space stays inside one argument.
  assert.match(describeAction(plan[2]!.actions.filter((a) => a.kind === 'run')[1]!, true, false), /^\$ '\/tmp\/cn root\/opt\/kata-dir-scanner\/kata-dir-scanner' --version/);
  assert.match(describeAction(plan[2]!.actions.filter((a) => a.kind === 'run')[0]!, true, false), /kds-root-only '\/tmp\/cn root\/opt\/kata-dir-scanner' \(skipped: --prefix, no real system\)/);
});

test('idempotent re-run and upgrade: keep config, exclude list, certificate; back up and roll back the engine', () => {
  const same = buildSetupPlan(inputs({ certificate: undefined, facts: facts({ fstab: editFstab('', fstabLines({ host: 'fileserver', names: { in: 'in', out: 'out', qrnt: 'qrnt' } }, '/root/.kata-secret')).text, installedEngineSha256: 'aa', installedEngineKind: 'sea', hasConfig: true, hasExcludeList: true, hasCertificate: true }) }));
  assert.equal(writes(same[0]!.actions).some((w) => w.path === '/etc/fstab'), false);
  assert.deepEqual(writes(same[1]!.actions), []);
  assert.deepEqual(writes(same[2]!.actions), [], 'same engine, config and exclude list kept');
  assert.ok(same[2]!.notes.some((n) => /kept/.test(n)));

  const up = buildSetupPlan(inputs({ certificate: undefined, engine: seaEngine('bb'), facts: facts({ installedEngineSha256: 'aa', installedEngineKind: 'sea', hasConfig: true, hasExcludeList: true, hasCertificate: true }) }));
  const eng = up[2]!;
  assert.deepEqual(runs(eng.actions).slice(0, 2), [
    ['rm', '-rf', '/opt/kata-dir-scanner/kata-dir-scanner.previous'],
    ['ln', '-f', '/opt/kata-dir-scanner/kata-dir-scanner', '/opt/kata-dir-scanner/kata-dir-scanner.previous'],
  ]);
  assert.deepEqual(runs(eng.rollback), [
    ['rm', '-rf', '/opt/kata-dir-scanner/kata-dir-scanner'],
    ['mv', '/opt/kata-dir-scanner/kata-dir-scanner.previous', '/opt/kata-dir-scanner/kata-dir-scanner'],
  ]);
  assert.deepEqual(writes(eng.actions).map((w) => w.path), ['/opt/kata-dir-scanner/l10n/bundle.l10n.ru.json']);
  assert.equal(eng.actions.filter((a) => a.kind === 'engine').length, 1);
  assert.ok(!eng.actions.some((a) => 'path' in a && a.path.includes('kds-state') && a.kind === 'write'), 'the journal is never written');
  assert.deepEqual(runs(up[3]!.actions)[2], ['systemctl', 'restart', 'kata-dir-scanner.service']);
  assert.deepEqual(runs(up[3]!.verify ?? []), [['systemctl', 'is-active', '--quiet', 'kata-dir-scanner.service']]);
});

test('mount.cifs missing: the shares step is blocked and says what to install', () => {
  const plan = buildSetupPlan(inputs({ facts: facts({ hasMountCifs: false }) }));
  assert.equal(plan[0]!.blocked, true);
  assert.ok(plan[0]!.notes.some((n) => n.includes('install cifs-utils')));
});

test('engine choice: JS where root may run the CN\'s Node >= 18, else the single executable from the package; deb when installed or asked; reasons otherwise', () => {
  const m = manifest();
  const host = { os: 'Linux', arch: 'x86_64', kernel: '6.1.0-18-amd64', libc: { family: 'glibc' as const, version: '2.36', text: 'glibc 2.36' }, installSpace: { mount: '/', availableKiB: 10_000_000 }, uploadSpace: { mount: '/', availableKiB: 10_000_000 }, hasDpkgDeb: true, hasAptGet: true };
  assert.equal(chooseEngine({ ...host, nodeVersion: 'v20.11.1' }, { package: m, js: true }).kind, 'js');
  assert.equal(chooseEngine(host, { package: m, js: true }).kind, 'sea');
  assert.equal(chooseEngine({ ...host, nodeVersion: 'v16.20.0' }, { package: m, js: true }).kind, 'sea');
  assert.equal(chooseEngine({ ...host, nodeVersion: 'v20.11.1', debInstalled: '0.0.9' }, { package: m, js: true }).kind, 'deb', 'the installed package keeps being upgraded as a package');
  assert.equal(chooseEngine({ ...host, nodeVersion: 'v20.11.1' }, { package: m, js: true }, 'deb').kind, 'deb');
  assert.match(chooseEngine(host, { package: m, js: true }, 'deb', { prefix: true }).reason, /not under --prefix/);
  assert.equal(chooseEngine({ ...host, nodeVersion: 'v20.11.1' }, { package: m, js: true }, 'sea').kind, 'sea');
  assert.match(chooseEngine({ ...host, debInstalled: '0.0.9' }, { package: m, js: true }, 'sea').reason, /the package kata-dir-scanner 0\.0\.9 is installed on the CN: upgrade it as a package \(--engine deb\)/);
  assert.match(chooseEngine(host, { js: true }).reason, /the CN has no Node\.js; and the single executable cannot be used: this KDS has no engine package/);
  // What the executable needs, each said plainly.
  const why = (over: object) => chooseEngine({ ...host, ...over }, { package: m, js: true }).reason;
  assert.match(why({ arch: 'aarch64' }), /the CN is Linux aarch64; the engine is built for Linux x86_64/);
  assert.match(why({ libc: { family: 'glibc', version: '2.17', text: 'glibc 2.17' } }), /the CN's C library is glibc 2\.17; the engine \(Node\.js v20\.20\.2 inside\) needs glibc 2\.28 or later/);
  assert.match(why({ libc: { family: 'musl', version: '1.2.4', text: 'musl libc (x86_64)' } }), /C library is musl libc \(x86_64\); the engine needs glibc 2\.28/);
  assert.match(why({ libc: undefined }), /could not be determined/);
  assert.match(why({ kernel: '3.1.0' }), /kernel is 3\.1\.0; the engine's C library start-up needs 3\.2\.0 or later/);
  assert.match(why({ hasDpkgDeb: false }), /no dpkg-deb/);
  assert.match(why({ installSpace: { mount: '/opt', availableKiB: 60_000 } }), /\/opt\/kata-dir-scanner has 61\.4 MB free \(file system mounted on \/opt\); installing the engine needs 120\.4 MB there/);
  // The same file system for the upload and /opt: both needs count there.
  assert.match(why({ installSpace: { mount: '/', availableKiB: 130_000 } }), /installing the engine needs 150\.8 MB there/);
  assert.match(why({ uploadSpace: { mount: '/home', availableKiB: 1000 } }), /home folder has 1\.0 MB free \(file system mounted on \/home\); the upload needs 30\.4 MB/);
  // A kernel older than Node.js documents but newer than the executable's floor: a note, not a refusal.
  assert.equal(chooseEngine({ ...host, kernel: '4.9.0' }, { package: m, js: true }).kind, 'sea');
  assert.match(kernelNote({ ...host, kernel: '4.9.0' })!, /kernel 4\.9\.0 is older than 4\.18/);
  assert.equal(kernelNote(host), undefined);
});

function manifest(): EngineManifest {
  return {
    format: 1,
    version: '0.1.0',
    node: 'v20.20.2',
    arch: 'x86_64',
    sha256: 'aa',
    size: 90_000_000,
    requires: { glibc: '2.28', glibcxx: '3.4.21', kernel: '3.2.0', libraries: [] },
    package: { ...pkg, name: 'kata-dir-scanner', size: 22_000_000 },
    inputs: 'x',
  };
}

test('runSetupPlan: a failed start after an upgrade restores the previous engine and restarts it', async () => {
  const { runSetupPlan } = await import('../../src/centralNode/remoteInstall');
  const ran: string[] = [];
  const written: string[] = [];
  const ok = (stdout = '') => ({ code: 0, stdout: Buffer.from(stdout), stderr: Buffer.alloc(0) });
  const shell = {
    async exec(argv: string[], opts: { sudo?: unknown } = {}) {
      ran.push(`${opts.sudo ? 'sudo ' : ''}${argv.join(' ')}`);
      if (argv[0] === 'systemctl' && argv[1] === 'is-active') return { code: 3, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
      if (argv[0] === 'sha256sum') return { code: 1, stdout: Buffer.alloc(0), stderr: Buffer.from('No such file') };
      return ok();
    },
    async sftp() {
      return {
        async writeFileAtomic(path: string) {
          written.push(path);
        },
        async unlink() {},
      } as never;
    },
  };
  const plan = buildSetupPlan(
    inputs({ shares: undefined, certificate: undefined, engine: { kind: 'js', sha256: 'bb', files: [{ path: 'app/dist/kds.js', data: Buffer.from('new'), mode: 0o644 }] }, facts: facts({ isRoot: false, installedEngineSha256: 'aa', installedEngineKind: 'js', hasConfig: true, hasExcludeList: true, hasCertificate: true }) }),
  );
  const lines: string[] = [];
  await assert.rejects(
    runSetupPlan(shell, plan, { print: (l) => lines.push(l), confirm: async () => 'yes' }, { prefixMode: false, isRoot: false, yes: true, upgrade: true, settleMs: 0 }),
    /previous engine was restored/,
  );
  const i = ran.indexOf('systemctl is-active --quiet kata-dir-scanner.service');
  assert.ok(i > 0);
  assert.deepEqual(ran.slice(i + 1), [
    'sudo rm -rf /opt/kata-dir-scanner/app',
    'sudo mv /opt/kata-dir-scanner/app.previous /opt/kata-dir-scanner/app',
    'sudo systemctl restart kata-dir-scanner.service',
  ]);
  // Root-owned files went through a private upload, then a root-only-folder check and mktemp as root.
  assert.ok(written.every((p) => p.startsWith('/tmp/.kds-upload-')));
  assert.ok(ran.some((r) => r.startsWith('sudo sh -c kds_root_only() {') && r.includes('mktemp -- "$dir/.kds-new.XXXXXXXXXX"') && / kds-root-write \/opt\/kata-dir-scanner\/app\/dist\/kds\.js 0644 \/tmp\/.kds-upload-[0-9a-f]+ {2}$/.test(r)), ran.join('\n'));
  assert.ok(ran.includes('sudo cp -a /opt/kata-dir-scanner/app /opt/kata-dir-scanner/app.previous'));
  assert.ok(lines.some((l) => l.includes('restoring the previous one')));
});

test('metrics from kds remote setup: the address goes into the CN configuration, the unit lets its socket through; a kept configuration says how to add it', () => {
  const withSocket = configForCn(original, layout(undefined), () => SID, undefined, '/run/kata-dir-scanner/metrics.sock');
  assert.equal((JSON.parse(withSocket.text) as { metrics_listen: string }).metrics_listen, '/run/kata-dir-scanner/metrics.sock');
  const plan = buildSetupPlan(inputs({ cnConfigText: withSocket.text, metricsListen: '/run/kata-dir-scanner/metrics.sock' }));
  const unit = writes(plan.find((s) => s.id === 'unit')!.actions).find((w) => w.path.endsWith('.service'))!.data as string;
  assert.match(unit, /^ReadWritePaths=.* \/run\/kata-dir-scanner$/m);
  assert.equal((JSON.parse(configForCn(original, layout(undefined), () => SID, undefined, '127.0.0.1:9464').text) as { metrics_listen: string }).metrics_listen, '127.0.0.1:9464');
  // '' turns a local metrics_listen off on the CN; undefined keeps it.
  const local = JSON.stringify({ ...JSON.parse(original), metrics_listen: '9464' });
  assert.equal('metrics_listen' in JSON.parse(configForCn(local, layout(undefined), () => SID, undefined, '').text), false);
  assert.equal((JSON.parse(configForCn(local, layout(undefined), () => SID).text) as { metrics_listen: string }).metrics_listen, '9464');
  assert.throws(() => configForCn(original, layout(undefined), () => SID, undefined, '[::1:9464'), /metrics_listen/);

  const kept = buildSetupPlan(inputs({ metricsListen: '127.0.0.1:9464', facts: facts({ hasConfig: true }) }));
  assert.match(kept.find((s) => s.id === 'engine')!.notes.join('\n'), /metrics_listen is not set to 127\.0\.0\.1:9464: use --replace-config, or add "metrics_listen": "127\.0\.0\.1:9464"/);
});

test('a JavaScript engine is the same only when kds run\'s own bundle is too (a change of run-only code leaves dist/kds.js as it was)', () => {
  const js = (run: string): EngineFiles => ({ kind: 'js', sha256: 'aa', runBundleSha256: run, files: [{ path: 'app/dist/kds.js', data: Buffer.from('same'), mode: 0o644 }, { path: 'app/dist/kds-run.js', data: Buffer.from(run), mode: 0o644 }] });
  const installed = (run?: string) => facts({ installedEngineSha256: 'aa', installedEngineKind: 'js', ...(run !== undefined && { installedRunBundleSha256: run }), hasConfig: true, hasExcludeList: true, hasCertificate: true });
  const engineNotes = (p: ReturnType<typeof buildSetupPlan>) => p[2]!.notes;
  assert.ok(engineNotes(buildSetupPlan(inputs({ certificate: undefined, engine: js('r1'), facts: installed('r1') }))).some((n) => /already installed/.test(n)));
  for (const f of [installed('r0'), installed(undefined)]) {
    const p = buildSetupPlan(inputs({ certificate: undefined, engine: js('r1'), facts: f }));
    assert.ok(!engineNotes(p).some((n) => /already installed/.test(n)), 'another or no kds-run.js: an upgrade');
    assert.ok(writes(p[2]!.actions).some((w) => w.path.endsWith('app/dist/kds-run.js')));
  }
});
