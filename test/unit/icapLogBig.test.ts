import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CountingByteSource, LocalFileSource } from '../../src/icapLog/byteSource';
import { countMatches } from '../../src/icapLog/countMatches';
import { compileFilter, grepPipeline, type IcapLogFilter } from '../../src/icapLog/logFilter';
import { LogPager } from '../../src/icapLog/logPager';
import { generateIcapLog } from '../helpers/icapLogGenerator';

/** Run the filter's grep pipeline on a file with real pipes (works for any size). */
function grepCount(spec: IcapLogFilter, file: string): Promise<number> {
  const { stages } = grepPipeline(spec);
  const env = { ...process.env, LC_ALL: 'C.UTF-8' };
  const procs = stages.map((argv, i) => spawn('grep', i === 0 ? [...argv, file] : argv, { env, stdio: ['pipe', 'pipe', 'inherit'] }));
  for (let i = 1; i < procs.length; i++) procs[i - 1]!.stdout!.pipe(procs[i]!.stdin!);
  procs[0]!.stdin!.end();
  let out = '';
  procs[procs.length - 1]!.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    procs[procs.length - 1]!.on('close', (code) => (code === 0 || code === 1 ? resolve(Number(out.trim())) : reject(new Error(`grep exited ${code}`))));
  });
}

test('200 MB log: the tail arrives after reading a few chunks; the count streams in bounded memory and equals grep', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kds-icap-200m-'));
  const file = join(root, 'preprocessor_icap.log');
  try {
    const gen = generateIcapLog(file, 200 * 1024 * 1024, 42);
    assert.ok(gen.bytes >= 200 * 1024 * 1024);
    const source = new CountingByteSource(new LocalFileSource(file));
    const pager = new LogPager(source);

    const tail = await pager.tail(200);
    assert.equal(tail.lines.length, 200);
    assert.equal(tail.lines[199]!.offset + tail.lines[199]!.byteLength, gen.bytes);
    assert.ok(source.bytesRead <= 2 * pager.chunkBytes, `first page read ${source.bytesRead} bytes`);
    source.reset();
    const before = await pager.pageBefore(tail.startCursor, 200);
    assert.equal(before.lines[199]!.offset + before.lines[199]!.byteLength, tail.lines[0]!.offset);
    assert.ok(source.bytesRead <= 2 * pager.chunkBytes);
    source.reset();
    const filtered = await pager.tail(100, { filter: compileFilter({ mode: 'blocking_advanced', verdictOnly: true }) });
    assert.equal(filtered.lines.length, 100);
    assert.ok(source.bytesRead <= 16 * pager.chunkBytes, `filtered first page read ${source.bytesRead} bytes`);

    const spec: IcapLogFilter = { mode: 'blocking_advanced', verdictOnly: true };
    const mem = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const base = mem();
    let peak = base;
    const r = await countMatches(source, compileFilter(spec), { onProgress: () => (peak = Math.max(peak, mem())) });
    assert.equal(r.bytes, gen.bytes);
    assert.equal(r.lines, gen.lines);
    assert.ok(peak - base < 64 * 1024 * 1024, `heap growth ${((peak - base) / 1048576).toFixed(1)} MB`);
    const [expectedMatched, expectedLines] = await Promise.all([grepCount(spec, file), grepCount({}, file)]);
    assert.equal(r.matched, expectedMatched);
    assert.equal(r.lines, expectedLines);
    assert.ok(r.matched > 1000);
    await source.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
