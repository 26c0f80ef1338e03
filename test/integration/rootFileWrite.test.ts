/**
 * Root writes on the Central Node (src/centralNode/rootFileWrite.ts), run here as root with the
 * real sh, mktemp, stat: a link planted by a share user is never followed, and root writes a file
 * only in a folder that is root's alone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writabilityCheck } from '../../src/centralNode/setupPlan';
import { rootWriteArgv, unsafeFolderMessage } from '../../src/centralNode/rootFileWrite';
import { tempDir } from '../helpers/tempDirs';

const asRoot = process.getuid?.() === 0 ? false : 'needs root (ownership checks)';
const run = (argv: string[], input?: string) => spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', ...(input !== undefined && { input }) });

test('the share writability check follows no link a share user planted for it', { skip: asRoot }, () => {
  const root = tempDir();
  const share = join(root, 'in');
  mkdirSync(share, { mode: 0o777 });
  const victim = join(root, 'victim');
  writeFileSync(victim, 'root-only secret\n', { mode: 0o600 });
  // A share user cannot know a mktemp name; a predictable one ($$) they can: links for the next pids.
  const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  for (let p = last; p < last + 2000; p++) symlinkSync(victim, join(share, `.kds-write-test.${p}`));
  const r = run(writabilityCheck(share));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(victim, 'utf8'), 'root-only secret\n');
  assert.equal(readdirSync(share).filter((n) => !lstatSync(join(share, n)).isSymbolicLink()).length, 0, 'its own file removed');
  const ro = join(root, 'ro');
  mkdirSync(ro, { mode: 0o555 });
  chownSync(ro, 65534, 65534);
  assert.notEqual(run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...writabilityCheck(ro)]).status, 0, 'a folder that cannot be written fails the check');
});

test('a root write replaces the target through a mktemp file in a root-only folder; mode and backup as asked', { skip: asRoot }, () => {
  const dir = join(tempDir(), 'opt');
  mkdirSync(dir, { mode: 0o755 });
  const target = join(dir, 'kata_dir_scanner.conf');
  writeFileSync(target, 'old\n', { mode: 0o600 });
  const r = run(rootWriteArgv({ target, mode: 0o640, source: '-', backup: `${target}.bak` }), 'new $(x) \'q\'\n');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(target, 'utf8'), "new $(x) 'q'\n");
  assert.equal(statSync(target).mode & 0o777, 0o640);
  assert.equal(readFileSync(`${target}.bak`, 'utf8'), 'old\n');
  assert.deepEqual(readdirSync(dir).sort(), ['kata_dir_scanner.conf', 'kata_dir_scanner.conf.bak'], 'no temporary file left');
  // keepOwner: the target's owner and mode stay.
  chownSync(target, 65534, 65534);
  chmodSync(target, 0o604);
  assert.equal(run(rootWriteArgv({ target, mode: 0o600, source: '-', keepOwner: true }), 'x\n').status, 0);
  assert.equal(statSync(target).uid, 65534);
  assert.equal(statSync(target).mode & 0o777, 0o604);
});

test('root refuses to write in a folder another user owns or can write, or under one; the message names the folder', { skip: asRoot }, () => {
  const base = tempDir();
  chmodSync(base, 0o755);
  const victim = join(base, 'victim');
  writeFileSync(victim, 'secret\n', { mode: 0o600 });
  const cases: Array<[string, (d: string) => void]> = [
    ['owned by another user', (d) => chownSync(d, 65534, 65534)],
    ['writable by others', (d) => chmodSync(d, 0o777)],
    ['writable by its group', (d) => chmodSync(d, 0o775)],
  ];
  for (const [what, make] of cases) {
    const d = join(base, what.replace(/ /g, '-'));
    mkdirSync(d, { mode: 0o755 });
    const target = join(d, 'sub', 'file');
    mkdirSync(join(d, 'sub'), { mode: 0o755 });
    symlinkSync(victim, target);
    make(d);
    const r = run(rootWriteArgv({ target, mode: 0o644, source: '-' }), 'pwned\n');
    assert.equal(r.status, 3, `${what}: ${r.stderr}`);
    const msg = unsafeFolderMessage(r.status, r.stderr, target);
    assert.ok(msg?.includes(d) && msg.includes(target), `${what}: ${msg}`);
    assert.equal(readFileSync(victim, 'utf8'), 'secret\n', what);
  }
  // A root-owned sticky folder (like /tmp) above a root-only folder is fine.
  const sticky = join(base, 'sticky');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  mkdirSync(join(sticky, 'mine'), { mode: 0o700 });
  assert.equal(run(rootWriteArgv({ target: join(sticky, 'mine', 'f'), mode: 0o600, source: '-' }), 'ok\n').status, 0);
});
