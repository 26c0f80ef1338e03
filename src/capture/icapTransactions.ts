import { type ProbeTrafficKind, probeTraffic } from '../icap/probeMarker';
import { DetailBudget, type IcapMessage, IcapMessageStream, copyText } from './icapMessageStream';
import type { ConnectionSummary, Direction, MemoryGauge, StreamSink } from './tcpReassembly';

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
  /** In the list (else only counted, and paired so later answers go to the right request). */
  listed?: boolean;
  /** KDS's own request by its ICAP head (X-KDS-Probe, User-Agent), read before the head may be slimmed. */
  probeHead?: ProbeTrafficKind;
}

function header(m: IcapMessage | undefined, name: string): string | undefined {
  const lower = name.toLowerCase();
  return m?.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

function firstLine(text: string | undefined): string | null {
  const line = text?.split(/\r?\n/)[0]?.trim();
  return line ? line : null;
}

/** What a connection turned out to be, once it is let go. */
export interface ConnectionIcap {
  /** At least one ICAP message was read in it. */
  icap: boolean;
  /** The port of the side that answered (the ICAP server), when known. */
  serverPort?: number;
  /** Every request in it was KDS's own probe (src/icap/probeMarker.ts): it says nothing about the proxy. */
  ownOnly?: boolean;
}

/** A connection's two message streams; `close()` ends them. */
export interface ConnectionSink extends StreamSink {
  close(): ConnectionIcap;
}

export interface CollectorLimits {
  /** Transactions listed (the rest are counted). */
  maxTransactions: number;
  /** Characters of header text kept for the listed transactions; past it, start lines only. */
  detailChars: number;
  /** Requests of one connection waiting for their answer; older ones are taken as unanswered. */
  maxWaiting: number;
}

export const defaultCollectorLimits: Readonly<CollectorLimits> = Object.freeze({ maxTransactions: 20_000, detailChars: 24 << 20, maxWaiting: 1000 });

/** Per header field kept: its characters and about this much for the array and strings around them. */
const headerOverhead = 64;

/**
 * Pairs the messages of every connection into transactions: ICAP answers come in request
 * order on a connection (RFC 3507 4.1), so the n-th final answer belongs to the n-th request;
 * 100 Continue marks the waiting request without answering it. Memory is bounded: the list,
 * the header text kept for it and the requests waiting for an answer all have a cap, and what
 * passes a cap is counted.
 */
export class TransactionCollector {
  private readonly pairs: Pair[] = [];
  private readonly limits: CollectorLimits;
  private readonly budget: DetailBudget;
  totalTransactions = 0;
  droppedTransactions = 0;
  /** Listed messages whose header details were not kept (the budget was spent). */
  slimmedMessages = 0;
  /** Header lines past the per-message cap, over all messages. */
  droppedHeaderLines = 0;
  /** Messages with such lines. */
  messagesWithDroppedLines = 0;
  /** Bytes at the start of streams that belonged to a message begun before the capture. */
  skippedBytes = 0;

  constructor(
    limits: Partial<CollectorLimits> = {},
    private readonly gauge?: MemoryGauge,
  ) {
    this.limits = { ...defaultCollectorLimits, ...limits };
    this.budget = new DetailBudget(this.limits.detailChars);
  }

  sinkFor(conn: ConnectionSummary): ConnectionSink {
    const waiting: [Pair[], Pair[]] = [[], []];
    let requestDir: Direction | undefined;
    let responseDir: Direction | undefined;
    let ownRequests = 0;
    let otherRequests = 0;
    const onMessage = (dir: Direction) => (m: IcapMessage) => {
      if (m.droppedHeaderLines) {
        this.droppedHeaderLines += m.droppedHeaderLines;
        this.messagesWithDroppedLines++;
      }
      if (m.kind === 'request') {
        requestDir ??= dir;
        const probeHead = probeTraffic(m.headerText, undefined);
        if (probeHead) ownRequests++;
        else otherRequests++;
        const p: Pair = { request: m, continueSeen: false, clientDir: dir, conn, probeHead };
        const queue = waiting[dir];
        queue.push(p);
        if (queue.length > this.limits.maxWaiting) queue.shift();
        this.add(p, m);
        return;
      }
      responseDir ??= dir;
      const queue = waiting[dir === 0 ? 1 : 0];
      if (m.status === 100) {
        const p = queue[0];
        if (p) p.continueSeen = true;
        m.detail = 'lines';
        return;
      }
      const p = queue.shift();
      if (p) {
        if (p.listed) {
          p.response = this.keep(m);
        } else m.detail = 'lines';
      } else this.add({ response: m, continueSeen: false, clientDir: dir === 0 ? 1 : 0, conn }, m);
    };
    const streams: [IcapMessageStream, IcapMessageStream] = [
      new IcapMessageStream({ message: onMessage(0), skipped: (n) => (this.skippedBytes += n) }, this.gauge, this.budget),
      new IcapMessageStream({ message: onMessage(1), skipped: (n) => (this.skippedBytes += n) }, this.gauge, this.budget),
    ];
    return {
      data: (dir, bytes, time) => streams[dir].push(bytes, time),
      gap: (dir, bytes, time) => streams[dir].gap(bytes, time),
      close() {
        for (const s of streams) s.finish();
        const clientDir = requestDir ?? (responseDir === undefined ? undefined : responseDir === 0 ? 1 : 0);
        return { icap: clientDir !== undefined, serverPort: clientDir === undefined ? undefined : clientDir === 0 ? conn.bPort : conn.aPort, ownOnly: ownRequests > 0 && otherRequests === 0 };
      },
    };
  }

  private add(p: Pair, m: IcapMessage): void {
    this.totalTransactions++;
    if (this.pairs.length < this.limits.maxTransactions) {
      p.listed = true;
      if (p.request) p.request = this.keep(m);
      else p.response = this.keep(m);
      this.pairs.push(p);
    } else {
      this.droppedTransactions++;
      // Not listed: only its place in the connection's order is kept, so later answers pair right.
      m.detail = 'lines';
      p.request = p.response = undefined;
    }
  }

  /** Charges a listed message's header text to the budget, or keeps only its start line and the headers that matter. */
  private keep(m: IcapMessage): IcapMessage {
    const cost = m.headerText.length + m.headers.reduce((n, [k, v]) => n + k.length + v.length + headerOverhead, 0);
    if (this.budget.take(cost)) return m;
    this.slimmedMessages++;
    m.detail = 'lines';
    m.headerText = copyText(m.startLine, 1024);
    m.headers = m.headers
      .filter(([n]) => /^(encapsulated|preview|allow|istag)$|^x-/i.test(n))
      .slice(0, 32)
      .map(([n, v]) => [copyText(n, 256), copyText(v, 1024)]);
    return m;
  }

  finish(): IcapTransaction[] {
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
    kdsProbe: p.probeHead ?? probeTraffic(undefined, httpRequest) ?? null,
  };
}
