import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type CentralNodeEntry, parseEntry } from '../../src/centralNode/fleetList';
import { FleetMonitor } from '../../src/centralNode/fleetMonitor';
import type { ProbeSession } from '../../src/centralNode/fleetProbe';
import { SshConnectError } from '../../src/ssh/sshErrors';

const cn = (name: string): CentralNodeEntry => parseEntry({ name, host: `${name}.example`, user: 'admin' }) as CentralNodeEntry;

/** A connector whose CNs refuse the connection (each call counted), or hang until released. */
function fakeConnector(hang: Set<string> = new Set()) {
  const calls = { open: [] as string[], closeAll: 0, keepOnly: [] as string[][] };
  const waiting: Array<() => void> = [];
  return {
    calls,
    release: () => waiting.splice(0).forEach((r) => r()),
    connector: {
      open: (e: CentralNodeEntry): Promise<ProbeSession> => {
        calls.open.push(e.name);
        if (hang.has(e.name)) return new Promise((_, reject) => waiting.push(() => reject(new SshConnectError(e.host, e.port, 'released'))));
        return Promise.reject(new SshConnectError(e.host, e.port, 'connect ECONNREFUSED'));
      },
      drop: async () => undefined,
      sudo: async () => true as const,
      closeAll: async () => void calls.closeAll++,
      keepOnly: async (es: CentralNodeEntry[]) => void calls.keepOnly.push(es.map((e) => e.name)),
    },
  };
}

test('a round probes every CN and tells listeners; hidden, the sessions are closed after it', async () => {
  const f = fakeConnector();
  const m = new FleetMonitor({ connector: f.connector, hiddenEveryMs: 3_600_000 });
  let changes = 0;
  m.onDidChange(() => changes++);
  const [a, b] = [cn('a'), cn('b')];
  m.setEntries([a, b]);
  await m.refresh();
  assert.deepEqual([...new Set(f.calls.open)].sort(), ['a', 'b'], 'new CNs are looked at at once');
  assert.equal(m.probeOf(a)?.outcome, 'unreachable');
  assert.match(m.probeOf(a)!.reason!, /ECONNREFUSED/);
  assert.ok(changes >= 3, 'checking, each result, the end');
  assert.ok(f.calls.closeAll >= 1, 'nobody looks: no session is kept');
  await m.dispose();
});

test('rounds never overlap: a refresh asked for during a round runs once after it', async () => {
  const f = fakeConnector(new Set(['slow']));
  const m = new FleetMonitor({ connector: f.connector, timeoutMs: 3_600_000, visibleEveryMs: 3_600_000 });
  m.setEntries([cn('slow')]);
  await new Promise((r) => setImmediate(r));
  assert.equal(m.isChecking(cn('slow')), true);
  void m.refresh();
  void m.refresh();
  assert.equal(f.calls.open.length, 1, 'the second and third wait for the first');
  f.release();
  await waitUntil(() => f.calls.open.length === 2);
  f.release();
  await waitUntil(() => !m.isChecking(cn('slow')));
  assert.equal(f.calls.open.length, 2, 'the two refreshes became one round');
  await m.dispose();
});

test('a CN removed from the list is forgotten and its session closed; visible keeps sessions, hidden closes them', async () => {
  const f = fakeConnector();
  const m = new FleetMonitor({ connector: f.connector, visibleEveryMs: 3_600_000, hiddenEveryMs: 3_600_000 });
  const [a, b] = [cn('a'), cn('b')];
  m.setVisible(true);
  m.setEntries([a, b]);
  await m.refresh();
  const closedWhileVisible = f.calls.closeAll;
  assert.ok(m.probeOf(b));
  m.setEntries([a]);
  assert.equal(m.probeOf(b), undefined);
  assert.deepEqual(f.calls.keepOnly.at(-1), ['a']);
  await m.refresh();
  assert.equal(f.calls.closeAll, closedWhileVisible, 'sessions stay open while the view is visible');
  m.setVisible(false);
  assert.equal(f.calls.closeAll, closedWhileVisible + 1);
  await m.dispose();
});

test('nothing is probed while the monitor is not enabled (an untrusted workspace)', async () => {
  const f = fakeConnector();
  const m = new FleetMonitor({ connector: f.connector, enabled: () => false });
  m.setEntries([cn('a')]);
  await m.refresh();
  assert.deepEqual(f.calls.open, []);
  assert.equal(m.probeOf(cn('a')), undefined);
  await m.dispose();
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond());
}
