/**
 * Root runs only a program root alone controls (src/centralNode/trustedExecutable.ts): the walk of
 * every folder and symlink on the way, on a fake file system and on the real one; and set-up picks
 * the Node.js root may run, not the SSH user's ~/.nvm one.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { probeFacts, type RemoteShell } from '../../src/centralNode/remoteInstall';
import { chooseEngine } from '../../src/centralNode/engineChoice';
import { layout } from '../../src/centralNode/setupPlan';
import { checkTrustedExecutable, localInspector, type PathInspector, type PathStat } from '../../src/centralNode/trustedExecutable';
import { tempDir } from '../helpers/tempDirs';

type Entry = PathStat & { target?: string };
const d = (uid = 0, mode = 0o755): Entry => ({ type: 'directory', uid, mode });
const f = (uid = 0, mode = 0o755): Entry => ({ type: 'file', uid, mode });
const l = (target: string): Entry => ({ type: 'symlink', uid: 0, mode: 0o777, target });

function fakeFs(entries: Record<string, Entry>): PathInspector {
  return {
    async lstat(p) {
      const e = entries[p];
      if (!e) throw Object.assign(new Error(`No such file: ${p}`), { code: 2 });
      return e;
    },
    async readlink(p) {
      return entries[p]!.target!;
    },
  };
}

const base = { '/': d(), '/usr': d(), '/usr/bin': d(), '/usr/bin/node': f(), '/home': d(), '/home/u': d(1000, 0o750), '/home/u/.nvm': d(1000), '/home/u/.nvm/node': f(1000), '/tmp': d(0, 0o1777) };

test('trusted: a root-owned binary in root-owned folders; through symlinks whose folders are root\'s', async () => {
  const fs = fakeFs({ ...base, '/usr/local': d(), '/usr/local/bin': d(), '/usr/local/bin/node': l('../../bin/node'), '/etc': d(), '/etc/alt': d(), '/usr/bin/nodejs': l('/etc/alt/node'), '/etc/alt/node': l('/usr/bin/node'), '/tmp/r': d(0, 0o700), '/tmp/r/node': f() });
  assert.deepEqual(await checkTrustedExecutable('/usr/bin/node', fs), { ok: true, realPath: '/usr/bin/node' });
  assert.deepEqual(await checkTrustedExecutable('/usr/local/bin/node', fs), { ok: true, realPath: '/usr/bin/node' });
  assert.deepEqual(await checkTrustedExecutable('/usr/bin/nodejs', fs), { ok: true, realPath: '/usr/bin/node' });
  assert.deepEqual(await checkTrustedExecutable('/tmp/r/node', fs), { ok: true, realPath: '/tmp/r/node' }, 'a root-owned sticky folder above is fine');
});

test('refused: the SSH user\'s node, a writable file or folder, a link in a user folder, a link to a user file', async () => {
  const fs = fakeFs({
    ...base,
    '/usr/bin/gw': f(0, 0o775),
    '/opt': d(0, 0o777),
    '/opt/node': f(),
    '/srv': d(0, 0o775),
    '/srv/node': f(),
    '/usr/bin/evil': l('/home/u/.nvm/node'),
    '/home/u/bin': d(1000),
    '/home/u/bin/node': l('/usr/bin/node'),
    '/tmp/node': f(1000),
    '/usr/bin/loop': l('/usr/bin/loop'),
    '/usr/bin/dir': d(),
  });
  const reason = async (p: string) => {
    const v = await checkTrustedExecutable(p, fs);
    assert.equal(v.ok, false, p);
    return (v as { reason: string }).reason;
  };
  assert.match(await reason('/home/u/.nvm/node'), /\/home\/u belongs to uid 1000, not root/);
  assert.match(await reason('/usr/bin/gw'), /\/usr\/bin\/gw can be written by its group \(mode 0775\)/);
  assert.match(await reason('/opt/node'), /\/opt can be written by its group and others \(mode 0777\)/);
  assert.match(await reason('/srv/node'), /\/srv can be written by its group/);
  assert.match(await reason('/usr/bin/evil'), /\/home\/u belongs to uid 1000/);
  assert.match(await reason('/home/u/bin/node'), /\/home\/u belongs to uid 1000/, 'the link itself lives where the user can change it');
  assert.match(await reason('/tmp/node'), /\/tmp\/node belongs to uid 1000/);
  assert.match(await reason('/usr/bin/loop'), /too many symbolic links/);
  assert.match(await reason('/usr/bin/dir'), /not a regular file/);
  assert.match(await reason('/usr/bin/missing'), /cannot be examined/);
  assert.match(await reason('node'), /not an absolute path/);
});

test('on the real file system: a copy of node owned by another user or in a folder others write is refused', { skip: process.getuid?.() !== 0 && 'needs root (chown)' }, async () => {
  const root = tempDir();
  chmodSync(root, 0o755);
  const ok = join(root, 'ok');
  mkdirSync(ok, { mode: 0o755 });
  copyFileSync(process.execPath, join(ok, 'node'));
  chmodSync(join(ok, 'node'), 0o755);
  symlinkSync(join(ok, 'node'), join(ok, 'link'));
  assert.equal((await checkTrustedExecutable(join(ok, 'link'), localInspector)).ok, true);
  const user = join(root, 'user');
  mkdirSync(user, { mode: 0o755 });
  copyFileSync(process.execPath, join(user, 'node'));
  chownSync(join(user, 'node'), 65534, 65534);
  assert.match(JSON.stringify(await checkTrustedExecutable(join(user, 'node'), localInspector)), /belongs to uid 65534/);
  chmodSync(ok, 0o777);
  assert.match(JSON.stringify(await checkTrustedExecutable(join(ok, 'link'), localInspector)), /can be written by its group and others/);
});

/** A CN where the SSH user's shell finds ~/.nvm's node first. */
function fakeCn(entries: Record<string, Entry>): RemoteShell {
  const fs = fakeFs(entries);
  const ok = (text: string) => ({ code: 0, stdout: Buffer.from(text + '\n'), stderr: Buffer.alloc(0) });
  const no = { code: 1, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  return {
    async exec(argv) {
      const cmd = argv.join(' ');
      if (cmd === 'uname -s') return ok('Linux');
      if (cmd === 'uname -m') return ok('x86_64');
      if (cmd === 'id -u') return ok('1000');
      if (cmd === 'sh -c command -v node') return ok('/home/u/.nvm/node');
      if (argv[1] === '--version' && entries[argv[0]!]) return ok('v20.11.1');
      return no;
    },
    async sftp() {
      return { ...fs, exists: async (p: string) => entries[p], readFile: async () => Buffer.alloc(0), realpath: async () => '/home/u' } as never;
    },
  };
}

test('set-up probes the Node.js root may run: /usr/bin/node, not the SSH user\'s ~/.nvm one; none safe → a clear refusal', async () => {
  const l0 = layout(undefined);
  const facts = await probeFacts(fakeCn(base), l0, true);
  assert.equal(facts.nodePath, '/usr/bin/node');
  assert.equal(facts.nodeVersion, 'v20.11.1');
  assert.match(facts.nodeRefused!.join('\n'), /\/home\/u belongs to uid 1000/);

  const { '/usr/bin/node': _gone, ...withoutSystemNode } = base;
  const bare = await probeFacts(fakeCn(withoutSystemNode), l0, true);
  assert.equal(bare.nodePath, undefined);
  const choice = chooseEngine(bare, { js: true }, 'js');
  assert.equal(choice.kind, undefined);
  assert.match(choice.reason, /No Node\.js on the Central Node is safe for root to run \(.*\/home\/u belongs to uid 1000.*\)\. Run the set-up again to install the single executable/);
});
