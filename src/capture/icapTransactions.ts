import { type ProbeTrafficKind, probeTraffic } from '../icap/probeMarker';
import { type IcapMessage, IcapMessageStream } from './icapMessageStream';
import type { ConnectionSummary, Direction, StreamSink } from './tcpReassembly';

/** One ICAP request and its answer, as `kds capture analyze --json` prints it (docs/capture.md). */
export interface IcapTransaction {
  /** ISO 8601 time of the request (of the response when the request is not in the capture). */
  time: string;
  client: string;
  server: string;
  method: string | null;
  uri: string | null;
  /** ICAP status of the final answer; null when none is in the capture. */
  status: number | null;
  reason: string | null;
  /** Preview size the client announced, or null without preview. */
  preview: number | null;
  /** The server answered the preview with 100 Continue. */
  continue100: boolean;
  /** The client allowed 204 outside a preview (Allow: 204). */
  allow204: boolean;
  /** X-… headers of the answer: X-Infection-Found, X-Virus-ID, X-Violations-Found, X-Response-Info… */
  verdict: Record<string, string>;
  /** Request line of the encapsulated HTTP request ("GET http://… HTTP/1.1"). */
  httpRequest: string | null;
  /** Status line of the encapsulated HTTP response the client sent (RESPMOD). */
  httpStatus: string | null;
  /** Status line of the HTTP response the server sent back (a block page, a modified answer). */
  adaptedHttpStatus: string | null;
  requestBytes: number;
  responseBytes: number;
  /** From the request's first packet to the final answer's first packet. */
  latencyMs: number | null;
  /** What the capture lacks or what went wrong on the wire (codes, see transactionNoteText). */
  notes: string[];
  requestHeaders: string | null;
  responseHeaders: string | null;
  /** KDS's own probe or discovery request (src/icap/probeMarker.ts), or null: the proxy's. */
  kdsProbe: ProbeTrafficKind | null;
}

interface Pair {
  request?: IcapMessage;
  response?: IcapMessage;
  continueSeen: boolean;
  clientDir: Direction;
  conn: ConnectionSummary;
}

function header(m: IcapMessage | undefined, name: string): string | undefined {
  const lower = name.toLowerCase();
  return m?.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

function firstLine(text: string | undefined): string | null {
  const line = text?.split(/\r?\n/)[0]?.trim();
  return line ? line : null;
}

/**
 * Pairs the messages of every connection into transactions: ICAP answers come in request
 * order on a connection (RFC 3507 4.1), so the n-th final answer belongs to the n-th request;
 * 100 Continue marks the waiting request without answering it.
 */
export class TransactionCollector {
  private readonly pairs: Pair[] = [];
  private readonly open: Array<{ streams: [IcapMessageStream, IcapMessageStream] }> = [];
  totalTransactions = 0;
  droppedTransactions = 0;
  /** Bytes at the start of streams that belonged to a message begun before the capture. */
  skippedBytes = 0;
  /** Connections in which at least one ICAP message was read. */
  readonly icapConnections = new Set<ConnectionSummary>();

  constructor(private readonly maxTransactions = 50_000) {}

  sinkFor(conn: ConnectionSummary): StreamSink {
    const waiting: [Pair[], Pair[]] = [[], []];
    const onMessage = (dir: Direction) => (m: IcapMessage) => {
      this.icapConnections.add(conn);
      if (m.kind === 'request') {
        const p: Pair = { request: m, continueSeen: false, clientDir: dir, conn };
        waiting[dir].push(p);
        this.add(p);
        return;
      }
      const queue = waiting[dir === 0 ? 1 : 0];
      if (m.status === 100) {
        const p = queue[0];
        if (p) p.continueSeen = true;
        return;
      }
      const p = queue.shift();
      if (p) p.response = m;
      else this.add({ response: m, continueSeen: false, clientDir: dir === 0 ? 1 : 0, conn });
    };
    const streams: [IcapMessageStream, IcapMessageStream] = [
      new IcapMessageStream({ message: onMessage(0), skipped: (n) => (this.skippedBytes += n) }),
      new IcapMessageStream({ message: onMessage(1), skipped: (n) => (this.skippedBytes += n) }),
    ];
    this.open.push({ streams });
    return {
      data: (dir, bytes, time) => streams[dir].push(bytes, time),
      gap: (dir, bytes, time) => streams[dir].gap(bytes, time),
    };
  }

  private add(p: Pair): void {
    this.totalTransactions++;
    if (this.pairs.length < this.maxTransactions) this.pairs.push(p);
    else this.droppedTransactions++;
  }

  finish(): IcapTransaction[] {
    for (const o of this.open) for (const s of o.streams) s.finish();
    this.open.length = 0;
    return this.pairs.map(toTransaction);
  }
}

function toTransaction(p: Pair): IcapTransaction {
  const { request: q, response: r, conn } = p;
  const client = p.clientDir === 0 ? conn.a : conn.b;
  const server = p.clientDir === 0 ? conn.b : conn.a;
  const verdict: Record<string, string> = {};
  for (const [n, v] of r?.headers ?? []) if (/^x-/i.test(n) && !/^x-include$/i.test(n)) verdict[n] = v;
  const preview = header(q, 'Preview');
  const allow = header(q, 'Allow') ?? '';
  const notes: string[] = [];
  if (!q) notes.push('request-not-captured');
  if (q && !r) notes.push('no-answer');
  if (q?.incomplete) notes.push(`request-${q.incomplete}`);
  if (r?.incomplete) notes.push(`response-${r.incomplete}`);
  if ((q?.missingBytes ?? 0) + (r?.missingBytes ?? 0) > 0) notes.push('bytes-missing');
  const clientReset = conn.resetBy.includes(p.clientDir === 0 ? 'a' : 'b');
  const serverReset = conn.resetBy.includes(p.clientDir === 0 ? 'b' : 'a');
  if (q && !r && serverReset) notes.push('reset-by-server');
  if (q && !r && clientReset) notes.push('reset-by-client');
  const time = (q ?? r)!.time;
  const requestHttp = q?.httpHeaders ?? [];
  const encap = (header(q, 'Encapsulated') ?? '').toLowerCase();
  // RESPMOD carries req-hdr then res-hdr; REQMOD only req-hdr.
  const hasReqHdr = encap.includes('req-hdr');
  const hasResHdr = encap.includes('res-hdr');
  const httpRequest = hasReqHdr ? firstLine(requestHttp[0]) : null;
  const httpStatus = hasResHdr ? firstLine(requestHttp[hasReqHdr ? 1 : 0]) : null;
  const adapted = r?.httpHeaders.map((h) => firstLine(h)).find((l) => l?.startsWith('HTTP/')) ?? null;
  return {
    time: new Date(Math.round(time * 1000)).toISOString(),
    client,
    server,
    method: q?.method ?? null,
    uri: q?.uri ?? null,
    status: r?.status ?? null,
    reason: r ? (r.reason ?? '') : null,
    preview: preview !== undefined && /^\d+$/.test(preview) ? Number(preview) : null,
    continue100: p.continueSeen,
    allow204: /\b204\b/.test(allow),
    verdict,
    httpRequest,
    httpStatus,
    adaptedHttpStatus: adapted,
    requestBytes: q?.bytes ?? 0,
    responseBytes: r?.bytes ?? 0,
    latencyMs: q && r ? Math.max(0, Math.round((r.time - q.time) * 1e6) / 1e3) : null,
    notes,
    requestHeaders: q?.headerText ?? null,
    responseHeaders: r?.headerText ?? null,
    kdsProbe: probeTraffic(q?.headerText, httpRequest) ?? null,
  };
}
