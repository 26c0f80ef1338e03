import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runSetupPlan } from '../../src/centralNode/remoteInstall';
import { systemIdIn } from '../../src/centralNode/remoteInstall';
import { prepareSetup, SetupInputError, setupSummary } from '../../src/centralNode/setupInputs';
import { type Action, type RemoteFacts, describeAction } from '../../src/centralNode/setupPlan';
import { packageRoot } from '../../src/common/packageRoot';
import { remoteFacts } from '../helpers/remoteFacts';

const dir = mkdtempSync(join(tmpdir(), 'kds-setup-inputs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const facts = (over: Partial<RemoteFacts> = {}): RemoteFacts => remoteFacts({ fstab: '', ...over });

/** A local set-up as an administrator has it: configuration with a UTF-8 BOM, kata_ca and exclude list beside it. */
function localSetup(name: string): string {
  const d = join(dir, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  writeFileSync(join(d, 'kata_ca.pem'), '\uFEFF-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
  writeFileSync(join(d, 'exclude_list.txt'), '\uFEFF*.tmp\n');
  const conf = join(d, 'kata_dir_scanner.conf');
  writeFileSync(
    conf,
    '\uFEFF' + JSON.stringify({ in_dir: './in/', out_dir: './out/', qrnt_dir: './qrnt/', cert_pem: './cert.pem', cert_key: './server.key', kata_cn_addr: '10.0.0.1', kata_ca: 'kata_ca.pem', system_id: '' }),
  );
  return conf;
}

const writes = (actions: Action[]) => actions.filter((a): a is Extract<Action, { kind: 'write' }> => a.kind === 'write');
const engineBuilt = existsSync(join(packageRoot(), 'dist', 'kds.js'));

test('a fresh CN gets a client certificate made here; the temporary folder is removed afterwards; BOMs are not content', { skip: !engineBuilt && 'npm run build first (dist/kds.js)' }, async () => {
  // A temporary root of this test's own: test files run in parallel, and another one's set-up
  // may hold its own kds-remote-cert-* folder in the shared tmpdir at the same moment.
  const ownTmp = mkdtempSync(join(tmpdir(), 'kds-setup-tmp-'));
  const sharedTmp = process.env.TMPDIR;
  process.env.TMPDIR = ownTmp;
  let prepared: Awaited<ReturnType<typeof prepareSetup>>;
  try {
    prepared = await prepareSetup({ configPath: localSetup('fresh'), unitName: 'kata-dir-scanner', host: 'cn.example', facts: facts(), engine: 'js', systemId: () => 'sid-1' });
  } finally {
    if (sharedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = sharedTmp;
  }
  assert.equal(readdirSync(ownTmp).filter((n) => n.startsWith('kds-remote-cert-')).length, 1, 'the certificate was made in a temporary folder');
  try {
    const cert = prepared.steps.find((s) => s.id === 'certificate')!;
    const files = writes(cert.actions);
    assert.deepEqual(files.map((w) => w.path), ['/opt/kata-dir-scanner/server.key', '/opt/kata-dir-scanner/server.crt', '/opt/kata-dir-scanner/cert.pem']);
    assert.ok(!cert.notes.some((n) => /already has a client certificate/.test(n)), 'no claim of an existing certificate on a fresh CN');
    const crt = new X509Certificate(String(files[1]!.data));
    assert.equal(crt.fingerprint256, prepared.certificate!.fingerprint256);
    assert.match(crt.subject, /kds-cn\.example/);
    const engine = prepared.steps.find((s) => s.id === 'engine')!;
    const conf = writes(engine.actions).find((w) => w.path.endsWith('kata_dir_scanner.conf'))!;
    const cfg = JSON.parse(String(conf.data));
    assert.equal(cfg.system_id, 'sid-1');
    assert.equal(cfg.cert_pem, '/opt/kata-dir-scanner/cert.pem');
    assert.equal(writes(engine.actions).find((w) => w.path.endsWith('exclude_list.txt'))!.data, '*.tmp\n');
    assert.ok(!String(writes(engine.actions).find((w) => w.path.endsWith('kata_ca.pem'))!.data).startsWith('\uFEFF'));
    // Nothing on a fresh CN claims a backup of a file that is not there.
    for (const s of prepared.steps) for (const a of s.actions) assert.doesNotMatch(describeAction(a, false, false), /kds-backup/);
  } finally {
    await prepared.dispose();
  }
  assert.deepEqual(readdirSync(ownTmp), [], 'the temporary folder is removed afterwards');
  rmSync(ownTmp, { recursive: true, force: true });
});

test('a CN with a certificate keeps it; folders picked on the CN replace the shares step', { skip: !engineBuilt && 'npm run build first (dist/kds.js)' }, async () => {
  const folders = { in: '/srv/scan/in', out: '/srv/scan/out', qrnt: '/srv/scan/qrnt' };
  const prepared = await prepareSetup({ configPath: localSetup('folders'), unitName: 'kata-dir-scanner', host: 'cn', facts: facts({ hasCertificate: true }), engine: 'js', folders });
  try {
    assert.equal(prepared.certificate, undefined);
    const [first] = prepared.steps;
    assert.equal(first!.id, 'mounts');
    assert.deepEqual(first!.actions.filter((a) => a.kind === 'mkdir').map((a) => (a as { path: string }).path), Object.values(folders));
    const conf = writes(prepared.steps.find((s) => s.id === 'engine')!.actions).find((w) => w.path.endsWith('kata_dir_scanner.conf'))!;
    assert.equal(JSON.parse(String(conf.data)).in_dir, '/srv/scan/in/');
  } finally {
    await prepared.dispose();
  }
});

test('a missing local configuration is an input error, before anything on the CN', async () => {
  await assert.rejects(prepareSetup({ configPath: join(dir, 'nope.conf'), unitName: 'k', host: 'cn', facts: facts() }), (e: unknown) => e instanceof SetupInputError && e.kind === 'input');
});

test('no systemd: the unit step is skipped with a note, enroll still runs, and the summary says what is left', { skip: !engineBuilt && 'npm run build first (dist/kds.js)' }, async () => {
  const prepared = await prepareSetup({ configPath: localSetup('nosystemd'), unitName: 'kata-dir-scanner', host: 'cn', facts: facts({ hasSystemd: false }), engine: 'js', systemId: () => 'sid-2' });
  try {
    const unit = prepared.steps.find((s) => s.id === 'unit')!;
    assert.equal(unit.skipped, 'no systemd');
    assert.ok(unit.notes.some((n) => /systemd does not run on the CN/.test(n)));
    const ran: string[] = [];
    const shell = {
      async exec(argv: string[]) {
        ran.push(argv.join(' '));
        if (argv[0] === 'sha256sum') return { code: 1, stdout: Buffer.alloc(0), stderr: Buffer.from('No such file') };
        if (argv[0] === 'systemctl') return { code: 1, stdout: Buffer.alloc(0), stderr: Buffer.from('System has not been booted with systemd as init system (PID 1). Can\'t operate.') };
        // KATA has not approved the system yet: kds enroll says so and exits 3.
        if (argv.includes('enroll')) return { code: 3, stdout: Buffer.from('Integration request sent; it is pending (HTTP 401).\n'), stderr: Buffer.alloc(0) };
        return { code: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
      },
      async sftp() {
        return { async writeFileAtomic() {}, async unlink() {} } as never;
      },
    };
    const lines: string[] = [];
    const seen: string[] = [];
    const result = await runSetupPlan(shell, prepared.steps, { print: (l) => lines.push(l), confirm: async (s, i, n) => (seen.push(`${i}/${n} ${s.id}`), 'yes') }, { prefixMode: false, isRoot: true, yes: false, upgrade: false, settleMs: 0 });
    assert.ok(!ran.some((r) => r.startsWith('systemctl')), `no systemctl was run: ${ran.join('; ')}`);
    assert.ok(ran.some((r) => r.includes(' enroll --config ')), 'the integration request was still sent');
    assert.deepEqual(seen, ['1/4 certificate', '2/4 engine', '4/4 enroll']);
    assert.deepEqual(result.outcomes.map((o) => [o.id, o.outcome]), [
      ['certificate', 'done'],
      ['engine', 'done'],
      ['unit', 'skipped'],
      ['enroll', 'done'],
    ]);
    assert.ok(lines.some((l) => /skipped: no systemd/.test(l)));
    const summary = setupSummary(result.outcomes, prepared);
    assert.ok(summary.left.some((l) => /no systemd/.test(l)));
    assert.ok(summary.left.some((l) => l.includes('sid-2') && l.includes(prepared.certificate!.fingerprint256)));
  } finally {
    await prepared.dispose();
  }
});

test('the set-up summary says what is true: approved when the test scan was accepted; otherwise waiting, with the system_id and fingerprint to compare', () => {
  const fp = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
  const before = [{ id: 'certificate' as const, title: 'Client certificate', outcome: 'done' as const }];
  const enroll = (code: number, output: string) => [...before, { id: 'enroll' as const, title: 'Integration request from the CN', outcome: 'done' as const, last: { code, output } }];

  const approved = setupSummary(enroll(0, 'Sending the integration request to KATA at 127.0.0.1:443\nKATA has already approved this external system: the test scan 1234 was accepted.'), { systemId: 'sid-1', certificate: { fingerprint256: fp } });
  assert.ok(approved.done.some((l) => l.startsWith(`KATA has approved this external system (system_id sid-1, certificate SHA-256 ${fp})`)), approved.done.join('\n'));
  assert.deepEqual(approved.left, [], 'nothing is left to approve');

  const pending = setupSummary(enroll(3, `  client certificate SHA-256: ${fp}\nIntegration request sent; it is pending (HTTP 401).`), { systemId: 'sid-2' });
  assert.equal(pending.left.length, 1);
  assert.match(pending.left[0]!, /^Waiting for approval: in the KATA web console \(External systems\), accept the request of system_id sid-2 after checking that its certificate SHA-256 is AB:CD:EF/);
  assert.ok(pending.left[0]!.includes(fp), 'the fingerprint kds enroll printed, when the certificate was already on the CN');
  assert.ok(!pending.done.some((l) => /approved/.test(l)));

  const rejected = setupSummary(enroll(3, 'KATA rejected the integration of system_id sid-3 with certificate fingerprint x (HTTP 403).'), { systemId: 'sid-3', certificate: { fingerprint256: fp } });
  assert.match(rejected.left[0]!, /^KATA rejected the integration of system_id sid-3 \(HTTP 403\)/);

  const skipped = setupSummary([...before, { id: 'enroll' as const, title: 'Integration request from the CN', outcome: 'declined' as const }], { systemId: 'sid-4', certificate: { fingerprint256: fp } });
  assert.ok(skipped.left.some((l) => /send the integration request .* system_id sid-4, certificate SHA-256 AB:CD/.test(l)), skipped.left.join('\n'));
});

test('a CN without Node.js and no engine package here: the package is built once (a checkout), then the single executable is planned; without a builder the reason is said', async () => {
  const root = join(dir, 'engine-root');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'l10n'), { recursive: true });
  mkdirSync(join(root, 'schemas'), { recursive: true });
  writeFileSync(join(root, 'l10n', 'bundle.l10n.ru.json'), '{}');
  writeFileSync(join(root, 'schemas', 'kata_dir_scanner.schema.json'), '{}');
  const bare = facts({ nodeVersion: undefined, nodePath: undefined, kernel: '6.1.0', libc: { family: 'glibc', version: '2.36', text: 'glibc 2.36' }, installSpace: { mount: '/', availableKiB: 10_000_000 }, uploadSpace: { mount: '/', availableKiB: 10_000_000 }, hasDpkgDeb: true });
  const request = { configPath: localSetup('no-node'), unitName: 'kata-dir-scanner', host: 'cn.example', facts: bare, engineRoot: root, systemId: () => 'sid-3' };

  await assert.rejects(prepareSetup(request), (e: unknown) => e instanceof SetupInputError && e.kind === 'engine' && /No engine fits the Central Node, so nothing was changed there: the CN has no Node\.js; and the single executable cannot be used: this KDS has no engine package/.test((e as Error).message));

  let builds = 0;
  const buildPackage = async () => {
    builds++;
    mkdirSync(join(root, 'dist', 'engine'), { recursive: true });
    writeFileSync(join(root, 'dist', 'engine', 'kata-dir-scanner_9.9.9_amd64.deb'), 'deb');
    const manifest = { format: 1, version: '9.9.9', node: 'v20.20.2', arch: 'x86_64', sha256: 'ee'.repeat(32), size: 90_000_000, requires: { glibc: '2.28', glibcxx: '3.4.21', kernel: '3.2.0', libraries: [] }, package: { file: 'kata-dir-scanner_9.9.9_amd64.deb', name: 'kata-dir-scanner', version: '9.9.9', size: 3, sha256: 'dd'.repeat(32), member: './opt/kata-dir-scanner/kata-dir-scanner' }, inputs: 'x' };
    writeFileSync(join(root, 'dist', 'engine', 'engine.json'), JSON.stringify(manifest));
  };
  const prepared = await prepareSetup({ ...request, buildPackage });
  try {
    assert.equal(builds, 1);
    assert.match(prepared.engineReason, /single executable \(Node\.js v20\.20\.2 inside\), taken out of kata-dir-scanner_9\.9\.9_amd64\.deb/);
    const engine = prepared.steps.find((s) => s.id === 'engine')!.actions.find((a) => a.kind === 'engine');
    assert.ok(engine && engine.kind === 'engine' && engine.how === 'extract' && engine.sha256 === 'ee'.repeat(32) && engine.package.localPath === join(root, 'dist', 'engine', 'kata-dir-scanner_9.9.9_amd64.deb'));
  } finally {
    await prepared.dispose();
  }
  // Built now: a second set-up does not build again.
  await (await prepareSetup({ ...request, buildPackage })).dispose();
  assert.equal(builds, 1);
});

test('a set-up that keeps the CN\'s configuration names the system_id KATA knows, not a new one; --replace-config names the new one', { skip: !engineBuilt && 'npm run build first (dist/kds.js)' }, async () => {
  const kept = await prepareSetup({ configPath: localSetup('kept'), unitName: 'kata-dir-scanner', host: 'cn', facts: facts({ hasConfig: true, installedSystemId: 'approved-id', hasCertificate: true }), engine: 'js', systemId: () => 'fresh-id' });
  try {
    assert.equal(kept.systemId, 'approved-id');
    assert.ok(setupSummary([], kept).left.some((line) => line.includes('approved-id')));
    assert.ok(!setupSummary([], kept).left.some((line) => line.includes('fresh-id')));
  } finally {
    await kept.dispose();
  }
  const replaced = await prepareSetup({ configPath: localSetup('replaced'), unitName: 'kata-dir-scanner', host: 'cn', facts: facts({ hasConfig: true, installedSystemId: 'approved-id', hasCertificate: true }), engine: 'js', systemId: () => 'fresh-id', replaceConfig: true });
  try {
    assert.equal(replaced.systemId, 'fresh-id');
  } finally {
    await replaced.dispose();
  }
});

test('systemIdIn takes only the system_id of the CN\'s configuration text', () => {
  assert.equal(systemIdIn({ ok: true, text: '\uFEFF{"system_id":"abc","cert_key":"/x"}' }), 'abc');
  assert.equal(systemIdIn({ ok: true, text: '{"system_id":""}' }), undefined);
  assert.equal(systemIdIn({ ok: true, text: 'not json' }), undefined);
  assert.equal(systemIdIn({ ok: false, text: '' }), undefined);
});
