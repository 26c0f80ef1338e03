import { HeldSegments, seqDiff } from './heldSegments';
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

/** What the analysis may hold at once, whatever the capture: the bounds of issue 19. */
export interface ReassemblyLimits {
  /** Connections followed at once; beyond, the least recently active is set aside. */
  maxConnections: number;
  /** Out-of-order segments held per direction before the hole before them is given up. */
  maxHeldSegments: number;
  /** Out-of-order bytes held per direction, likewise. */
  maxHeldBytes: number;
  /** Bytes held by all connections (segments and what their sinks buffer, see MemoryGauge). */
  maxBufferedBytes: number;
  /** A connection reset or closed both ways is let go this long (capture time) after its last packet. */
  finishedSeconds: number;
  /** With more than idleSweepAbove connections held, one silent this long is let go too. */
  idleSeconds: number;
  idleSweepAbove: number;
}

export const defaultReassemblyLimits: Readonly<ReassemblyLimits> = Object.freeze({
  maxConnections: 10_000,
  maxHeldSegments: 4096,
  maxHeldBytes: 8 << 20,
  maxBufferedBytes: 64 << 20,
  finishedSeconds: 30,
  idleSeconds: 600,
  idleSweepAbove: 1000,
});

/** Bytes held in memory by the analysis, shared by the reassembly and the message parsers. */
export class MemoryGauge {
  used = 0;
}

class HalfStream {
  next: number | undefined;
  /** Made on the first out-of-order segment: most directions never need one. */
  private heap: HeldSegments | undefined;

  get held(): HeldSegments {
    return (this.heap ??= new HeldSegments());
  }

  get holding(): boolean {
    return this.heap !== undefined && this.heap.size > 0;
  }
}

export class TcpConnection {
  readonly summary: ConnectionSummary;
  private readonly halves: [HalfStream, HalfStream] = [new HalfStream(), new HalfStream()];

  constructor(
    first: TcpSegment,
    time: number,
    /** Asked for when the first payload (or hole) arrives: a connection without data never gets one. */
    private readonly sinkFor: () => StreamSink,
    private readonly limits: ReassemblyLimits,
    private readonly gauge: MemoryGauge,
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

  get finished(): boolean {
    const s = this.summary;
    return s.resetBy.length > 0 || s.finBy.length === 2;
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
    this.deliver(dir, seq, seg.payload, seg.missing, time);
    this.drain(dir);
  }

  /** Delivers what lies at or after `next`, trimming bytes already delivered (retransmissions, overlaps). */
  private deliver(dir: Direction, seq: number, data: Buffer, missing: number, time: number): void {
    const half = this.halves[dir];
    const skip = -seqDiff(seq, half.next!);
    const total = data.length + missing;
    if (skip >= total) return;
    if (skip < data.length) {
      this.sink().data(dir, skip > 0 ? data.subarray(skip) : data, time);
      if (missing) this.lost(dir, missing, time);
    } else {
      this.lost(dir, total - skip, time);
    }
    half.next = (half.next! + total - skip) >>> 0;
  }

  private sinkCache: StreamSink | undefined;
  private sink(): StreamSink {
    return (this.sinkCache ??= this.sinkFor());
  }

  private lost(dir: Direction, bytes: number, time: number): void {
    this.summary.missingBytes += bytes;
    this.sink().gap(dir, bytes, time);
  }

  private hold(dir: Direction, p: { seq: number; data: Buffer; missing: number; time: number }): void {
    const held = this.halves[dir].held;
    held.push(p);
    this.gauge.used += p.data.length;
    while (held.size && (held.bytes > this.limits.maxHeldBytes || held.size > this.limits.maxHeldSegments)) this.skipHole(dir);
  }

  /** Gives up on the hole before the first held segment: it is reported as missing. */
  private skipHole(dir: Direction): void {
    const half = this.halves[dir];
    const first = half.held.peek()!;
    const hole = seqDiff(first.seq, half.next!);
    if (hole > 0) {
      this.lost(dir, hole, first.time);
      half.next = first.seq;
    }
    this.drain(dir);
  }

  private drain(dir: Direction): void {
    const half = this.halves[dir];
    if (!half.holding) return;
    for (let p = half.held.peek(); p && seqDiff(p.seq, half.next!) <= 0; p = half.held.peek()) {
      half.held.pop();
      this.gauge.used -= p.data.length;
      this.deliver(dir, p.seq, p.data, p.missing, p.time);
    }
  }

  /** Held segments are delivered with their holes reported (end of capture, or the connection is let go). */
  flush(): void {
    for (const dir of [0, 1] as const) {
      while (this.halves[dir].holding) this.skipHole(dir);
    }
  }
}

interface Entry<S extends StreamSink> {
  key: string;
  conn: TcpConnection;
  aKey: string;
  sink: S | undefined;
  /** Neighbours in order of last activity (older, newer). */
  older: Entry<S> | undefined;
  newer: Entry<S> | undefined;
}

export interface ReassemblyHooks<S extends StreamSink> {
  /** A connection's first payload: the sink for its two streams. */
  open(summary: ConnectionSummary): S;
  /**
   * The connection is let go (finished, idle, set aside to bound memory, or end of capture) with
   * everything delivered; `setAside` when it was neither finished nor at the end of the capture.
   */
  retired(summary: ConnectionSummary, sink: S | undefined, setAside: boolean): void;
}

/**
 * Splits TCP segments into connections. A connection's direction 0 is the side that sent the
 * SYN; without one (the capture began later), the side that sent the first packet seen.
 * Connections are held in order of last activity, within the limits: a finished one is let go
 * soon after its last packet, and the least recently active ones go when too many are held or
 * they hold too many bytes between them.
 */
export class TcpReassembler<S extends StreamSink> {
  private readonly connections = new Map<string, Entry<S>>();
  /** The least and the most recently active connection (a list, so moving one to the end costs nothing). */
  private oldest: Entry<S> | undefined;
  private newest: Entry<S> | undefined;
  private now = 0;
  private sinceSweep = 0;
  /** Connections seen, and those let go before they finished (to bound memory). */
  total = 0;
  setAside = 0;

