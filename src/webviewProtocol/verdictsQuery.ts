/**
 * The Verdicts table's rows and the pure filter/sort/count functions over them. Shared by the
 * webview (which filters and sorts the rows it holds) and the host's model and benchmark.
 * No vscode, no DOM, no Node APIs.
 */

export type Verdict = 'not detected' | 'detect' | 'error' | 'timeout' | 'unknown';
export const verdicts: readonly Verdict[] = ['not detected', 'detect', 'error', 'timeout', 'unknown'];

/** A row's verdict for filters and counts; `pending` = no verdict (in progress, abandoned, interrupted). */
export type VerdictKey = Verdict | 'pending';
export const verdictKeys: readonly VerdictKey[] = [...verdicts, 'pending'];

/** One file version the engine handled (one scanId; before the upload, one name in input). */
export interface VerdictRow {
  /** scanId when known, else `in:<share>/<name>`. */
  id: string;
  /** Epoch ms of the latest state change (the verdict time for finished rows). */
  time: number;
  /** The share the file came from (`default` for a one-share configuration). */
  share?: string;
  name: string;
  size: number;
  sha256?: string;
  verdict?: Verdict;
  /** For rows without a verdict: the engine stage, or `abandoned` / `interrupted` from the journal. */
  stage?: string;
  threat?: string;
  /** submitted → verdict. */
  durationMs?: number;
  /** Where the file is now: where KDS put it, or `released` (from quarantine to output) / `deleted` (from quarantine) since. */
  destination?: VerdictDestination;
}

export type VerdictDestination = 'out' | 'qrnt' | 'released' | 'deleted';

export type VerdictColumn = 'time' | 'share' | 'name' | 'size' | 'sha256' | 'verdict' | 'threat' | 'duration' | 'destination';
export const verdictColumns: readonly VerdictColumn[] = ['time', 'share', 'name', 'size', 'sha256', 'verdict', 'threat', 'duration', 'destination'];

export interface VerdictQuery {
  /** Shown verdicts; empty = all. */
  verdicts: readonly VerdictKey[];
  /** Shown shares; empty or absent = all. */
  shares?: readonly string[];
  /** Case-insensitive substring of name, SHA-256, threat or id. */
  text: string;
  sort: VerdictColumn;
  descending: boolean;
}

export const defaultVerdictQuery: VerdictQuery = { verdicts: [], text: '', sort: 'time', descending: true };

export function verdictKeyOf(row: VerdictRow): VerdictKey {
  return row.verdict ?? 'pending';
}

const verdictRank: Record<VerdictKey, number> = { detect: 0, error: 1, timeout: 2, unknown: 3, 'not detected': 4, pending: 5 };

type Key = number | string;

function keyOf(row: VerdictRow, column: VerdictColumn): Key {
  switch (column) {
    case 'time':
      return row.time;
    case 'share':
      return row.share ?? '';
    case 'name':
      return row.name.toLowerCase();
    case 'size':
      return row.size;
    case 'sha256':
      return row.sha256 ?? '';
    case 'verdict':
      return verdictRank[verdictKeyOf(row)];
    case 'threat':
      return (row.threat ?? '').toLowerCase();
    case 'duration':
      return row.durationMs ?? -1;
    case 'destination':
      return row.destination ?? '';
  }
}

/**
 * Filters and sorts; the input is not changed. Keys are computed once per row (not per
 * comparison) and ties fall back to the time, newest first, so the order is stable across updates.
 */
export function queryVerdictRows(rows: readonly VerdictRow[], q: VerdictQuery): VerdictRow[] {
  const wanted = q.verdicts.length ? new Set<VerdictKey>(q.verdicts) : undefined;
  const shares = q.shares?.length ? new Set(q.shares) : undefined;
  const text = q.text.trim().toLowerCase();
  const picked: VerdictRow[] = [];
  for (const row of rows) {
    if (wanted && !wanted.has(verdictKeyOf(row))) continue;
    if (shares && !shares.has(row.share ?? 'default')) continue;
    if (text && !matches(row, text)) continue;
    picked.push(row);
  }
  const n = picked.length;
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) times[i] = picked[i]!.time;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const dir = q.descending ? -1 : 1;
  // Ties (many rows share a verdict or an empty threat) fall back to the time, newest first, then the id.
  const tie = (a: number, b: number) => times[b]! - times[a]! || (picked[a]!.id < picked[b]!.id ? -1 : 1);
  if (q.sort === 'time') {
    order.sort((a, b) => dir * (times[a]! - times[b]!) || (picked[a]!.id < picked[b]!.id ? -1 : 1));
  } else if (q.sort === 'size' || q.sort === 'duration' || q.sort === 'verdict') {
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = keyOf(picked[i]!, q.sort) as number;
    order.sort((a, b) => dir * (keys[a]! - keys[b]!) || tie(a, b));
  } else {
    const keys = picked.map((r) => keyOf(r, q.sort) as string);
    order.sort((a, b) => {
      const ka = keys[a]!;
      const kb = keys[b]!;
      return ka < kb ? -dir : ka > kb ? dir : tie(a, b);
    });
  }
  const out = new Array<VerdictRow>(n);
  for (let i = 0; i < n; i++) out[i] = picked[order[i]!]!;
  return out;
}

function matches(row: VerdictRow, text: string): boolean {
  return (
    row.name.toLowerCase().includes(text) ||
    (row.sha256 !== undefined && row.sha256.includes(text)) ||
    (row.threat !== undefined && row.threat.toLowerCase().includes(text)) ||
    row.id.toLowerCase().includes(text)
  );
}

export function countVerdicts(rows: readonly VerdictRow[]): Record<VerdictKey, number> {
  const counts = Object.fromEntries(verdictKeys.map((k) => [k, 0])) as Record<VerdictKey, number>;
  for (const r of rows) counts[verdictKeyOf(r)]++;
  return counts;
}

export interface VerdictBucket {
  start: number;
  counts: Record<VerdictKey, number>;
}

/**
 * Rows with a verdict per time bucket (default one hour), the last `maxBuckets` buckets up to
 * the newest row, oldest first; empty buckets included so the chart's x axis is linear.
 */
export function verdictBuckets(rows: readonly VerdictRow[], bucketMs = 3_600_000, maxBuckets = 24): VerdictBucket[] {
  let newest = -Infinity;
  for (const r of rows) if (r.verdict && r.time > newest) newest = r.time;
  if (newest === -Infinity) return [];
  const last = Math.floor(newest / bucketMs) * bucketMs;
  const first = last - (maxBuckets - 1) * bucketMs;
  const buckets: VerdictBucket[] = Array.from({ length: maxBuckets }, (_, i) => ({
    start: first + i * bucketMs,
    counts: Object.fromEntries(verdictKeys.map((k) => [k, 0])) as Record<VerdictKey, number>,
  }));
  for (const r of rows) {
    if (!r.verdict || r.time < first) continue;
    const i = Math.floor((r.time - first) / bucketMs);
    if (i >= 0 && i < maxBuckets) buckets[i]!.counts[r.verdict]++;
  }
  return buckets;
}
