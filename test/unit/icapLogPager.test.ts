import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferByteSource, CountingByteSource, LocalFileSource, type ByteSource } from '../../src/icapLog/byteSource';
import { countMatches } from '../../src/icapLog/countMatches';
import { compileFilter, type IcapLogFilter } from '../../src/icapLog/logFilter';
import type { IcapLogLine } from '../../src/icapLog/logLine';
import { LogPager } from '../../src/icapLog/logPager';

const dir = join(__dirname, '..', 'fixtures', 'icap');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();

async function allBackward(pager: LogPager, n: number, filter?: IcapLogFilter, maxScanBytes?: number): Promise<IcapLogLine[]> {
  const opts = { ...(filter ? { filter: compileFilter(filter) } : {}), ...(maxScanBytes ? { maxScanBytes } : {}) };
  let page = await pager.tail(n, opts);
  const pages = [page.lines];
  while (!page.atStart) {
    const before = await pager.pageBefore(page.startCursor, n, opts);
    assert.ok(before.startCursor < page.startCursor || before.lines.length > 0, 'progress');
    page = before;
    pages.unshift(page.lines);
  }
  return pages.flat();
}

function grepCount(args: string[], file: string): number {
  try {
    return Number(execFileSync('grep', ['-a', '-c', ...args, file], { env: { ...process.env, LC_ALL: 'C.UTF-8' } }).toString());
  } catch (e) {
    return Number((e as { stdout: Buffer }).stdout.toString());
  }
}

for (const name of fixtures) {
  test(`${name}: paging back from the end reproduces the file exactly, at any chunk size`, async () => {
    const file = join(dir, name);
    const data = readFileSync(file);
    for (const [chunkBytes, n] of [[65536, 50], [97, 7], [13, 1]] as const) {
      const pager = new LogPager(new LocalFileSource(file), { chunkBytes });
      const lines = await allBackward(pager, n);
      // byte ranges are contiguous and cover the file
      let at = 0;
      for (const l of lines) {
        assert.equal(l.offset, at);
        at += l.byteLength;
      }
      assert.equal(at, data.length);
      assert.deepEqual(Buffer.concat(lines.map((l) => data.subarray(l.offset, l.offset + l.byteLength))), data);
      // the text (+ terminators) is the decoded file: invalid UTF-8 shows as U+FFFD, nothing lost
      assert.equal(lines.map((l) => l.text + l.eol).join(''), data.toString('utf8'), `${name} chunk ${chunkBytes}`);
      assert.equal(lines.length, grepCount(['--', ''], file));
      assert.equal(lines.filter((l) => l.partial).length, data[data.length - 1] === 0x0a ? 0 : 1);
      // forward paging gives the same lines, numbered
      const fwd: IcapLogLine[] = [];
      for (let cur = 0, page; ; cur = page.endCursor) {
        page = await pager.pageAfter(cur, n, {}, fwd.length + 1);
        fwd.push(...page.lines);
        if (page.atEnd) break;
      }
      assert.deepEqual(fwd.map(({ lineNo, ...rest }) => rest), lines);
      assert.deepEqual(fwd.map((l) => l.lineNo), lines.map((_, i) => i + 1));
      await pager.source.close();
    }
  });

  test(`${name}: filtered pages hold exactly the lines grep selects`, async () => {
    const file = join(dir, name);
    const pager = new LogPager(new LocalFileSource(file), { chunkBytes: 512 });
    for (const [filter, args] of [
      [{ mode: 'blocking_advanced', verdictOnly: true }, null],
      [{ verdictOnly: true }, ['-F', 'verdict']],
      [{ search: { text: 'REQMOD|OPTIONS', regex: true } }, ['-P', 'REQMOD|OPTIONS']],
    ] as Array<[IcapLogFilter, string[] | null]>) {
      const lines = await allBackward(pager, 5, filter, 2048);
      const counted = await countMatches(pager.source, compileFilter(filter));
      assert.equal(lines.length, counted.matched);
      if (args) assert.equal(lines.length, grepCount(args, file));
      const f = compileFilter(filter);
      assert.ok((await f.matchLines(lines.map((l) => l.text + (l.eol === '\r\n' ? '\r' : '')))).every(Boolean));
      const fwd = await pager.pageAfter(0, 1e9, { filter: f });
      assert.deepEqual(fwd.lines.map((l) => l.offset), lines.map((l) => l.offset));
    }
    await pager.source.close();
  });
}

