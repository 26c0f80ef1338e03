/**
 * Hostile captures (issue 19, points 7, 8 and 12), written as a stream so the same code makes a
 * small one for a test and a 1 GB one for a measurement: many connections that only send a SYN,
 * ICAP heads of thousands of header lines, one-byte segments in descending order, an impossible
 * time stamp. tshark reads them like any capture.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { Conversation, F, frame, ipPacket, pcapngFile } from './captureWriter';

/** Appends pcap records (Ethernet) to a file through a 1 MiB buffer. */
class PcapStream {
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  bytes = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
    const head = Buffer.alloc(24);
    head.writeUInt32LE(0xa1b2c3d4, 0);
    head.writeUInt16LE(2, 4);
    head.writeUInt16LE(4, 6);
    head.writeUInt32LE(262144, 16);
    head.writeUInt32LE(1, 20);
    this.write(head);
  }

  packet(time: number, data: Buffer): void {
    const rec = Buffer.allocUnsafe(16);
    const sec = Math.floor(time);
    rec.writeUInt32LE(sec, 0);
    rec.writeUInt32LE(Math.round((time - sec) * 1e6) % 1_000_000, 4);
    rec.writeUInt32LE(data.length, 8);
    rec.writeUInt32LE(data.length, 12);
    this.write(rec);
    this.write(data);
  }

  /** Every segment of a conversation, in its order. */
  conversation(c: Conversation): void {
    for (const s of c.segments) this.packet(s.time, frame('ethernet', ipPacket(s.spec)));
  }

  private write(b: Buffer): void {
    if (this.used + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) {
      writeSync(this.fd, b);
    } else {
      b.copy(this.buf, this.used);
      this.used += b.length;
    }
    this.bytes += b.length;
  }

  private flush(): void {
    if (this.used) writeSync(this.fd, this.buf, 0, this.used);
    this.used = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

const T0 = 1_780_000_000;

/** `n` connection attempts (a SYN each, never answered) from distinct addresses and ports to 10.0.0.9:1344: 70 bytes a packet. */
export function writeManySyns(path: string, n: number): number {
  const out = new PcapStream(path);
  const template = frame('ethernet', ipPacket({ src: '10.1.0.0', dst: '10.0.0.9', sport: 1025, dport: 1344, seq: 1, ack: 0, flags: F.syn }));
  for (let i = 0; i < n; i++) {
    const f = Buffer.from(template);
    // Source address 10.x.y.z and source port from i: every SYN its own connection.
    f[14 + 13] = 1 + ((i >>> 16) & 0xff);
    f[14 + 14] = (i >>> 8) & 0xff;
    f[14 + 15] = i & 0xff;
    f.writeUInt16BE(1025 + (i % 60000), 14 + 20);
    out.packet(T0 + i / 1000, f);
  }
  out.close();
  return out.bytes;
}

/**
 * ICAP requests whose heads carry `lines` header lines each ("a:" lines, 64 KiB a head at 16 000),
 * on one connection, until the file holds about `totalBytes`; each request gets a 204.
 */
export function writeLongHeads(path: string, totalBytes: number, lines = 16_000): number {
  const out = new PcapStream(path);
  const head = Buffer.from(`RESPMOD icap://10.0.0.9/av ICAP/1.0\r\nHost: 10.0.0.9\r\n${'a:\r\n'.repeat(lines)}X-Last: end\r\nEncapsulated: null-body=0\r\n\r\n`, 'latin1');
  const answer = 'ICAP/1.0 204 No Content\r\nISTag: "t"\r\nEncapsulated: null-body=0\r\n\r\n';
  let c = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }, { time: T0 }).handshake();
  while (out.bytes < totalBytes) {
    c.send(0, head, { mss: 60_000 }).send(1, answer);
    out.conversation(c);
    // Carry the sequence numbers on, without keeping the segments already written.
    const last = c.segments;
    const next = new Conversation(c.client, c.server, { time: c.time, isn: seqAfter(last) });
    c = next;
  }
  out.close();
  return out.bytes;
}

function seqAfter(segments: Conversation['segments']): [number, number] {
  const end = (from: string) => {
    const s = [...segments].reverse().find((x) => x.spec.src === from)!;
    return (s.spec.seq + (s.spec.payload?.length ?? 0) + (s.spec.flags & (F.syn | F.fin) ? 1 : 0)) >>> 0;
  };
  return [end('10.0.0.2'), end('10.0.0.9')];
}

/**
 * One OPTIONS request padded to `n` bytes, sent as `n` one-byte segments in descending sequence
 * order (the worst order for a reassembler), then its answer: `n` + 5 packets, 71 bytes each.
 */
export function writeDescendingSegments(path: string, n: number): number {
  const out = new PcapStream(path);
  const c = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }, { time: T0 }).handshake();
  out.conversation(c);
  const prefix = 'OPTIONS icap://10.0.0.9/av ICAP/1.0\r\nHost: 10.0.0.9\r\nX-Pad: ';
  const suffix = '\r\nEncapsulated: null-body=0\r\n\r\n';
  const request = Buffer.from(prefix + 'p'.repeat(Math.max(0, n - prefix.length - suffix.length)) + suffix, 'latin1');
  const isn = 1001;
  const template = frame('ethernet', ipPacket({ src: '10.0.0.2', dst: '10.0.0.9', sport: 40000, dport: 1344, seq: isn, ack: 5001, flags: F.psh | F.ack, payload: Buffer.alloc(1) }));
  const seqAt = 14 + 20 + 4;
  const payloadAt = 14 + 20 + 20;
  let time = c.time;
  for (let i = request.length - 1; i >= 0; i--) {
    const f = Buffer.from(template);
    f.writeUInt32BE((isn + i) >>> 0, seqAt);
    f[payloadAt] = request[i]!;
    time += 0.00001;
    out.packet(time, f);
  }
  const answer = new Conversation(c.client, c.server, { time: time + 0.001, isn: [(isn + request.length) >>> 0, 5001] });
  answer.send(1, 'ICAP/1.0 200 OK\r\nMethods: RESPMOD\r\nISTag: "t"\r\nEncapsulated: null-body=0\r\n\r\n').close();
  out.conversation(answer);
  out.close();
  return out.bytes;
}

/** A pcapng with if_tsresol 0 (seconds) whose packets numbered in `bad` carry a time stamp of all ones; the packets hold an OPTIONS and its answer. */
export function impossibleTimePcapng(bad: number[]): Buffer {
  const c = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }, { time: T0 }).handshake();
  c.send(0, 'OPTIONS icap://10.0.0.9/av ICAP/1.0\r\nHost: 10.0.0.9\r\nEncapsulated: null-body=0\r\n\r\n').send(1, 'ICAP/1.0 200 OK\r\nMethods: RESPMOD\r\nISTag: "t"\r\nEncapsulated: null-body=0\r\n\r\n').close();
  const file = pcapngFile(1, c.frames('ethernet'), { tsresol: 0 });
  // Blocks: SHB (28 bytes), IDB (32 bytes), then one EPB a packet; its time stamp is at +12 (high) and +16 (low).
  let at = 28 + 32;
  for (let n = 1; at < file.length; n++, at += file.readUInt32LE(at + 4)) {
    if (!bad.includes(n)) continue;
    file.writeUInt32LE(0xffffffff, at + 12);
    file.writeUInt32LE(0xffffffff, at + 16);
  }
  return file;
}
