import { stat } from 'node:fs/promises';
import { getHeapStatistics } from 'node:v8';
import { releaseBurstGarbage } from '../common/heapRelease';
import { t } from '../common/l10n';
import type { CapturedPacket, CaptureProblem } from './capturedPacket';
import { ConnectionTally } from './connectionTally';
import { type AnalysisBounds, type Finding, diagnose } from './diagnosis';
import { FileWindow } from './fileWindow';
import { maxHeaderLines } from './icapMessageStream';
import { type CollectorLimits, type ConnectionIcap, type ConnectionSink, type IcapTransaction, TransactionCollector, defaultCollectorLimits } from './icapTransactions';
import { linkTypeName, networkPayload, supportedLinkTypes } from './linkLayer';
import { PcapReader, isPcapMagic } from './pcapReader';
import { PcapngReader, isPcapngMagic } from './pcapngReader';
import { type ConnectionSummary, type ReassemblyLimits, MemoryGauge, TcpReassembler, defaultReassemblyLimits } from './tcpReassembly';
import { tcpSegment } from './tcpSegment';

export const defaultIcapPort = 1344;

export interface AnalyzeOptions {
  /** Only TCP on this port; undefined = every TCP connection, ICAP found by its content. */
  port?: number;
  /** Answers slower than this are reported (default 5000 ms). */
  slowMs?: number;
  maxTransactions?: number;
  /** The memory bounds (tests make them small). */
  limits?: Partial<ReassemblyLimits & CollectorLimits>;
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
  /** What the analysis left out to stay within its memory (all zero for an ordinary capture). */
  bounds: AnalysisBounds;
  findings: Finding[];
  diagnosis: string[];
}

/** Latest time a capture can claim (the end of year 9999): later, or negative, or not a number, is no time at all. */
const latestTime = 253_402_300_799;

function plausibleTime(time: number): boolean {
  return Number.isFinite(time) && time >= 0 && time <= latestTime;
}

/** Analysis work between two looks at the clock, the cancel signal and the progress. */
const sliceMs = 50;

/**
 * What the analysis keeps is bounded, but V8 lets garbage grow to several times what is live
 * before it collects (a 1 GB capture makes a lot of it): past this ceiling a collection is asked
 * for, so the peak stays near what is used. The ceiling follows what is live after it.
 */
class HeapCeiling {
  private ceiling = 64 << 20;

  check(): void {
    if (getHeapStatistics().used_heap_size <= this.ceiling) return;
    releaseBurstGarbage(true);
    this.ceiling = Math.max(64 << 20, getHeapStatistics().used_heap_size * 1.5 + (32 << 20));
  }
}

function iso(time: number | undefined): string | null {
  return time === undefined ? null : new Date(Math.round(time * 1000)).toISOString();
}

interface PacketSource {
  next(): Promise<CapturedPacket | undefined>;
}

/**
 * Reads a pcap or pcapng file once, front to back, and returns its ICAP transactions and
 * diagnosis. Memory is bounded whatever the file holds (bodies are counted, not kept; connections,
 * held segments, header lines and header text have caps, and what passes one is counted in
 * `bounds`). A damaged file gives what could be read plus a problem saying what is wrong; it
 * never throws for the file's content (only for a file that cannot be opened, or when cancelled).
 */
