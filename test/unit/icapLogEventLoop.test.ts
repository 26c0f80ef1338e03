/**
 * Issue 19, point 16: paging the ICAP log with a user regex never holds the event loop (the
 * extension host's thread in VS Code). The lines are the issue's: 27 KB lines whose URL anyone
 * who reaches the proxy can write (`http://x/` + 30 × `a`) and the regex `(a|aa)*z`, slow on
 * every line yet under its per-line budget. Before, the pager waited for the regex worker with
 * Atomics.wait, line after line: the loop was blocked for the whole page (seconds to minutes).
 * Now the page is awaited, ends when its time budget runs out with what it found
 * (`stopped: 'time'`), and can be cancelled. The assertion is on the loop's longest stall — a
 * behaviour with a generous bound (a timer-drift probe) —, never on how long a page takes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferByteSource } from '../../src/icapLog/byteSource';
import { compileFilter } from '../../src/icapLog/logFilter';
import { LogPager } from '../../src/icapLog/logPager';
import { IcapLogViewerSession, type SessionPage } from '../../src/icapLog/viewerSession';

const hostile = (i: number) => `2024-05-01 10:00:${String(i % 60).padStart(2, '0')} [info] blocking_simple mode verdict=clean url=http://x/${'a'.repeat(30)} ${'b'.repeat(27_000)}`;
const log = Buffer.from(Array.from({ length: 80 }, (_, i) => hostile(i)).join('\n') + '\n');
/** Generous (a busy CI machine delays timers too): the old pager blocked for every line of the page in a row (here 80 × 0.1–0.4 s: 18.7 s measured on a busy machine). */
const maxStallMs = 2000;

/**
 * The longest the event loop went without a turn while `work` ran: a 10 ms interval timer notes
 * the gaps between its calls; after the work, one more turn lets a timer held back by a block
 * at the very end report it too.
 */
async function longestStall<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 10);
  try {
    const result = await work();
    await new Promise((r) => setTimeout(r, 50));
    stallMs = Math.max(stallMs, performance.now() - last - 50);
    return { result, stallMs };
  } finally {
    clearInterval(probe);
  }
}

test('a page of slow-regex lines does not block the event loop and ends at its time budget with a cursor to go on from', { timeout: 120_000 }, async (t) => {
  // A per-line budget far above these lines' cost: only the page's time budget stops them.
  const filter = compileFilter({ search: { text: '(a|aa)*z', regex: true } }, { regexBudgetMs: 10_000 });
  try {
    const pager = new LogPager(new BufferByteSource(log));
    const { result: page, stallMs } = await longestStall(() => pager.tail(200, { filter, timeBudgetMs: 500 }));
    t.diagnostic(`longest event-loop stall during the page: ${Math.round(stallMs)} ms`);
    assert.ok(stallMs < maxStallMs, `the event loop stalled for ${Math.round(stallMs)} ms`);
    assert.equal(page.stopped, 'time');
    assert.equal(page.lines.length, 0, 'no line matches (no "z")');
    assert.ok(page.startCursor > 0 && page.startCursor < log.length && !page.atStart, `stopped part-way: ${page.startCursor} of ${log.length}`);
    assert.equal(log[page.startCursor - 1], 0x0a, 'at a line start');
  } finally {
    filter.dispose();
  }
});

test('cancelling the search ends the page at once with what it found; the viewer says so and the count goes on', { timeout: 120_000 }, async () => {
  const pages: SessionPage[] = [];
  const errors: unknown[] = [];
  const session = new IcapLogViewerSession(
    new BufferByteSource(log),
    { search: { text: '(a|aa)*z', regex: true } },
    { page: (p) => pages.push(p), append: () => undefined, count: () => undefined, reset: () => undefined, error: (e) => errors.push(e) },
    { pageTimeBudgetMs: 60_000 },
  );
  try {
    const { stallMs } = await longestStall(async () => {
      const started = session.start();
      // Cancel once the search is under way (a bounded poll on the event loop, which stays free).
      await new Promise((r) => setTimeout(r, 300));
      session.cancelSearch();
      await started;
    });
    assert.deepEqual(errors, []);
    assert.equal(pages.length, 1);
    assert.equal(pages[0]!.stopped, 'cancelled');
    assert.equal(pages[0]!.atStart, false);
    assert.ok(stallMs < maxStallMs, `the event loop stalled for ${Math.round(stallMs)} ms`);
  } finally {
    session.dispose();
  }
});

test('a normal regex still pages exactly: the lines grep -P would select, newest last', { timeout: 60_000 }, async () => {
  const text = ['a verdict=clean', 'b verdict=detect', 'c nothing', 'd verdict=clean', ''].join('\n');
  const filter = compileFilter({ search: { text: 'verdict=(clean|detect)', regex: true } });
  try {
    const pager = new LogPager(new BufferByteSource(Buffer.from(text)));
    const page = await pager.tail(2, { filter, timeBudgetMs: 60_000 });
    assert.deepEqual(page.lines.map((l) => l.text), ['b verdict=detect', 'd verdict=clean']);
    assert.equal(page.stopped, undefined);
    const before = await pager.pageBefore(page.startCursor, 10, { filter });
    assert.deepEqual(before.lines.map((l) => l.text), ['a verdict=clean']);
    assert.equal(before.atStart, true);
    const fwd = await pager.pageAfter(0, 2, { filter });
    assert.deepEqual(fwd.lines.map((l) => l.text), ['a verdict=clean', 'b verdict=detect']);
    const rest = await pager.pageAfter(fwd.endCursor, 10, { filter });
    assert.deepEqual(rest.lines.map((l) => l.text), ['d verdict=clean']);
    assert.equal(rest.atEnd, true);
  } finally {
    filter.dispose();
  }
});
