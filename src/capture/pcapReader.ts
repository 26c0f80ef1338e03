import { t } from '../common/l10n';
import type { CapturedPacket, CaptureProblem } from './capturedPacket';
import type { FileWindow } from './fileWindow';

/** Classic libpcap magic numbers as read little-endian from the first four bytes. */
const magics: Record<number, { littleEndian: boolean; nanos: boolean }> = {
  0xa1b2c3d4: { littleEndian: true, nanos: false },
  0xd4c3b2a1: { littleEndian: false, nanos: false },
  0xa1b23c4d: { littleEndian: true, nanos: true },
  0x4d3cb2a1: { littleEndian: false, nanos: true },
};

export function isPcapMagic(first4: Buffer): boolean {
  return first4.length >= 4 && first4.readUInt32LE(0) in magics;
}

/** A record larger than this is corruption, not a packet (libpcap's own limit is 256 KiB for most links). */
const maxRecord = 16 << 20;

/** Reads a libpcap file (tcpdump -w) one record at a time. */
export class PcapReader {
  private number = 0;
  private le = true;
  private nanos = false;
  linkType = 0;
  snaplen = 0;

  constructor(
    private readonly win: FileWindow,
    private readonly problem: (p: CaptureProblem) => void,
  ) {}

  /** Reads the 24-byte file header; false (with a problem reported) when there is none. */
  async start(): Promise<boolean> {
    if (!(await this.win.ensure(24))) {
      this.problem({ code: 'truncated-record', message: t('The pcap file header is cut short ({0} of 24 bytes).', this.win.remaining) });
      return false;
    }
    const h = this.win.take(24);
    const m = magics[h.readUInt32LE(0)]!;
    this.le = m.littleEndian;
    this.nanos = m.nanos;
    this.snaplen = this.u32(h, 16);
    // The upper bits may carry the FCS length (pcap "LINKTYPE_" field); the link type is the low 16.
    this.linkType = this.u32(h, 20) & 0xffff;
    return true;
  }

  private u32(b: Buffer, at: number): number {
    return this.le ? b.readUInt32LE(at) : b.readUInt32BE(at);
  }

  async next(): Promise<CapturedPacket | undefined> {
    if (!(await this.win.ensure(16))) {
      if (this.win.remaining > 0) {
        this.problem({ code: 'truncated-record', message: t('The file ends inside the header of packet {0} ({1} of 16 bytes): the capture was cut off.', this.number + 1, this.win.remaining) });
        this.win.take(this.win.remaining);
      }
      return undefined;
    }
    const h = this.win.peek(16);
    const sec = this.u32(h, 0);
    const frac = this.u32(h, 4);
    const incl = this.u32(h, 8);
    const orig = this.u32(h, 12);
    if (incl > maxRecord) {
      this.problem({ code: 'bad-record', message: t('Packet {0} claims {1} bytes: the file is damaged from offset {2} on.', this.number + 1, incl, this.win.offset) });
      return undefined;
    }
    this.win.take(16);
    this.number++;
    if (!(await this.win.ensure(incl))) {
      const have = this.win.remaining;
      this.problem({ code: 'truncated-record', message: t('The last packet ({0}) is cut short: {1} of {2} bytes are in the file.', this.number, have, incl) });
      return { number: this.number, time: sec + frac / (this.nanos ? 1e9 : 1e6), linkType: this.linkType, data: this.win.take(have), originalLength: Math.max(orig, incl), truncatedInFile: true };
    }
    return { number: this.number, time: sec + frac / (this.nanos ? 1e9 : 1e6), linkType: this.linkType, data: this.win.take(incl), originalLength: orig };
  }
}
