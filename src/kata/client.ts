import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Agent, type Dispatcher, util } from 'undici';
import { t } from '../common/l10n';
import { openNoFollow } from '../common/platform';
import { type DetectsPage, parseDetectsBody } from './detectsParser';
import { KataError, errorFromStatus, errorFromTransport } from './errors';
import { type ScanState, parseStatesBody, snippet } from './stateParser';
import { type KataTlsSettings, type ServerCertificateReport, bareHost, createKataConnector, probeServerCertificate } from './tls';
import { buildMultipartFrame } from './multipartBody';
import type { AbortLike, KataFilters, ReadableFile, ScannerApi, SubmitOptions, SubmitResult } from './scannerApi';
import { uploadBody } from './uploadBody';

export type { Detect, DetectObject, DetectsPage } from './detectsParser';
export type { ScanState } from './stateParser';
export type { ServerCertificateReport } from './tls';
export type { KataFilters, SubmitOptions, SubmitResult } from './scannerApi';

export interface KataClientOptions {
  host: string;
  port: number;
  /** The external system's ID (KATA's sensorId); part of every URL. */
  systemId: string;
  /** Sent as the sensorInstanceId query parameter when set (one node of a clustered system). */
  sensorInstanceId?: string;
  /** Client certificate chain, PEM. */
  certPem: string;
  keyPem: string;
  /** When set, the only trust anchor for the server chain (system roots are not used). */
  caPem?: string;
  /** SHA-256 of the server's leaf certificate, upper-case hex without separators. Replaces chain and host-name checks. */
  pinSha256?: string;
  /** No server verification at all: caPem and pinSha256 are ignored for requests. The caller warns loudly. */
  insecure: boolean;
  /** Limit for connecting, for an answer to start and for gaps in any transfer. Default 60 s. */
  requestTimeoutMs?: number;
}

export interface DetectsQuery {
  /** Cursor from the previous page; alerts already returned are not repeated. */
  token?: string;
  /** 1..10000; KATA's default is 1000. */
  limit?: number;
  /** am, sb, yara, url_reputation, ids, taa. All when omitted. */
  detectTypes?: string[];
}

/** Everything KDS asks of KATA (the engine needs only ScannerApi); tests of other modules can implement it with a fake. */
export interface KataApi extends ScannerApi {
  /** A path is opened once without following a link (openNoFollow) and must be a regular file; an open file is read from offset 0 and left open. */
  submit(source: string | ReadableFile, opts: SubmitOptions): Promise<SubmitResult>;
  states(): Promise<ScanState[]>;
  deleteResult(scanId: string): Promise<void>;
  deleteAll(): Promise<void>;
  filters(): Promise<KataFilters>;
  detects(opts?: DetectsQuery): Promise<DetectsPage>;
  probeServerCertificate(): Promise<ServerCertificateReport>;
  close(): Promise<void>;
}

/**
 * One request to KATA as a monitor sees it: which operation (a fixed name, never a scan id), the
 * HTTP status when KATA answered, otherwise the kind of failure, and how long it took.
 */
export interface KataRequestObservation {
  /** 'POST scans', 'GET scans/state', 'DELETE scans/<scanId>', 'DELETE scans', 'GET scans/filters', 'GET detects'. */
  operation: string;
  /** Set when KATA answered. */
  status?: number;
  /** Set when it did not (a KataError kind such as 'network', 'timeout', 'tls'), or 'aborted'. */
  failure?: string;
  durationMs: number;
}

export type KataRequestObserver = (o: KataRequestObservation) => void;

const { parseHeaders } = util;

const defaultTimeoutMs = 60_000;
const maxConnectTimeoutMs = 15_000;
/** Bodies KDS parses (state lists, alerts) are small; this only stops a runaway server. */
const maxJsonBytes = 64 * 1024 * 1024;
/** Error and "OK" bodies: only the start is kept for messages, the rest is drained. */
const keepErrorBytes = 4 * 1024;
const drainLimitBytes = 1024 * 1024;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * Client for KATA's "API for scanning objects of external systems". One keep-alive undici
 * Agent carries the client certificate; every response body is read or drained so sockets
 * go back to the pool. Failures are always KataError (see kataErrors.ts), except an abort
 * requested through `signal`, which rejects with the signal's reason.
 */
export class KataClient implements KataApi {
  /** `https://host:port/kata/scanner/v1/sensors/<systemId>/` */
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly where: string;
  private readonly agent: Agent;
  private readonly tlsSettings: KataTlsSettings;
  private readonly sensorInstanceId: string | undefined;
  /** `?sensorInstanceId=…` or '', built once: every POST, poll and DELETE carries it. */
  private readonly instanceQs: string;
  private readonly observers = new Set<KataRequestObserver>();

