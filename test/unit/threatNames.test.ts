import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KdsLogger, type LogRecord } from '../../src/common/log';
import { EICAR } from '../../src/emulator/eicar';
import type { DetectsQuery } from '../../src/kata/client';
import { type DetectsSource, ThreatNameLookup } from '../../src/kata/threatNames';
import { startHarness, waitFor } from '../helpers/engineHarness';

type Page = Awaited<ReturnType<DetectsSource['detects']>>;

/** Serves `pages` in order of the token it is given, and records every call. */
function fakeApi(pages: Page[]) {
  const calls: Array<{ token?: string; limit?: number }> = [];
  const api: DetectsSource = {
    async detects(opts = {}) {
      calls.push({ ...opts });
      const i = opts.token === undefined ? 0 : Number(opts.token);
      return pages[i] ?? { detects: [], token: opts.token };
    },
  };
  return { api, calls };
}

test('follows the cursor across pages, merges names per hash, and looks up case-insensitively', async () => {
  const { api, calls } = fakeApi([
    { detects: [{ threats: ['A'], processedObject: { sha256: 'AB' } }, { threats: ['B'], processedObject: { sha256: 'cd' } }], token: '1' },
    { detects: [{ threats: ['A2', 'A'], processedObject: { sha256: 'ab' } }], token: '2' },
  ]);
  const lookup = new ThreatNameLookup(api, { minIntervalMs: 0, pageSize: 2 });
  assert.equal(await lookup.refresh(), true);
  assert.equal(lookup.lookup('ab'), 'A, A2');
  assert.equal(lookup.lookup('CD'), 'B');
  assert.equal(lookup.lookup('ef'), undefined);
  assert.deepEqual(calls.map((c) => c.token), [undefined, '1'], 'a short page ends the refresh');
  assert.equal(await lookup.refresh(), false);
  assert.deepEqual(calls.map((c) => c.token), [undefined, '1', '2'], 'the next refresh starts at the cursor');
});

test('rate-limited: a refresh within minIntervalMs does not call KATA; concurrent ones share a call', async () => {
  const { api, calls } = fakeApi([{ detects: [], token: '1' }]);
  const lookup = new ThreatNameLookup(api, { minIntervalMs: 60_000 });
  await Promise.all([lookup.refresh(), lookup.refresh()]);
  await lookup.refresh();
  assert.equal(calls.length, 1);
});

test('errors are swallowed, logged once per distinct failure, and the cursor is kept', async () => {
  const logs: LogRecord[] = [];
  const logger = new KdsLogger({ level: 'debug', sinks: [(r) => logs.push(r)] });
  const tokens: Array<string | undefined> = [];
  let fail = false;
  const lookup = new ThreatNameLookup(
    {
      async detects(opts: DetectsQuery = {}) {
        tokens.push(opts.token);
        if (fail) throw new Error('connection refused');
        return { detects: [{ threats: ['X'], processedObject: { sha256: 'aa' } }], token: 'cur' };
      },
    },
    { minIntervalMs: 0, logger },
  );
  assert.equal(await lookup.refresh(), true);
  fail = true;
  assert.equal(await lookup.refresh(), false);
  assert.equal(await lookup.refresh(), false);
  assert.deepEqual(tokens, [undefined, 'cur', 'cur']);
  assert.deepEqual(logs.filter((r) => r.event === 'threats.failed').map((r) => r.level), ['warn', 'debug']);
  assert.match(logs[0]!.msg, /connection refused/);
  assert.equal(lookup.lookup('aa'), 'X', 'what was learnt stays');
});

test('against the embedded KATA: EICAR uploaded by the engine is named, and the cursor skips old alerts', async () => {
  const h = await startHarness();
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  const routed = await waitFor('eicar routed', () => h.routed.find((r) => r.name === 'eicar.com'));
  assert.equal(routed.verdict, 'detect');
  const returned: number[] = [];
  const client = h.built.client;
  const lookup = new ThreatNameLookup(
    {
      async detects(opts) {
        const page = await client.detects(opts);
        returned.push(page.detects.length);
        return page;
      },
    },
    { minIntervalMs: 0 },
  );
  const sha = createHash('sha256').update(EICAR).digest('hex');
  assert.equal(routed.sha256, sha);
  await waitFor('threat name', async () => (await lookup.refresh(), lookup.lookup(sha)));
  assert.equal(lookup.lookup(sha.toUpperCase()), 'EICAR-Test-File');
  const before = returned.reduce((a, b) => a + b, 0);
  assert.ok(before >= 1);
  assert.equal(await lookup.refresh(), false);
  assert.equal(returned.at(-1), 0, 'the second refresh fetched nothing old');
});

test('refreshSoon: a call inside the rate-limit window runs when the window ends, shared by concurrent callers', async () => {
  const { api, calls } = fakeApi([{ detects: [], token: '1' }, { detects: [{ threats: ['EICAR-Test-File'], processedObject: { sha256: 'AB' } }], token: '2' }]);
  const lookup = new ThreatNameLookup(api, { minIntervalMs: 300 });
  await lookup.refresh();
  assert.equal(await lookup.refresh(), false, 'plain refresh inside the window is dropped');
  const [a, b] = await Promise.all([lookup.refreshSoon(), lookup.refreshSoon()]);
  assert.equal(a, true);
  assert.equal(b, true);
  assert.equal(calls.length, 2);
  assert.equal(lookup.lookup('ab'), 'EICAR-Test-File');
});
