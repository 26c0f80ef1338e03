import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BufferByteSource, LocalFileSource } from '../../src/icapLog/byteSource';
import { countMatches } from '../../src/icapLog/countMatches';
import { extractLineTime } from '../../src/icapLog/lineTime';
import { IcapLogFilterError, compileFilter, grepCommandLine, grepPipeline, type IcapLogFilter, type IcapMode } from '../../src/icapLog/logFilter';

const dir = join(__dirname, '..', 'fixtures', 'icap');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
const env = { ...process.env, LC_ALL: 'C.UTF-8' };

/** Run the grep pipeline for a filter on a file and return its count (grep -c output). */
function grepCount(spec: IcapLogFilter, file: string): number {
  const { stages } = grepPipeline(spec);
  let input: Buffer | undefined;
  for (let i = 0; i < stages.length; i++) {
    const args = i === 0 ? [...stages[i]!, file] : stages[i]!;
    try {
      input = execFileSync('grep', args, { env, maxBuffer: 1 << 30, ...(input !== undefined ? { input } : {}) });
    } catch (err) {
      const e = err as { status?: number; stdout?: Buffer };
      if (e.status !== 1) throw err; // 1 = no line selected; 2 = trouble
      input = e.stdout ?? Buffer.alloc(0);
    }
  }
  return Number(input!.toString().trim());
}

const modes: IcapMode[] = ['all', 'blocking_simple', 'blocking_advanced'];
const searches: Array<IcapLogFilter['search'] | undefined> = [
  undefined,
  { text: 'RESPMOD' },
  { text: 'respmod', ignoreCase: true },
  { text: 'Verdict' },
  { text: 'VERDICT', ignoreCase: true },
  { text: '10.0.0.' },
  { text: 'отчёт' },
  { text: 'ОТЧЁТ', ignoreCase: true },
  { text: '\\b10\\.0\\.0\\.\\d+', regex: true },
  { text: 'verdict[=:] ?"?(clean|detected)', regex: true, ignoreCase: true },
  { text: '^2024-05-0[12]', regex: true },
  { text: 'mode$', regex: true },
  { text: '(REQ|RESP)MOD.*status=20[04]', regex: true },
];
const combos: IcapLogFilter[] = [];
for (const mode of modes) for (const verdictOnly of [false, true]) for (const search of searches) combos.push({ mode, verdictOnly, ...(search ? { search } : {}) });

for (const name of fixtures) {
  test(`${name}: the count equals the grep pipeline's for ${combos.length} filter combinations`, async () => {
    const file = join(dir, name);
    const source = new LocalFileSource(file);
    try {
      for (const spec of combos) {
        const expected = grepCount(spec, file);
        for (const chunkBytes of [1024 * 1024, 97]) {
          const r = await countMatches(source, compileFilter(spec), { chunkBytes });
          assert.equal(r.matched, expected, `${grepCommandLine(spec, name)} (chunk ${chunkBytes})`);
        }
      }
      const all = await countMatches(source, compileFilter({}), {});
      assert.equal(all.lines, grepCount({}, file));
      assert.equal(all.matched, all.lines);
    } finally {
      await source.close();
    }
  });
}

test('the fixtures exercise the filters (no combination is trivially zero everywhere)', () => {
  const file = join(dir, 'kata-preprocessor.log');
  assert.ok(grepCount({ mode: 'blocking_simple', verdictOnly: true }, file) > 5);
  assert.ok(grepCount({ mode: 'blocking_advanced', verdictOnly: true }, file) > 5);
  // "Verdict" (capital V) and "blocking_simple  mode" (two spaces) lines exist and are not counted
  const text = readFileSync(file, 'utf8');
  assert.match(text, /Verdict for/);
  assert.match(text, /blocking_simple {2}mode/);
});

test('grep equivalents are spelled out for every filter', () => {
  assert.equal(grepCommandLine({}, 'f.log'), "grep -a -c -- '' f.log");
  assert.equal(grepCommandLine({ mode: 'blocking_simple' }, 'f.log'), "grep -a -c -F -- 'blocking_simple mode' f.log");
  assert.equal(
    grepCommandLine({ mode: 'blocking_advanced', verdictOnly: true, search: { text: "it's", ignoreCase: true } }, '/var/log/x.log'),
    "grep -a -F -- 'blocking_advanced mode' /var/log/x.log | grep -a -F -- verdict | grep -a -c -F -i -- 'it'\\''s'",
  );
  assert.equal(grepCommandLine({ verdictOnly: true, search: { text: 'a|b', regex: true } }, 'f'), "grep -a -F -- verdict f | grep -a -c -P -- 'a|b'");
  assert.equal(grepPipeline({ timeFrom: '2024-05-01' }).timeRangeOmitted, true);
  assert.equal(grepPipeline({ search: { text: '' } }).stages.length, 1);
});

