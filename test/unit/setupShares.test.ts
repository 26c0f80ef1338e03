import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildAddSharesPlan, withAddedShares } from '../../src/centralNode/addSharesPlan';
import { runSetupPlan } from '../../src/centralNode/remoteInstall';
import { prepareSetup, SetupInputError, setupSummary } from '../../src/centralNode/setupInputs';
import { type Action, type PlanInputs, buildSetupPlan, configForCn, layout, writabilityCheck } from '../../src/centralNode/setupPlan';
import { parseConfigText } from '../../src/engine/config';
import { remoteFacts } from '../helpers/remoteFacts';

const SID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const now = new Date('2025-01-02T03:04:05.678Z');
const identity = { cert_pem: './cert.pem', cert_key: './server.key', kata_cn_addr: 'localhost', system_id: SID };
/** Top-level folders (share default) and two listed shares, as an administrator writes them locally. */
const three = JSON.stringify({
  in_dir: './in/',
  out_dir: './out/',
  qrnt_dir: './qrnt/',
  ...identity,
  shares: [
    { name: 'hr', in_dir: './hr/in/', out_dir: './hr/out/', qrnt_dir: './hr/qrnt/', exclude_list: 'hr.exclude' },
    { name: 'partners', in_dir: './p/in/', out_dir: './p/out/', qrnt_dir: './p/qrnt/', max_file_size_mb: 20 },
  ],
});

const facts = remoteFacts;
const engine = { kind: 'sea' as const, sha256: 'aa', files: [{ path: 'kata-dir-scanner', data: Buffer.from('x'), mode: 0o755 }] };
const cifs = { host: 'fileserver', names: { in: 'in', out: 'out', qrnt: 'qrnt' }, user: 'scanner', password: 'pw' };

function inputs(configText: string, over: Partial<PlanInputs> = {}): PlanInputs {
  return {
    configText,
    configName: 'kata_dir_scanner.conf',
    engine,
    shares: cifs,
    facts: facts(),
    cnConfigText: configForCn(configText, layout(undefined), () => SID).text,
    now,
    ...over,
  };
}

const runs = (actions: Action[]) => actions.filter((a): a is Extract<Action, { kind: 'run' }> => a.kind === 'run').map((a) => a.argv);
const writes = (actions: Action[]) => actions.filter((a): a is Extract<Action, { kind: 'write' }> => a.kind === 'write');
const mkdirs = (actions: Action[]) => actions.filter((a): a is Extract<Action, { kind: 'mkdir' }> => a.kind === 'mkdir').map((a) => a.path);
const folders = (...shares: string[]) => shares.flatMap((s) => (s === 'default' ? ['/mnt/in', '/mnt/out', '/mnt/qrnt'] : [`/mnt/${s}/in`, `/mnt/${s}/out`, `/mnt/${s}/qrnt`]));

