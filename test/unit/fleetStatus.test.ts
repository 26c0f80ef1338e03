import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeStatus, ShareStatus } from '../../src/engine/nodeStatus';
import { type CnProbe, assessCn, fleetBarText, needsAttention, serviceRuns } from '../../src/viewModel/fleetStatus';
import { fleetExitCode } from '../../src/cli/fleetCommand';

const share = (over: Partial<ShareStatus> = {}): ShareStatus => ({
  name: 'default',
  waiting: 2,
  skipped: 0,
  outToday: 10,
  qrntToday: 1,
  qrntLastHour: 0,
  inQuarantine: 1,
  folders: (['in', 'out', 'qrnt'] as const).map((folder) => ({ folder, path: `/mnt/${folder}`, ok: true })),
  ...over,
});

const status = (over: Partial<NodeStatus> = {}, service: Partial<NodeStatus['service']> = {}): NodeStatus => ({
  format: 1,
  version: '0.2.0',
  time: '2025-01-01T10:00:00.000Z',
  dayStart: '2025-01-01T00:00:00.000Z',
  configPath: '/opt/kata-dir-scanner/kata_dir_scanner.conf',
  service: { running: true, approval: 'approved', systemId: 'sys-1', ...service },
  shares: [share()],
  ...over,
});

const now = Date.parse('2025-01-01T10:00:30Z');
const ok = (over: Partial<CnProbe> = {}): CnProbe => ({ at: now - 20_000, outcome: 'ok', unit: 'active', status: status(), ...over });

test('a healthy CN: running, approved, KDS version and today\'s counts in one line; nothing to act on', () => {
  const a = assessCn(ok(), { now });
  assert.equal(a.health, 'ok');
  assert.equal(a.icon, 'pass');
  assert.deepEqual(a.attention, []);
  assert.equal(a.description, 'running · KDS 0.2.0 · 2 waiting · 10 out · 1 quarantined today');
  assert.equal(a.shares.length, 1);
  assert.equal(a.shares[0]!.name, 'default');
  assert.match(a.shares[0]!.tooltip, /1 file in quarantine now/);
  assert.ok(a.details.some((d) => /Checked 20 seconds ago/.test(d)), a.details.join('|'));
  assert.equal(needsAttention(a), false);
});

test('a stopped service needs attention: systemd\'s answer first, else the engine\'s lock', () => {
  assert.equal(serviceRuns(ok({ unit: 'inactive' })), false);
  assert.equal(serviceRuns(ok({ unit: 'none', status: status({}, { running: false }) })), false);
  assert.equal(serviceRuns(ok({ unit: 'none' })), true);
  assert.equal(serviceRuns(ok({ unit: 'active', status: status({}, { running: false }) })), true, 'systemd knows best');
  const stopped = assessCn(ok({ unit: 'failed' }), { now });
  assert.equal(stopped.health, 'attention');
  assert.equal(stopped.icon, 'warning');
  assert.equal(stopped.description, 'The service has failed.');
  const lock = assessCn(ok({ unit: 'none', status: status({}, { running: false }) }), { now });
  assert.deepEqual(lock.attention, ['The service is stopped.']);
});

test('a lost KATA approval, a share not mounted and a growing quarantine are each named', () => {
  const a = assessCn(
    ok({
      status: status(
        { shares: [share({ qrntLastHour: 3, folders: [{ folder: 'in', path: '/mnt/in', ok: false, problem: 'not mounted (/etc/fstab: //fs/in cifs)' }, { folder: 'out', path: '/mnt/out', ok: true }, { folder: 'qrnt', path: '/mnt/qrnt', ok: true }] })] },
        { approval: 'pending' },
      ),
    }),
    { now },
  );
  assert.equal(a.health, 'attention');
  assert.deepEqual(a.attention, [
    'KATA has not approved the integration yet (system_id sys-1).',
    'Share default: the in folder /mnt/in: not mounted (/etc/fstab: //fs/in cifs)',
    'Share default: quarantine is growing (3 files in the last hour).',
  ]);
  assert.equal(a.shares[0]!.attention, true);
  assert.match(a.shares[0]!.description, /^in folder \/mnt\/in: not mounted/);
});

