import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CnFileRefused, cnFileKind, requireCnFile } from '../../src/centralNode/cnFileAccess';

const files = { configPath: '/opt/kata-dir-scanner/kata_dir_scanner.conf', excludeLists: ['/opt/kata-dir-scanner/exclude_list.txt', '/opt/kata-dir-scanner/hr.exclude'] };

test('kds-cn: opens the CN configuration and exclude list, nothing else', () => {
  assert.equal(cnFileKind('/opt/kata-dir-scanner/kata_dir_scanner.conf', files), 'config');
  assert.equal(cnFileKind('/opt/kata-dir-scanner/exclude_list.txt', files), 'exclude');
  assert.equal(cnFileKind('/opt/kata-dir-scanner/hr.exclude', files), 'exclude', 'every share has its own list');
  for (const p of [
    '/etc/shadow',
    '/root/.ssh/authorized_keys',
    '/opt/kata-dir-scanner/server.key',
    '/opt/kata-dir-scanner/../../etc/shadow',
    '/opt/kata-dir-scanner/./kata_dir_scanner.conf',
    '//opt/kata-dir-scanner/kata_dir_scanner.conf',
    '/opt/kata-dir-scanner/kata_dir_scanner.conf/',
    'opt/kata-dir-scanner/kata_dir_scanner.conf',
    '/opt/kata-dir-scanner/kata_dir_scanner.conf\0',
    '/opt/kata-dir-scanner/',
  ]) {
    assert.equal(cnFileKind(p, files), undefined, p);
    assert.throws(() => requireCnFile(p, files), (e: unknown) => e instanceof CnFileRefused && /only the configuration and the exclude list/.test((e as Error).message));
  }
  assert.equal(cnFileKind('/opt/kata-dir-scanner/exclude_list.txt', { configPath: files.configPath }), undefined, 'no exclude list known yet: refused');
});
