import { t } from '../common/l10n';
import type { CapturedPacket, CaptureProblem } from './capturedPacket';
import type { FileWindow } from './fileWindow';

export const pcapngSectionHeader = 0x0a0d0d0a;
const idbType = 1;
const obsoletePacketType = 2;
const simplePacketType = 3;
const enhancedPacketType = 6;
const maxBlock = 16 << 20;

interface Interface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second. */
  unitsPerSecond: number;
}

export function isPcapngMagic(first4: Buffer): boolean {
  return first4.length >= 4 && first4.readUInt32LE(0) === pcapngSectionHeader;
}

/** Reads a pcapng file (Wireshark, dumpcap, tshark -w) block by block; see draft-ietf-opsawg-pcapng. */
export class PcapngReader {
  private number = 0;
  private le = true;
  private interfaces: Interface[] = [];
  private reportedUnknownInterface = false;

  constructor(
    private readonly win: FileWindow,
    private readonly problem: (p: CaptureProblem) => void,
  ) {}

  private u16(b: Buffer, at: number): number {
    return this.le ? b.readUInt16LE(at) : b.readUInt16BE(at);
  }

  private u32(b: Buffer, at: number): number {
    return this.le ? b.readUInt32LE(at) : b.readUInt32BE(at);
  }

  /** Link types of the interfaces seen so far (for the summary). */
  get linkTypes(): number[] {
    return [...new Set(this.interfaces.map((i) => i.linkType))];
  }

  async next(): Promise<CapturedPacket | undefined> {
    for (;;) {
      if (!(await this.win.ensure(12))) {
        if (this.win.remaining > 0) {
          this.problem({ code: 'truncated-record', message: t('The file ends inside a pcapng block header ({0} bytes left): the capture was cut off.', this.win.remaining) });
          this.win.take(this.win.remaining);
        }
        return undefined;
      }
      const head = this.win.peek(12);
      const type = head.readUInt32LE(0);
      if (type === pcapngSectionHeader) {
        // The byte-order magic tells how this section (and this block's length) is written.
        const bom = head.readUInt32LE(8);
        if (bom === 0x1a2b3c4d) this.le = true;
        else if (bom === 0x4d3c2b1a) this.le = false;
        else {
          this.problem({ code: 'bad-record', message: t('A pcapng section header at offset {0} has no valid byte-order magic: the file is damaged from there on.', this.win.offset) });
          return undefined;
        }
        this.interfaces = [];
      }
      const blockType = this.u32(head, 0);
      const length = this.u32(head, 4);
      if (length < 12 || length % 4 !== 0 || length > maxBlock) {
        this.problem({ code: 'bad-record', message: t('A pcapng block at offset {0} has an impossible length ({1}): the file is damaged from there on.', this.win.offset, length) });
        return undefined;
      }
      const whole = await this.win.ensure(length);
      const block = this.win.take(whole ? length : this.win.remaining);
      const body = block.subarray(8, whole ? length - 4 : block.length);
      if (blockType === idbType) {
        if (body.length >= 8) this.interfaces.push(this.readInterface(body));
      } else if (blockType === enhancedPacketType || blockType === obsoletePacketType || blockType === simplePacketType) {
        const packet = this.readPacket(blockType, body, whole);
        if (!whole) {
          this.problem({ code: 'truncated-record', message: t('The last packet ({0}) is cut short: {1} of {2} bytes of its block are in the file.', this.number, block.length, length) });
        }
        if (packet) return packet;
      } else if (!whole) {
        this.problem({ code: 'truncated-record', message: t('The file ends inside a pcapng block ({0} of {1} bytes): the capture was cut off.', block.length, length) });
      }
      if (!whole) return undefined;
    }
  }

  private readInterface(body: Buffer): Interface {
    const iface: Interface = { linkType: this.u16(body, 0), snaplen: this.u32(body, 4), unitsPerSecond: 1e6 };
    let at = 8;
    while (at + 4 <= body.length) {
      const code = this.u16(body, at);
      const len = this.u16(body, at + 2);
      if (code === 0) break;
      if (code === 9 && len >= 1 && at + 5 <= body.length) {
        // if_tsresol: high bit clear = negative power of 10, set = negative power of 2.
        const v = body[at + 4]!;
        iface.unitsPerSecond = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
      }
      at += 4 + Math.ceil(len / 4) * 4;
    }
    return iface;
  }

  private readPacket(type: number, body: Buffer, whole: boolean): CapturedPacket | undefined {
    let ifaceId = 0;
    let time = 0;
    let captured: number;
    let original: number;
    let dataAt: number;
    if (type === simplePacketType) {
      if (body.length < 4) return undefined;
      original = this.u32(body, 0);
      dataAt = 4;
      const iface = this.interfaces[0];
      captured = Math.min(original, iface?.snaplen || original, body.length - 4);
    } else {
      if (body.length < 20) return undefined;
      if (type === enhancedPacketType) ifaceId = this.u32(body, 0);
      else ifaceId = this.u16(body, 0);
      const high = this.u32(body, 4);
      const low = this.u32(body, 8);
      captured = this.u32(body, 12);
      original = this.u32(body, 16);
      dataAt = 20;
      const units = this.interfaces[ifaceId]?.unitsPerSecond ?? 1e6;
      // Nanosecond stamps exceed 2^53 and lose their last digits as a double: microseconds stay exact.
      time = (high * 4294967296 + low) / units;
    }
    const iface = this.interfaces[ifaceId];
    this.number++;
    if (!iface) {
      if (!this.reportedUnknownInterface) {
        this.reportedUnknownInterface = true;
        this.problem({ code: 'bad-record', message: t('Packet {0} names interface {1}, which the file never described: such packets are skipped.', this.number, ifaceId) });
      }
      return undefined;
    }
    const available = body.length - dataAt;
    const data = body.subarray(dataAt, dataAt + Math.min(captured, available));
    return { number: this.number, time, linkType: iface.linkType, data, originalLength: whole ? original : Math.max(original, captured), ...(!whole && { truncatedInFile: true }) };
  }
}
