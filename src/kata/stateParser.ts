import { t } from '../common/l10n';
import { KataError } from './errors';

/** One entry of GET scans/state after normalisation. */
export interface ScanState {
  /** Always a string: the docs type it as integer in the answer but string on POST. */
  scanId: string;
  /** Normalised by {@link normaliseState}; may be a value KDS does not know (kept, never guessed). */
  state: string;
}

/** The five documented states, already in normalised spelling. */
export const knownStates = ['detect', 'not detected', 'processing', 'timeout', 'error'] as const;
const knownSpelling: ReadonlySet<string> = new Set(knownStates);

/**
 * One spelling per state: trimmed, lower-case, `_`/`-` and runs of white space turned into
 * one space — so `Not_Detected` and `not  detected` compare equal to `not detected`.
 */
export function normaliseStateText(raw: string): string {
  return raw.trim().toLowerCase().replace(/[\s_-]+/g, ' ');
}

/**
 * The docs type `state` as an array of strings without saying what several entries mean,
 * so the rule must never turn a doubtful answer into "clean":
 * - any `detect` → `detect`;
 * - otherwise the first entry that is neither `not detected` nor `processing` (error,
 *   timeout or something unknown — the scanner treats those as "not clean");
 * - otherwise `processing` if present (still being scanned);
 * - `not detected` only when every entry says so.
 * A plain string is just normalised. Empty results give undefined (the item is dropped).
 */
export function normaliseState(raw: unknown): string | undefined {
  // The usual answer, a known state already spelt as KDS spells it, needs no work.
  if (typeof raw === 'string' && knownSpelling.has(raw)) return raw;
  if (Array.isArray(raw) && raw.length === 1 && typeof raw[0] === 'string' && knownSpelling.has(raw[0])) return raw[0];
  const values = (Array.isArray(raw) ? raw : [raw])
    .filter((v): v is string | number => typeof v === 'string' || typeof v === 'number')
    .map((v) => normaliseStateText(String(v)))
    .filter((v) => v !== '');
  if (values.length === 0) return undefined;
  if (values.includes('detect')) return 'detect';
  const other = values.find((v) => v !== 'not detected' && v !== 'processing');
  if (other !== undefined) return other;
  if (values.includes('processing')) return 'processing';
  return 'not detected';
}

function normaliseScanId(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw.trim() || undefined;
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  return undefined;
}

const listKeys = ['scans', 'items', 'data', 'result', 'results'];

function findList(body: unknown): unknown[] | undefined {
  if (body === null) return [];
  if (Array.isArray(body)) return body;
  if (typeof body !== 'object') return undefined;
  const record = body as Record<string, unknown>;
  for (const key of listKeys) {
    const value = record[key];
    if (Array.isArray(value)) return value;
    if (value === null) return [];
  }
  // A single entry not wrapped in a list ({"scanId":…,"state":…}).
  if ('scanId' in record || 'scanID' in record) return [record];
  return undefined;
}

/**
 * Parses the body of GET scans/state. Accepts a bare array or an object holding the array
 * under scans/items/data/result(s); entries without a usable scanId or state are dropped
 * (the scanner's own timeout covers a scan that never gets a readable state).
 */
export function parseStatesBody(text: string): ScanState[] {
  if (text.trim() === '') return [];
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new KataError('protocol', t('KATA sent a scan-state answer that is not valid JSON: {0}', snippet(text)), { cause: err });
  }
  const list = findList(body);
  if (!list) throw new KataError('protocol', t('KATA sent a scan-state answer of an unknown shape: {0}', snippet(text)));
  const out: ScanState[] = [];
  for (const item of list) {
    if (!item || typeof item !== 'object') continue;
    const rec = item as Record<string, unknown>;
    const scanId = normaliseScanId(rec.scanId ?? rec.scanID ?? rec.ScanId ?? rec.scan_id);
    const state = normaliseState(rec.state ?? rec.State ?? rec.states);
    if (scanId !== undefined && state !== undefined) out.push({ scanId, state });
  }
  return out;
}

export function snippet(text: string, max = 200): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}
