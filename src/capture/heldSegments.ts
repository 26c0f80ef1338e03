/** An out-of-order TCP segment waiting for the bytes before it. */
export interface HeldSegment {
  seq: number;
  data: Buffer;
  missing: number;
  time: number;
}

/** Signed distance a - b in 32-bit sequence space. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * The held segments of one direction, lowest sequence number first: a binary heap, so adding
 * one and taking the lowest cost log n whatever order they come in (100 000 one-byte segments in
 * descending order, say). Sequence numbers compare in 32-bit space; the segments of a direction
 * are never 2 GiB apart.
 */
export class HeldSegments {
  private readonly heap: HeldSegment[] = [];
  bytes = 0;

  get size(): number {
    return this.heap.length;
  }

  peek(): HeldSegment | undefined {
    return this.heap[0];
  }

  push(s: HeldSegment): void {
    const h = this.heap;
    h.push(s);
    this.bytes += s.data.length;
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (seqDiff(h[parent]!.seq, s.seq) <= 0) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = s;
  }

  pop(): HeldSegment | undefined {
    const h = this.heap;
    const top = h[0];
    if (!top) return undefined;
    const last = h.pop()!;
    this.bytes -= top.data.length;
    if (h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && seqDiff(h[r]!.seq, h[l]!.seq) < 0 ? r : l;
      if (seqDiff(h[child]!.seq, last.seq) >= 0) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
    return top;
  }
}