test('several shares: each is mounted on /mnt/<name>/… from its CIFS shares, gets its folders checked and its own exclude list', () => {
  const plan = buildSetupPlan(inputs(three, { shareCifsNames: { partners: { in: 'ext$', out: 'ext-clean', qrnt: 'ext-bad' } }, shareExcludeTexts: { hr: '*.tmp\n' } }));
  assert.deepEqual(plan.map((s) => s.id), ['mounts', 'certificate', 'engine', 'unit', 'enroll']);
  const [mounts, , eng, unit] = plan;
  assert.match(mounts!.title, /default, hr, partners/);
  assert.deepEqual(mkdirs(mounts!.actions), [...folders('default', 'hr', 'partners'), '/root']);
  const fstab = String(writes(mounts!.actions).find((w) => w.path === '/etc/fstab')!.data);
  assert.equal(
    fstab,
    [
      'UUID=abc / ext4 defaults 0 1',
      '//fileserver/in /mnt/in cifs credentials=/root/.kata-secret 0 0',
      '//fileserver/out /mnt/out cifs credentials=/root/.kata-secret 0 0',
      '//fileserver/qrnt /mnt/qrnt cifs credentials=/root/.kata-secret 0 0',
      '//fileserver/hr-in /mnt/hr/in cifs credentials=/root/.kata-secret 0 0',
      '//fileserver/hr-out /mnt/hr/out cifs credentials=/root/.kata-secret 0 0',
      '//fileserver/hr-qrnt /mnt/hr/qrnt cifs credentials=/root/.kata-secret 0 0',
      '//fileserver/ext$ /mnt/partners/in cifs credentials=/root/.kata-secret 0 0',
      '//fileserver/ext-clean /mnt/partners/out cifs credentials=/root/.kata-secret 0 0',
      '//fileserver/ext-bad /mnt/partners/qrnt cifs credentials=/root/.kata-secret 0 0',
      '',
    ].join('\n'),
  );
  assert.deepEqual(runs(mounts!.actions), [['mount', '-a'], ...folders('default', 'hr', 'partners').map((f) => writabilityCheck(f))]);
  // One exclude list per share, the local text where there is one.
  assert.deepEqual(
    writes(eng!.actions).filter((w) => /exclude/.test(w.path)).map((w) => [w.path, String(w.data)]),
    [
      ['/opt/kata-dir-scanner/exclude_list.txt', ''],
      ['/opt/kata-dir-scanner/exclude_list.hr.txt', '*.tmp\n'],
      ['/opt/kata-dir-scanner/exclude_list.partners.txt', ''],
    ],
  );
  // The configuration the CN gets: each share on its mount points and exclude list, limits kept.
  const cfg = parseConfigText(String(writes(eng!.actions).find((w) => w.path.endsWith('.conf'))!.data), '/opt/kata-dir-scanner/kata_dir_scanner.conf').config;
  assert.deepEqual(cfg.shares.map((s) => [s.name, s.in_dir, s.out_dir, s.qrnt_dir, s.exclude_list]), [
    ['default', '/mnt/in', '/mnt/out', '/mnt/qrnt', '/opt/kata-dir-scanner/exclude_list.txt'],
    ['hr', '/mnt/hr/in', '/mnt/hr/out', '/mnt/hr/qrnt', '/opt/kata-dir-scanner/exclude_list.hr.txt'],
    ['partners', '/mnt/partners/in', '/mnt/partners/out', '/mnt/partners/qrnt', '/opt/kata-dir-scanner/exclude_list.partners.txt'],
  ]);
  assert.equal(cfg.shares[2]!.max_file_size_mb, 20);
  // One service for all: the unit waits for every share's mounts.
  const unitText = String(writes(unit!.actions).find((w) => w.path.endsWith('.service'))!.data);
  for (const f of folders('default', 'hr', 'partners')) assert.ok(unitText.includes(f), `${f} in RequiresMountsFor`);
});

test('only listed shares (no top-level folders): no /mnt/in triple; folders picked on the CN serve the top-level share, listed shares get /mnt/<name>/…', () => {
  const onlyListed = JSON.stringify({ ...identity, shares: JSON.parse(three).shares });
  const plan = buildSetupPlan(inputs(onlyListed));
  assert.deepEqual(mkdirs(plan[0]!.actions), [...folders('hr', 'partners'), '/root']);
  assert.ok(!writes(plan[2]!.actions).some((w) => w.path === '/opt/kata-dir-scanner/exclude_list.txt'), 'no exclude list of a share that does not exist');
  const picked = { in: '/srv/scan/in', out: '/srv/scan/out', qrnt: '/srv/scan/qrnt' };
  const withFolders = buildSetupPlan(inputs(three, { shares: undefined, folders: picked, cnConfigText: configForCn(three, layout(undefined), () => SID, picked).text }));
  assert.deepEqual(mkdirs(withFolders[0]!.actions), [...Object.values(picked), ...folders('hr', 'partners')]);
  assert.deepEqual(runs(withFolders[0]!.actions), [...Object.values(picked), ...folders('hr', 'partners')].map((f) => writabilityCheck(f)));
});

