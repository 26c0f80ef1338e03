import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineEvent, RoutedFile } from '../../src/engine/events';
import { threatsFromEvents } from '../../src/centralNode/remoteThreats';

function routed(name: string, sha256: string, threat?: string): EngineEvent {
  const file: RoutedFile = { name, size: 1, sha256, scanId: 's', verdict: threat ? 'detect' : 'not detected', rawState: threat ? 'detect' : 'not detected', destination: threat ? 'qrnt' : 'out', path: `/q/${name}`, submittedAt: 1, routedAt: 2, ...(threat && { threat }) };
  return { type: 'routed', file };
}

test('threat names written by the CN service into routed events feed a ThreatNameLookup', async () => {
  const listeners = new Set<(e: EngineEvent) => void>();
  const { threats, dispose } = threatsFromEvents((l) => {
    listeners.add(l);
    return () => listeners.delete(l);
  });
  const emit = (e: EngineEvent) => listeners.forEach((l) => l(e));
  emit(routed('eicar.com', 'AB'.repeat(32), 'EICAR-Test-File'));
  emit(routed('clean.txt', 'cd'.repeat(32)));
  assert.equal(threats.lookup('ab'.repeat(32)), undefined, 'known only after a refresh, like KATA alerts');
  assert.equal(await threats.refresh(), true);
  assert.equal(threats.lookup('ab'.repeat(32)), 'EICAR-Test-File');
  assert.equal(threats.lookup('cd'.repeat(32)), undefined);
  emit(routed('two.com', 'ef'.repeat(32), 'A, B'));
  assert.equal(await threats.refresh(), true);
  assert.equal(threats.lookup('ef'.repeat(32)), 'A, B');
  assert.equal(await threats.refresh(), false, 'nothing new');
  dispose();
  assert.equal(listeners.size, 0);
});
