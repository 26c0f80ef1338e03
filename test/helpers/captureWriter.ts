/**
 * Synthetic captures for the capture tests: TCP conversations written as pcap or pcapng with
 * any of the link types KDS reads, so out-of-order, retransmitted, cut and damaged files can be
 * made on purpose. tshark reads the same files as the oracle.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';

export type Link = 'ethernet' | 'sll' | 'sll2' | 'null-le' | 'null-be' | 'loop' | 'raw';
export const linkTypeNumber: Record<Link, number> = { ethernet: 1, sll: 113, sll2: 276, 'null-le': 0, 'null-be': 0, loop: 108, raw: 101 };

export interface Frame {
  time: number;
  data: Buffer;
  /** Bytes the packet had (defaults to data.length); larger = cut by the snaplen. */
  originalLength?: number;
}

function ipBytes(addr: string): Buffer {
  if (!addr.includes(':')) return Buffer.from(addr.split('.').map(Number));
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

export interface SegmentSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  payload?: Buffer;
}

export const F = { fin: 1, syn: 2, rst: 4, psh: 8, ack: 16 } as const;

/** An IPv4 or IPv6 packet holding one TCP segment. */
export function ipPacket(s: SegmentSpec): Buffer {
  const payload = s.payload ?? Buffer.alloc(0);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(s.sport, 0);
  tcp.writeUInt16BE(s.dport, 2);
  tcp.writeUInt32BE(s.seq >>> 0, 4);
  tcp.writeUInt32BE(s.ack >>> 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = s.flags;
  tcp.writeUInt16BE(65535, 14);
  if (!s.src.includes(':')) {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 20 + payload.length, 2);
    ip[8] = 64;
    ip[9] = 6;
    ipBytes(s.src).copy(ip, 12);
    ipBytes(s.dst).copy(ip, 16);
    return Buffer.concat([ip, tcp, payload]);
  }
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(20 + payload.length, 4);
  ip[6] = 6;
  ip[7] = 64;
  ipBytes(s.src).copy(ip, 8);
  ipBytes(s.dst).copy(ip, 24);
  return Buffer.concat([ip, tcp, payload]);
}

/** The frame of `ip` for a link type. */
export function frame(link: Link, ip: Buffer): Buffer {
  const v6 = ip[0]! >> 4 === 6;
  const etherType = v6 ? 0x86dd : 0x0800;
  switch (link) {
    case 'ethernet': {
      const h = Buffer.alloc(14);
      h.writeUInt16BE(etherType, 12);
      return Buffer.concat([h, ip]);
    }
    case 'sll': {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(0, 0);
      h.writeUInt16BE(772, 2);
      h.writeUInt16BE(6, 4);
      h.writeUInt16BE(etherType, 14);
      return Buffer.concat([h, ip]);
    }
    case 'sll2': {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(etherType, 0);
      h.writeUInt32BE(1, 4);
      h.writeUInt16BE(772, 8);
      h[11] = 6;
      return Buffer.concat([h, ip]);
    }
    case 'null-le':
    case 'null-be': {
      const h = Buffer.alloc(4);
      const af = v6 ? 30 : 2;
      if (link === 'null-le') h.writeUInt32LE(af);
      else h.writeUInt32BE(af);
      return Buffer.concat([h, ip]);
    }
    case 'loop': {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(v6 ? 24 : 2);
      return Buffer.concat([h, ip]);
    }
    case 'raw':
      return ip;
  }
}

export function pcapFile(linkType: number, frames: Frame[], opts: { bigEndian?: boolean; nanos?: boolean; snaplen?: number } = {}): Buffer {
  const be = !!opts.bigEndian;
  const u32 = (b: Buffer, v: number, at: number) => (be ? b.writeUInt32BE(v >>> 0, at) : b.writeUInt32LE(v >>> 0, at));
  const u16 = (b: Buffer, v: number, at: number) => (be ? b.writeUInt16BE(v, at) : b.writeUInt16LE(v, at));
  const head = Buffer.alloc(24);
  u32(head, opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  u16(head, 2, 4);
  u16(head, 4, 6);
  u32(head, opts.snaplen ?? 262144, 16);
  u32(head, linkType, 20);
  const parts: Buffer[] = [head];
  for (const f of frames) {
    const rec = Buffer.alloc(16);
    const sec = Math.floor(f.time);
    u32(rec, sec, 0);
    u32(rec, Math.round((f.time - sec) * (opts.nanos ? 1e9 : 1e6)), 4);
    u32(rec, f.data.length, 8);
    u32(rec, f.originalLength ?? f.data.length, 12);
    parts.push(rec, f.data);
  }
  return Buffer.concat(parts);
}

function pad4(b: Buffer): Buffer {
  return b.length % 4 ? Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]) : b;
}

function block(type: number, body: Buffer): Buffer {
  const b = pad4(body);
  const len = 12 + b.length;
  const h = Buffer.alloc(8);
  h.writeUInt32LE(type, 0);
  h.writeUInt32LE(len, 4);
  const tl = Buffer.alloc(4);
  tl.writeUInt32LE(len);
  return Buffer.concat([h, b, tl]);
}

