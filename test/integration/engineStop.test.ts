import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, waitFor } from '../helpers/engineHarness';

test('stop while a rescan is running leaves no watcher on input (on Windows it would keep the folder from being removed or renamed)', async () => {
  const h = await startHarness();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held = false;
  const refresh = h.built.excludes.refresh.bind(h.built.excludes);
  // The next rescan waits at its first step (re-reading the exclude list) until stop has begun.
  h.built.excludes.refresh = async (force?: boolean) => {
    held = true;
    await gate;
    return refresh(force);
  };
  writeFileSync(join(h.dirs.in, 'arrives.txt'), 'wakes a rescan\n');
  await waitFor('a rescan held at its start', () => held);
  const stopped = h.stop();
  await new Promise((r) => setImmediate(r));
  release();
  await stopped;
  const engine = h.built.engine as unknown as { watcher?: unknown };
  assert.equal(engine.watcher, undefined, 'the rescan that outlived the start of stop() started no watcher');
});
