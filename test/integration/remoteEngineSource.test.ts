/**
 * RemoteEngineSource over a real sshd (127.0.0.1): the service's event stream written by
 * EventStreamWriter on "the CN" (this machine), followed over SFTP, resumed after a forced drop
 * without loss or duplicates; snapshots replace state and are told to views as events.
 */
import assert from 'node:assert/strict';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EventStreamWriter } from '../../src/engine/eventStream';
import type { EngineEvent, FileRecord } from '../../src/engine/events';
import { ReconnectingSession } from '../../src/ssh/reconnectingSession';
import { RemoteEngineSource } from '../../src/centralNode/remoteEngineSource';
import { sftpEventFileReader } from '../../src/centralNode/sftpEventReader';
import { InputFolderModel } from '../../src/viewModel/inputFolderModel';
import { sshdUnavailable, TestSshd } from '../helpers/sshd';
import { sshdClient, uidOf } from '../helpers/sshSessionForTests';

const skip = sshdUnavailable();
let sshd: TestSshd;
let rs: ReconnectingSession;
let stateDir: string;

function rec(name: string, stage: FileRecord['stage'] = 'queued'): FileRecord {
  return { name, size: 10, mtimeMs: 1000, stage, firstSeen: 1, changedAt: 1, attempts: 0 };
}

before(async () => {
  if (skip) return;
  sshd = await TestSshd.start();
  const client = sshdClient(sshd, 'id_events');
  stateDir = mkdtempSync(join(tmpdir(), 'kds-remote-events-'));
  const uid = uidOf(sshd.user);
  chownSync(stateDir, uid, 0);
  // The journal appends to an existing file: created here, readable by the SSH user.
  writeFileSync(join(stateDir, 'events.jsonl'), '', { mode: 0o644 });
  chownSync(join(stateDir, 'events.jsonl'), uid, 0);
  rs = new ReconnectingSession(client.target, client.auth, client.hostKeys, { initialDelayMs: 100, maxDelayMs: 500, maxAttempts: Infinity, keepaliveIntervalMs: 1000 });
  await rs.whenConnected();
});

after(async () => {
  await rs?.close();
  await sshd?.dispose();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

test('events over SFTP: snapshot, events, a forced drop and reconnect — nothing lost, nothing twice', { skip, timeout: 60_000 }, async () => {
  let files = [rec('a.txt'), rec('b.txt')];
  const journal = EventStreamWriter.open(stateDir, { snapshot: () => ({ running: true, approval: 'approved', files }), heartbeatMs: 0 });
  journal.append({ type: 'running', running: true });
  journal.append({ type: 'file', file: rec('c.txt', 'submitted') });

  const seen: EngineEvent[] = [];
  const source = new RemoteEngineSource(sftpEventFileReader(() => rs.whenConnected()), stateDir, { pollMs: 100 });
  source.onEvent((e) => seen.push(e));
  await source.poll();
  const snap = source.snapshot();
  assert.equal(snap.running, true);
  assert.equal(snap.approval, 'approved');
  assert.deepEqual(snap.files.map((f) => f.name).sort(), ['a.txt', 'b.txt', 'c.txt']);

  // A view built now sees the same.
  const view = new InputFolderModel(source, '/mnt/in', { coalesceMs: 0 });
  assert.deepEqual(view.items().map((i) => i.name).sort(), ['a.txt', 'b.txt', 'c.txt']);

  // Drop the connection; events written meanwhile arrive after the reconnect, exactly once.
  source.start();
  const before = source.lastSeq!;
  assert.ok(sshd.dropConnections() > 0);
  for (let i = 0; i < 20; i++) journal.append({ type: 'file', file: rec(`n${i}.txt`) });
  journal.append({ type: 'routed', file: { name: 'a.txt', size: 10, sha256: 'x'.repeat(64), scanId: 's1', verdict: 'detect', rawState: 'detect', destination: 'qrnt', path: '/mnt/qrnt/a.txt', submittedAt: 1, routedAt: 2 } as never });
  const target = journal.lastSeq;
  const end = Date.now() + 30_000;
  while ((source.lastSeq ?? 0) < target && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  assert.equal(source.lastSeq, target, 'resumed up to the last record');
  const fileEvents = seen.filter((e) => e.type === 'file' && e.file.name.startsWith('n'));
  assert.equal(fileEvents.length, 20, 'each event once');
  assert.ok(seen.some((e) => e.type === 'routed'));
  assert.ok(!source.snapshot().files.some((f) => f.name === 'a.txt'), 'routed file left input');
  assert.ok(target > before);
  await new Promise((r) => setTimeout(r, 150));
  assert.ok(!view.items().some((i) => i.name === 'a.txt'));

  // A new snapshot (e.g. the service restarted) replaces the state; differences become events.
  files = [rec('only.txt')];
  journal.writeSnapshot();
  seen.length = 0;
  await source.poll();
  assert.deepEqual(source.snapshot().files.map((f) => f.name), ['only.txt']);
  assert.ok(seen.some((e) => e.type === 'file-removed' && e.name === 'b.txt'));
  assert.deepEqual(view.items().map((i) => i.name), ['only.txt']);
  view.dispose();
  await source.stop();
  journal.close();
});