test('an invalid regular expression, time or range is a clear error naming the field', () => {
  assert.throws(() => compileFilter({ search: { text: '(unclosed', regex: true } }), (e: unknown) => e instanceof IcapLogFilterError && e.field === 'search' && /\(unclosed/.test(e.message));
  assert.throws(() => compileFilter({ search: { text: 'a\nb' } }), (e: unknown) => e instanceof IcapLogFilterError && e.field === 'search');
  assert.throws(() => compileFilter({ timeFrom: 'yesterday-ish' }), (e: unknown) => e instanceof IcapLogFilterError && e.field === 'timeFrom' && /yesterday-ish/.test(e.message));
  assert.throws(() => compileFilter({ timeFrom: '2024-05-02', timeTo: '2024-05-01' }), (e: unknown) => e instanceof IcapLogFilterError && e.field === 'timeTo');
  assert.doesNotThrow(() => compileFilter({ search: { text: '(ok)', regex: false } }));
});

test('time range: lines inside [from, to] by their own time; lines without a time are excluded', async () => {
  const cases: Array<[string, IcapLogFilter]> = [
    ['kata-preprocessor.log', { timeFrom: '2024-05-01 10:30:00', timeTo: '2024-05-01 11:00:00' }],
    ['kata-iso.log', { timeFrom: '2024-05-01T06:00:00Z', timeTo: '2024-05-01T10:30:00+03:00' }],
    ['c-icap-server.log', { timeFrom: '2024-05-01 12:00:00', mode: 'blocking_simple' }],
    ['squid-icap.log', { timeFrom: '2024-05-01T10:05:00Z', timeTo: '2024-05-01T10:15:00Z' }],
    ['syslog.log', { timeFrom: '2024-05-01 13:00:00', timeTo: '2024-05-02 12:30:00', time: { defaultYear: 2024 } }],
    ['clf-access.log', { timeFrom: '2024-05-01T06:30:00Z', verdictOnly: true }],
    ['ru-dates-no-final-newline.log', { timeTo: '01.05.2024 13:30:00' }],
    ['crlf.log', { timeFrom: '2024-05-02 07:10', timeTo: '2024-05-02 07:20' }],
  ];
  for (const [name, spec] of cases) {
    const data = readFileSync(join(dir, name));
    const f = compileFilter(spec);
    // reference: whole file in memory, split like grep, time of each line checked directly
    const lines = data.toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const expected = lines.filter((l) => {
      const tm = extractLineTime(l, spec.time);
      if (!tm || (f.fromMs !== undefined && tm.epochMs < f.fromMs) || (f.toMs !== undefined && tm.epochMs > f.toMs)) return false;
      if (spec.mode && spec.mode !== 'all' && !l.includes(`${spec.mode} mode`)) return false;
      return !spec.verdictOnly || l.includes('verdict');
    }).length;
    const r = await countMatches(new BufferByteSource(data), f, { chunkBytes: 333 });
    assert.equal(r.matched, expected, name);
    assert.ok(expected > 0 && expected < lines.length, `${name}: the range selects some lines (${expected}/${lines.length})`);
  }
  // the stack trace lines of kata-preprocessor.log have no time: excluded from any range
  const trace = compileFilter({ timeFrom: '2000-01-01', search: { text: 'Traceback' } });
  assert.equal((await countMatches(new LocalFileSource(join(dir, 'kata-preprocessor.log')), trace)).matched, 0);
});

test('countMatches reports progress and can be cancelled', async () => {
  const data = readFileSync(join(dir, 'kata-preprocessor.log'));
  const seen: number[] = [];
  const r = await countMatches(new BufferByteSource(data), compileFilter({ verdictOnly: true }), { chunkBytes: 4096, onProgress: (done) => seen.push(done) });
  assert.equal(seen[seen.length - 1], data.length);
  assert.equal(r.bytes, data.length);
  const ac = new AbortController();
  await assert.rejects(
    countMatches(new BufferByteSource(data), compileFilter({}), { chunkBytes: 1024, signal: ac.signal, onProgress: (done) => done > 5000 && ac.abort() }),
    (e: Error) => e.name === 'AbortError',
  );
});

test('very long lines are counted once and matched (also across chunk boundaries)', async () => {
  const long = 'x'.repeat(300_000);
  const data = Buffer.from(`a verdict\n${long} verdict ${long}\n${long}\nverdict tail`);
  for (const chunkBytes of [1000, 65536, 1 << 20]) {
    const r = await countMatches(new BufferByteSource(data), compileFilter({ verdictOnly: true }), { chunkBytes });
    assert.deepEqual([r.matched, r.lines], [3, 4]);
  }
  // lines over maxMatchBytes are matched on their prefix, and still counted once
  const r = await countMatches(new BufferByteSource(data), compileFilter({ verdictOnly: true }), { chunkBytes: 1000, maxMatchBytes: 1000 });
  assert.deepEqual([r.matched, r.lines], [2, 4]);
});

test('an invalid regular expression is explained once, not "Invalid regular expression x: Invalid regular expression: /x/: …"', () => {
  assert.throws(() => compileFilter({ search: { text: 'icar(', regex: true } }), (err: Error) => {
    assert.equal(err.message, 'Invalid regular expression icar(: Unterminated group');
    return true;
  });
});
