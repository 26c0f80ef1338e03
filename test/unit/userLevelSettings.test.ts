/**
 * Issue 19, point 1: the settings that decide what runs as root on a Central Node, where KDS
 * connects and which host keys it trusts are honoured from the User/Machine level only
 * (src/common/userLevelSettings.ts); a workspace's value is ignored and found in the workspace's
 * own files in both spellings VS Code accepts (a nested object slips past VS Code's own scope
 * filter in 1.100, so only KDS's reading stops it).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findEngine } from '../../src/centralNode/cnOps';
import { localInspector } from '../../src/centralNode/trustedExecutable';
import { USER_LEVEL_SETTINGS, jsonWithoutComments, protectedKeysIn, userLevelValue } from '../../src/common/userLevelSettings';
import type { SftpFiles } from '../../src/ssh/sftpFiles';

test('userLevelValue: the User/Machine value or the default, never the workspace or folder value (and says one was ignored)', () => {
  assert.deepEqual(userLevelValue({ defaultValue: [], globalValue: ['/opt/kds/kata-dir-scanner'], workspaceValue: ['/bin/sh', '-c', 'id'] }), { value: ['/opt/kds/kata-dir-scanner'], ignoredWorkspaceValue: true });
  assert.deepEqual(userLevelValue({ defaultValue: 'kata-dir-scanner', workspaceFolderValue: 'evil' }), { value: 'kata-dir-scanner', ignoredWorkspaceValue: true });
  assert.deepEqual(userLevelValue({ defaultValue: 22, workspaceLanguageValue: 2222 }), { value: 22, ignoredWorkspaceValue: true });
  assert.deepEqual(userLevelValue({ defaultValue: '', globalValue: 'cn.example' }), { value: 'cn.example', ignoredWorkspaceValue: false });
  assert.deepEqual(userLevelValue<boolean>({ defaultValue: true, globalValue: false }), { value: false, ignoredWorkspaceValue: false }, 'a false user value is a value');
  assert.deepEqual(userLevelValue(undefined), { value: undefined, ignoredWorkspaceValue: false });
});

test('protectedKeysIn finds flat, nested and language-block spellings, with comments and trailing commas, and not commented-out lines', () => {
  const text = `{
    // "kds.remote.host": "commented out",
    /* "kds.remote.user": "x" */
    "kds.remote.engineCommand": ["/bin/sh", "-c", "touch /tmp/pwned"],
    "kds": { "remote": { "knownHostsFiles": ["./evil_known_hosts"], }, },
    "kds.remote": { "sudo": "auto" },
    "[json]": { "kds.remote.serviceName": "x" },
    "kds.capture.port": 1344,
    "editor.fontSize": 14,
  }`;
  assert.deepEqual(protectedKeysIn(text, USER_LEVEL_SETTINGS), ['kds.remote.knownHostsFiles', 'kds.remote.sudo', 'kds.remote.serviceName', 'kds.remote.engineCommand']);
  assert.deepEqual(protectedKeysIn('{ "folders": [], "settings": { "kds.remote.host": "evil" } }', USER_LEVEL_SETTINGS, 'settings'), ['kds.remote.host'], 'a .code-workspace file');
  assert.deepEqual(protectedKeysIn('{ "kds.remote.host": "x" }', USER_LEVEL_SETTINGS, 'settings'), [], 'the section of a workspace file only');
  assert.deepEqual(protectedKeysIn('not json at all', USER_LEVEL_SETTINGS), []);
  assert.deepEqual(protectedKeysIn('[1, 2]', USER_LEVEL_SETTINGS), []);
});

test('settings files are read as VS Code reads them: comments and trailing commas go, strings stay as they are', () => {
  const text = '{ "a": "x // not a comment", "b": "/* nor this */", "c": "quote \\" // and", /* c */ "d": [1, 2, /* x */ ], // t\n "e": {"f": 1,}, }';
  assert.deepEqual(JSON.parse(jsonWithoutComments(text)), { a: 'x // not a comment', b: '/* nor this */', c: 'quote " // and', d: [1, 2], e: { f: 1 } });
  assert.equal(jsonWithoutComments('{"a": 1, // end\n}'), '{"a": 1 \n}');
});

test('a custom engine command run as root passes the same root-owned-path check as the installed engine', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-engcmd-'));
  try {
    const files = async () => localInspector as unknown as SftpFiles;
    const c = { shell: async () => { throw new Error('no shell needed'); }, files };
    const conf = join(dir, 'kata_dir_scanner.conf');
    const asRoot = { runsAsRoot: true };
    if (process.getuid?.() === 0) {
      const good = join(dir, 'kds.js');
      writeFileSync(good, '// engine\n', { mode: 0o644 });
      assert.deepEqual(await findEngine(c, conf, ['/usr/bin/env', good], asRoot), ['/usr/bin/env', good], 'root-owned program and script');
      const open = join(dir, 'open');
      mkdirSync(open);
      chmodSync(open, 0o777);
      writeFileSync(join(open, 'kds.js'), '// anyone could replace me\n');
      await assert.rejects(findEngine(c, conf, ['/usr/bin/env', join(open, 'kds.js')], asRoot), /will not run .* as root: .*can be written by/);
    }
    await assert.rejects(findEngine(c, conf, ['/bin/sh', '-c', 'touch /tmp/kds-pwned'], asRoot), /will not run the engine command .* "-c" is not the absolute path/);
    await assert.rejects(findEngine(c, conf, ['/usr/bin/node', '--require=/tmp/x.js', '/opt/kata-dir-scanner/app/bin/kds.js'], asRoot), /"--require=\/tmp\/x.js" is not the absolute path/);
    await assert.rejects(findEngine(c, conf, ['node', 'kds.js'], asRoot), /"node" is not the absolute path/);
    await assert.rejects(findEngine(c, conf, ['/bin/sh', '-c', 'x']), /will not run the engine command/, 'checked unless the caller says nothing runs as root');
    assert.deepEqual(await findEngine(c, conf, ['node', 'kds.js'], { runsAsRoot: false }), ['node', 'kds.js'], 'a test install run as the SSH user');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
