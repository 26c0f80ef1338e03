/**
 * Issue 19, point 14: the service's unit name never becomes an option of systemctl or journalctl.
 * `kds remote start --name=-H.evil` was accepted and ran `systemctl start -H.evil.service`
 * (systemctl's -H: operate on another host); a leading "-" is refused before anything connects,
 * and every systemctl argv ends its options with "--".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serviceArgv, unitNameProblem } from '../../src/centralNode/cnOps';
import { command as remote } from '../../src/cli/remoteCommand';
import { UsageError } from '../../src/cli/command';

test('unit names: systemd characters only, never a leading "-"', () => {
  assert.equal(unitNameProblem('kata-dir-scanner'), undefined);
  assert.equal(unitNameProblem('kds@share-1.service'), undefined);
  for (const bad of ['-H.evil', '--host=x', '--user', '-', '../../etc/x', 'a b', 'x;id', '']) assert.ok(unitNameProblem(bad), bad);
  assert.match(unitNameProblem('-H.evil')!, /must not start with "-"/);
});

test('systemctl argv: "--" before the unit; a bad name throws instead of running', () => {
  assert.deepEqual(serviceArgv('start', 'kata-dir-scanner'), ['systemctl', 'start', '--', 'kata-dir-scanner.service']);
  assert.deepEqual(serviceArgv('status', 'kata-dir-scanner.service'), ['systemctl', 'status', '--no-pager', '--lines=20', '--', 'kata-dir-scanner.service']);
  assert.deepEqual(serviceArgv('is-active', 'kds'), ['systemctl', 'is-active', '--', 'kds.service']);
  assert.throws(() => serviceArgv('restart', '-H.evil'), /must not start with "-"/);
});

test('kds remote start --name=-H.evil is a usage error before any connection', async () => {
  for (const name of ['-H.evil', '--user', '--host=x']) {
    await assert.rejects(remote.run(['start', `--name=${name}`, '--host', '127.0.0.1', '--port', '1']), (e: unknown) => e instanceof UsageError && /^--name /.test((e as Error).message), name);
  }
});
