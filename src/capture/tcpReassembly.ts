import { TcpFlag, type TcpSegment, endpoint } from './tcpSegment';

/** 0 = from the side that opened (or was guessed to open) the connection, 1 = the other way. */
export type Direction = 0 | 1;

/** Receives one connection's two byte streams in order. */
export interface StreamSink {
  data(dir: Direction, bytes: Buffer, time: number): void;
  /** `bytes` of the stream are not in the capture (snaplen, lost packets, a too-large hole). */
  gap(dir: Direction, bytes: number, time: number): void;
}

export interface ConnectionSummary {
  /** Endpoints as "addr:port": a = the SYN's sender when seen, else the first packet's sender. */
  a: string;
  b: string;
  aPort: number;
  bPort: number;
  firstTime: number;
  lastTime: number;
  packets: number;
  synSeen: boolean;
  synAckSeen: boolean;
  /** Which side sent a RST (a, b), if any. */
  resetBy: Array<'a' | 'b'>;
  finBy: Array<'a' | 'b'>;
  retransmittedSegments: number;
  outOfOrderSegments: number;
  /** Stream bytes not in the capture. */
  missingBytes: number;
  /** The capture began after the connection was opened. */
  startedMidway: boolean;
}

interface Pending {
  seq: number;
  data: Buffer;
  missing: number;
  time: number;
}

/** Signed distance a - b in 32-bit sequence space. */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

class HalfStream {
  next: number | undefined;
  pending: Pending[] = [];
  pendingBytes = 0;
}

/** Out-of-order data held per direction before a hole is given up as lost. */
const maxPendingBytes = 8 << 20;

export class TcpConnection {
  readonly summary: ConnectionSummary;
  private readonly halves: [HalfStream, HalfStream] = [new HalfStream(), new HalfStream()];

  constructor(
    first: TcpSegment,
    time: number,
    private readonly sink: StreamSink,
  ) {
    this.summary = {
      a: endpoint(first.src, first.srcPort),
      b: endpoint(first.dst, first.dstPort),
      aPort: first.srcPort,
      bPort: first.dstPort,
      firstTime: time,
      lastTime: time,
      packets: 0,
      synSeen: false,
      synAckSeen: false,
      resetBy: [],
      finBy: [],
      retransmittedSegments: 0,
      outOfOrderSegments: 0,
      missingBytes: 0,
      startedMidway: false,
    };
  }

  add(seg: TcpSegment, dir: Direction, time: number): void {
    const s = this.summary;
    s.packets++;
    s.lastTime = time;
    const side = dir === 0 ? 'a' : 'b';
    const half = this.halves[dir];
    if (seg.flags & TcpFlag.syn) {
      if (seg.flags & TcpFlag.ack) s.synAckSeen = true;
      else s.synSeen = true;
      half.next = (seg.seq + 1) >>> 0;
    }
    if (seg.flags & TcpFlag.rst && !s.resetBy.includes(side)) s.resetBy.push(side);
    if (seg.flags & TcpFlag.fin && !s.finBy.includes(side)) s.finBy.push(side);
    const length = seg.payload.length + seg.missing;
    if (length === 0 || seg.flags & TcpFlag.rst) return;
    const seq = seg.flags & TcpFlag.syn ? (seg.seq + 1) >>> 0 : seg.seq;
    if (half.next === undefined) {
      half.next = seq;
      s.startedMidway = true;
    }
    const ahead = seqDiff(seq, half.next);
    if (ahead > 0) {
      s.outOfOrderSegments++;
      this.hold(dir, { seq, data: Buffer.from(seg.payload), missing: seg.missing, time });
      return;
    }
    if (ahead < 0) s.retransmittedSegments++;
    this.deliver(dir, { seq, data: seg.payload, missing: seg.missing, time });
    this.drain(dir);
  }

  /** Delivers what lies at or after `next`, trimming bytes already delivered (retransmissions, overlaps). */
  private deliver(dir: Direction, p: Pending): void {
    const half = this.halves[dir];
    const skip = -seqDiff(p.seq, half.next!);
    const total = p.data.length + p.missing;
    if (skip >= total) return;
    if (skip < p.data.length) {
      this.sink.data(dir, skip > 0 ? p.data.subarray(skip) : p.data, p.time);
      if (p.missing) this.lost(dir, p.missing, p.time);
    } else {
      this.lost(dir, total - skip, p.time);
    }
    half.next = (half.next! + total - skip) >>> 0;
  }

