import type { Verdict } from '../../src/engine/events';
import { VerdictHistory } from '../../src/viewModel/verdictHistory';
import { type VerdictQuery, countVerdicts, queryVerdictRows, verdictBuckets } from '../../src/webviewProtocol/verdictsQuery';

const count = 100_000;
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const fmt = (v: number) => `${v.toFixed(1)} ms`;

/**
 * What the Verdicts panel costs with 100 000 files: building the history from routed events,
 * and the filter/sort/count/bucket work the webview redoes on every batch of updates (the same
 * functions run there, in Chromium's V8). Figures only; tests assert no timings.
 */
export async function benchVerdicts100k(): Promise<Array<{ name: string; value: string }>> {
  const results: Array<{ name: string; value: string }> = [];
  const verdicts: Verdict[] = ['not detected', 'not detected', 'not detected', 'detect', 'error', 'timeout', 'unknown'];
  const history = new VerdictHistory({ threatOf: (sha) => (sha.startsWith('0') ? 'EICAR-Test-File' : undefined) });
  const now = Date.now();
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const verdict = verdicts[i % verdicts.length]!;
    const routedAt = now - ((i * 7919) % count) * 1000;
    history.onEngineEvent({
      type: 'routed',
      file: {
        name: `report-${i}.pdf`, size: 1000 + i, sha256: (i * 2654435761 >>> 0).toString(16).padStart(8, '0').repeat(8), scanId: `scan-${i}`,
        verdict, rawState: verdict, destination: verdict === 'not detected' ? 'out' : 'qrnt', path: `/out/report-${i}.pdf`, submittedAt: routedAt - 1500 - (i % 5000), routedAt,
      },
    });
  }
  results.push({ name: 'VerdictHistory: 100 000 routed events', value: fmt(ms(t0)) });
  t0 = process.hrtime.bigint();
  const rows = history.rows();
  results.push({ name: 'VerdictHistory.rows() (the full table sent on open)', value: fmt(ms(t0)) });
  t0 = process.hrtime.bigint();
  const json = JSON.stringify(rows);
  results.push({ name: `serialise 100 000 rows (${(json.length / 1e6).toFixed(1)} MB JSON)`, value: fmt(ms(t0)) });
  const base: VerdictQuery = { verdicts: [], text: '', sort: 'time', descending: true };
  const cases: Array<[string, VerdictQuery]> = [
    ['sort by time (default view)', base],
    ['sort by name', { ...base, sort: 'name', descending: false }],
    ['sort by threat', { ...base, sort: 'threat' }],
    ['filter verdict=detect, sort by size', { ...base, verdicts: ['detect'], sort: 'size' }],
    ['text search "report-99" + sort by time', { ...base, text: 'report-99' }],
  ];
  for (const [label, q] of cases) {
    queryVerdictRows(rows, q); // warm-up
    t0 = process.hrtime.bigint();
    const out = queryVerdictRows(rows, q);
    results.push({ name: `queryVerdictRows, 100 000 rows: ${label} → ${out.length} rows`, value: fmt(ms(t0)) });
  }
  t0 = process.hrtime.bigint();
  countVerdicts(rows);
  verdictBuckets(rows);
  results.push({ name: 'countVerdicts + verdictBuckets, 100 000 rows', value: fmt(ms(t0)) });
  if (rows.length !== count) throw new Error(`expected ${count} rows, got ${rows.length}`);
  history.dispose();
  return results;
}

if (require.main === module) {
  void benchVerdicts100k().then((rows) => {
    for (const r of rows) console.log(`${r.name}: ${r.value}`);
  });
}
