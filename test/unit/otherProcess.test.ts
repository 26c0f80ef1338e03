/**
 * Issue 23 point 1: the pieces that recognise and show a KDS running in another process — who
 * holds the state_dir lock (/proc read through a folder of the test's own), the follower over the
 * local event stream, and the status bar's words. The end-to-end proof with a real `kds run` is
 * test/integration/otherProcessEngine.test.ts; in VS Code, test/e2e/ux.e2e.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDirectoryLock } from '../../src/common/dirLock';
import { OtherProcessEngine } from '../../src/centralNode/otherProcessEngine';
import { EventStreamWriter } from '../../src/engine/eventStream';
import type { EngineEvent, FileRecord } from '../../src/engine/events';
import { type StateDirOwner, describeOwner, isKdsEngineCommand, stopStateDirOwner } from '../../src/engine/stateDirOwner';
import { statusSummary } from '../../src/viewModel/statusSummary';
import { tempDir } from '../helpers/tempDirs';

function fakeProc(root: string, pid: number, argv: string[], cgroup = '0::/user.slice/user-1000.slice/session-2.scope\n'): void {
  mkdirSync(join(root, String(pid)), { recursive: true });
  writeFileSync(join(root, String(pid), 'cmdline'), argv.join('\0') + '\0');
  writeFileSync(join(root, String(pid), 'cgroup'), cgroup);
}

test('isKdsEngineCommand: the kds entry points with run or demo, nothing else', () => {
  assert.equal(isKdsEngineCommand(['/usr/bin/node', '/home/a/kds/bin/kds.js', 'run', '--config', 'x.conf']), true);
  assert.equal(isKdsEngineCommand(['node', 'bin/kds.js', 'demo']), true);
  assert.equal(isKdsEngineCommand(['node', '/w/node_modules/.bin/kds', 'demo', '--dir', 'kds-demo']), true);
  assert.equal(isKdsEngineCommand(['/opt/kata-dir-scanner/kds', 'run', '--config', '/etc/kata_dir_scanner.conf']), true);
  assert.equal(isKdsEngineCommand(['node', 'bin/kds.js', 'emulate']), false);
  assert.equal(isKdsEngineCommand(['node', 'bin/kds.js', 'status', 'run']), false);
  assert.equal(isKdsEngineCommand(['/usr/bin/python3', 'kds.py', 'run']), false);
  assert.equal(isKdsEngineCommand(['vim', 'kds.js']), false);
});

test('describeOwner: kds by hand may be stopped; the service, a VS Code window and unknown processes may not', async () => {
  const proc = tempDir();
  const since = new Date('2024-05-01T10:00:00Z');
  fakeProc(proc, 101, ['node', '/w/bin/kds.js', 'run', '--config', '/w/kata_dir_scanner.conf']);
  fakeProc(proc, 102, ['/opt/kata-dir-scanner/kds', 'run', '--config', '/etc/kds.conf'], '0::/system.slice/kata-dir-scanner.service\n');
  fakeProc(proc, 103, ['/usr/bin/node', '/usr/lib/code-server/lib/vscode/out/bootstrap-fork', '--type=extensionHost']);
  fakeProc(proc, 104, ['/usr/bin/sleep', '1000']);
  const opts = { procRoot: proc, self: 1, maySignal: (pid: number) => pid !== 105 };
  const kds = await describeOwner({ pid: 101, since, alive: true }, opts);
  assert.deepEqual(kds, { pid: 101, since, kind: 'kds', canStop: true, command: 'node /w/bin/kds.js run --config /w/kata_dir_scanner.conf' });
  const service = await describeOwner({ pid: 102, since, alive: true }, opts);
  assert.equal(service?.kind, 'service');
  assert.equal(service?.unit, 'kata-dir-scanner.service');
  assert.equal(service?.canStop, false);
  assert.equal((await describeOwner({ pid: 103, since, alive: true }, opts))?.kind, 'vscode');
  const sleeper = await describeOwner({ pid: 104, since, alive: true }, opts);
  assert.equal(sleeper?.kind, 'unknown');
  assert.equal(sleeper?.canStop, false);
  // Another user's kds: known, not signalled.
  fakeProc(proc, 105, ['node', '/w/bin/kds.js', 'demo']);
  const foreign = await describeOwner({ pid: 105, since, alive: true }, opts);
  assert.equal(foreign?.kind, 'kds');
  assert.equal(foreign?.canStop, false);
  // No /proc entry (gone, or no /proc on this system): unknown; a lock of this process or a dead one: nobody.
  assert.equal((await describeOwner({ pid: 106, since, alive: true }, opts))?.kind, 'unknown');
  assert.equal(await describeOwner({ pid: 1, since, alive: true }, opts), undefined);
  assert.equal(await describeOwner({ pid: 101, since, alive: false }, opts), undefined);
});

test('readDirectoryLock: pid and the time the lock was taken; none, or a half-written one, is nobody', async () => {
  const dir = tempDir();
  assert.equal(await readDirectoryLock(dir, 'lock'), undefined);
  writeFileSync(join(dir, 'lock'), '');
  assert.equal(await readDirectoryLock(dir, 'lock'), undefined);
  writeFileSync(join(dir, 'lock'), `${process.pid}\n`);
  const at = new Date('2024-05-01T10:00:00Z');
  utimesSync(join(dir, 'lock'), at, at);
  assert.deepEqual(await readDirectoryLock(dir, 'lock'), { pid: process.pid, since: at, alive: true });
});

test('stopStateDirOwner refuses what it may not stop and never signals a pid that changed', async () => {
  const dir = tempDir();
  const proc = tempDir();
  fakeProc(proc, process.pid, ['node', '/w/bin/kds.js', 'run']);
  writeFileSync(join(dir, 'lock'), `${process.pid}\n`);
  const since = new Date('2024-05-01T10:00:00Z');
  utimesSync(join(dir, 'lock'), since, since);
  const signalled: number[] = [];
  const kill = (pid: number) => void signalled.push(pid);
  const owner: StateDirOwner = { pid: process.pid, since, kind: 'kds', canStop: true };
  const opts = { procRoot: proc, self: 1, maySignal: () => true, kill, timeoutMs: 0, pollMs: 1 };
  assert.equal(await stopStateDirOwner(dir, { ...owner, kind: 'service', canStop: false }, opts), 'refused');
  assert.equal(await stopStateDirOwner(dir, { ...owner, pid: process.pid + 1 }, opts), 'changed');
  assert.equal(await stopStateDirOwner(dir, { ...owner, since: new Date(0) }, opts), 'changed');
  assert.deepEqual(signalled, []);
  // The right one: signalled once; it does not let go of the lock within the (zero) wait.
  assert.equal(await stopStateDirOwner(dir, owner, opts), 'timeout');
  assert.deepEqual(signalled, [process.pid]);
});

const rec = (name: string): FileRecord => ({ name, size: 1, mtimeMs: 1, stage: 'queued', firstSeen: 1, changedAt: 1, attempts: 0 });

test('OtherProcessEngine: the files of the process holding the lock, taken off the views when it is gone', async () => {
  const dir = tempDir();
  let files = [rec('a.txt')];
  const writer = EventStreamWriter.open(dir, { snapshot: () => ({ running: true, approval: 'approved', files }) });
  writer.writeSnapshot();
  let owner: StateDirOwner | undefined = { pid: 4242, since: new Date(), kind: 'kds', canStop: true };
  const other = new OtherProcessEngine(dir, { owner: async () => owner, pollMs: 60_000, checkMs: 60_000 });
  const seen: EngineEvent[] = [];
  let changes = 0;
  other.onEvent((e) => seen.push(e));
  other.onDidChange(() => changes++);
  await other.check();
  assert.equal(other.owner?.pid, 4242);
  assert.equal(other.hasStream, true);
  assert.deepEqual(other.snapshot().files.map((f) => f.name), ['a.txt']);
  assert.equal(other.snapshot().running, true);
  assert.ok(changes > 0);

  files = [rec('a.txt'), rec('b.txt')];
  writer.append({ type: 'file', file: rec('b.txt') });
  await other.poll();
  assert.deepEqual(other.snapshot().files.map((f) => f.name).sort(), ['a.txt', 'b.txt']);

  owner = undefined;
  seen.length = 0;
  await other.check();
  assert.equal(other.owner, undefined);
  assert.deepEqual(seen.filter((e) => e.type === 'file-removed').map((e) => (e as { name: string }).name).sort(), ['a.txt', 'b.txt']);
  assert.ok(seen.some((e) => e.type === 'running' && !e.running));
  assert.deepEqual(other.snapshot(), { running: false, approval: 'unknown', files: [] });
  writer.close();
  await other.dispose();
});

test('status bar while another process scans: its pid, pending files, and the tooltip says so', () => {
  const s = statusSummary({ running: true, approval: 'approved', files: [rec('a.txt')], inQuarantine: 2, elsewhere: { pid: 4242, since: '10:04:05' } });
  assert.equal(s.text, '$(broadcast) KDS (pid 4242): 1 pending $(bug) 2');
  assert.match(s.tooltip, /^KDS is running in another process \(pid 4242, since 10:04:05\)\./);
  assert.equal(s.warning, false);
  const unreadable = statusSummary({ running: false, approval: 'unknown', files: [], inQuarantine: 0, elsewhere: { pid: 0, since: '10:04:05' } });
  assert.equal(unreadable.text, '$(broadcast) KDS (another process)');
  assert.match(unreadable.tooltip, /not readable by you/);
});
