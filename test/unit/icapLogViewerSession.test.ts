import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BufferByteSource, LocalFileSource, type ByteSource, type SourceStat } from '../../src/icapLog/byteSource';
import { IcapLogFilterError } from '../../src/icapLog/logFilter';
import { IcapLogViewerSession, toLogFilter, toViewLine, type SessionAppend, type SessionCount, type SessionPage } from '../../src/icapLog/viewerSession';
import { defaultIcapLogViewFilter, type IcapLogViewFilter } from '../../src/webviewProtocol/icapLog';

const dir = join(__dirname, '..', 'fixtures', 'icap');

function recorder() {
  const pages: SessionPage[] = [];
  const appends: SessionAppend[] = [];
  const counts: SessionCount[] = [];
  const resets: string[] = [];
  const errors: unknown[] = [];
  return {
    pages,
    appends,
    counts,
    resets,
    errors,
    events: {
      page: (p: SessionPage) => pages.push(p),
      append: (a: SessionAppend) => appends.push(a),
      count: (c: SessionCount) => counts.push(c),
      reset: (k: string) => resets.push(k),
      error: (e: unknown) => errors.push(e),
    },
    lastDone: () => counts.filter((c) => c.state === 'done').at(-1),
  };
}

const lines = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i) + '\n').join('');
const vf = (p: Partial<IcapLogViewFilter>): IcapLogViewFilter => ({ ...defaultIcapLogViewFilter, ...p });

