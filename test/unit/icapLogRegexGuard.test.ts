/**
 * A user's regex on lines an attacker wrote (URLs in the ICAP log) cannot freeze the extension
 * host: it runs in a worker with a per-line time budget (src/icapLog/guardedRegex.ts); past it
 * the filter, the count and the viewer report RegexTooSlowError. Before, the pattern below ran
 * on the calling thread for about 100 s.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferByteSource } from '../../src/icapLog/byteSource';
import { countMatches } from '../../src/icapLog/countMatches';
import { RegexTooSlowError } from '../../src/icapLog/guardedRegex';
import { compileFilter } from '../../src/icapLog/logFilter';
import { IcapLogViewerSession, type SessionCount } from '../../src/icapLog/viewerSession';

const evil = '^([\\w./:-]+)*\\sverdict';
const attackerLine = 'http://example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.html'; // no white space: exponential backtracking
const log = Buffer.from(['2024-05-01 10:00:00 blocking_simple mode verdict=clean', attackerLine, '2024-05-01 10:00:01 verdict=detect', ''].join('\n'));

test('a catastrophic regex on one attacker line is stopped within its budget, with a clear error', { timeout: 60_000 }, async () => {
  const f = compileFilter({ search: { text: evil, regex: true } }, { regexBudgetMs: 500 });
  try {
    assert.deepEqual(await f.matchLines(['a.b verdict']), [true]);
    await assert.rejects(f.matchLines([attackerLine]), (e: unknown) => e instanceof RegexTooSlowError && /took longer than 500 ms on one line and was stopped/.test((e as Error).message));
    await assert.rejects(f.matchLines(['a.b verdict']), RegexTooSlowError, 'a stopped pattern stays stopped');
    assert.throws(() => f.test('a.b verdict'), /matchLines/, 'never tested on the calling thread');
  } finally {
    f.dispose();
  }
});

test('counting: the same counts as before for a normal regex; a catastrophic one rejects instead of hanging', { timeout: 60_000 }, async () => {
  const ok = compileFilter({ search: { text: 'verdict=(clean|detect)', regex: true }, mode: 'all' });
  try {
    const r = await countMatches(new BufferByteSource(log), ok);
    assert.deepEqual([r.matched, r.lines], [2, 3]);
    const withMode = compileFilter({ search: { text: 'verdict=\\w+', regex: true }, mode: 'blocking_simple' });
    assert.equal((await countMatches(new BufferByteSource(log), withMode)).matched, 1);
    withMode.dispose();
  } finally {
    ok.dispose();
  }
  const bad = compileFilter({ search: { text: evil, regex: true } }, { regexBudgetMs: 500 });
  await assert.rejects(countMatches(new BufferByteSource(log), bad), RegexTooSlowError);
  bad.dispose();
});

test('the viewer with a saved catastrophic filter (a restored panel) reports the error for the page and the count', { timeout: 60_000 }, async () => {
  const counts: SessionCount[] = [];
  const errors: unknown[] = [];
  const session = new IcapLogViewerSession(new BufferByteSource(log), { search: { text: evil, regex: true } }, { page: () => undefined, append: () => undefined, count: (c) => counts.push(c), reset: () => undefined, error: (e) => errors.push(e) });
  try {
    await session.start().catch((e: unknown) => errors.push(e));
    await session.idle();
    assert.ok(errors.some((e) => e instanceof RegexTooSlowError) || counts.some((c) => c.state === 'error' && c.error instanceof RegexTooSlowError), `errors: ${String(errors)}; counts: ${JSON.stringify(counts)}`);
  } finally {
    session.dispose();
  }
});