  constructor(
    private readonly hooks: ReassemblyHooks<S>,
    private readonly limits: ReassemblyLimits = defaultReassemblyLimits,
    readonly gauge = new MemoryGauge(),
  ) {}

  get held(): number {
    return this.connections.size;
  }

  add(seg: TcpSegment, time: number): void {
    const from = endpoint(seg.src, seg.srcPort);
    const to = endpoint(seg.dst, seg.dstPort);
    const key = from < to ? `${from}|${to}` : `${to}|${from}`;
    if (time > this.now) this.now = time;
    let entry = this.connections.get(key);
    const isFreshSyn = (seg.flags & (TcpFlag.syn | TcpFlag.ack)) === TcpFlag.syn;
    if (entry && isFreshSyn && entry.conn.summary.synSeen && entry.aKey === from && entry.conn.summary.packets > 1 && entry.conn.finished) {
      // Port reuse: a new SYN after the old connection ended starts a new connection.
      this.retire(entry, false);
      entry = undefined;
    }
    if (!entry) {
      // When the first packet seen is a SYN-ACK, its receiver opened the connection.
      const reversed = (seg.flags & (TcpFlag.syn | TcpFlag.ack)) === (TcpFlag.syn | TcpFlag.ack);
      const first = reversed ? { ...seg, src: seg.dst, dst: seg.src, srcPort: seg.dstPort, dstPort: seg.srcPort } : seg;
      const created: Entry<S> = { key, conn: undefined as unknown as TcpConnection, aKey: reversed ? to : from, sink: undefined, older: undefined, newer: undefined };
      created.conn = new TcpConnection(first, time, () => (created.sink = this.hooks.open(created.conn.summary)), this.limits, this.gauge);
      entry = created;
      this.connections.set(key, entry);
      this.total++;
      this.append(entry);
    } else if (entry !== this.newest) {
      this.unlink(entry);
      this.append(entry);
    }
    entry.conn.add(seg, entry.aKey === from ? 0 : 1, time);
    this.bound();
  }

  private append(e: Entry<S>): void {
    e.older = this.newest;
    e.newer = undefined;
    if (this.newest) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
  }

  private unlink(e: Entry<S>): void {
    if (e.older) e.older.newer = e.newer;
    else this.oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.newest = e.older;
    e.older = e.newer = undefined;
  }

  /** Lets connections go until the limits hold; now and then, finished and idle ones too. */
  private bound(): void {
    const l = this.limits;
    while (this.connections.size > 1 && (this.connections.size > l.maxConnections || this.gauge.used > l.maxBufferedBytes)) {
      const e = this.oldest!;
      this.retire(e, !e.conn.finished);
    }
    if (++this.sinceSweep < 1024) return;
    this.sinceSweep = 0;
    const sweepIdle = this.connections.size > l.idleSweepAbove;
    for (let e = this.oldest; e; ) {
      const next = e.newer;
      const quiet = this.now - e.conn.summary.lastTime;
      if (e.conn.finished ? quiet > l.finishedSeconds : sweepIdle && quiet > l.idleSeconds) this.retire(e, !e.conn.finished);
      // In order of activity: past the first recent one, the rest are recent too (up to clock jitter).
      else if (quiet <= l.finishedSeconds) break;
      e = next;
    }
  }

  private retire(entry: Entry<S>, setAside: boolean): void {
    this.connections.delete(entry.key);
    this.unlink(entry);
    entry.conn.flush();
    if (setAside) this.setAside++;
    this.hooks.retired(entry.conn.summary, entry.sink, setAside);
  }

  /** End of capture: every connection is flushed and let go. */
  finish(): void {
    while (this.oldest) this.retire(this.oldest, false);
  }
}
