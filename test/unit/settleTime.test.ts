import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedSinceSeen, fileClockTickMs, unchangedSince } from '../../src/engine/settleTime';

const now = 1_000_000;

test('on a local input the wait counts from the last change the file times show, plus a clock tick', () => {
  // Written 300 ms before KDS saw it: 300 ms of its wait are served.
  assert.equal(unchangedSince(now, { ctimeMs: now - 300, mtimeMs: now - 300 }, true), now - 300 + fileClockTickMs);
  // A copy tool that set an old mtime and then wrote: ctime is the later, and it counts.
  assert.equal(unchangedSince(now, { ctimeMs: now - 50, mtimeMs: now - 86_400_000 }, true), now - 50 + fileClockTickMs);
  // An mtime set later than the last status change (touch -d into the past is earlier; this is a writer's clock ahead).
  assert.equal(unchangedSince(now, { ctimeMs: now - 400, mtimeMs: now - 100 }, true), now - 100 + fileClockTickMs);
});

test('a time in the future, or a change within the last tick, starts the wait now', () => {
  assert.equal(unchangedSince(now, { ctimeMs: now - 2, mtimeMs: now - 2 }, true), now);
  assert.equal(unchangedSince(now, { ctimeMs: now - 500, mtimeMs: now + 3_600_000 }, true), now);
  assert.equal(unchangedSince(now, { ctimeMs: now + 5_000, mtimeMs: now - 500 }, true), now);
});

test('with another machine\'s clock (SMB, NFS, FUSE) the file times are not compared with ours', () => {
  assert.equal(unchangedSince(now, { ctimeMs: now - 60_000, mtimeMs: now - 60_000 }, false), now);
});

test('a file queued after another is never due before it', () => {
  assert.equal(unchangedSince(now, { ctimeMs: now - 300, mtimeMs: now - 300 }, true, now - 100), now - 100);
  assert.equal(unchangedSince(now, { ctimeMs: now - 300, mtimeMs: now - 300 }, true, now - 900), now - 300 + fileClockTickMs);
});

test('a change of ctime is a change of the file on a local input, whatever mtime and size say', () => {
  assert.equal(changedSinceSeen({ ctimeMs: now, mtimeMs: now - 500 }, now - 200, true), true);
  assert.equal(changedSinceSeen({ ctimeMs: now - 200, mtimeMs: now - 500 }, now - 200, true), false);
  // A clock stepped back: a ctime "earlier" than the one seen is still a change, and an equal one is not.
  assert.equal(changedSinceSeen({ ctimeMs: now - 5_000, mtimeMs: now - 500 }, now - 200, true), true);
  // On a share the times are the server's to report: not compared.
  assert.equal(changedSinceSeen({ ctimeMs: now, mtimeMs: now - 500 }, now - 200, false), false);
});
