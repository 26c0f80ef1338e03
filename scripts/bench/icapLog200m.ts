import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CountingByteSource, LocalFileSource } from '../../src/icapLog/byteSource';
import { countMatches } from '../../src/icapLog/countMatches';
import { compileFilter } from '../../src/icapLog/logFilter';
import { LogPager } from '../../src/icapLog/logPager';
import { generateIcapLog } from '../../test/helpers/icapLogGenerator';

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const fmt = (v: number) => `${v.toFixed(1)} ms`;

/**
 * The ICAP log viewer on a 200 MB generated log: first page from the end, an earlier page, a
 * filtered first page, full counts (no filter / mode + verdict / regex) with MB/s, and grep -c
 * for comparison. Figures only; tests assert no timings.
 */
export async function benchIcapLog200m(sizeMB = 200): Promise<Array<{ name: string; value: string }>> {
  const results: Array<{ name: string; value: string }> = [];
  const root = mkdtempSync(join(tmpdir(), 'kds-bench-icap-'));
  const file = join(root, 'preprocessor_icap.log');
  try {
    let t0 = process.hrtime.bigint();
    const gen = generateIcapLog(file, sizeMB * 1024 * 1024, 42);
    const mb = gen.bytes / 1048576;
    results.push({ name: `generate ${mb.toFixed(0)} MB (${gen.lines} lines)`, value: fmt(ms(t0)) });
    const source = new CountingByteSource(new LocalFileSource(file));
    const pager = new LogPager(source);
    t0 = process.hrtime.bigint();
    const tail = await pager.tail(200);
    results.push({ name: 'first page: last 200 lines', value: `${fmt(ms(t0))}, ${(source.bytesRead / 1024).toFixed(0)} KiB read` });
    source.reset();
    t0 = process.hrtime.bigint();
    await pager.pageBefore(tail.startCursor, 200);
    results.push({ name: 'earlier page: 200 lines', value: `${fmt(ms(t0))}, ${(source.bytesRead / 1024).toFixed(0)} KiB read` });
    source.reset();
    t0 = process.hrtime.bigint();
    await pager.tail(200, { filter: compileFilter({ mode: 'blocking_advanced', verdictOnly: true }) });
    results.push({ name: 'first filtered page (blocking_advanced + verdict), 200 lines', value: `${fmt(ms(t0))}, ${(source.bytesRead / 1024).toFixed(0)} KiB read` });
    for (const [label, spec] of [
      ['no filter', {}],
      ['blocking_advanced mode + verdict', { mode: 'blocking_advanced', verdictOnly: true }],
      ['regex verdict[=:] ?(clean|detected), -i', { search: { text: 'verdict[=:] ?(clean|detected)', regex: true, ignoreCase: true } }],
    ] as const) {
      t0 = process.hrtime.bigint();
      const r = await countMatches(source, compileFilter(spec));
      const took = ms(t0);
      results.push({ name: `full count, ${label}: ${r.matched} lines`, value: `${fmt(took)} (${(mb / (took / 1000)).toFixed(0)} MB/s)` });
    }
    t0 = process.hrtime.bigint();
    execFileSync('grep', ['-a', '-c', '-F', 'blocking_advanced mode', file], { env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    results.push({ name: "for comparison: grep -a -c -F 'blocking_advanced mode'", value: fmt(ms(t0)) });
    await source.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return results;
}

if (require.main === module) {
  void benchIcapLog200m().then((rows) => {
    for (const r of rows) console.log(`${r.name}: ${r.value}`);
  });
}