test('CRLF lines: text without the CR, eol says \\r\\n; a lone CR inside stays', async () => {
  const pager = new LogPager(new BufferByteSource(Buffer.from('a\r\nb\r\r\n\r\nc\rd\n\r\n')));
  const page = await pager.tail(10);
  assert.deepEqual(page.lines.map((l) => [l.text, l.eol]), [['a', '\r\n'], ['b\r', '\r\n'], ['', '\r\n'], ['c\rd', '\n'], ['', '\r\n']]);
});

test('invalid UTF-8 never throws and shows U+FFFD; a cut multi-byte char is not split when truncating', async () => {
  const data = Buffer.concat([Buffer.from('ok '), Buffer.from([0xff, 0xc3, 0x28, 0xe2, 0x82]), Buffer.from('\n'), Buffer.from('ЖЖЖЖЖЖ\n')]);
  const pager = new LogPager(new BufferByteSource(data), { maxDisplayBytes: 5 });
  const page = await pager.tail(10);
  assert.equal(page.lines[0]!.text, 'ok \ufffd', 'the cut lead byte c3 is left out');
  assert.ok(page.lines[0]!.truncated);
  assert.equal(page.lines[1]!.text, 'ЖЖ', '5 bytes would cut the third Ж: shown up to a whole character');
  assert.equal(page.lines[1]!.byteLength, 13);
});

test('very long lines: display capped, offsets and counts right, memory bounded (bytes read ~ the line once)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kds-icap-long-'));
  try {
    const file = join(root, 'long.log');
    const long = `2024-05-01 10:00:00 verdict=clean ${'z'.repeat(8 * 1024 * 1024)}`;
    writeFileSync(file, `first\n${long}\nlast verdict\n`);
    const source = new CountingByteSource(new LocalFileSource(file));
    const pager = new LogPager(source, { maxDisplayBytes: 4096 });
    const page = await pager.tail(10);
    assert.deepEqual(page.lines.map((l) => [l.offset, l.byteLength, l.text.length, !!l.truncated]), [
      [0, 6, 5, false],
      [6, long.length + 1, 4096, true],
      [6 + long.length + 1, 13, 12, false],
    ]);
    assert.ok(source.bytesRead < long.length + 3 * 65536, `read ${source.bytesRead}`);
    source.reset();
    const filtered = await pager.tail(10, { filter: compileFilter({ verdictOnly: true }) });
    assert.equal(filtered.lines.length, 2);
    assert.ok(filtered.lines[0]!.text.startsWith('2024-05-01 10:00:00 verdict=clean zzz'));
    assert.equal((await pager.pageAfter(0, 10, { filter: compileFilter({ verdictOnly: true }) })).lines.length, 2);
    await source.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a filtered page with few matches stops after maxScanBytes at a line boundary and continues from there', async () => {
  const data = Buffer.from(Array.from({ length: 2000 }, (_, i) => (i % 500 === 0 ? `${i} verdict=clean` : `${i} noise noise noise`)).join('\n') + '\n');
  const pager = new LogPager(new BufferByteSource(data), { chunkBytes: 1024 });
  const f = compileFilter({ verdictOnly: true });
  const page = await pager.tail(10, { filter: f, maxScanBytes: 4096 });
  assert.equal(page.atStart, false);
  assert.ok(page.bytesRead <= 4096 + 1024);
  assert.equal(data[page.startCursor - 1], 0x0a, 'cursor at a line start');
  const all = await allBackward(pager, 10, { verdictOnly: true }, 4096);
  assert.deepEqual(all.map((l) => l.text), ['0 verdict=clean', '500 verdict=clean', '1000 verdict=clean', '1500 verdict=clean']);
});

async function withLog(fn: (file: string, pager: LogPager, source: ByteSource) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'kds-icap-follow-'));
  const file = join(root, 'preprocessor_icap.log');
  writeFileSync(file, 'one\ntwo\nthree\n');
  const source = new LocalFileSource(file);
  try {
    await fn(file, new LogPager(source, { maxFollowBytes: 64 * 1024 }), source);
  } finally {
    await source.close();
    rmSync(root, { recursive: true, force: true });
  }
}
const texts = (ls: IcapLogLine[]) => ls.map((l) => l.text);

