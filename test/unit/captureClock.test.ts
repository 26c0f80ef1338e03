/** Issue 23 point 9: the capture's time limit, shown and changed while it runs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureClock, clock } from '../../src/viewModel/captureClock';

test('clock: m:ss rounded up, h:mm:ss past an hour', () => {
  assert.equal(clock(42_000), '0:42');
  assert.equal(clock(41_001), '0:42');
  assert.equal(clock(0), '0:00');
  assert.equal(clock(605_000), '10:05');
  assert.equal(clock(3_726_000), '1:02:06');
});

test('the time left, extended from the later of now and the end, lifted, expired', () => {
  const c = new CaptureClock(1_000_000, 60);
  assert.equal(c.label(1_000_000), '1:00 left');
  assert.equal(c.label(1_018_000), '0:42 left');
  assert.equal(c.expired(1_059_999), false);
  c.extend(300, 1_030_000);
  assert.equal(c.label(1_030_000), '5:30 left');
  // After the end (a late click): from now.
  const late = new CaptureClock(0, 10);
  assert.equal(late.expired(20_000), true);
  late.extend(60, 20_000);
  assert.equal(late.label(20_000), '1:00 left');
  assert.equal(late.expired(20_000), false);
  late.unlimited();
  assert.equal(late.label(99_000_000), 'no time limit');
  assert.equal(late.expired(99_000_000), false);
  assert.equal(new CaptureClock(0, 0).stopAt, undefined);
});
