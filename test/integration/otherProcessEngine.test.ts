/**
 * Issue 23 point 1: a KDS already scanning a configuration in another process (`kds run` here) is
 * recognised from its state_dir lock, followed through its event stream with the Central Node's
 * follower over the local file system, and — being a `kds` process this user started — stopped
 * by the pid the lock names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OtherProcessEngine } from '../../src/centralNode/otherProcessEngine';
import type { EngineEvent } from '../../src/engine/events';
import { stateDirOwner, stopStateDirOwner } from '../../src/engine/stateDirOwner';
import { EICAR } from '../../src/emulator/eicar';
import { startHarness, waitFor } from '../helpers/engineHarness';
import { spawnKds, stopChild } from '../helpers/kdsProcess';

test('kds run in another process: its lock names it, its events reach a follower, and it stops on request', async (t) => {
  const h = await startHarness({ startEngine: false });
  const c = spawnKds(['run', '--config', h.configPath], { cwd: h.root });
  t.after(() => stopChild(c));

  const owner = await waitFor('the lock of kds run', async () => {
    const o = await stateDirOwner(h.config.state_dir);
    return o?.pid === c.child.pid ? o : undefined;
  }, 30_000);
  assert.equal(owner.kind, 'kds');
  assert.equal(owner.canStop, true);
  assert.match(owner.command ?? '', /kds\.js run --config/);

  const other = new OtherProcessEngine(h.config.state_dir, { checkMs: 200, pollMs: 100 });
  const seen: EngineEvent[] = [];
  other.onEvent((e) => seen.push(e));
  t.after(() => other.dispose());
  other.start();
  await waitFor('the owner seen', () => other.owner?.pid === c.child.pid);
  await waitFor('its running state from the stream', () => other.snapshot().running);

  writeFileSync(join(h.dirs.in, 'clean.txt'), 'a harmless text\n');
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  const routed = await waitFor('both routed, as the stream tells', () => {
    const r = seen.flatMap((e) => (e.type === 'routed' ? [e.file] : []));
    return r.length === 2 ? r : undefined;
  }, 30_000);
  assert.deepEqual(routed.map((f) => `${f.name}:${f.destination}`).sort(), ['clean.txt:out', 'eicar.com:qrnt']);
  // The writer waits for KATA's alert, so the follower has the threat name the CN mode shows.
  assert.match(routed.find((f) => f.name === 'eicar.com')!.threat ?? '', /EICAR/i);

  // A pid that is not the one confirmed is never signalled.
  assert.equal(await stopStateDirOwner(h.config.state_dir, { ...owner, since: new Date(owner.since.getTime() - 1000) }), 'changed');
  assert.equal(c.exitCode(), undefined);

  assert.equal(await stopStateDirOwner(h.config.state_dir, owner, { timeoutMs: 30_000 }), 'stopped');
  assert.equal(await c.exited, 0, c.stderr());
  await waitFor('the follower to drop it', () => other.owner === undefined);
  assert.equal(other.snapshot().running, false);
  assert.ok(seen.some((e) => e.type === 'running' && !e.running));
});
