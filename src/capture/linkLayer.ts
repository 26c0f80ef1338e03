/**
 * Link types (https://www.tcpdump.org/linktypes.html) KDS decodes, and where the IP packet
 * starts in each. tcpdump -i lo on Linux writes Ethernet with zero addresses; -i any writes
 * Linux cooked v1 (SLL) or v2 (SLL2); BSD and macOS loopback write NULL/LOOP; tun devices RAW.
 */
export const LinkType = {
  null: 0,
  ethernet: 1,
  raw: 101,
  /** Some OpenBSD-era files say 12 or 14 for raw IP. */
  rawAlt12: 12,
  rawAlt14: 14,
  loop: 108,
  linuxSll: 113,
  ipv4: 228,
  ipv6: 229,
  linuxSll2: 276,
} as const;

export const supportedLinkTypes: ReadonlySet<number> = new Set(Object.values(LinkType));

export function linkTypeName(lt: number): string {
  switch (lt) {
    case LinkType.null:
      return 'BSD loopback (NULL)';
    case LinkType.ethernet:
      return 'Ethernet';
    case LinkType.raw:
    case LinkType.rawAlt12:
    case LinkType.rawAlt14:
      return 'raw IP';
    case LinkType.loop:
      return 'OpenBSD loopback (LOOP)';
    case LinkType.linuxSll:
      return 'Linux cooked (SLL)';
    case LinkType.linuxSll2:
      return 'Linux cooked v2 (SLL2)';
    case LinkType.ipv4:
      return 'raw IPv4';
    case LinkType.ipv6:
      return 'raw IPv6';
    default:
      return `link type ${lt}`;
  }
}

const etherIpv4 = 0x0800;
const etherIpv6 = 0x86dd;
const vlanTags = new Set([0x8100, 0x88a8, 0x9100]);

export interface NetworkPayload {
  version: 4 | 6;
  /** The IP packet (header included), as captured. */
  ip: Buffer;
}

function byEtherType(type: number, ip: Buffer): NetworkPayload | undefined {
  if (type === etherIpv4) return { version: 4, ip };
  if (type === etherIpv6) return { version: 6, ip };
  return undefined;
}

function byVersionNibble(ip: Buffer): NetworkPayload | undefined {
  const v = (ip[0] ?? 0) >> 4;
  return v === 4 || v === 6 ? { version: v, ip } : undefined;
}

/** BSD address families of IPv6 differ per OS (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS). */
function byAddressFamily(af: number, ip: Buffer): NetworkPayload | undefined {
  if (af === 2) return { version: 4, ip };
  if (af === 24 || af === 28 || af === 30 || af === 10) return { version: 6, ip };
  return undefined;
}

/** The IP packet inside one captured frame, or undefined when it carries something else. */
export function networkPayload(linkType: number, frame: Buffer): NetworkPayload | undefined {
  switch (linkType) {
    case LinkType.ethernet: {
      let at = 12;
      if (frame.length < at + 2) return undefined;
      let type = frame.readUInt16BE(at);
      while (vlanTags.has(type) && frame.length >= at + 6) {
        at += 4;
        type = frame.readUInt16BE(at);
      }
      return byEtherType(type, frame.subarray(at + 2));
    }
    case LinkType.linuxSll:
      return frame.length < 16 ? undefined : byEtherType(frame.readUInt16BE(14), frame.subarray(16));
    case LinkType.linuxSll2:
      return frame.length < 20 ? undefined : byEtherType(frame.readUInt16BE(0), frame.subarray(20));
    case LinkType.null: {
      if (frame.length < 4) return undefined;
      // Written in the capturing host's byte order: whichever reading is small is the right one.
      const le = frame.readUInt32LE(0);
      return byAddressFamily(le < 256 ? le : frame.readUInt32BE(0), frame.subarray(4));
    }
    case LinkType.loop:
      return frame.length < 4 ? undefined : byAddressFamily(frame.readUInt32BE(0), frame.subarray(4));
    case LinkType.raw:
    case LinkType.rawAlt12:
    case LinkType.rawAlt14:
      return byVersionNibble(frame);
    case LinkType.ipv4:
      return { version: 4, ip: frame };
    case LinkType.ipv6:
      return { version: 6, ip: frame };
    default:
      return undefined;
  }
}