/** A little-endian pcapng file: SHB, one IDB (if_tsresol = 10^-tsresol), EPBs. */
export function pcapngFile(linkType: number, frames: Frame[], opts: { tsresol?: number } = {}): Buffer {
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeInt32LE(-1, 8);
  shb.writeInt32LE(-1, 12);
  const tsresol = opts.tsresol ?? 6;
  const idb = Buffer.alloc(8 + 8 + 4);
  idb.writeUInt16LE(linkType, 0);
  idb.writeUInt32LE(262144, 4);
  idb.writeUInt16LE(9, 8);
  idb.writeUInt16LE(1, 10);
  idb[12] = tsresol;
  // opt_endofopt stays zero
  const parts: Buffer[] = [block(0x0a0d0d0a, shb), block(1, idb)];
  for (const f of frames) {
    const units = BigInt(Math.round(f.time * 1e6)) * 10n ** BigInt(tsresol) / 1000000n;
    const epb = Buffer.alloc(20);
    epb.writeUInt32LE(0, 0);
    epb.writeUInt32LE(Number(units >> 32n), 4);
    epb.writeUInt32LE(Number(units & 0xffffffffn), 8);
    epb.writeUInt32LE(f.data.length, 12);
    epb.writeUInt32LE(f.originalLength ?? f.data.length, 16);
    parts.push(block(6, Buffer.concat([epb, f.data])));
  }
  return Buffer.concat(parts);
}

/**
 * A TCP conversation builder: tracks both sides' sequence numbers, so a test writes what each
 * side sends and gets the segments (with a handshake, optionally).
 */
export class Conversation {
  private seq: [number, number];
  readonly segments: Array<{ time: number; spec: SegmentSpec }> = [];
  time: number;

  constructor(
    readonly client: { addr: string; port: number },
    readonly server: { addr: string; port: number },
    opts: { time?: number; isn?: [number, number] } = {},
  ) {
    this.seq = opts.isn ?? [1000, 5000];
    this.time = opts.time ?? 1_780_000_000;
  }

  private spec(from: 0 | 1, flags: number, payload?: Buffer): SegmentSpec {
    const [a, b] = from === 0 ? [this.client, this.server] : [this.server, this.client];
    return { src: a.addr, dst: b.addr, sport: a.port, dport: b.port, seq: this.seq[from], ack: this.seq[from === 0 ? 1 : 0], flags, payload };
  }

  private push(spec: SegmentSpec, step = 0.001): void {
    this.time += step;
    this.segments.push({ time: this.time, spec });
  }

  handshake(): this {
    this.push(this.spec(0, F.syn));
    this.seq[0]++;
    this.push(this.spec(1, F.syn | F.ack));
    this.seq[1]++;
    this.push(this.spec(0, F.ack));
    return this;
  }

  /** Sends `data` from a side in segments of at most `mss` bytes. */
  send(from: 0 | 1, data: Buffer | string, opts: { mss?: number; delay?: number } = {}): this {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    const mss = opts.mss ?? 1400;
    let first = true;
    for (let at = 0; at < buf.length; at += mss) {
      const part = buf.subarray(at, at + mss);
      this.push(this.spec(from, F.psh | F.ack, part), first ? (opts.delay ?? 0.001) : 0.0001);
      first = false;
      this.seq[from] = (this.seq[from] + part.length) >>> 0;
    }
    return this;
  }

  close(): this {
    this.push(this.spec(0, F.fin | F.ack));
    this.seq[0]++;
    this.push(this.spec(1, F.fin | F.ack));
    this.seq[1]++;
    this.push(this.spec(0, F.ack));
    return this;
  }

  reset(from: 0 | 1): this {
    this.push(this.spec(from, F.rst | F.ack));
    return this;
  }

  frames(link: Link): Frame[] {
    return this.segments.map((s) => ({ time: s.time, data: frame(link, ipPacket(s.spec)) }));
  }
}

export function writeCapture(path: string, data: Buffer): string {
  writeFileSync(path, data);
  return path;
}