test('a kept configuration that lacks shares of the local one says so and points at --add-shares; installed exclude lists are kept', () => {
  const installed = configForCn(JSON.stringify({ in_dir: './in/', out_dir: './out/', qrnt_dir: './qrnt/', ...identity }), layout(undefined), () => SID).text;
  const kept = buildSetupPlan(inputs(three, { facts: facts({ hasConfig: true, hasExcludeList: true, installedConfigText: installed }) }));
  assert.ok(kept[2]!.notes.some((n) => n.includes('hr, partners') && n.includes('--add-shares')), kept[2]!.notes.join('\n'));
  assert.ok(!writes(kept[2]!.actions).some((w) => /exclude_list\.(hr|partners)/.test(w.path)));
  const replaced = buildSetupPlan(inputs(three, { replaceConfig: true, facts: facts({ hasConfig: true, hasExcludeList: true, installedShareExcludes: ['hr'] }) }));
  assert.deepEqual(writes(replaced[2]!.actions).filter((w) => /exclude/.test(w.path)).map((w) => w.path), ['/opt/kata-dir-scanner/exclude_list.partners.txt']);
  assert.ok(replaced[2]!.notes.some((n) => /exclude list of share hr is kept/.test(n)));
});

// ---------------------------------------------------------------- adding shares to a CN set up

const l = layout(undefined);
/** A CN set up with one share and hr (as set-up wrote it), partners edited by hand (max_inflight 7). */
const installedText = JSON.stringify(
  { ...JSON.parse(configForCn(JSON.stringify({ in_dir: './in/', out_dir: './out/', qrnt_dir: './qrnt/', ...identity, shares: [JSON.parse(three).shares[0]] }), l, () => SID).text), max_inflight: 7 },
  null,
  2,
);
const withFinance = JSON.stringify({ ...JSON.parse(three), system_id: '', kata_cn_addr: 'elsewhere', shares: [...JSON.parse(three).shares, { name: 'finance', in_dir: './f/in/', out_dir: './f/out/', qrnt_dir: './f/qrnt/' }] });

test('adding shares: the installed configuration gains only the new entries; its identity, limits and shares are kept', () => {
  const r = withAddedShares(withFinance, installedText, l);
  assert.deepEqual(r.added, ['partners', 'finance']);
  assert.equal(r.systemId, SID);
  const raw = JSON.parse(r.text);
  const before = JSON.parse(installedText);
  for (const k of Object.keys(before)) if (k !== 'shares') assert.deepEqual(raw[k], before[k], k);
  assert.deepEqual(raw.shares.slice(0, 1), before.shares);
  assert.deepEqual(raw.shares[2], { name: 'finance', in_dir: '/mnt/finance/in/', out_dir: '/mnt/finance/out/', qrnt_dir: '/mnt/finance/qrnt/', exclude_list: '/opt/kata-dir-scanner/exclude_list.finance.txt' });
  assert.throws(() => withAddedShares(three, r.text, l), /already has every share of this configuration \(default, hr, partners, finance\)/);
  assert.throws(() => withAddedShares(JSON.stringify({ in_dir: './in/', out_dir: './out/', qrnt_dir: './qrnt/', ...identity }), installedText, l), /lists no shares/);
});

