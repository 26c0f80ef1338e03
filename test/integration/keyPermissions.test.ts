/**
 * `kds run` refuses a client key others could read, change or own, and says the exact chmod/chown;
 * `kds check` reports the same as a failure. Real files, the real CLI.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync } from 'node:fs';
import { test } from 'node:test';
import { startHarness } from '../helpers/engineHarness';
import { runKds } from '../helpers/kdsProcess';

const asRoot = process.getuid?.() === 0;

test('kds run refuses a private key readable or writable by group/others, or owned by another user, with the exact command', async () => {
  const h = await startHarness({ startEngine: false });
  const key = h.config.cert_key;
  const cases: Array<[string, () => void, RegExp]> = [
    ['group-readable', () => chmodSync(key, 0o640), new RegExp(`readable by group or others \\(mode 0640\\).*chmod 600 ${key}`)],
    ['world-writable', () => chmodSync(key, 0o602), new RegExp(`writable by group or others \\(mode 0602\\).*chmod 600 ${key}`)],
  ];
  if (asRoot) cases.push(['owned by nobody', () => (chmodSync(key, 0o600), chownSync(key, 65534, 65534)), new RegExp(`belongs to uid 65534, not to the user the service runs as \\(uid 0\\).*chown root: ${key}`)]);
  for (const [what, make, expected] of cases) {
    make();
    const r = await runKds(['run', '--config', h.configPath], 20_000);
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, expected, what);
    const check = await runKds(['check', '--config', h.configPath, '--json'], 20_000);
    assert.match(check.stdout, /"id":\s*"key_permissions",\s*"status":\s*"fail"/, `${what}: ${check.stdout}${check.stderr}`);
    if (asRoot) chownSync(key, 0, 0);
  }
});
