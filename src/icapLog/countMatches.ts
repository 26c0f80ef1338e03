import type { ByteSource } from './byteSource';
import type { RegexRunOptions } from './guardedRegex';
import type { CompiledFilter } from './logFilter';
import { DEFAULT_MAX_MATCH_BYTES } from './logLine';

export interface CountOptions {
  /** Bytes per read. Default 1 MiB. */
  chunkBytes?: number;
  /** Lines longer than this are matched on this many first bytes. Default 16 MiB. */
  maxMatchBytes?: number;
  /** Called after each chunk with bytes done and the total. */
  onProgress?: (done: number, total: number, matched: number) => void;
  /** Abort the count: the promise rejects with the signal's reason (an AbortError). */
  signal?: AbortSignal;
  /** Count only the first `end` bytes (default: the size when the count starts). */
  end?: number;
}

export interface CountResult {
  /** Lines the filter accepts: the status line's number, equal to `grep -c` for the same filter. */
  matched: number;
  /** All lines (like `grep -c ''`: a last line without '\n' counts). */
  lines: number;
  /** Bytes counted. */
  bytes: number;
  generation: number;
}

/**
 * Stream the whole log once and count the lines `filter` accepts. Memory: one chunk plus the
 * current line (at most maxMatchBytes), whatever the file size.
 */
export async function countMatches(source: ByteSource, filter: CompiledFilter, opts: CountOptions = {}): Promise<CountResult> {
  const st = await source.stat();
  const end = Math.min(opts.end ?? st.size, st.size);
  const chunkBytes = opts.chunkBytes ?? 1024 * 1024;
  const maxMatch = opts.maxMatchBytes ?? DEFAULT_MAX_MATCH_BYTES;
  let matched = 0;
  let lines = 0;
  let pos = 0;
  // bytes of the line in progress (its first maxMatch bytes) and whether more of it was dropped
  let carry: Buffer | undefined;
  let carryOverflow = false;
  const run = { ...(opts.signal && { signal: opts.signal }), lane: 'count' as const };
  const testLine = async (buf: Buffer, from: number, to: number): Promise<void> => {
    lines++;
    if (filter.matchesAll || (filter.hasRegex ? await filter.countLines([buf.toString('utf8', from, to)], run) : filter.test(buf.toString('utf8', from, to)))) matched++;
  };
  while (pos < end) {
    opts.signal?.throwIfAborted();
    const chunk = await source.read(pos, Math.min(chunkBytes, end - pos));
    if (chunk.length === 0) break; // shrank meanwhile: count what there was
    pos += chunk.length;
    let start = 0;
    if (carry) {
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) {
        if (!carryOverflow) {
          const room = maxMatch - carry.length;
          if (chunk.length <= room) carry = Buffer.concat([carry, chunk]);
          else {
            carry = Buffer.concat([carry, chunk.subarray(0, Math.max(0, room))]);
            carryOverflow = true;
          }
        }
        opts.onProgress?.(pos, end, matched);
        continue;
      }
      const line = carryOverflow ? carry : Buffer.concat([carry, chunk.subarray(0, Math.min(nl, maxMatch - carry.length))]);
      await testLine(line, 0, line.length);
      carry = undefined;
      carryOverflow = false;
      start = nl + 1;
    }
    const lastNl = chunk.lastIndexOf(0x0a);
    if (lastNl >= start) {
      const r = await countText(chunk.toString('utf8', start, lastNl), filter, run);
      matched += r.matched;
      lines += r.lines;
      start = lastNl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      carry = Buffer.from(rest.length > maxMatch ? rest.subarray(0, maxMatch) : rest);
      carryOverflow = rest.length > maxMatch;
    }
    opts.onProgress?.(pos, end, matched);
  }
  if (carry) await testLine(carry, 0, carry.length);
  return { matched, lines, bytes: pos, generation: st.generation };
}

/**
 * Count lines of `text` (lines separated by '\n', no trailing '\n') and those the filter accepts.
 * A user regex is awaited in its worker (one exchange per chunk, not per line): this thread's
 * event loop keeps running however long the pattern takes.
 */
export async function countText(text: string, filter: CompiledFilter, run: Omit<RegexRunOptions, 'deadline'> = {}): Promise<{ matched: number; lines: number }> {
  let lines = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
  if (filter.matchesAll) return { matched: lines, lines };
  if (filter.hasRegex) {
    const candidates: string[] = [];
    const lit = filter.requiredLiterals[0];
    let ls = 0;
    for (;;) {
      const le = text.indexOf('\n', ls);
      const line = text.slice(ls, le < 0 ? text.length : le);
      if (lit === undefined || line.includes(lit)) candidates.push(line);
      if (le < 0) break;
      ls = le + 1;
    }
    return { matched: await filter.countLines(candidates, run), lines };
  }
  let matched = 0;
  const lit = filter.requiredLiterals[0];
  if (lit !== undefined) {
    // jump from one occurrence of a required substring to the next; test only those lines
    let at = text.indexOf(lit);
    while (at >= 0) {
      const ls = text.lastIndexOf('\n', at) + 1;
      let le = text.indexOf('\n', at);
      if (le < 0) le = text.length;
      if (filter.test(text.slice(ls, le))) matched++;
      at = le < text.length ? text.indexOf(lit, le + 1) : -1;
    }
    return { matched, lines };
  }
  let ls = 0;
  for (;;) {
    const le = text.indexOf('\n', ls);
    if (filter.test(text.slice(ls, le < 0 ? text.length : le))) matched++;
    if (le < 0) break;
    ls = le + 1;
  }
  return { matched, lines };
}
