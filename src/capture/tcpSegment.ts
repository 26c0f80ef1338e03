import type { NetworkPayload } from './linkLayer';

export const TcpFlag = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;

export interface TcpSegment {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** The payload bytes that are in the capture. */
  payload: Buffer;
  /** Payload bytes the packet had but the capture did not keep (snaplen). */
  missing: number;
}

function ipv4Text(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text: lower case, leading zeros dropped, the longest run of zero groups as "::". */
export function ipv6Text(b: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + i * 2));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** "a.b.c.d:port" or "[v6]:port". */
export function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

const ipv6ExtensionHeaders = new Set([0, 43, 60, 135, 139, 140]);
const ipv6Fragment = 44;

/** The TCP segment in an IP packet, or undefined when it is not TCP (or a non-first fragment). */
export function tcpSegment(net: NetworkPayload): TcpSegment | undefined {
  const ip = net.ip;
  let src: string;
  let dst: string;
  let tcpAt: number;
  /** TCP header + payload length the IP header declares. */
  let declared: number;
  if (net.version === 4) {
    if (ip.length < 20) return undefined;
    const ihl = (ip[0]! & 0x0f) * 4;
    if (ip[9] !== 6 || ihl < 20) return undefined;
    // A fragment other than the first carries no TCP header.
    if ((ip.readUInt16BE(6) & 0x1fff) !== 0) return undefined;
    src = ipv4Text(ip, 12);
    dst = ipv4Text(ip, 16);
    tcpAt = ihl;
    const total = ip.readUInt16BE(2);
    // TSO on the capturing host can leave total length 0 in outgoing packets: trust the capture then.
    declared = total === 0 ? Number.POSITIVE_INFINITY : total - ihl;
  } else {
    if (ip.length < 40) return undefined;
    src = ipv6Text(ip, 8);
    dst = ipv6Text(ip, 24);
    let next = ip[6]!;
    let at = 40;
    const payloadLength = ip.readUInt16BE(4);
    while (ipv6ExtensionHeaders.has(next) || next === ipv6Fragment) {
      if (ip.length < at + 8) return undefined;
      if (next === ipv6Fragment && (ip.readUInt16BE(at + 2) & 0xfff8) !== 0) return undefined;
      const len = next === ipv6Fragment ? 8 : (ip[at + 1]! + 1) * 8;
      next = ip[at]!;
      at += len;
    }
    if (next !== 6) return undefined;
    tcpAt = at;
    declared = payloadLength === 0 ? Number.POSITIVE_INFINITY : payloadLength - (at - 40);
  }
  if (ip.length < tcpAt + 20) return undefined;
  const dataOffset = (ip[tcpAt + 12]! >> 4) * 4;
  if (dataOffset < 20) return undefined;
  const captured = ip.length - tcpAt;
  // Ethernet pads short frames: what lies past the IP length is padding, not payload.
  const inPacket = Math.min(captured, declared);
  const payload = ip.subarray(Math.min(tcpAt + dataOffset, tcpAt + inPacket), tcpAt + inPacket);
  const missing = Number.isFinite(declared) ? Math.max(0, declared - Math.max(captured, dataOffset)) : 0;
  return {
    src,
    dst,
    srcPort: ip.readUInt16BE(tcpAt),
    dstPort: ip.readUInt16BE(tcpAt + 2),
    seq: ip.readUInt32BE(tcpAt + 4),
    ack: ip.readUInt32BE(tcpAt + 8),
    flags: ip[tcpAt + 13]!,
    payload,
    missing,
  };
}