test('adding shares: only the new shares are mounted (own credentials file, no fstab line replaced), the unit is rewritten and the service restarted; no certificate, engine or enrolment', () => {
  const r = withAddedShares(withFinance, installedText, l);
  const fstab = 'UUID=abc / ext4 defaults 0 1\n//fileserver/in /mnt/in cifs credentials=/root/.kata-secret 0 0\n';
  const plan = buildAddSharesPlan({
    ...inputs(withFinance, { facts: facts({ hasConfig: true, hasExcludeList: true, hasCertificate: true, hasUnit: true, installedEngineSha256: 'aa', installedEngineKind: 'sea', fstab, installedConfigText: installedText }) }),
    cnConfigText: r.text,
    shareExcludeTexts: { finance: '*.bak\n' },
    added: r.added,
  });
  assert.deepEqual(plan.map((s) => s.id), ['mounts', 'engine', 'unit']);
  const [mounts, conf, unit] = plan;
  assert.deepEqual(mkdirs(mounts!.actions), [...folders('partners', 'finance'), '/root']);
  assert.equal(writes(mounts!.actions)[0]!.path, '/root/.kata-secret.partners');
  const newFstab = String(writes(mounts!.actions).find((w) => w.path === '/etc/fstab')!.data);
  assert.ok(newFstab.startsWith(fstab), 'the installed lines stay as they are');
  assert.match(newFstab, /^\/\/fileserver\/finance-qrnt \/mnt\/finance\/qrnt cifs credentials=\/root\/\.kata-secret\.partners 0 0$/m);
  assert.ok(!mounts!.notes.some((n) => /comment out/.test(n)));
  assert.deepEqual(runs(mounts!.actions), [['mount', '-a'], ...folders('partners', 'finance').map((f) => writabilityCheck(f))]);
  const confWrite = writes(conf!.actions)[0]!;
  assert.equal(confWrite.path, '/opt/kata-dir-scanner/kata_dir_scanner.conf');
  assert.equal(confWrite.backup, '/opt/kata-dir-scanner/kata_dir_scanner.conf.kds-backup-20250102T030405Z');
  assert.deepEqual(writes(conf!.actions).slice(1).map((w) => [w.path, String(w.data)]), [
    ['/opt/kata-dir-scanner/exclude_list.partners.txt', ''],
    ['/opt/kata-dir-scanner/exclude_list.finance.txt', '*.bak\n'],
  ]);
  assert.ok(conf!.notes.some((n) => n.includes('(default, hr)')), conf!.notes.join('\n'));
  assert.deepEqual(runs(conf!.rollback), [
    ['cp', '-p', '/opt/kata-dir-scanner/kata_dir_scanner.conf.kds-backup-20250102T030405Z', '/opt/kata-dir-scanner/kata_dir_scanner.conf'],
    ['cp', '-p', '/etc/systemd/system/kata-dir-scanner.service.kds-backup-20250102T030405Z', '/etc/systemd/system/kata-dir-scanner.service'],
    ['systemctl', 'daemon-reload'],
  ]);
  assert.deepEqual(runs(unit!.actions).slice(0, 2), [['systemctl', 'daemon-reload'], ['systemctl', 'restart', 'kata-dir-scanner.service']]);
  assert.match(String(writes(unit!.actions)[0]!.data), /\/mnt\/finance\/qrnt/);
});

