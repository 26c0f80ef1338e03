import { t } from '../common/l10n';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { type EncapsulatedSections, type IcapHead, IcapMessageParser, IcapParseError, encodeChunk, lastChunk } from './icapMessage';

/** How a connection or transaction failed, in the words a support engineer needs. */
export type IcapFailureKind =
  | 'dns'
  | 'refused'
  | 'unreachable'
  | 'connect-timeout'
  | 'reset'
  | 'closed-without-answer'
  | 'closed-mid-answer'
  | 'no-answer'
  | 'answer-stalled'
  | 'tls'
  | 'http'
  | 'not-icap'
  | 'protocol';

export class IcapClientError extends Error {
  constructor(
    readonly kind: IcapFailureKind,
    message: string,
    /** What the peer sent instead of ICAP: its first line, as data (never part of a sentence's wording). */
    readonly peerText?: string,
  ) {
    super(message);
    this.name = 'IcapClientError';
  }
}

export interface IcapResponse {
  head: IcapHead & { kind: 'response' };
  sections: EncapsulatedSections;
  /** Decoded encapsulated body (at most `maxKeepBytes`). */
  body: Buffer;
  bodyBytes: number;
}

export interface TransactionResult {
  /** Final answer (not a 100 Continue). */
  response: IcapResponse;
  /** The server asked for the rest of the body with 100 Continue. */
  continued: boolean;
  /** A 100 Continue after the whole body was sent (`ieof`): ignored as erratum 5893 advises. */
  strayContinue: boolean;
  previewBytes?: number;
  ieofSent: boolean;
  /** From the first byte written to the first byte of the answer, ms. */
  ttfbMs: number;
  totalMs: number;
  /** Bytes written for the request (head, sections, chunks). */
  requestBytes: number;
  /** The raw ICAP head of the final answer as received. */
  rawHead: string;
  /** The connection cannot be reused (server said Connection: close, or the transaction failed). */
  closed: boolean;
}

export interface TransactionSpec {
  /** Start line, ICAP headers and encapsulated HTTP heads (serializeIcapRequest). */
  head: Buffer;
  /** Encapsulated body; undefined when the request has none (null-body). */
  body?: Buffer;
  /** Send a preview of this many bytes (the request head must carry the same Preview header). */
  preview?: number;
  timeoutMs: number;
}

function describeSocketError(err: NodeJS.ErrnoException, host: string, port: number): IcapClientError {
  switch (err.code) {
    case 'ECONNREFUSED':
      return new IcapClientError('refused', t('connection refused by {0}:{1}: nothing listens there (or a firewall rejects it)', host, port));
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new IcapClientError('dns', t('cannot resolve host name {0}', host));
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new IcapClientError('unreachable', t('{0} is unreachable from here ({1})', host, err.code ?? ''));
    case 'ECONNRESET':
    case 'EPIPE':
      return new IcapClientError('reset', t('{0}:{1} reset the connection', host, port));
    default:
      return new IcapClientError('reset', t('{0}:{1}: {2}', host, port, err.code ?? err.message));
  }
}

/** The first line of what a peer sent (at most 80 characters), as it came: data for messages. */
export function firstLineOf(bytes: Buffer): string {
  const text = bytes.subarray(0, 200).toString('latin1');
  return text.split(/\r?\n|\r/)[0]!.slice(0, 80);
}

/** What the first bytes of an answer say about the peer when they are not ICAP. */
function sniffNonIcap(first: Buffer, host: string, port: number): IcapClientError | undefined {
  if (first.length === 0) return undefined;
  // TLS record types: 0x15 alert, 0x16 handshake, followed by version 3.x.
  if ((first[0] === 0x15 || first[0] === 0x16) && (first.length < 2 || first[1] === 0x03)) {
    return new IcapClientError('tls', t('{0}:{1} answered with TLS', host, port));
  }
  const text = first.subarray(0, 5).toString('latin1');
  const line = firstLineOf(first);
  if (text === 'HTTP/') return new IcapClientError('http', t('{0}:{1} answered with HTTP: {2}', host, port, line), line);
  // An HTTP server that does not know "ICAP/1.0" answers with a bare error page (HTTP/0.9 style).
  if (/^\s*<(!doctype\s+html|html|head|body|title|h1)\b/i.test(first.subarray(0, 64).toString('latin1'))) {
    return new IcapClientError('http', t('{0}:{1} answered with an HTML page: {2}', host, port, line), line);
  }
  if (first.length >= 5 && text !== 'ICAP/') return new IcapClientError('not-icap', t('{0}:{1} answered: {2}', host, port, line), line);
  return undefined;
}