export async function analyzeCaptureFile(path: string, opts: AnalyzeOptions = {}): Promise<CaptureAnalysis> {
  // The loop looks at the signal only between slices of work: a capture analyzed within one slice would never see it.
  if (opts.signal?.aborted) throw opts.signal.reason;
  const problems: CaptureProblem[] = [];
  const problem = (p: CaptureProblem) => problems.push(p);
  const size = (await stat(path)).size;
  const reassemblyLimits: ReassemblyLimits = { ...defaultReassemblyLimits, ...opts.limits };
  const collectorLimits: CollectorLimits = { ...defaultCollectorLimits, ...(opts.maxTransactions !== undefined && { maxTransactions: opts.maxTransactions }), ...opts.limits };
  const gauge = new MemoryGauge();
  const collector = new TransactionCollector(collectorLimits, gauge);
  // Connections are folded into counts as they are let go: per kind, so the ICAP ones can be told apart at the end.
  const tallies = new Map<string, ConnectionTally>();
  const icapPorts = new Set<number>();
  const tallyOf = (s: ConnectionSummary, icap: ConnectionIcap) => {
    const base = opts.port !== undefined ? 'all' : icap.icap ? 'icap' : s.aPort === defaultIcapPort || s.bPort === defaultIcapPort ? 'default' : `port:${s.bPort}`;
    const kind = icap.ownOnly ? `own ${base}` : base;
    let tally = tallies.get(kind);
    if (!tally) tallies.set(kind, (tally = new ConnectionTally()));
    return tally;
  };
  const reassembler = new TcpReassembler<ConnectionSink>(
    {
      open: (summary) => collector.sinkFor(summary),
      retired(summary, sink) {
        const icap = sink?.close() ?? { icap: false };
        if (icap.serverPort !== undefined) icapPorts.add(icap.serverPort);
        tallyOf(summary, icap).add(summary);
      },
    },
    reassemblyLimits,
    gauge,
  );
  const linkTypes = new Set<number>();
  let packets = 0;
  let first: number | undefined;
  let last: number | undefined;
  let cut = 0;
  let cutTo = 0;
  let badTimes = 0;
  let firstBadTime: { packet: number; time: number } | undefined;
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
      let sliceStart = performance.now();
      const heap = new HeapCeiling();
      for (let p = await source?.next(); p; p = await source!.next()) {
        packets++;
        if (!plausibleTime(p.time)) {
          // A time no clock gives (if_tsresol 0 and all ones, say) is that packet's problem: it takes the time of the one before.
          badTimes++;
          firstBadTime ??= { packet: p.number, time: p.time };
          p.time = last ?? first ?? 0;
        } else if (first === undefined) first = p.time;
        if (first !== undefined) last = p.time;
        linkTypes.add(p.linkType);
        if (p.data.length < p.originalLength && !p.truncatedInFile) {
          cut++;
          cutTo = p.data.length;
        }
        // Cancel, progress and the event loop are looked after by the clock, whatever a packet costs.
        if ((packets & 63) === 0 && performance.now() - sliceStart > sliceMs) {
          if (opts.signal?.aborted) throw opts.signal.reason;
          heap.check();
          if (opts.onProgress && win.offset - lastReport > 8 << 20) {
            lastReport = win.offset;
            opts.onProgress(win.offset, size);
          }
          await new Promise((r) => setImmediate(r));
          if (opts.signal?.aborted) throw opts.signal.reason;
          sliceStart = performance.now();
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
  if (opts.signal?.aborted) throw opts.signal.reason;
  opts.onProgress?.(size, size);
  if (format && packets === 0 && !problems.length) problem({ code: 'empty', message: t('The capture holds no packets.') });
  if (cut) {
    problem({ code: 'snaplen-cut', message: t('{0} packet(s) were cut short by the capture\'s snapshot length (to {1} bytes): their bodies are only partly in the file. Capture with -s 0.', cut, cutTo) });
  }
  for (const [lt, n] of unsupported) {
    problem({ code: 'unsupported-link-type', message: t('{0} packet(s) have a link type KDS does not read ({1}) and were skipped.', n, linkTypeName(lt)) });
  }
  if (firstBadTime) {
    problem({
      code: 'bad-time',
      message: t(
        '{0} packet(s) have an impossible time stamp (the first: packet {1}, {2} seconds after 1970): each was given the time of the packet before it, the rest of the capture is analyzed as usual.',
        badTimes,
        firstBadTime.packet,
        String(firstBadTime.time),
      ),
    });
  }
  reassembler.finish();
  const transactions = collector.finish();
  // Relevant: on the port asked for, or ICAP, or on 1344, or on a port where ICAP was found. KDS's own probe connections count, but not in the findings.
  const relevant = new ConnectionTally();
  const proxySide = new ConnectionTally();
  for (const [kind, tally] of tallies) {
    const base = kind.replace(/^own /, '');
    if (base === 'all' || base === 'icap' || base === 'default' || (base.startsWith('port:') && icapPorts.has(Number(base.slice(5))))) {
      relevant.addAll(tally);
      if (base === kind) proxySide.addAll(tally);
    }
  }
  const connections = relevant.counts();
  const ports = opts.port !== undefined ? [opts.port] : icapPorts.size ? [...icapPorts].sort((x, y) => x - y) : [defaultIcapPort];
  const bounds: AnalysisBounds = {
    connectionsSetAside: reassembler.setAside,
    maxConnections: reassemblyLimits.maxConnections,
    droppedHeaderLines: collector.droppedHeaderLines,
    messagesWithDroppedLines: collector.messagesWithDroppedLines,
    maxHeaderLines,
    messagesWithoutDetails: collector.slimmedMessages,
    detailChars: collectorLimits.detailChars,
  };
  const findings = diagnose({
    ports,
    packets,
    connections: proxySide.counts(),
    connectionsSeen: connections.connections,
    transactions,
    totalTransactions: collector.totalTransactions,
    problems,
    slowMs: opts.slowMs ?? 5000,
    bounds,
  });
  return {
    file: path,
    format,
    linkTypes: [...linkTypes].map(linkTypeName),
    packets,
    icapPackets: connections.packets,
    firstPacketTime: iso(first),
    lastPacketTime: iso(last),
    connections: connections.connections,
    ports,
    transactions,
    totalTransactions: collector.totalTransactions,
    problems,
    bounds,
    findings,
    diagnosis: findings.map((f) => f.text),
  };
}
