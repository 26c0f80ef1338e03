/**
 * Issue 19, point 15: kata-collect archives as real tools write them bundle, whatever their
 * names look like. `tar czf x.tar.gz -C dir .` (members named `./…` and a `./` entry — before,
 * "support-bundle failed: Unsafe name for an archive entry: ./"), PAX and GNU long names, and
 * names that escape (`../`, absolute), which are left out and listed, never failing the bundle.
 * GNU tar makes every archive here and reads the bundle back.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { findLeaks, prepareBundle, writeBundle } from '../../src/support/bundleContents';
import { SecretScrubber } from '../../src/support/secretScrub';
import { entryName } from '../../src/support/tarArchive';
import { tempDir } from '../helpers/tempDirs';

const dir = tempDir('kds-tar-');
const tar = (args: string[], cwd = dir) => execFileSync('tar', args, { cwd, encoding: 'utf8' });
const longName = `${'kaspersky-'.repeat(12)}preprocessor_icap.log`; // 136 characters: needs PAX or a GNU long name

function collectTree(root: string): void {
  mkdirSync(join(root, 'var/log/kaspersky/deep', 'x'.repeat(90)), { recursive: true });
  writeFileSync(join(root, 'var/log/kaspersky', longName), 'icap line password=Coll3ctSecret\n');
  writeFileSync(join(root, 'var/log/kaspersky/deep', 'x'.repeat(90), 'y'.repeat(80) + '.txt'), 'deep file\n');
  writeFileSync(join(root, 'sysinfo.txt'), 'kernel 6.1\n');
}

async function bundleOf(archive: string): Promise<{ names: string[]; listing: string; inner: string[] }> {
  const s = new SecretScrubber();
  s.addSecret('Coll3ctSecret');
  const staging = join(dir, `staging-${archive.replace(/\W/g, '_')}`);
  mkdirSync(staging, { mode: 0o700 });
  const entries = await prepareBundle([{ name: 'kata-collect/collect-1.tar.gz', about: 'c', file: join(dir, archive), tarGz: true }], s, staging);
  const out = join(dir, `bundle-${archive}`);
  await writeBundle(entries, 'top', out);
  assert.deepEqual(await findLeaks(out, s), []);
  const names = tar(['-tzf', out]).trim().split('\n');
  const x = join(dir, `x-${archive}`);
  mkdirSync(x);
  tar(['-xzf', out, '-C', x]);
  const inner = tar(['-tzf', join(x, 'top/kata-collect/collect-1.tar.gz')]).trim().split('\n');
  return { names, listing: readFileSync(join(x, 'top/kata-collect/collect-1.listing.txt'), 'utf8'), inner };
}

test('entryName: ./ prefixes and the ./ entry are normal; .. and absolute names are unsafe', () => {
  assert.deepEqual(entryName('./'), { kind: 'root' });
  assert.deepEqual(entryName('.'), { kind: 'root' });
  assert.deepEqual(entryName('./var/log/x.log'), { kind: 'name', name: 'var/log/x.log' });
  assert.deepEqual(entryName('var//log/./x/'), { kind: 'name', name: 'var/log/x' });
  assert.equal(entryName('../etc/passwd').kind, 'unsafe');
  assert.equal(entryName('a/../../b').kind, 'unsafe');
  assert.equal(entryName('/etc/shadow').kind, 'unsafe');
  assert.equal(entryName('C:\\Windows\\x').kind, 'unsafe');
});

for (const format of ['gnu', 'posix', 'ustar'] as const) {
  test(`tar --format=${format} czf x.tar.gz -C dir . bundles: every member, names without ./, long names kept`, { timeout: 60_000 }, async () => {
    const root = join(dir, `tree-${format}`);
    collectTree(root);
    const archive = `collect-${format}.tar.gz`;
    // ustar cannot hold the 136-character name: GNU tar says so and leaves it out; the others keep it.
    const r = spawnSync('tar', [`--format=${format}`, '-czf', join(dir, archive), '-C', root, '.'], { encoding: 'utf8' });
    assert.ok(r.status === 0 || format === 'ustar', r.stderr);
    assert.match(tar(['-tzf', archive]), /^\.\/$/m, 'the archive has the ./ entry');
    const b = await bundleOf(archive);
    assert.ok(b.names.includes('top/kata-collect/collect-1.tar.gz'));
    assert.ok(!b.inner.some((n) => n.startsWith('./') || n.startsWith('/') || n.includes('..')), JSON.stringify(b.inner));
    assert.ok(b.inner.includes('sysinfo.txt'));
    assert.ok(b.inner.includes(`var/log/kaspersky/deep/${'x'.repeat(90)}/${'y'.repeat(80)}.txt`), 'a path longer than 100 characters');
    if (format !== 'ustar') assert.ok(b.inner.includes(`var/log/kaspersky/${longName}`), 'a long file name');
    assert.doesNotMatch(b.listing, /left out/);
  });
}

test('members named ../x or /etc/x are left out and listed; the rest bundles', { timeout: 60_000 }, async () => {
  const root = join(dir, 'hostile');
  mkdirSync(join(root, 'in'), { recursive: true });
  writeFileSync(join(root, 'escape.txt'), 'outside\n');
  writeFileSync(join(root, 'in', 'fine.txt'), 'fine\n');
  // -P keeps the names exactly as given: GNU tar writes '../escape.txt' and '/…/abs.txt'.
  writeFileSync(join(root, 'abs.txt'), 'absolute\n');
  tar(['-cPzf', join(dir, 'hostile.tar.gz'), '-C', join(root, 'in'), 'fine.txt', '../escape.txt', join(root, 'abs.txt')]);
  const listed = tar(['-tPzf', 'hostile.tar.gz']);
  assert.match(listed, /^\.\.\/escape\.txt$/m);
  assert.match(listed, /^\/.*abs\.txt$/m);
  const b = await bundleOf('hostile.tar.gz');
  assert.deepEqual(b.inner, ['fine.txt']);
  assert.match(b.listing, /^\.\.\/escape\.txt \(left out: a "\.\." in the name\)$/m);
  assert.match(b.listing, /abs\.txt \(left out: an absolute name\)$/m);
  assert.match(b.listing, /^fine\.txt\t5$/m);
});