  private lost(dir: Direction, bytes: number, time: number): void {
    this.summary.missingBytes += bytes;
    this.sink.gap(dir, bytes, time);
  }

  private hold(dir: Direction, p: Pending): void {
    const half = this.halves[dir];
    let i = half.pending.length;
    while (i > 0 && seqDiff(half.pending[i - 1]!.seq, p.seq) > 0) i--;
    half.pending.splice(i, 0, p);
    half.pendingBytes += p.data.length;
    while (half.pendingBytes > maxPendingBytes && half.pending.length) this.skipHole(dir);
  }

  /** Gives up on the hole before the first held segment: it is reported as missing. */
  private skipHole(dir: Direction): void {
    const half = this.halves[dir];
    const first = half.pending[0]!;
    const hole = seqDiff(first.seq, half.next!);
    if (hole > 0) {
      this.lost(dir, hole, first.time);
      half.next = first.seq;
    }
    this.drain(dir);
  }

  private drain(dir: Direction): void {
    const half = this.halves[dir];
    while (half.pending.length && seqDiff(half.pending[0]!.seq, half.next!) <= 0) {
      const p = half.pending.shift()!;
      half.pendingBytes -= p.data.length;
      this.deliver(dir, p);
    }
  }

  /** End of capture: held segments are delivered with their holes reported. */
  finish(): void {
    for (const dir of [0, 1] as const) {
      while (this.halves[dir].pending.length) this.skipHole(dir);
    }
  }
}

/**
 * Splits TCP segments into connections. A connection's direction 0 is the side that sent the
 * SYN; without one (the capture began later), the side that sent the first packet seen.
 */
export class TcpReassembler {
  private readonly connections = new Map<string, { conn: TcpConnection; aKey: string }>();
  readonly closed: ConnectionSummary[] = [];

  constructor(private readonly newSink: (summary: ConnectionSummary) => StreamSink) {}

  add(seg: TcpSegment, time: number): void {
    const from = endpoint(seg.src, seg.srcPort);
    const to = endpoint(seg.dst, seg.dstPort);
    const key = from < to ? `${from}|${to}` : `${to}|${from}`;
    let entry = this.connections.get(key);
    const isFreshSyn = (seg.flags & (TcpFlag.syn | TcpFlag.ack)) === TcpFlag.syn;
    if (entry && isFreshSyn && entry.conn.summary.synSeen && entry.aKey === from && entry.conn.summary.packets > 1 && this.looksFinished(entry.conn)) {
      // Port reuse: a new SYN after the old connection ended starts a new connection.
      this.retire(key);
      entry = undefined;
    }
    if (!entry) {
      // When the first packet seen is a SYN-ACK, its receiver opened the connection.
      const reversed = (seg.flags & (TcpFlag.syn | TcpFlag.ack)) === (TcpFlag.syn | TcpFlag.ack);
      const first = reversed ? { ...seg, src: seg.dst, dst: seg.src, srcPort: seg.dstPort, dstPort: seg.srcPort } : seg;
      let sink: StreamSink | undefined;
      const conn = new TcpConnection(first, time, {
        data: (d, b, tm) => sink!.data(d, b, tm),
        gap: (d, n, tm) => sink!.gap(d, n, tm),
      });
      sink = this.newSink(conn.summary);
      entry = { conn, aKey: reversed ? to : from };
      this.connections.set(key, entry);
    }
    entry.conn.add(seg, entry.aKey === from ? 0 : 1, time);
  }

  private looksFinished(conn: TcpConnection): boolean {
    const s = conn.summary;
    return s.resetBy.length > 0 || s.finBy.length === 2;
  }

  private retire(key: string): void {
    const entry = this.connections.get(key);
    if (!entry) return;
    entry.conn.finish();
    this.closed.push(entry.conn.summary);
    this.connections.delete(key);
  }

  /** Flushes every connection; returns all summaries in order of first packet. */
  finish(): ConnectionSummary[] {
    for (const key of [...this.connections.keys()]) this.retire(key);
    return this.closed.sort((x, y) => x.firstTime - y.firstTime);
  }
}
