import { stat } from 'node:fs/promises';
import { t } from '../common/l10n';
import type { CapturedPacket, CaptureProblem } from './capturedPacket';
import { type Finding, diagnose } from './diagnosis';
import { FileWindow } from './fileWindow';
import { type IcapTransaction, TransactionCollector } from './icapTransactions';
import { linkTypeName, networkPayload, supportedLinkTypes } from './linkLayer';
import { PcapReader, isPcapMagic } from './pcapReader';
import { PcapngReader, isPcapngMagic } from './pcapngReader';
import { TcpReassembler } from './tcpReassembly';
import { tcpSegment } from './tcpSegment';

export const defaultIcapPort = 1344;

export interface AnalyzeOptions {
  /** Only TCP on this port; undefined = every TCP connection, ICAP found by its content. */
  port?: number;
  /** Answers slower than this are reported (default 5000 ms). */
  slowMs?: number;
  maxTransactions?: number;
  /** Called now and then with the bytes read so far. */
  onProgress?: (bytesRead: number, fileSize: number) => void;
  signal?: AbortSignal;
}

/** Plain data: what `kds capture analyze --json` prints and the support bundle stores. */
export interface CaptureAnalysis {
  file: string;
  format: 'pcap' | 'pcapng' | null;
  linkTypes: string[];
  packets: number;
  /** Packets of the connections analyzed (on the port, or carrying ICAP). */
  icapPackets: number;
  firstPacketTime: string | null;
  lastPacketTime: string | null;
  connections: number;
  ports: number[];
  transactions: IcapTransaction[];
  totalTransactions: number;
  problems: CaptureProblem[];
  findings: Finding[];
  diagnosis: string[];
}

function iso(time: number | undefined): string | null {
  return time === undefined ? null : new Date(Math.round(time * 1000)).toISOString();
}

interface PacketSource {
  next(): Promise<CapturedPacket | undefined>;
}

/**
 * Reads a pcap or pcapng file once, front to back, and returns its ICAP transactions and
 * diagnosis. Memory stays flat whatever the file size (bodies are counted, not kept). A damaged
 * file gives what could be read plus a problem saying what is wrong; it never throws for the
 * file's content (only for a file that cannot be opened).
 */
export async function analyzeCaptureFile(path: string, opts: AnalyzeOptions = {}): Promise<CaptureAnalysis> {
  const problems: CaptureProblem[] = [];
  const problem = (p: CaptureProblem) => problems.push(p);
  const size = (await stat(path)).size;
  const collector = new TransactionCollector(opts.maxTransactions);
  const reassembler = new TcpReassembler((c) => collector.sinkFor(c));
  const linkTypes = new Set<number>();
  let packets = 0;
  let first: number | undefined;
  let last: number | undefined;
  let cut = 0;
  let cutTo = 0;
  const unsupported = new Map<number, number>();
  let format: CaptureAnalysis['format'] = null;

  const win = await FileWindow.open(path);
  try {
    if (size === 0) {
      problem({ code: 'empty', message: t('The file is empty: the capture wrote nothing (tcpdump stopped before the first packet, or the disk was full).') });
    } else if (!(await win.ensure(4))) {
      problem({ code: 'not-a-capture', message: t('The file is too short to be a capture ({0} bytes).', size) });
    } else {
      const magic = win.peek(4);
      let source: PacketSource | undefined;
      if (isPcapMagic(magic)) {
        format = 'pcap';
        const r = new PcapReader(win, problem);
        if (await r.start()) source = r;
      } else if (isPcapngMagic(magic)) {
        format = 'pcapng';
        source = new PcapngReader(win, problem);
      } else {
        problem({
          code: 'not-a-capture',
          message: t('Not a pcap or pcapng file (it starts with {0}). Save captures with tcpdump -w or as Wireshark/tcpdump pcap or pcapng.', magic.toString('hex').replace(/(..)/g, '$1 ').trim()),
        });
      }
      let lastReport = 0;
      for (let p = await source?.next(); p; p = await source!.next()) {
        packets++;
        if (first === undefined) first = p.time;
        last = p.time;
        linkTypes.add(p.linkType);
        if (p.data.length < p.originalLength && !p.truncatedInFile) {
          cut++;
          cutTo = p.data.length;
        }
        if ((packets & 0x3fff) === 0) {
          if (opts.signal?.aborted) throw opts.signal.reason;
          if (opts.onProgress && win.offset - lastReport > 8 << 20) {
            lastReport = win.offset;
            opts.onProgress(win.offset, size);
          }
          // Let timers and I/O callbacks run during a long analysis.
          await new Promise((r) => setImmediate(r));
        }
        if (!supportedLinkTypes.has(p.linkType)) {
          unsupported.set(p.linkType, (unsupported.get(p.linkType) ?? 0) + 1);
          continue;
        }
        const net = networkPayload(p.linkType, p.data);
        const seg = net && tcpSegment(net);
        if (!seg) continue;
        if (opts.port !== undefined && seg.srcPort !== opts.port && seg.dstPort !== opts.port) continue;
        reassembler.add(seg, p.time);
      }
    }
  } finally {
    await win.close();
  }
  opts.onProgress?.(size, size);
  if (format && packets === 0 && !problems.length) problem({ code: 'empty', message: t('The capture holds no packets.') });
  if (cut) {
    problem({ code: 'snaplen-cut', message: t('{0} packet(s) were cut short by the capture\'s snapshot length (to {1} bytes): their bodies are only partly in the file. Capture with -s 0.', cut, cutTo) });
  }
  for (const [lt, n] of unsupported) {
    problem({ code: 'unsupported-link-type', message: t('{0} packet(s) have a link type KDS does not read ({1}) and were skipped.', n, linkTypeName(lt)) });
  }
  const all = reassembler.finish();
  const transactions = collector.finish();
  const serverOf = new Map(transactions.map((x) => [x.client, x.server]));
  const icapPorts = new Set<number>();
  for (const c of collector.icapConnections) icapPorts.add(serverOf.get(c.b) === c.a ? c.aPort : c.bPort);
  const relevant = all.filter((c) =>
    opts.port !== undefined ? true : collector.icapConnections.has(c) || c.aPort === defaultIcapPort || c.bPort === defaultIcapPort || icapPorts.has(c.bPort),
  );
  const ports = opts.port !== undefined ? [opts.port] : icapPorts.size ? [...icapPorts].sort((x, y) => x - y) : [defaultIcapPort];
  const findings = diagnose({
    ports,
    packets,
    connections: relevant,
    transactions,
    totalTransactions: collector.totalTransactions,
    problems,
    slowMs: opts.slowMs ?? 5000,
  });
  return {
    file: path,
    format,
    linkTypes: [...linkTypes].map(linkTypeName),
    packets,
    icapPackets: relevant.reduce((n, c) => n + c.packets, 0),
    firstPacketTime: iso(first),
    lastPacketTime: iso(last),
    connections: relevant.length,
    ports,
    transactions,
    totalTransactions: collector.totalTransactions,
    problems,
    findings,
    diagnosis: findings.map((f) => f.text),
  };
}