  constructor(options: KataClientOptions) {
    const host = bareHost(options.host);
    const urlHost = host.includes(':') ? `[${host}]` : host;
    this.origin = `https://${urlHost}:${options.port}`;
    this.basePath = `/kata/scanner/v1/sensors/${encodeURIComponent(options.systemId)}/`;
    this.baseUrl = this.origin + this.basePath;
    this.where = `${urlHost}:${options.port}`;
    this.sensorInstanceId = options.sensorInstanceId || undefined;
    this.instanceQs = this.sensorInstanceId ? `?sensorInstanceId=${encodeURIComponent(this.sensorInstanceId)}` : '';
    const timeout = options.requestTimeoutMs ?? defaultTimeoutMs;
    this.tlsSettings = {
      host,
      port: options.port,
      certPem: options.certPem,
      keyPem: options.keyPem,
      insecure: options.insecure,
      connectTimeoutMs: Math.min(timeout, maxConnectTimeoutMs),
      ...(options.caPem ? { caPem: options.caPem } : {}),
      ...(options.pinSha256 ? { pinSha256: options.pinSha256 } : {}),
    };
    this.agent = new Agent({
      connect: createKataConnector(this.tlsSettings),
      keepAliveTimeout: 10_000,
      keepAliveMaxTimeout: 60_000,
      // undici refreshes the headers timer while the request body is being written, so this
      // is also the longest pause allowed in an upload the server stopped reading.
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  }

  async submit(source: string | ReadableFile, opts: SubmitOptions): Promise<SubmitResult> {
    const path = typeof source === 'string' ? source : opts.fileName;
    const frame = buildMultipartFrame({
      fields: [
        ['scanId', opts.scanId],
        ['objectType', 'file'],
      ],
      file: { field: 'content', fileName: opts.fileName, size: opts.size },
    });
    const owned = typeof source === 'string' ? await openForUpload(source) : undefined;
    const handle: ReadableFile = owned ?? (source as ReadableFile);
    const hash = createHash('sha256');
    try {
      // An open file comes from a caller that checked it is a regular file (the engine's one open
      // of this version); the reads below notice any change of length either way.
      if (owned) {
        const stat = await owned.stat();
        if (!stat.isFile()) throw new KataError('changed', t('The file {0} is not a regular file', path));
        if (stat.size !== opts.size) throw changedError(path, opts.size, stat.size);
      }
      const size = opts.size;
      // A small file goes out as one buffer, the frame around it, filled by one read (one write on
      // the socket, no stream machinery); a large one is streamed, never held in memory whole.
      const upload = await uploadBody(handle, frame, size, hash, (actual) => changedError(path, size, actual));
      const answer = await this.call('POST', 'scans' + this.instanceQs, 'POST scans', {
        body: upload.body,
        headers: [...baseHeaders, 'content-type', frame.contentType, 'content-length', String(frame.contentLength)],
        ...(opts.signal ? { signal: opts.signal } : {}),
      }).catch((err: unknown) => {
        if (upload.error instanceof KataError) throw upload.error;
        throw err;
      });
      if (answer.status < 200 || answer.status > 299) throw this.statusError(answer, 'POST scans');
      // A server that answers before reading everything has not seen what we hashed.
      if (upload.bytes !== size) throw new KataError('protocol', t('KATA answered before the whole file was sent ({0} of {1} bytes)', upload.bytes, size), { status: answer.status });
      return { sha256: hash.digest('hex'), bytes: size };
    } finally {
      await owned?.close().catch(() => undefined);
    }
  }

  /**
   * All scans KATA holds for this system (and instance), in every state: no state filter is
   * sent so states KDS does not know are still seen. 204 and 404 mean "nothing".
   */
  async states(): Promise<ScanState[]> {
    const answer = await this.call('GET', 'scans/state' + this.instanceQs, 'GET scans/state', { maxBytes: maxJsonBytes });
    if (answer.status === 204 || answer.status === 404) return [];
    if (answer.status !== 200) throw this.statusError(answer, 'GET scans/state');
    return parseStatesBody(answer.text);
  }

  /** Deletes one result; a result that is already gone (404) counts as deleted. */
  async deleteResult(scanId: string): Promise<void> {
    // sensorInstanceId is undocumented on DELETE; sent anyway so a cluster node only ever
    // touches the results it created, like the POST that created them.
    const answer = await this.call('DELETE', `scans/${encodeURIComponent(scanId)}${this.instanceQs}`, 'DELETE scans/<scanId>');
    if (answer.status === 404 || (answer.status >= 200 && answer.status <= 299)) return;
    throw this.statusError(answer, 'DELETE scans/<scanId>');
  }

  /** Deletes every result of this system; the "delete all" URL is undocumented, `scans` is the natural reading. */
  async deleteAll(): Promise<void> {
    const answer = await this.call('DELETE', 'scans' + this.instanceQs, 'DELETE scans');
    if (answer.status === 404 || (answer.status >= 200 && answer.status <= 299)) return;
    throw this.statusError(answer, 'DELETE scans');
  }

  /** Scan restrictions. Versions before 6.x document no body, so an empty or non-JSON 200 gives {}. */
  async filters(): Promise<KataFilters> {
    const answer = await this.call('GET', 'scans/filters', 'GET scans/filters', { maxBytes: maxJsonBytes });
    if (answer.status === 204) return {};
    if (answer.status !== 200) throw this.statusError(answer, 'GET scans/filters');
    let body: unknown;
    try {
      body = answer.text.trim() === '' ? {} : JSON.parse(answer.text);
    } catch {
      return {};
    }
    const rec = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const out: KataFilters = {};
    const size = typeof rec.maxObjectSize === 'string' ? Number(rec.maxObjectSize) : rec.maxObjectSize;
    if (typeof size === 'number' && Number.isFinite(size) && size > 0) out.maxObjectSize = size;
    if (typeof rec.version === 'string' || typeof rec.version === 'number') out.version = String(rec.version);
    return out;
  }

  /** One page of alerts (where threat names live); match them to files by SHA-256. */
  async detects(opts: DetectsQuery = {}): Promise<DetectsPage> {
    const query: Array<[string, string]> = [];
    // Commas unescaped, as in the vendor's examples (detect_type=am,sb).
    if (opts.detectTypes?.length) query.push(['detect_type', opts.detectTypes.map(encodeURIComponent).join(',')]);
    if (opts.limit !== undefined) query.push(['limit', String(Math.max(1, Math.min(10_000, Math.floor(opts.limit))))]);
    if (opts.token) query.push(['token', encodeURIComponent(opts.token)]);
    // Values are percent-encoded above (commas of detect_type left as they are).
    const qs = query.length === 0 ? '' : `?${query.map(([k, v]) => `${k}=${v}`).join('&')}`;
    const answer = await this.call('GET', 'detects' + qs, 'GET detects', { maxBytes: maxJsonBytes });
    if (answer.status === 204) return { detects: [] };
    if (answer.status !== 200) throw this.statusError(answer, 'GET detects');
    return parseDetectsBody(answer.text);
  }

  /** Tells `observer` about every request from now on (metrics); returns the way to stop. */
  observeRequests(observer: KataRequestObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  probeServerCertificate(): Promise<ServerCertificateReport> {
    return probeServerCertificate(this.tlsSettings);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private statusError(answer: Answer, what: string): KataError {
    return errorFromStatus(answer.status, what, snippet(answer.text), answer.headers['retry-after']);
  }

  /** `relPath`: under baseUrl, with its query string (already percent-encoded). */
  private call(
    method: Dispatcher.HttpMethod,
    relPath: string,
    what: string,
    extra: {
      body?: Readable | Buffer | AsyncIterable<Buffer>;
      /** The whole header list, name and value in turn (baseHeaders first); baseHeaders when absent. */
      headers?: string[];
      signal?: AbortLike;
      maxBytes?: number;
    } = noExtra,
  ): Promise<Answer> {
    const path = this.basePath + relPath;
    const observers = this.observers.size ? this.observers : undefined;
    const started = observers ? performance.now() : 0;
    const observe = (status: number | undefined, failure?: string) => {
      if (!observers) return;
      const o: KataRequestObservation = status !== undefined ? { operation: what, status, durationMs: performance.now() - started } : { operation: what, failure, durationMs: performance.now() - started };
      for (const observer of observers) {
        try {
          observer(o);
        } catch {
          // A monitor must never fail a request.
        }
      }
    };
    return new Promise<Answer>((resolve, reject) => {
      const handler = new AnswerHandler(extra.maxBytes, extra.signal, (err, answer) => {
        if (answer) {
          observe(answer.status);
          resolve(answer);
          return;
        }
        if (extra.body instanceof Readable) extra.body.destroy();
        if (handler.status !== undefined) {
          // KATA answered (the status line came); the body broke or was too large.
          observe(handler.status);
          if (err instanceof KataError) reject(err);
          else if (extra.signal?.aborted) reject(extra.signal.reason ?? err);
          else reject(errorFromTransport(err, `${this.where} (${what})`));
          return;
        }
        if (extra.signal?.aborted) {
          observe(undefined, 'aborted');
          reject(extra.signal.reason ?? err);
          return;
        }
        const failed = errorFromTransport(err, `${this.where} (${what})`);
        observe(undefined, failed.kind);
        reject(failed);
      });
      this.agent.dispatch(
        {
          origin: this.origin,
          path,
          method,
          headers: extra.headers ?? baseHeaders,
          // undici sends an async iterable too (its dispatch docs; the option's types omit it).
          body: (extra.body ?? null) as Dispatcher.DispatchOptions['body'],
        },
        handler,
      );
    });
  }
}

/** Sent with every request (name, value, …); built once. */
const baseHeaders: string[] = ['accept', 'application/json, text/plain;q=0.9, */*;q=0.1', 'user-agent', 'kds'];
const noExtra = {};

/**
 * Reads one answer straight from undici's dispatcher: the status, the headers only where they
 * are used (an error's Retry-After) and the body as text, without a response stream, an async
 * iterator or an AsyncResource per request (a small file costs two requests, its POST and its
 * DELETE). With `maxBytes`, a successful answer's body over it is a protocol error; otherwise the
 * first `keepErrorBytes` are kept and up to 1 MB more is drained so the socket can be reused
 * (beyond that the socket is dropped rather than reading forever).
 */
class AnswerHandler implements Dispatcher.DispatchHandler {
  /** Set once the status line came. */
  status: number | undefined;
  private rawHeaders: Buffer[] = [];
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private total = 0;
  private keep = keepErrorBytes;
  private strict = false;
  private abort?: (err?: Error) => void;
  private settled = false;
  private readonly onAbort?: () => void;

  constructor(
    private readonly maxBytes: number | undefined,
    private readonly signal: AbortLike | undefined,
    private readonly done: (err: unknown, answer?: Answer) => void,
  ) {
    if (signal) {
      this.onAbort = () => this.abort?.((signal.reason as Error | undefined) ?? new Error('aborted'));
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.signal?.aborted) abort((this.signal.reason as Error | undefined) ?? new Error('aborted'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.rawHeaders = rawHeaders;
    const success = statusCode <= 299;
    this.keep = success && this.maxBytes ? this.maxBytes : keepErrorBytes;
    this.strict = success && this.maxBytes !== undefined;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return true;
    this.total += chunk.length;
    if (this.kept < this.keep) {
      const part = chunk.length <= this.keep - this.kept ? chunk : chunk.subarray(0, this.keep - this.kept);
      this.chunks.push(part);
      this.kept += part.length;
    }
    if (this.strict && this.total > this.keep) {
      const err = new KataError('protocol', t('KATA sent an answer larger than {0} bytes', this.keep));
      this.finish(err);
      this.abort?.(err);
    } else if (!this.strict && this.total > this.keep + drainLimitBytes) {
      this.finish(undefined, this.answer());
      this.abort?.();
    }
    return true;
  }

  onComplete(): void {
    this.finish(undefined, this.answer());
  }

  onError(err: Error): void {
    this.finish(err);
  }

  private answer(): Answer {
    const status = this.status!;
    const headers = status >= 200 && status <= 299 ? {} : (parseHeaders(this.rawHeaders) as Answer['headers']);
    const text = this.chunks.length === 1 ? this.chunks[0]!.toString('utf8') : Buffer.concat(this.chunks).toString('utf8');
    return { status, headers, text };
  }

  private finish(err: unknown, answer?: Answer): void {
    if (this.settled) return;
    this.settled = true;
    if (this.onAbort) this.signal!.removeEventListener('abort', this.onAbort);
    this.done(err, answer);
  }
}

/** One open, never following a symlink, never blocking on a FIFO. */
async function openForUpload(path: string): Promise<FileHandle> {
  try {
    return await openNoFollow(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new KataError('changed', t('The file {0} disappeared before it could be sent', path), { cause: err });
    }
    if (code === 'ELOOP') throw new KataError('changed', t('The file {0} is not a regular file', path), { cause: err });
    // Other local failures (EACCES, EISDIR…) are not KATA's business; the caller sees them as they are.
    throw err;
  }
}

function changedError(path: string, expected: number, actual: number | string): KataError {
  return new KataError('changed', t('The file {0} changed while it was being sent: expected {1} bytes, found {2}', path, expected, String(actual)));
}