/** ICAP messages as a real client and server send them. */
export const icap = {
  options: (host: string, service = 'av') => `OPTIONS icap://${host}/${service} ICAP/1.0\r\nHost: ${host}\r\nEncapsulated: null-body=0\r\n\r\n`,
  optionsAnswer: () => 'ICAP/1.0 200 OK\r\nMethods: RESPMOD, REQMOD\r\nISTag: "kds-1"\r\nPreview: 1024\r\nAllow: 204\r\nEncapsulated: null-body=0\r\n\r\n',
  /** RESPMOD with a preview of `preview` bytes of `body`; returns [preview part, rest part (or '')]. */
  respmod(host: string, url: string, body: Buffer, preview: number | null): [Buffer, Buffer] {
    const reqHdr = `GET ${url} HTTP/1.1\r\nHost: example\r\n\r\n`;
    const resHdr = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`;
    const head =
      `RESPMOD icap://${host}/av ICAP/1.0\r\nHost: ${host}\r\nAllow: 204\r\n` +
      (preview !== null ? `Preview: ${preview}\r\n` : '') +
      `Encapsulated: req-hdr=0, res-hdr=${reqHdr.length}, res-body=${reqHdr.length + resHdr.length}\r\n\r\n` +
      reqHdr +
      resHdr;
    const chunk = (b: Buffer) => (b.length ? Buffer.concat([Buffer.from(b.length.toString(16) + '\r\n'), b, Buffer.from('\r\n')]) : Buffer.alloc(0));
    if (preview === null) return [Buffer.concat([Buffer.from(head), chunk(body), Buffer.from('0\r\n\r\n')]), Buffer.alloc(0)];
    const p = body.subarray(0, preview);
    const rest = body.subarray(preview);
    const ieof = rest.length === 0;
    const first = Buffer.concat([Buffer.from(head), chunk(p), Buffer.from(ieof ? '0; ieof\r\n\r\n' : '0\r\n\r\n')]);
    return [first, ieof ? Buffer.alloc(0) : Buffer.concat([chunk(rest), Buffer.from('0\r\n\r\n')])];
  },
  continue100: () => 'ICAP/1.0 100 Continue\r\n\r\n',
  noContent: () => 'ICAP/1.0 204 No Content\r\nISTag: "kds-1"\r\nEncapsulated: null-body=0\r\n\r\n',
  blocked(threat: string): string {
    const html = '<html>blocked</html>';
    const hdr = `HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: ${html.length}\r\n\r\n`;
    return `ICAP/1.0 200 OK\r\nISTag: "kds-1"\r\nX-Infection-Found: Type=0; Resolution=2; Threat=${threat};\r\nX-Virus-ID: ${threat}\r\nEncapsulated: res-hdr=0, res-body=${hdr.length}\r\n\r\n${hdr}${html.length.toString(16)}\r\n${html}\r\n0\r\n\r\n`;
  },
  error: (status: number, reason: string) => `ICAP/1.0 ${status} ${reason}\r\nISTag: "kds-1"\r\nEncapsulated: null-body=0\r\n\r\n`,
};

/**
 * A capture of `bodyBytes` in one RESPMOD (one huge chunk), between an OPTIONS before and a 204
 * after, written fast: one 64 KiB frame reused with its sequence number patched.
 */
export function writeBigCapture(path: string, bodyBytes: number): void {
  const c = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }).handshake();
  c.send(0, icap.options('10.0.0.9')).send(1, icap.optionsAnswer());
  const reqHdr = 'GET http://example/huge.iso HTTP/1.1\r\nHost: example\r\n\r\n';
  const resHdr = `HTTP/1.1 200 OK\r\nContent-Length: ${bodyBytes}\r\n\r\n`;
  const head = `RESPMOD icap://10.0.0.9/av ICAP/1.0\r\nHost: 10.0.0.9\r\nEncapsulated: req-hdr=0, res-hdr=${reqHdr.length}, res-body=${reqHdr.length + resHdr.length}\r\n\r\n${reqHdr}${resHdr}${bodyBytes.toString(16)}\r\n`;
  c.send(0, head);
  const prefix = pcapFile(1, c.frames('ethernet'));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, prefix);
    const last = c.segments.at(-1)!;
    let seq = (last.spec.seq + last.spec.payload!.length) >>> 0;
    let time = last.time;
    const mss = 65_000;
    const data = frame('ethernet', ipPacket({ src: '10.0.0.2', dst: '10.0.0.9', sport: 40000, dport: 1344, seq: 0, ack: last.spec.ack, flags: 0x18, payload: Buffer.alloc(mss, 0x41) }));
    const record = Buffer.concat([Buffer.alloc(16), data]);
    record.writeUInt32LE(data.length, 8);
    record.writeUInt32LE(data.length, 12);
    const tcpSeqAt = 16 + 14 + 20 + 4;
    for (let left = bodyBytes; left > 0; left -= mss) {
      const n = Math.min(mss, left);
      time += 0.00001;
      record.writeUInt32LE(Math.floor(time), 0);
      record.writeUInt32LE(Math.round((time % 1) * 1e6) % 1_000_000, 4);
      record.writeUInt32BE(seq, tcpSeqAt);
      if (n < mss) {
        // The last, shorter segment.
        const short = Buffer.from(record.subarray(0, 16 + 14 + 40 + n));
        short.writeUInt32LE(14 + 40 + n, 8);
        short.writeUInt32LE(14 + 40 + n, 12);
        short.writeUInt16BE(40 + n, 16 + 14 + 2);
        writeSync(fd, short);
      } else {
        writeSync(fd, record);
      }
      seq = (seq + n) >>> 0;
    }
    // The end of the body, the 204, one more OPTIONS: a tail conversation continuing the numbers.
    const tail = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }, { time: time + 0.001, isn: [seq, last.spec.ack] });
    tail.send(0, '\r\n0\r\n\r\n').send(1, icap.noContent()).send(0, icap.options('10.0.0.9')).send(1, icap.optionsAnswer()).close();
    writeSync(fd, pcapFile(1, tail.frames('ethernet')).subarray(24));
  } finally {
    closeSync(fd);
  }
}

