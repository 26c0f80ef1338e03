import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../../src/cli/serviceCommand';
import { originalTemplate, parseConfigText } from '../../src/engine/config';
import { renderLogrotate, renderServiceUnit, systemdWord } from '../../src/engine/serviceUnit';
import { runCapturingOutput } from '../helpers/cliOutput';

const SID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const original = () => parseConfigText(JSON.stringify({ ...originalTemplate, system_id: SID }), '/opt/kata-dir-scanner/kata_dir_scanner.conf').config;
const EXEC = ['/usr/bin/node', '/opt/kds/bin/kds.js'];

function directive(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}=`)).map((l) => l.slice(name.length + 1));
}

test('the unit for the original set-up: ordering, start, reload, restart, sandbox', () => {
  const unit = renderServiceUnit(original(), { exec: EXEC });
  assert.match(unit, /^\[Unit\]$/m);
  assert.match(unit, /^\[Service\]$/m);
  assert.match(unit, /^\[Install\]$/m);
  assert.equal(directive(unit, 'Description').length, 1);
  assert.deepEqual(directive(unit, 'After'), ['network-online.target remote-fs.target']);
  assert.deepEqual(directive(unit, 'Wants'), ['network-online.target']);
  assert.deepEqual(directive(unit, 'RequiresMountsFor'), ['/mnt/in /mnt/out /mnt/qrnt']);
  assert.deepEqual(directive(unit, 'ExecStart'), ['/usr/bin/node /opt/kds/bin/kds.js run --config /opt/kata-dir-scanner/kata_dir_scanner.conf']);
  assert.deepEqual(directive(unit, 'ExecStartPre'), ['+/bin/mkdir -p /opt/kata-dir-scanner/kds-state /var/log']);
  assert.deepEqual(directive(unit, 'ExecReload'), ['/bin/kill -HUP $MAINPID']);
  const expected: Record<string, string> = {
    Restart: 'on-failure',
    RestartSec: '5',
    RestartPreventExitStatus: '2',
    TimeoutStopSec: '30',
    ProtectSystem: 'strict',
    ReadWritePaths: '/mnt/in /mnt/out /mnt/qrnt /opt/kata-dir-scanner/kds-state /var/log',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    NoNewPrivileges: 'yes',
    ProtectKernelTunables: 'yes',
    ProtectKernelModules: 'yes',
    ProtectKernelLogs: 'yes',
    ProtectControlGroups: 'yes',
    RestrictSUIDSGID: 'yes',
    LockPersonality: 'yes',
    RestrictRealtime: 'yes',
    SystemCallArchitectures: 'native',
    UMask: '0077',
    WantedBy: 'multi-user.target',
  };
  for (const [name, value] of Object.entries(expected)) assert.deepEqual(directive(unit, name), [value], name);
  // Install section last, so that nothing appended lands in [Service] by accident.
  assert.ok(unit.indexOf('[Install]') > unit.indexOf('UMask='));
});

test('paths with spaces, quotes, % and $ are quoted and escaped for systemd', () => {
  assert.equal(systemdWord('/mnt/in'), '/mnt/in');
  assert.equal(systemdWord('/mnt/my share'), '"/mnt/my share"');
  assert.equal(systemdWord('/mnt/100%'), '/mnt/100%%');
  assert.equal(systemdWord('/mnt/a"b\\c'), '"/mnt/a\\"b\\\\c"');
  assert.equal(systemdWord('/opt/$HOME', 'exec'), '/opt/$$HOME');
  assert.equal(systemdWord('/opt/$HOME', 'path'), '/opt/$HOME');
  assert.equal(systemdWord("/it's"), '"/it\'s"');
  assert.throws(() => systemdWord('/a\nb'), /control character/);

  const config = parseConfigText(
    JSON.stringify({ ...originalTemplate, system_id: SID, in_dir: '/mnt/scan in', out_dir: '/mnt/out 100%', qrnt_dir: '/mnt/q', state_dir: 'state', log_file: '/var/log/kds logs/kds.log' }),
    '/opt/kata dir scanner/kata_dir_scanner.conf',
  ).config;
  const unit = renderServiceUnit(config, { exec: ['/opt/kds app/kds'] });
  assert.deepEqual(directive(unit, 'ExecStart'), ['"/opt/kds app/kds" run --config "/opt/kata dir scanner/kata_dir_scanner.conf"']);
  assert.deepEqual(directive(unit, 'RequiresMountsFor'), ['"/mnt/scan in" "/mnt/out 100%%" /mnt/q']);
  assert.deepEqual(directive(unit, 'ReadWritePaths'), ['"/mnt/scan in" "/mnt/out 100%%" /mnt/q "/opt/kata dir scanner/state" "/var/log/kds logs"']);
  assert.match(directive(unit, 'Description')[0]!, /100%%/);
  assert.match(renderLogrotate(config), /^"\/var\/log\/kds logs\/kds\.log" \{$/m);
});

test('ProtectHome is read-only when a configured path lies under /home or /root', () => {
  const base = { ...originalTemplate, system_id: SID };
  const cases: Array<[Record<string, unknown>, string[] | undefined, string]> = [
    [{}, undefined, 'yes'],
    [{ in_dir: '/home/scan/in' }, undefined, 'read-only'],
    [{ cert_pem: '/root/cert.pem' }, undefined, 'read-only'],
    [{ log_file: '/home/kds/kds.log' }, undefined, 'read-only'],
    [{}, ['/home/admin/kds/kds'], 'read-only'],
    [{ in_dir: '/homework/in' }, undefined, 'yes'],
  ];
  for (const [over, exec, expected] of cases) {
    const config = parseConfigText(JSON.stringify({ ...base, ...over }), '/opt/kata-dir-scanner/kata_dir_scanner.conf').config;
    assert.deepEqual(directive(renderServiceUnit(config, { exec: exec ?? EXEC }), 'ProtectHome'), [expected], JSON.stringify(over));
  }
});

test('logrotate snippet: weekly, 8 kept, compressed, and a HUP to the unit afterwards', () => {
  const text = renderLogrotate(original(), { unitName: 'kds-site-a' });
  assert.equal(
    text,
    [
      '/var/log/kata-dir-scanner.log {',
      '    weekly',
      '    rotate 8',
      '    compress',
      '    delaycompress',
      '    missingok',
      '    notifempty',
      '    create 0640',
      '    postrotate',
      '        systemctl kill -s HUP kds-site-a.service >/dev/null 2>&1 || true',
      '    endscript',
      '}',
      '',
    ].join('\n'),
  );
});

const runService = (argv: string[]) => runCapturingOutput(command, argv);

test('kds service prints the unit and the logrotate snippet, or either alone; a bad config exits 2', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kds service '));
  try {
    const file = join(dir, 'kata_dir_scanner.conf');
    await writeFile(file, JSON.stringify({ ...originalTemplate, system_id: SID, extra: 1 }));

    const both = await runService(['--config', file]);
    assert.equal(both.code, 0);
    assert.match(both.stdout, /^ExecStart=.* run --config ".*kata_dir_scanner\.conf"$/m);
    assert.match(both.stdout, /^# \/var\/log\/kata-dir-scanner\.log \{$/m, 'logrotate follows, commented out');
    assert.ok(both.stdout.split('\n').every((l) => l === '' || l.startsWith('#') || l.startsWith('[') || /^[A-Za-z]+=/.test(l)), 'the whole output is still a valid unit file');
    assert.match(both.stderr, /unknown key "extra"/);
    const exec = directive(both.stdout, 'ExecStart')[0]!;
    assert.ok(exec.startsWith(`${process.execPath} `) && exec.includes('/bin/kds.js run --config'), exec);

    const unit = await runService(['--config', file, '--unit-only', '--exec', '/usr/local/bin/kds', '--name', 'kds-a']);
    assert.equal(unit.code, 0);
    assert.deepEqual(directive(unit.stdout, 'ExecStart'), [`/usr/local/bin/kds run --config "${file}"`]);
    assert.doesNotMatch(unit.stdout, /logrotate|weekly/);

    const rotate = await runService(['--config', file, '--logrotate-only', '--name', 'kds-a']);
    assert.equal(rotate.code, 0);
    assert.match(rotate.stdout, /^\/var\/log\/kata-dir-scanner\.log \{\n/);
    assert.match(rotate.stdout, /systemctl kill -s HUP kds-a\.service/);

    await writeFile(file, JSON.stringify({ ...originalTemplate }));
    const bad = await runService(['--config', file]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /"system_id" is empty/);
    assert.equal((await runService(['--config', join(dir, 'missing.conf')])).code, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kds service rejects missing or contradictory options as usage errors', async () => {
  await assert.rejects(command.run([]), /--config FILE is required/);
  await assert.rejects(command.run(['--config', 'x', '--unit-only', '--logrotate-only']), /exclude each other/);
  await assert.rejects(command.run(['--config', 'x', '--name', 'a b']), /--name/);
  await assert.rejects(command.run(['--bogus']), /bogus/);
});

test('PrivateTmp is left out when a configured path lies under /tmp or /var/tmp (it would hide them)', () => {
  const base = { ...originalTemplate, system_id: SID };
  const cases: Array<[Record<string, unknown>, string[]]> = [
    [{}, ['yes']],
    [{ in_dir: '/tmp/scan/in' }, []],
    [{ state_dir: '/var/tmp/kds' }, []],
    [{ in_dir: '/tmpfs/in' }, ['yes']],
  ];
  for (const [over, expected] of cases) {
    const config = parseConfigText(JSON.stringify({ ...base, ...over }), '/opt/kata-dir-scanner/kata_dir_scanner.conf').config;
    assert.deepEqual(directive(renderServiceUnit(config, { exec: EXEC }), 'PrivateTmp'), expected, JSON.stringify(over));
  }
});

test('the sandbox lets the metrics endpoint and the SIEM through: the socket folder is writable and created, a CA under /root stays visible', () => {
  const base = { ...originalTemplate, system_id: SID };
  const conf = (over: Record<string, unknown>) => parseConfigText(JSON.stringify({ ...base, ...over }), '/opt/kata-dir-scanner/kata_dir_scanner.conf').config;
  // A TCP endpoint and a TCP/TLS/UDP SIEM need nothing of the unit: it restricts neither address families nor IP addresses.
  const tcp = renderServiceUnit(conf({ metrics_listen: '127.0.0.1:9464', siem: { host: 'siem.example.local', transport: 'tls' } }), { exec: EXEC });
  assert.deepEqual(tcp, renderServiceUnit(original(), { exec: EXEC }));
  for (const name of ['RestrictAddressFamilies', 'IPAddressDeny', 'IPAddressAllow', 'PrivateNetwork', 'SocketBindDeny']) assert.deepEqual(directive(tcp, name), [], name);

  const unix = renderServiceUnit(conf({ metrics_listen: '/run/kata-dir-scanner/metrics.sock' }), { exec: EXEC });
  assert.deepEqual(directive(unix, 'ReadWritePaths'), ['/mnt/in /mnt/out /mnt/qrnt /opt/kata-dir-scanner/kds-state /var/log /run/kata-dir-scanner']);
  assert.deepEqual(directive(unix, 'ExecStartPre'), ['+/bin/mkdir -p /opt/kata-dir-scanner/kds-state /var/log /run/kata-dir-scanner']);
  // A socket in /tmp must be the real /tmp, where a client can reach it.
  assert.deepEqual(directive(renderServiceUnit(conf({ metrics_listen: '/tmp/kds/metrics.sock' }), { exec: EXEC }), 'PrivateTmp'), []);

  const ca = renderServiceUnit(conf({ siem: { host: '192.0.2.20', transport: 'tls', ca: '/root/siem-ca.pem' } }), { exec: EXEC });
  assert.deepEqual(directive(ca, 'ProtectHome'), ['read-only']);
});