function grepCount(file: string, stages: string[][]): number {
  let input: Buffer = readFileSync(file);
  for (let i = 0; i < stages.length; i++) {
    const last = i === stages.length - 1;
    try {
      input = execFileSync('grep', ['-a', ...(last ? ['-c'] : []), ...stages[i]!], { input, env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    } catch (e) {
      input = (e as { stdout: Buffer }).stdout;
    }
  }
  return Number(input.toString().trim());
}

test('pages concatenate to the whole (filtered) file, tail first', async () => {
  const text = lines(1000, (i) => `2024-05-01 10:00:00 line ${i} ${i % 3 === 0 ? 'verdict=clean' : 'noise'}`);
  const r = recorder();
  const s = new IcapLogViewerSession(new BufferByteSource(Buffer.from(text)), toLogFilter(vf({ verdictOnly: true })), r.events, { pageLines: 50, pager: { chunkBytes: 97 } });
  await s.start();
  let page = r.pages.at(-1)!;
  assert.equal(page.kind, 'tail');
  const got = [page.lines];
  while (!page.atStart) {
    await s.pageBefore(s.epoch, page.startCursor);
    page = r.pages.at(-1)!;
    assert.equal(page.kind, 'before');
    got.unshift(page.lines);
  }
  const all = got.flat().map((l) => l.text);
  assert.deepEqual(all, text.split('\n').filter((l) => l.includes('verdict')));
  await s.idle();
  assert.equal(r.lastDone()!.matched, 334);
  assert.equal(r.lastDone()!.lines, 1000);
  s.dispose();
});

test('the count equals grep for every fixture (extended mode + verdict lines)', async () => {
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    const file = join(dir, name);
    const r = recorder();
    const s = new IcapLogViewerSession(new LocalFileSource(file), toLogFilter(vf({ mode: 'blocking_advanced', verdictOnly: true })), r.events, { countChunkBytes: 97 });
    await s.start();
    await s.idle();
    const want = grepCount(file, [['-F', '--', 'blocking_advanced mode'], ['-F', '--', 'verdict']]);
    assert.equal(r.lastDone()?.matched, want, name);
    assert.equal(r.lastDone()?.lines, grepCount(file, [['--', '']]), `${name} (all lines)`);
    s.dispose();
  }
});

/** A source that stops answering reads after `holdAfter` of them until released (to catch a count mid-way). */
class GatedSource implements ByteSource {
  reads = 0;
  holdAfter = Infinity;
  private waiting: Array<() => void> = [];
  label = 'gated';
  constructor(private readonly inner: ByteSource) {}
  release(): void {
    this.holdAfter = Infinity;
    for (const w of this.waiting.splice(0)) w();
  }
  stat(): Promise<SourceStat> {
    return this.inner.stat();
  }
  async read(p: number, n: number): Promise<Buffer> {
    if (++this.reads > this.holdAfter) await new Promise<void>((r) => this.waiting.push(r));
    return this.inner.read(p, n);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

test('a filter change cancels the ongoing count; only the new filter is counted', async () => {
  const text = lines(5000, (i) => `x ${i % 2 ? 'blocking_advanced mode' : 'blocking_simple mode'} verdict ${i}`);
  const src = new GatedSource(new BufferByteSource(Buffer.from(text)));
  const r = recorder();
  const s = new IcapLogViewerSession(src, toLogFilter(vf({})), r.events, { countChunkBytes: 1000, progressIntervalMs: 0 });
  await s.start();
  src.holdAfter = src.reads + 20; // the count reads 1000-byte chunks: stop it after ~20 of ~150
  while (src.reads <= src.holdAfter) await new Promise((res) => setTimeout(res, 1));
  const first = s.epoch;
  assert.ok(r.counts.some((c) => c.epoch === first && c.state === 'running'), 'the first count was running');
  const epoch = s.setFilter(toLogFilter(vf({ mode: 'blocking_simple' })));
  src.release();
  await s.idle();
  assert.ok(!r.counts.some((c) => c.epoch === first && c.state !== 'running'), 'the first count never finished');
  const done = r.counts.filter((c) => c.state === 'done');
  assert.equal(done.length, 1);
  assert.equal(done[0]!.epoch, epoch);
  assert.equal(done[0]!.matched, 2500);
  assert.equal(r.errors.length, 0);
  s.dispose();
});

test('an invalid filter throws, and the previous filter\'s results are stale until a valid one (issue 23 point 4)', async () => {
  const src = new BufferByteSource(Buffer.from(lines(5, (i) => `verdict ${i}`)));
  const r = recorder();
  const s = new IcapLogViewerSession(src, toLogFilter(vf({ verdictOnly: true })), r.events);
  await s.start();
  await s.idle();
  s.setFollow(false);
  const epoch = s.epoch;
  const before = { pages: r.pages.length, counts: r.counts.length };
  assert.throws(() => s.setFilter(toLogFilter(vf({ text: '(', regex: true }))), (e: unknown) => e instanceof IcapLogFilterError && e.field === 'search');
  assert.equal(s.invalid, true);
  assert.ok(s.epoch > epoch, 'a new epoch: everything shown for the previous filter is stale');
  // Nothing for the old filter arrives any more: no earlier page, no followed line, no count.
  src.append('verdict 5\n');
  await s.poll();
  await s.pageBefore(epoch, 0);
  await s.idle();
  assert.deepEqual(r.appends, []);
  assert.equal(r.pages.length, before.pages);
  assert.equal(r.counts.length, before.counts);
  // A valid filter again: a fresh tail and count, with the line that came meanwhile.
  const next = s.setFilter(toLogFilter(vf({ text: 'verdict [0-9]', regex: true })));
  assert.equal(s.invalid, false);
  await s.idle();
  assert.equal(r.pages.at(-1)!.epoch, next);
  assert.equal(r.pages.at(-1)!.lines.length, 6);
  assert.equal(r.lastDone()!.epoch, next);
  assert.equal(r.lastDone()!.matched, 6);
  s.dispose();
});

test('follow delivers appended lines (a partial line again when complete) and keeps the count exact', async () => {
  const src = new BufferByteSource(Buffer.from(lines(10, (i) => `verdict ${i}`)));
  const r = recorder();
  const s = new IcapLogViewerSession(src, toLogFilter(vf({ verdictOnly: true })), r.events);
  await s.start();
  await s.idle();
  assert.equal(r.lastDone()!.matched, 10);
  src.append('noise\nverdict 10\nverdict 1');
  await s.poll();
  await s.idle();
  assert.deepEqual(r.appends.at(-1)!.lines.map((l) => [l.text, !!l.partial]), [['verdict 10', false], ['verdict 1', true]]);
  assert.equal(r.lastDone()!.matched, 12); // grep counts the last line without a newline
  assert.equal(r.lastDone()!.lines, 13);
  const partialOffset = r.appends.at(-1)!.lines[1]!.offset;
  src.append('1\n');
  await s.poll();
  await s.idle();
  assert.deepEqual(r.appends.at(-1)!.lines.map((l) => [l.offset, l.text, !!l.partial]), [[partialOffset, 'verdict 11', false]]);
  assert.equal(r.lastDone()!.matched, 12);
  assert.equal(r.lastDone()!.lines, 13);
  s.dispose();
});

test('rotation resets the view: a new epoch, a new tail and a new count', async () => {
  const src = new BufferByteSource(Buffer.from(lines(10, (i) => `old ${i}`)));
  const r = recorder();
  const s = new IcapLogViewerSession(src, {}, r.events);
  await s.start();
  await s.idle();
  const epoch = s.epoch;
  src.replace(lines(3, (i) => `new ${i}`));
  await s.poll();
  await s.idle();
  assert.deepEqual(r.resets, ['rotated']);
  assert.ok(s.epoch > epoch);
  const tail = r.pages.at(-1)!;
  assert.equal(tail.epoch, s.epoch);
  assert.deepEqual(tail.lines.map((l) => l.text), ['new 0', 'new 1', 'new 2']);
  assert.equal(r.lastDone()!.matched, 3);
  s.dispose();
});

test('stale page requests (an older epoch) are ignored', async () => {
  const r = recorder();
  const s = new IcapLogViewerSession(new BufferByteSource(Buffer.from(lines(500, (i) => `l ${i}`))), {}, r.events, { pageLines: 100 });
  await s.start();
  const old = s.epoch;
  s.setFilter({ search: { text: 'l 1' } });
  await s.idle();
  const n = r.pages.length;
  await s.pageBefore(old, 100);
  assert.equal(r.pages.length, n);
  s.dispose();
});

test('follow timer polls on its own until turned off', async () => {
  const src = new BufferByteSource(Buffer.from('a\n'));
  const r = recorder();
  const s = new IcapLogViewerSession(src, {}, r.events, { followIntervalMs: 5 });
  await s.start();
  s.setFollow(true);
  src.append('b\n');
  for (let i = 0; i < 100 && !r.appends.length; i++) await new Promise((res) => setTimeout(res, 5));
  assert.deepEqual(r.appends[0]!.lines.map((l) => l.text), ['b']);
  s.setFollow(false);
  s.dispose();
});

test('toLogFilter and toViewLine', () => {
  assert.deepEqual(toLogFilter(vf({ mode: 'blocking_advanced', verdictOnly: true, text: 'eicar', timeFrom: ' ' })), { mode: 'blocking_advanced', verdictOnly: true, search: { text: 'eicar', regex: false, ignoreCase: true } });
  assert.deepEqual(toLogFilter(vf({ text: 'x', matchCase: true, regex: true, timeTo: '2024-05-01' }), { zoneOffsetMinutes: 180 }), {
    mode: 'all', verdictOnly: false, search: { text: 'x', regex: true, ignoreCase: false }, timeTo: '2024-05-01', time: { zoneOffsetMinutes: 180 },
  });
  const v = toViewLine({ offset: 5, byteLength: 60, text: '2024-05-01 10:00:00 verdict=detected client=10.0.0.1', eol: '\n' });
  assert.equal(v.verdict, 'detected');
  assert.deepEqual(v.fields, [['verdict', 'detected'], ['client', '10.0.0.1']]);
  assert.ok(v.spans.some(([, , k]) => k === 'time'));
  assert.ok(v.spans.some(([a, b, k]) => k === 'address' && v.text.slice(a, b) === '10.0.0.1'));
  const raw = toViewLine({ offset: 0, byteLength: 4, text: '%%%', eol: '\n' });
  assert.deepEqual(raw.spans, []);
  assert.equal(raw.fields, undefined);
});

test('toViewLine: mode, threat and URL for the columns, wherever on the line (issue 23 point 16)', () => {
  const at = (text: string) => toViewLine({ offset: 0, byteLength: text.length + 1, text, eol: '\n' });
  const accepted = at('2026-05-02 07:00:37.120 [18156] INFO preprocessor_icap: RESPMOD request from 127.0.0.1:50312 url=http://example.com/eicar.com accepted in monitoring mode');
  assert.equal(accepted.mode, 'monitoring');
  assert.equal(accepted.url, 'http://example.com/eicar.com');
  assert.equal(accepted.threat, undefined);
  const verdict = at('2024-05-01 10:02:05.486 [1997:359078] INFO  preprocessor_icap: scan_id=e920 verdict: error threat="HEUR:Trojan.Win32.Generic" processed in blocking_simple mode');
  assert.equal(verdict.mode, 'blocking_simple');
  assert.equal(verdict.threat, 'HEUR:Trojan.Win32.Generic');
  assert.equal(verdict.verdict, 'error');
  // No object URL on the line: the ICAP service's.
  assert.equal(at('2024-05-01 10:01:02.249 [1205:501210] INFO  preprocessor_icap: ICAP REQMOD icap://10.0.0.9:1344/kata_reqmod ICAP/1.0 status=204').url, 'icap://10.0.0.9:1344/kata_reqmod');
  assert.equal(at('plain text').mode, undefined);
});