test('adding shares: a service that does not stay running gets the previous configuration and unit back and is restarted', async () => {
  const r = withAddedShares(withFinance, installedText, l);
  const plan = buildAddSharesPlan({
    ...inputs(withFinance, { shares: undefined, facts: facts({ hasConfig: true, hasExcludeList: true, hasCertificate: true, hasUnit: true, installedEngineSha256: 'aa', installedEngineKind: 'sea' }) }),
    cnConfigText: r.text,
    added: r.added,
  });
  const ran: string[] = [];
  const shell = {
    async exec(argv: string[]) {
      ran.push(argv.join(' '));
      if (argv[0] === 'systemctl' && argv[1] === 'is-active') return { code: 3, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
      if (argv[0] === 'sha256sum') return { code: 0, stdout: Buffer.from('00 x\n'), stderr: Buffer.alloc(0) };
      return { code: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
    },
    async sftp() {
      return { async writeFileAtomic() {}, async unlink() {} } as never;
    },
  };
  const printed: string[] = [];
  await assert.rejects(
    runSetupPlan(shell, plan, { print: (line) => printed.push(line), confirm: async () => 'yes' }, { prefixMode: false, isRoot: true, yes: true, upgrade: true, settleMs: 0 }),
    /failed to start with shares partners, finance; the previous configuration and unit were restored and the service restarted on them/,
  );
  assert.ok(printed.some((l) => /restoring the previous configuration and unit/.test(l)), printed.join('\n'));
  assert.ok(!printed.some((l) => /previous engine|new engine/.test(l)), 'nothing is said about an engine that was not changed');
  const i = ran.indexOf('systemctl is-active --quiet kata-dir-scanner.service');
  assert.ok(i > 0);
  assert.match(ran[i + 1]!, /^cp -p \/opt\/kata-dir-scanner\/kata_dir_scanner\.conf\.kds-backup-\S+ \/opt\/kata-dir-scanner\/kata_dir_scanner\.conf$/);
  assert.match(ran[i + 2]!, /^cp -p \/etc\/systemd\/system\/kata-dir-scanner\.service\.kds-backup-\S+ \/etc\/systemd\/system\/kata-dir-scanner\.service$/);
  assert.deepEqual(ran.slice(i + 3), ['systemctl daemon-reload', 'systemctl restart kata-dir-scanner.service']);
  // Without a restart that succeeded the summary says what is left; nothing is asked of KATA.
  const left = setupSummary([{ id: 'unit', title: 'u', outcome: 'declined' }], { systemId: SID, added: r.added });
  assert.match(left.left.join('\n'), /restart the service so that it serves shares partners, finance \(systemctl restart kata-dir-scanner\.service\).*no new approval/);
  const named = setupSummary([{ id: 'unit', title: 'u', outcome: 'skipped', reason: 'no systemd' }], { systemId: SID, added: r.added, unitName: 'kds-hr' });
  assert.match(named.left.join('\n'), /systemctl restart kds-hr\.service/);
  const done = setupSummary([{ id: 'unit', title: 'u', outcome: 'done' }], { systemId: SID, added: r.added });
  assert.deepEqual(done.left, []);
});

const dir = mkdtempSync(join(tmpdir(), 'kds-setup-shares-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('prepareSetup --add-shares: reads each share\'s local exclude list; refuses a CN without KDS or whose configuration it cannot read', async () => {
  mkdirSync(join(dir, 'local'));
  const conf = join(dir, 'local', 'kata_dir_scanner.conf');
  writeFileSync(conf, withFinance);
  writeFileSync(join(dir, 'local', 'hr.exclude'), '*.hr\n');
  writeFileSync(join(dir, 'local', 'exclude_list.finance.txt'), '\uFEFF*.fin\n');
  const engineRoot = join(dir, 'engine');
  mkdirSync(join(engineRoot, 'dist'), { recursive: true });
  mkdirSync(join(engineRoot, 'bin'));
  mkdirSync(join(engineRoot, 'l10n'));
  mkdirSync(join(engineRoot, 'schemas'));
  for (const f of ['dist/kds.js', 'dist/kds-run.js', 'bin/kds.js', 'l10n/bundle.l10n.ru.json', 'schemas/kata_dir_scanner.schema.json']) writeFileSync(join(engineRoot, f), '{}');
  const base = { configPath: conf, unitName: 'kata-dir-scanner', host: 'cn', engine: 'js' as const, engineRoot, addShares: true };
  const prepared = await prepareSetup({ ...base, facts: facts({ hasConfig: true, hasCertificate: true, installedConfigText: installedText }) });
  assert.deepEqual(prepared.added, ['partners', 'finance']);
  assert.equal(prepared.certificate, undefined, 'no certificate is made for added shares');
  const excl = writes(prepared.steps.find((s) => s.id === 'engine')!.actions).filter((w) => /exclude/.test(w.path));
  assert.deepEqual(excl.map((w) => [w.path, String(w.data)]), [
    ['/opt/kata-dir-scanner/exclude_list.partners.txt', ''],
    ['/opt/kata-dir-scanner/exclude_list.finance.txt', '*.fin\n'],
  ]);
  await prepared.dispose();
  await assert.rejects(prepareSetup({ ...base, facts: facts() }), (e: Error) => e instanceof SetupInputError && /not set up on the CN/.test(e.message));
  await assert.rejects(prepareSetup({ ...base, facts: facts({ hasConfig: true }) }), (e: Error) => e instanceof SetupInputError && /could not be read/.test(e.message));
  // A full set-up reads the listed shares' exclude lists too (hr: its exclude_list key).
  const full = await prepareSetup({ ...base, addShares: false, facts: facts(), systemId: () => SID });
  const fullExcl = writes(full.steps.find((s) => s.id === 'engine')!.actions).filter((w) => /exclude_list\.hr/.test(w.path));
  assert.equal(String(fullExcl[0]!.data), '*.hr\n');
  await full.dispose();
});