test('follow: appended lines, a partial line re-sent whole under the same offset', async () => {
  await withLog(async (file, pager) => {
    assert.deepEqual(texts((await pager.tail(2)).lines), ['two', 'three']);
    assert.deepEqual((await pager.pollNew()).lines, []);
    appendFileSync(file, 'four\nfive\n');
    assert.deepEqual(texts((await pager.pollNew()).lines), ['four', 'five']);
    appendFileSync(file, 'six (being wri');
    const p1 = await pager.pollNew();
    assert.deepEqual(p1.lines.map((l) => [l.text, !!l.partial]), [['six (being wri', true]]);
    appendFileSync(file, 'tten)\nseven\n');
    const p2 = await pager.pollNew();
    assert.deepEqual(p2.lines.map((l) => [l.text, !!l.partial]), [['six (being written)', false], ['seven', false]]);
    assert.equal(p2.lines[0]!.offset, p1.lines[0]!.offset);
    assert.equal(p2.reset, undefined);
  });
});

test('follow with a filter: only matching new lines; a partial non-matching tail is not lost', async () => {
  await withLog(async (file, pager) => {
    const filter = compileFilter({ verdictOnly: true });
    appendFileSync(file, 'partial ');
    assert.deepEqual((await pager.tail(10, { filter })).lines, []);
    appendFileSync(file, 'now has verdict=clean\nnoise\nverdict: detected\n');
    assert.deepEqual(texts((await pager.pollNew({ filter })).lines), ['partial now has verdict=clean', 'verdict: detected']);
  });
});

test('follow: truncation (copytruncate, > file) restarts at 0 and says so', async () => {
  await withLog(async (file, pager) => {
    await pager.tail(10);
    truncateSync(file, 0);
    appendFileSync(file, 'after truncate\n');
    const u = await pager.pollNew();
    assert.equal(u.reset, 'truncated');
    assert.deepEqual(texts(u.lines), ['after truncate']);
    assert.equal(u.lines[0]!.offset, 0);
    appendFileSync(file, 'more\n');
    assert.deepEqual(texts((await pager.pollNew()).lines), ['more']);
  });
});

test('follow: rewritten in place and already longer than before is still seen as truncated', async () => {
  await withLog(async (file, pager) => {
    await pager.tail(10);
    writeFileSync(file, 'completely different content\nand longer than before\n');
    const u = await pager.pollNew();
    assert.equal(u.reset, 'truncated');
    assert.deepEqual(texts(u.lines), ['completely different content', 'and longer than before']);
  });
});

test('follow: rotation (rename + new file) reopens the path and restarts at 0', async () => {
  await withLog(async (file, pager) => {
    await pager.tail(10);
    renameSync(file, `${file}.1`);
    appendFileSync(`${file}.1`, 'late line in the old file\n');
    assert.deepEqual(texts((await pager.pollNew()).lines), ['late line in the old file'], 'until the new file exists the old one is followed');
    writeFileSync(file, 'new file line 1\nnew file line 2\n');
    const u = await pager.pollNew();
    assert.equal(u.reset, 'rotated');
    assert.deepEqual(texts(u.lines), ['new file line 1', 'new file line 2']);
    assert.equal(u.generation, 1);
  });
});

test('follow: a burst larger than maxFollowBytes skips to the tail and reports the skipped bytes', async () => {
  await withLog(async (file, pager) => {
    await pager.tail(10);
    const big = Array.from({ length: 20000 }, (_, i) => `burst line ${i}`).join('\n') + '\n';
    appendFileSync(file, big);
    const u = await pager.pollNew({ tailLines: 100 });
    assert.ok(u.skippedBytes && u.skippedBytes > 64 * 1024);
    assert.equal(u.lines.length, 100);
    assert.equal(u.lines[99]!.text, 'burst line 19999');
    appendFileSync(file, 'after\n');
    assert.deepEqual(texts((await pager.pollNew()).lines), ['after']);
  });
});

test('follow(): timer-driven updates and stop()', async () => {
  await withLog(async (file, pager) => {
    await pager.tail(1);
    const got: string[] = [];
    const stop = pager.follow((u) => got.push(...texts(u.lines)), { intervalMs: 10 });
    appendFileSync(file, 'live 1\n');
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    stop();
    assert.deepEqual(got, ['live 1']);
  });
});

test('a missing file is a clear error', async () => {
  const pager = new LogPager(new LocalFileSource('/nonexistent/preprocessor_icap.log'));
  await assert.rejects(pager.tail(10), /\/nonexistent\/preprocessor_icap\.log/);
});
