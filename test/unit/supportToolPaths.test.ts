/**
 * Issue 19, point 11: tools the support commands run as root come only from folders root alone
 * controls (the check of src/centralNode/trustedExecutable.ts). Before, resolveTool took the
 * first match on the acting user's PATH: a `systemctl` or `kata-collect` in a folder early in
 * PATH ran as uid 0. Now a match in a folder others can write is passed over (and said why), and
 * the system folders come before the user's PATH.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalHostAccess, findTrustedTool, resolveTool } from '../../src/support/hostAccess';
import { KataToolFailed, kataTool } from '../../src/support/kataTools';
import { tempDir } from '../helpers/tempDirs';

const asRoot = process.getuid?.() === 0;

test('a tool in a folder others can write, or one owned by another user, is never chosen, even first on PATH', { skip: asRoot ? false : 'needs root to make root-owned and user-owned folders (CI runs as root)' }, async () => {
  const dir = tempDir('kds-tools-');
  chmodSync(dir, 0o755);
  const open = join(dir, 'open');
  const user = join(dir, 'user');
  const good = join(dir, 'good');
  for (const d of [open, user, good]) mkdirSync(d, { mode: 0o755 });
  chmodSync(open, 0o777);
  chownSync(user, 65534, 65534);
  const script = '#!/bin/sh\necho planted\n';
  for (const d of [open, user, good]) writeFileSync(join(d, 'kds-probe-tool'), script, { mode: 0o755 });
  writeFileSync(join(open, 'kata-collect'), script, { mode: 0o755 });
  writeFileSync(join(user, 'tar'), script, { mode: 0o755 });
  chownSync(join(user, 'kds-probe-tool'), 65534, 65534);
  const saved = process.env.PATH;
  process.env.PATH = `${open}:${user}:${good}:${saved ?? '/usr/bin:/bin'}`;
  try {
    const host = new LocalHostAccess();
    const found = await findTrustedTool(host, 'kds-probe-tool');
    assert.equal(found.path, join(good, 'kds-probe-tool'), 'the trusted one, although later on PATH');
    assert.equal(found.refused.length, 2);
    assert.match(found.refused[0]!, /open can be written by its group and others \(mode 0777\)/);
    assert.match(found.refused[1]!, /user belongs to uid 65534, not root/);
    // A system tool cannot be shadowed by the user's PATH.
    assert.match((await resolveTool(host, 'tar')) ?? '', /^\/(usr\/)?bin\/tar$/);
    // KATA's tool found only where root must not run it: refused, and the message says why.
    await assert.rejects(kataTool(host, 'kata-collect'), (e: unknown) => e instanceof KataToolFailed && /kata-collect was found on .* only where root must not run it from: .*open can be written by its group and others/.test((e as Error).message));
  } finally {
    process.env.PATH = saved;
  }
});