/**
 * One ICAP connection, used the way a proxy uses it: one transaction at a time, kept open for
 * the next one unless the server says `Connection: close`.
 */
export class IcapConnection {
  private readonly parser: IcapMessageParser;
  private sniffed = false;
  private ended = false;
  private endedError: IcapClientError | undefined;
  private early: Buffer[] = [];
  private listener: ((e: { data?: Buffer; error?: IcapClientError; end?: boolean }) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly host: string,
    readonly port: number,
    readonly connectMs: number,
    private readonly maxKeepBytes: number,
  ) {
    this.parser = new IcapMessageParser({ maxHeadBytes: 256 * 1024 });
    // Bytes that arrive between transactions (a banner, a stray answer) wait for the next one.
    socket.on('data', (d: Buffer) => (this.listener ? this.listener({ data: d }) : this.early.push(d)));
    socket.on('error', (err) => {
      this.endedError = describeSocketError(err, host, port);
      this.ended = true;
      this.listener?.({ error: this.endedError });
    });
    socket.on('close', () => {
      this.ended = true;
      this.listener?.({ end: true });
    });
  }

  static connect(host: string, port: number, timeoutMs: number, maxKeepBytes = 1 << 20): Promise<IcapConnection> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const socket = netConnect({ host, port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new IcapClientError('connect-timeout', t('no answer to the TCP connect to {0}:{1} within {2} s: the port is filtered or the host is down', host, port, Math.round(timeoutMs / 1000))));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(describeSocketError(err, host, port));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new IcapConnection(socket, host, port, performance.now() - started, maxKeepBytes));
      });
    });
  }

  get usable(): boolean {
    return !this.ended && !this.socket.destroyed;
  }

  close(): void {
    this.socket.destroy();
  }

  /** Sends one request (with preview and 100 Continue handling) and reads its final answer. */
  transact(spec: TransactionSpec): Promise<TransactionResult> {
    if (!this.usable && this.early.length === 0) return Promise.reject(this.endedError ?? new IcapClientError('closed-without-answer', t('the connection to {0}:{1} is closed', this.host, this.port)));
    return new Promise((resolve, reject) => {
      const started = performance.now();
      let ttfb: number | undefined;
      let requestBytes = 0;
      let continued = false;
      let strayContinue = false;
      let ieofSent = false;
      let restToSend: Buffer | undefined;
      let head: (IcapHead & { kind: 'response' }) | undefined;
      let sections: EncapsulatedSections | undefined;
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let bodyBytes = 0;
      let received = 0;
      let done = false;

      const finish = (err?: IcapClientError, result?: TransactionResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.listener = undefined;
        if (err) {
          this.socket.destroy();
          reject(err);
        } else resolve(result!);
      };
      const timer = setTimeout(() => {
        const secs = Math.round(spec.timeoutMs / 1000);
        finish(
          received === 0
            ? new IcapClientError('no-answer', t('{0}:{1} accepted the connection but sent no answer within {2} s (the server hangs, or it is not an ICAP server)', this.host, this.port, secs))
            : new IcapClientError('answer-stalled', t('{0}:{1} started answering but did not finish within {2} s', this.host, this.port, secs)),
        );
      }, spec.timeoutMs);

      const write = (b: Buffer) => {
        requestBytes += b.length;
        this.socket.write(b);
      };

      const onEvents = (events: ReturnType<IcapMessageParser['push']>) => {
        for (const ev of events) {
          if (ev.type === 'head') {
            if (ev.head.kind !== 'response') throw new IcapClientError('protocol', 'the server sent a request instead of a response');
            head = ev.head as IcapHead & { kind: 'response' };
          } else if (ev.type === 'sections') sections = ev.sections;
          else if (ev.type === 'data') {
            bodyBytes += ev.data.length;
            if (keptBytes < this.maxKeepBytes) {
              const part = ev.data.subarray(0, this.maxKeepBytes - keptBytes);
              kept.push(Buffer.from(part));
              keptBytes += part.length;
            }
          } else if (ev.type === 'end') {
            if (!head) continue;
            if (head.status === 100) {
              if (restToSend) {
                continued = true;
                const rest = restToSend;
                restToSend = undefined;
                write(Buffer.concat([encodeChunk(rest), lastChunk()]));
              } else {
                strayContinue = true;
              }
              head = undefined;
              sections = undefined;
              continue;
            }
            const closing = /\bclose\b/i.test(head.headers.get('Connection') ?? '');
            if (closing) this.socket.end();
            finish(undefined, {
              response: { head, sections: sections ?? { body: 'null-body' }, body: Buffer.concat(kept), bodyBytes },
              continued,
              strayContinue,
              previewBytes: spec.preview,
              ieofSent,
              ttfbMs: ttfb ?? 0,
              totalMs: performance.now() - started,
              requestBytes,
              rawHead: formatHead(head),
              closed: closing,
            });
            return;
          }
        }
      };

      this.listener = (e) => {
        if (done) return;
        if (e.error) return finish(received === 0 && e.error.kind === 'reset' ? new IcapClientError('reset', t('{0}:{1} reset the connection without answering', this.host, this.port)) : e.error);
        if (e.end) {
          return finish(
            received === 0
              ? new IcapClientError('closed-without-answer', t('{0}:{1} closed the connection without answering (not an ICAP server, or it refuses this client)', this.host, this.port))
              : new IcapClientError('closed-mid-answer', t('{0}:{1} closed the connection in the middle of its answer', this.host, this.port)),
          );
        }
        const data = e.data!;
        if (received === 0) ttfb = performance.now() - started;
        received += data.length;
        try {
          if (!this.sniffed) {
            const bad = sniffNonIcap(data, this.host, this.port);
            if (bad) return finish(bad);
            if (data.length >= 5) this.sniffed = true;
          }
          onEvents(this.parser.push(data));
        } catch (err) {
          if (err instanceof IcapClientError) return finish(err);
          if (err instanceof IcapParseError) return finish(new IcapClientError('protocol', t('malformed ICAP answer from {0}:{1}: {2}', this.host, this.port, err.message)));
          return finish(new IcapClientError('protocol', (err as Error).message));
        }
      };

      for (const d of this.early.splice(0)) this.listener({ data: d });
      if (done) return;
      if (this.ended) return this.listener({ end: true });
      // Request: head, then body as the preview rules say.
      const body = spec.body;
      if (!body) {
        write(spec.head);
      } else if (spec.preview !== undefined) {
        const previewPart = body.subarray(0, spec.preview);
        ieofSent = previewPart.length === body.length;
        if (!ieofSent) restToSend = body.subarray(spec.preview);
        write(Buffer.concat([spec.head, encodeChunk(previewPart), lastChunk(ieofSent)]));
      } else {
        write(Buffer.concat([spec.head, encodeChunk(body), lastChunk()]));
      }
    });
  }
}

/** The raw ICAP head of a parsed answer, for display. */
export function formatHead(head: IcapHead): string {
  const first = head.kind === 'response' ? `ICAP/${head.version} ${head.status} ${head.reason}` : `${head.method} ${head.uri} ICAP/${head.version}`;
  return `${first}\n${head.headers.list.map(([k, v]) => `${k}: ${v.replace(/\n/g, '\n\t')}`).join('\n')}`;
}

/**
 * Whether host:port speaks TLS. Only asked after plain ICAP got no answer, to tell "an icaps://
 * server" from "a dead port". The certificate is verified as always; a verification failure
 * still proves the peer sent a TLS certificate, which is all this asks. Nothing is sent.
 */
/** OpenSSL's verification errors (and Node's name check): raised only after the server's certificate arrived. */
function certificateRefused(e: NodeJS.ErrnoException): boolean {
  return /^(ERR_TLS_CERT_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/.test(e.code ?? '');
}

export function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, servername: /^[\d.:]+$/.test(host) ? undefined : host });
    const done = (v: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('secureConnect', () => done(true));
    socket.once('error', (e: NodeJS.ErrnoException) => done(certificateRefused(e)));
    socket.once('close', () => done(false));
  });
}
