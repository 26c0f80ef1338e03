/**
 * The root script that installs the engine out of the uploaded package (rootFileWrite.ts), run
 * for real with sh, dpkg-deb and tar on small packages made here with dpkg-deb: the engine
 * arrives root's and 0755 only after both SHA-256 checks and a start with --version; a damaged
 * package, an engine with another hash, an engine that cannot start on this system, a folder
 * others may write, and an upload swapped for /dev/zero each end with their message and nothing
 * installed or left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineInstallExit, engineInstallMessage, rootEngineFromPackageArgv } from '../../src/centralNode/rootFileWrite';

const member = './opt/kata-dir-scanner/kata-dir-scanner';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function unavailable(): string | undefined {
  const why = process.getuid?.() !== 0 ? 'needs root (the script chowns to root)' : spawnSync('dpkg-deb', ['--version']).error ? 'dpkg-deb is missing' : undefined;
  if (why && process.env.CI === 'true') throw new Error(why);
  return why;
}

/** A package whose engine is this shell script. */
function makePackage(dir: string, name: string, engine: string): { path: string; sha256: string; size: number; engineSha256: string } {
  const tree = join(dir, `${name}-tree`);
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  mkdirSync(join(tree, 'opt/kata-dir-scanner'), { recursive: true });
  writeFileSync(join(tree, 'DEBIAN/control'), 'Package: kata-dir-scanner\nVersion: 0.0.1\nArchitecture: amd64\nMaintainer: KDS tests <kds@example.org>\nDescription: test\n test\n');
  writeFileSync(join(tree, member), engine, { mode: 0o755 });
  const path = join(dir, `${name}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', tree, path], { stdio: 'ignore' });
  rmSync(tree, { recursive: true, force: true });
  const data = readFileSync(path);
  return { path, sha256: sha(data), size: data.length, engineSha256: sha(engine) };
}

function install(o: { source: string; dir: string; pkg: { sha256: string; size: number }; engineSha256: string }) {
  const argv = rootEngineFromPackageArgv({ source: o.source, target: join(o.dir, 'kata-dir-scanner'), packageSha256: o.pkg.sha256, packageSize: o.pkg.size, engineSha256: o.engineSha256, member, checkRootOnly: true });
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, message: engineInstallMessage(r.status, r.stderr, join(o.dir, 'kata-dir-scanner')) };
}

test('the engine comes out of the package checked twice, started once, root\'s and 0755; every failure installs nothing', { skip: unavailable() }, (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kds-engine-install-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  chmodSync(work, 0o755);
  const dir = join(work, 'opt-kds');
  mkdirSync(dir, { mode: 0o755 });
  const good = makePackage(work, 'good', '#!/bin/sh\necho 0.1.0\n');
  const leftovers = () => readdirSync(dir).filter((n) => n.startsWith('.kds-new'));

  const ok = install({ source: good.path, dir, pkg: good, engineSha256: good.engineSha256 });
  assert.equal(ok.code, 0, ok.stderr);
  const installed = join(dir, 'kata-dir-scanner');
  assert.equal(statSync(installed).mode & 0o7777, 0o755);
  assert.equal(statSync(installed).uid, 0);
  assert.equal(sha(readFileSync(installed)), good.engineSha256);
  assert.deepEqual(leftovers(), []);
  rmSync(installed);

  // The package that arrived is not the one sent.
  const damaged = join(work, 'damaged.deb');
  const bytes = readFileSync(good.path);
  bytes[bytes.length - 10] ^= 0xff;
  writeFileSync(damaged, bytes);
  const r1 = install({ source: damaged, dir, pkg: good, engineSha256: good.engineSha256 });
  assert.equal(r1.code, engineInstallExit.packageMismatch);
  assert.match(r1.message!, /The package that arrived on the Central Node has another SHA-256 \([0-9a-f]{64}\) than the one sent/);

  // The engine inside is not the expected one.
  const r2 = install({ source: good.path, dir, pkg: good, engineSha256: 'ab'.repeat(32) });
  assert.equal(r2.code, engineInstallExit.engineMismatch);
  assert.match(r2.message!, /The engine taken out of the package has another SHA-256 \([0-9a-f]{64}\) than expected: nothing was installed/);

  // An engine that cannot start here (as a too old libstdc++ makes the loader say).
  const broken = makePackage(work, 'broken', "#!/bin/sh\necho \"./kata-dir-scanner: /lib/x86_64-linux-gnu/libstdc++.so.6: version \\`GLIBCXX_3.4.21' not found\" >&2\nexit 1\n");
  const r3 = install({ source: broken.path, dir, pkg: broken, engineSha256: broken.engineSha256 });
  assert.equal(r3.code, engineInstallExit.doesNotStart);
  assert.match(r3.message!, /The engine does not start on the Central Node, so it was not installed: .*version `GLIBCXX_3\.4\.21' not found/);

  // The upload swapped for a link to an endless file: read no further than the package's size.
  const zero = join(work, 'zero.deb');
  symlinkSync('/dev/zero', zero);
  const r4 = install({ source: zero, dir, pkg: good, engineSha256: good.engineSha256 });
  assert.equal(r4.code, engineInstallExit.packageMismatch);

  // A folder others may write: root does not write there at all.
  chmodSync(dir, 0o777);
  const r5 = install({ source: good.path, dir, pkg: good, engineSha256: good.engineSha256 });
  assert.equal(r5.code, 3);
  assert.match(r5.message!, /Refused to write .* as root: the folder .* is not root's alone/);
  chmodSync(dir, 0o755);

  assert.ok(!existsSync(installed), 'nothing was installed by a failed attempt');
  assert.deepEqual(leftovers(), [], 'no work folder is left behind');
});