test('each share\'s tooltip names its own last warning or error; the CN\'s tooltip the newest of all', () => {
  const lp = (share: string, event: string, level: 'warn' | 'error' = 'warn') => ({ time: '2025-01-01T09:59:00.000Z', level, event, message: `${event} happened`, share });
  const a = assessCn(
    ok({
      status: status({
        shares: [share({ name: 'hr', lastProblem: lp('hr', 'renamed') }), share({ name: 'fin' })],
        lastProblem: { ...lp('hr', 'renamed'), time: '2025-01-01T09:59:30.000Z', event: 'kata', message: 'KATA did not answer', level: 'error' },
      }),
    }),
    { now },
  );
  assert.match(a.shares[0]!.tooltip, /Last warning \(2025-01-01T09:59:00.000Z\): renamed renamed happened/);
  assert.doesNotMatch(a.shares[1]!.tooltip, /Last (warning|error)/, 'fin has none of its own');
  assert.ok(a.details.some((d) => /^Last error \(2025-01-01T09:59:30.000Z\): kata KATA did not answer/.test(d)), a.details.join('|'));
  assert.equal(a.health, 'ok', 'a logged warning alone is not an alarm');
});

test('unreachable, host key, sign-in and not installed are told apart, each with its reason', () => {
  const un = assessCn({ at: now, outcome: 'unreachable', reason: 'Cannot connect to h:22 over SSH: ECONNREFUSED' }, { now });
  assert.equal(un.health, 'unreachable');
  assert.equal(un.icon, 'error');
  assert.match(un.attention[0]!, /ECONNREFUSED/);
  assert.equal(assessCn({ at: now, outcome: 'host-key', reason: 'The host key of h:22 … was not accepted.' }, { now }).description, 'host key not trusted');
  assert.equal(assessCn({ at: now, outcome: 'auth', reason: 'Authentication failed' }, { now }).description, 'sign-in needed');
  const ni = assessCn({ at: now, outcome: 'not-installed' }, { now });
  assert.equal(ni.description, 'KDS not installed');
  assert.equal(needsAttention(ni), true);
  assert.equal(assessCn(undefined).health, 'unknown');
  assert.equal(assessCn(undefined, { checking: true }).icon, 'sync~spin');
});

test('an engine older than the extension: its version and what it can tell, no counts, not an alarm by itself', () => {
  const a = assessCn({ at: now, outcome: 'ok', unit: 'active', engineVersion: '0.1.0', statusProblem: 'The engine on the Central Node (0.1.0) is older than this KDS and cannot report counts: run Set Up to upgrade it.', legacyPending: 4 }, { now });
  assert.equal(a.health, 'ok');
  assert.equal(a.description, 'running · KDS 0.1.0');
  assert.ok(a.details.some((d) => /older than this KDS/.test(d)));
  assert.ok(a.details.some((d) => /4 files with KATA or waiting to be moved/.test(d)));
});

test('text from the CN is shown as text: controls and bidi overrides are made visible', () => {
  const a = assessCn(ok({ status: status({ lastProblem: { time: 't', level: 'warn', event: 'e', message: 'evil\u202etxt.exe\nnext' } }) }), { now });
  const line = a.details.find((d) => d.startsWith('Last warning'))!;
  assert.ok(!/[\u202e\n]/.test(line), line);
  assert.match(line, /\\u202E/);
});

test('status bar: how many CNs need attention, of how many; the CLI exit code', () => {
  const good = assessCn(ok(), { now });
  const stopped = assessCn(ok({ unit: 'inactive' }), { now });
  const unreachable = assessCn({ at: now, outcome: 'unreachable', reason: 'x' }, { now });
  const pending = assessCn(ok({ status: status({}, { approval: 'pending' }) }), { now });
  assert.deepEqual(fleetBarText([good, good]), { text: '$(server) 2 CNs', warning: false, tooltip: '2 Central Nodes saved' });
  const bar = fleetBarText([good, stopped, unreachable, assessCn(undefined)]);
  assert.equal(bar.text, '$(warning) 2 CNs need attention');
  assert.equal(bar.warning, true);
  assert.match(bar.tooltip, /4 Central Nodes saved\n2 need attention\n1 not checked yet/);
  assert.equal(fleetExitCode([good, good]), 0);
  assert.equal(fleetExitCode([good, pending]), 3);
  assert.equal(fleetExitCode([pending, stopped]), 1);
  assert.equal(fleetExitCode([unreachable]), 1);
});
