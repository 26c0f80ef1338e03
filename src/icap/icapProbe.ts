import { randomBytes } from 'node:crypto';
import { t } from '../common/l10n';
import { IcapClientError, type IcapFailureKind, IcapConnection, speaksTls, type TransactionResult } from './icapClient';
import { IcapHeaders, type IcapUri, parseHttpHead, serializeHttpHead, serializeIcapRequest } from './icapMessage';
import { type Conclusion, conclude, fatalFailure } from './probeConclusion';
import { PROBE_HEADER, PROBE_HOST, PROBE_USER_AGENT, type ProbeTrafficKind, probeHeaderValue, probeRunPath } from './probeMarker';
import { probeEicar } from './probeSamples';

/** Service paths seen in the field (KATA's own are undocumented); `--discover` tries each. */
export const DISCOVER_PATHS = [
  'av/respmod',
  'av/reqmod',
  'respmod',
  'reqmod',
  'kata_respmod',
  'kata_reqmod',
  'kata_resp',
  'kata_req',
  'kata',
  'resp',
  'req',
  'echo',
  'icap',
  'avscan',
  'srv_clamav',
  'virus_scan',
  'squidclamav',
  'url_check',
  'wwreqmod',
  'wwrespmod',
] as const;

export type StepName = 'options' | 'respmod-clean' | 'respmod-eicar' | 'respmod-file' | 'reqmod-get' | 'reqmod-post-eicar' | 'reqmod-post-file';

export type StepOutcome = 'ok' | 'failed' | 'warning';

/** What the HTTP message looks like after the service: the basis of "blocks" / "does not block". */
export type Modification = 'unchanged-204' | 'unchanged-echo' | 'modified' | 'blocked' | 'none';

export interface OptionsFacts {
  status: number;
  istag?: string;
  methods?: string;
  service?: string;
  serviceId?: string;
  preview?: number;
  transferPreview?: string;
  transferIgnore?: string;
  transferComplete?: string;
  allow204: boolean;
  maxConnections?: number;
  optionsTtl?: number;
  encapsulated?: string;
  /** The ICAP mode the embedded KATA names in X-KDS-Mode (a real KATA does not say). */
  kdsMode?: string;
}

export interface ProbeStep {
  name: StepName;
  /** ICAP method and what the encapsulated message was. */
  method: 'OPTIONS' | 'RESPMOD' | 'REQMOD';
  title: string;
  outcome: StepOutcome;
  status?: number;
  reason?: string;
  /** Verdict headers from the ICAP head and the encapsulated HTTP response. */
  verdict: Record<string, string>;
  modification: Modification;
  /** HTTP status of an encapsulated response the service returned (403 block page, say). */
  httpStatus?: number;
  ttfbMs?: number;
  totalMs?: number;
  previewBytes?: number;
  continued?: boolean;
  ieof?: boolean;
  /** A new TCP connection was opened for this step (otherwise the previous one was reused). */
  newConnection?: boolean;
  /** The raw ICAP head of the answer. */
  rawHead?: string;
  options?: OptionsFacts;
  /** Problems noticed in the answer (Options-TTL 0, no ISTag…). */
  warnings: string[];
  /** One line: what failed, when outcome is failed. */
  error?: string;
  failure?: IcapFailureKind;
  /** What the peer sent instead of ICAP (its first line), as data. */
  peerText?: string;
  /** The server let the object through after waiting this long for a verdict (embedded KATA's X-KDS-Verdict: timeout). */
  waitedOutMs?: number;
  /** The server's id of this scan (embedded KATA's X-KDS-Scan-ID), to find it in preprocessor_icap.log. */
  scanId?: string;
  /** The object carried EICAR, so a detection is expected. */
  expectsDetection: boolean;
  detected: boolean;
}

export type { ConclusionKind } from './probeConclusion';

export interface ProbeReport {
  uri: string;
  host: string;
  port: number;
  service: string;
  startedAt: string;
  /** 8 hex digits in the probe's X-KDS-Probe header and URLs (probeMarker.ts). */
  run: string;
  steps: ProbeStep[];
  /** The ICAP mode the server named, if it did (the embedded KATA). */
  mode?: string;
  conclusion: Conclusion;
  /** 0: every step answered as an ICAP service should; 1: a failure. */
  exitCode: 0 | 1;
}

export interface ProbeOptions {
  eicar?: boolean;
  /** A file's content to send as RESPMOD body (read by the caller). */
  file?: { name: string; content: Buffer };
  /** URL in the encapsulated HTTP request. */
  url?: string;
  /** Preview size to use instead of the server's; 'none' sends no preview. */
  preview?: number | 'none';
  timeoutMs?: number;
  /** Only this method's transactions (after OPTIONS); default: what the service offers. */
  method?: 'RESPMOD' | 'REQMOD';
  /** Called as each step completes. */
  onStep?(step: ProbeStep): void;
  userAgent?: string;
  /** Marks the requests as a discovery instead of a probe (X-KDS-Probe). */
  traffic?: ProbeTrafficKind;
  /** The run id to mark the requests with (default: a new random one). */
  run?: string;
}

const VERDICT_HEADER = /^x-(infection-found|virus-id|violations-found|response-info|response-desc|blocked|block-reason|virus-name|infection|threat|threat-name|kaspersky|kata|verdict|kds-verdict|scan-result|icap-status)/i;

function verdictHeaders(...sets: Array<IcapHeaders | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of sets) {
    if (!h) continue;
    for (const [k, v] of h.list) if (VERDICT_HEADER.test(k)) out[k] = out[k] ? `${out[k]}, ${v}` : v;
  }
  return out;
}

function isDetection(verdict: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(verdict)) {
    const name = k.toLowerCase();
    if (name === 'x-infection-found' || name === 'x-virus-id' || name === 'x-violations-found' || name === 'x-virus-name' || name === 'x-blocked') {
      if (v && !/^(0|no|none|false|clean)$/i.test(v.trim())) return true;
    }
    if (name === 'x-response-info' && /block/i.test(v)) return true;
  }
  return false;
}

function intHeader(h: IcapHeaders, name: string): number | undefined {
  const v = h.get(name);
  if (v === undefined || !/^\s*\d+\s*$/.test(v)) return undefined;
  return Number(v);
}

/** Below this, Max-Connections is likely to make a busy proxy queue or bypass the service. */
export const LOW_MAX_CONNECTIONS = 100;

function optionsFacts(status: number, h: IcapHeaders): OptionsFacts {
  return {
    status,
    istag: h.get('ISTag'),
    methods: h.get('Methods'),
    service: h.get('Service'),
    serviceId: h.get('Service-ID'),
    preview: intHeader(h, 'Preview'),
    transferPreview: h.get('Transfer-Preview'),
    transferIgnore: h.get('Transfer-Ignore'),
    transferComplete: h.get('Transfer-Complete'),
    allow204: (h.get('Allow') ?? '').split(',').some((x) => x.trim() === '204'),
    maxConnections: intHeader(h, 'Max-Connections'),
    optionsTtl: intHeader(h, 'Options-TTL'),
    encapsulated: h.get('Encapsulated'),
    kdsMode: /^[a-z_]{1,40}$/.test(h.get('X-KDS-Mode') ?? '') ? h.get('X-KDS-Mode') : undefined,
  };
}

function optionsWarnings(o: OptionsFacts, h: IcapHeaders): string[] {
  const w: string[] = [];
  if (!o.istag) w.push(t('no ISTag: RFC 3507 requires it in every answer, and proxies cache by it'));
  else if (o.istag.replace(/^"|"$/g, '').length > 32) w.push(t('ISTag longer than 32 bytes'));
  if (!o.methods) w.push(t('no Methods header: the proxy cannot tell which method this service takes'));
  else if (!/\b(RESPMOD|REQMOD)\b/.test(o.methods)) w.push(t('Methods "{0}" names neither RESPMOD nor REQMOD', o.methods));
  if (o.optionsTtl === 0) w.push(t('Options-TTL is 0: the proxy will ask OPTIONS before every transaction'));
  if (h.has('Options-TTL') && o.optionsTtl === undefined) w.push(t('Options-TTL "{0}" is not a number', h.get('Options-TTL') ?? ''));
  if (o.maxConnections !== undefined && o.maxConnections < LOW_MAX_CONNECTIONS) {
    w.push(t('Max-Connections {0} is low: a busy proxy opens more connections, then queues or bypasses the service', o.maxConnections));
  }
  if (!o.encapsulated) w.push(t('no Encapsulated header in the OPTIONS answer (RFC 3507 requires it)'));
  if (h.has('Preview') && o.preview === undefined) w.push(t('Preview "{0}" is not a number', h.get('Preview') ?? ''));
  const transfer = [o.transferPreview, o.transferIgnore, o.transferComplete].filter((x): x is string => x !== undefined);
  if (transfer.length && transfer.filter((x) => x.split(',').some((e) => e.trim() === '*')).length !== 1) {
    w.push(t('exactly one of Transfer-Preview / -Ignore / -Complete should contain "*"'));
  }
  return w;
}

interface HttpOriginal {
  status?: number;
  body?: Buffer;
}

function classifyModification(result: TransactionResult, original: HttpOriginal): { modification: Modification; httpStatus?: number } {
  const r = result.response;
  if (r.head.status === 204) return { modification: 'unchanged-204' };
  if (r.head.status !== 200) return { modification: 'none' };
  if (r.sections.resHdr) {
    let http;
    try {
      http = parseHttpHead(r.sections.resHdr);
    } catch {
      return { modification: 'modified' };
    }
    if (original.status === undefined) return { modification: 'blocked', httpStatus: http.status };
    if (http.status !== original.status && (http.status ?? 0) >= 400) return { modification: 'blocked', httpStatus: http.status };
    const same = original.body ? r.body.equals(original.body) : r.bodyBytes === 0;
    return { modification: same && http.status === original.status ? 'unchanged-echo' : 'modified', httpStatus: http.status };
  }
  if (r.sections.reqHdr) return { modification: original.body && !r.body.equals(original.body) ? 'modified' : 'unchanged-echo' };
  return { modification: 'unchanged-echo' };
}

function hostHeader(uri: IcapUri): string {
  return uri.host.includes(':') ? `[${uri.host}]` : uri.host;
}

/** A probe of one service: OPTIONS, then real transactions for the methods it offers. */
export class IcapProber {
  private conn: IcapConnection | undefined;
  private readonly timeoutMs: number;
  /** Marks every request of this run (probeMarker.ts). */
  readonly runId: string;

  constructor(
    private readonly uri: IcapUri,
    private readonly opts: ProbeOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.runId = opts.run && /^[0-9a-f]{8}$/.test(opts.run) ? opts.run : randomBytes(4).toString('hex');
  }

  /** The ICAP headers every request of the probe carries: Host, User-Agent, X-KDS-Probe. */
  private icapHeaders(): Record<string, string> {
    return { Host: hostHeader(this.uri), 'User-Agent': this.opts.userAgent ?? PROBE_USER_AGENT, [PROBE_HEADER]: probeHeaderValue(this.opts.traffic ?? 'probe', this.runId) };
  }

  private async connection(): Promise<{ conn: IcapConnection; fresh: boolean }> {
    if (this.conn?.usable) return { conn: this.conn, fresh: false };
    this.conn = await IcapConnection.connect(this.uri.host, this.uri.port, this.timeoutMs);
    return { conn: this.conn, fresh: true };
  }

  private close(): void {
    this.conn?.close();
    this.conn = undefined;
  }

  private baseStep(name: StepName, method: ProbeStep['method'], title: string, expectsDetection: boolean): ProbeStep {
    return { name, method, title, outcome: 'ok', verdict: {}, modification: 'none', warnings: [], expectsDetection, detected: false };
  }

  private async run(step: ProbeStep, head: Buffer, body: Buffer | undefined, preview: number | undefined, original: HttpOriginal): Promise<TransactionResult | undefined> {
    try {
      const { conn, fresh } = await this.connection();
      step.newConnection = fresh;
      const result = await conn.transact({ head, body, preview, timeoutMs: this.timeoutMs });
      if (result.closed) this.close();
      const r = result.response;
      step.status = r.head.status;
      step.reason = r.head.reason;
      step.ttfbMs = round(result.ttfbMs);
      step.totalMs = round(result.totalMs);
      step.rawHead = result.rawHead;
      step.previewBytes = preview;
      step.continued = result.continued;
      step.ieof = result.ieofSent;
      let httpHeaders: IcapHeaders | undefined;
      if (r.sections.resHdr) {
        try {
          httpHeaders = parseHttpHead(r.sections.resHdr).headers;
        } catch {
          step.warnings.push(t('the encapsulated HTTP response head is malformed'));
        }
      }
      step.verdict = verdictHeaders(r.head.headers, httpHeaders);
      const scanId = r.head.headers.get('X-KDS-Scan-ID');
      if (scanId && /^[A-Za-z0-9-]{1,64}$/.test(scanId)) step.scanId = scanId;
      const waited = /^\s*timeout\b.*?\bwaited_ms=(\d{1,9})/i.exec(r.head.headers.get('X-KDS-Verdict') ?? '');
      if (waited) step.waitedOutMs = Number(waited[1]);
      const mod = classifyModification(result, original);
      step.modification = mod.modification;
      step.httpStatus = mod.httpStatus;
      step.detected = isDetection(step.verdict) || (step.expectsDetection && mod.modification === 'blocked');
      if (!r.head.headers.has('ISTag')) step.warnings.push(t('no ISTag in the answer'));
      if (result.strayContinue) step.warnings.push(t('100 Continue after the whole body was sent (ieof): ignored'));
      if (r.head.status === 204 && preview === undefined && !/\b204\b/.test(head.toString('latin1').split('\r\n\r\n')[0]!.match(/^Allow:.*$/im)?.[0] ?? '')) {
        step.warnings.push(t('204 without a preview although the request did not offer Allow: 204'));
      }
      if (r.head.status !== 200 && r.head.status !== 204) {
        step.outcome = 'failed';
        step.error = `ICAP ${r.head.status} ${r.head.reason}`.trim();
      } else if (step.warnings.length) step.outcome = 'warning';
      return result;
    } catch (err) {
      this.close();
      step.outcome = 'failed';
      if (err instanceof IcapClientError) {
        step.failure = err.kind;
        step.error = err.message;
        if (err.peerText !== undefined) step.peerText = err.peerText;
      } else {
        step.failure = 'protocol';
        step.error = (err as Error).message;
      }
      return undefined;
    }
  }

  async options(): Promise<ProbeStep> {
    const step = this.baseStep('options', 'OPTIONS', 'OPTIONS', false);
    const head = serializeIcapRequest({
      method: 'OPTIONS',
      uri: this.uri.href,
      headers: this.icapHeaders(),
      body: 'none',
    });
    const result = await this.run(step, head, undefined, undefined, {});
    if (!result && (step.failure === 'closed-without-answer' || step.failure === 'reset' || step.failure === 'no-answer')) {
      if (await speaksTls(this.uri.host, this.uri.port, Math.min(this.timeoutMs, 5000))) {
        step.failure = 'tls';
        step.error = t('{0}:{1} speaks TLS', this.uri.host, this.uri.port);
      }
    }
    if (result && result.response.head.status === 200) {
      step.options = optionsFacts(200, result.response.head.headers);
      step.warnings.push(...optionsWarnings(step.options, result.response.head.headers));
      if (step.warnings.length && step.outcome === 'ok') step.outcome = 'warning';
    } else if (result) {
      step.options = optionsFacts(result.response.head.status, result.response.head.headers);
    }
    step.verdict = {};
    step.modification = 'none';
    return step;
  }

  private previewFor(options: OptionsFacts | undefined): number | undefined {
    if (this.opts.preview === 'none') return undefined;
    if (typeof this.opts.preview === 'number') return this.opts.preview;
    return options?.preview;
  }

  private url(path: string): string {
    return this.opts.url ?? `http://${PROBE_HOST}/${probeRunPath(this.runId)}${path}`;
  }

  private requestHead(url: string, method = 'GET', extra: Record<string, string | number> = {}): Buffer {
    let host = PROBE_HOST;
    let target = url;
    try {
      const u = new URL(url);
      host = u.host;
      target = url; // proxies send absolute URIs to ICAP; c-icap and Squid do the same
    } catch {
      // not a URL: sent as given
    }
    return serializeHttpHead(`${method} ${target} HTTP/1.1`, { Host: host, 'User-Agent': PROBE_USER_AGENT, ...extra });
  }

  async respmod(name: 'respmod-clean' | 'respmod-eicar' | 'respmod-file', options: OptionsFacts | undefined): Promise<ProbeStep> {
    let content: Buffer;
    let title: string;
    let path: string;
    let type = 'text/plain';
    if (name === 'respmod-eicar') {
      content = probeEicar();
      title = 'RESPMOD: HTTP response with the EICAR test file';
      path = 'eicar.com';
      type = 'application/octet-stream';
    } else if (name === 'respmod-file') {
      content = this.opts.file!.content;
      title = t('RESPMOD: HTTP response with {0}', this.opts.file!.name);
      path = encodeURIComponent(this.opts.file!.name);
      type = 'application/octet-stream';
    } else {
      content = Buffer.from('KDS ICAP probe: a harmless text document.\n'.repeat(64));
      title = 'RESPMOD: harmless HTTP response';
      path = 'clean.txt';
    }
    const step = this.baseStep(name, 'RESPMOD', title, name === 'respmod-eicar');
    const preview = this.previewFor(options);
    const head = serializeIcapRequest({
      method: 'RESPMOD',
      uri: this.uri.href,
      headers: { ...this.icapHeaders(), Allow: 204, ...(preview !== undefined ? { Preview: preview } : {}) },
      reqHdr: this.requestHead(this.url(path)),
      resHdr: serializeHttpHead('HTTP/1.1 200 OK', { 'Content-Type': type, 'Content-Length': content.length }),
      body: 'res-body',
    });
    await this.run(step, head, content, preview, { status: 200, body: content });
    return step;
  }

  async reqmod(name: 'reqmod-get' | 'reqmod-post-eicar' | 'reqmod-post-file', options: OptionsFacts | undefined): Promise<ProbeStep> {
    if (name === 'reqmod-get') {
      const step = this.baseStep(name, 'REQMOD', 'REQMOD: GET request', false);
      const head = serializeIcapRequest({
        method: 'REQMOD',
        uri: this.uri.href,
        headers: { ...this.icapHeaders(), Allow: 204 },
        reqHdr: this.requestHead(this.url('index.html')),
        body: 'none',
      });
      await this.run(step, head, undefined, undefined, {});
      return step;
    }
    const own = name === 'reqmod-post-file';
    const content = own ? this.opts.file!.content : probeEicar();
    const step = own ? this.baseStep(name, 'REQMOD', t('REQMOD: POST carrying {0}', this.opts.file!.name), false) : this.baseStep(name, 'REQMOD', 'REQMOD: POST carrying the EICAR test file', true);
    const preview = this.previewFor(options);
    const head = serializeIcapRequest({
      method: 'REQMOD',
      uri: this.uri.href,
      headers: { ...this.icapHeaders(), Allow: 204, ...(preview !== undefined ? { Preview: preview } : {}) },
      reqHdr: this.requestHead(this.url(own ? `upload/${encodeURIComponent(this.opts.file!.name)}` : 'upload'), 'POST', { 'Content-Type': 'application/octet-stream', 'Content-Length': content.length }),
      body: 'req-body',
    });
    await this.run(step, head, content, preview, { body: content });
    return step;
  }

  /** OPTIONS, then the transactions the service offers; the report with its conclusion. */
  async probe(): Promise<ProbeReport> {
    const started = new Date().toISOString();
    const steps: ProbeStep[] = [];
    const emit = (s: ProbeStep) => {
      steps.push(s);
      this.opts.onStep?.(s);
    };
    try {
      const opt = await this.options();
      emit(opt);
      if (opt.outcome !== 'failed') {
        // The method asked for is sent whatever Methods says, as a misconfigured proxy would (405 tells).
        const methods = this.opts.method ?? opt.options?.methods ?? 'RESPMOD, REQMOD';
        if (/\bRESPMOD\b/i.test(methods)) {
          emit(await this.respmod('respmod-clean', opt.options));
          if (this.opts.eicar) emit(await this.respmod('respmod-eicar', opt.options));
          if (this.opts.file) emit(await this.respmod('respmod-file', opt.options));
        }
        if (/\bREQMOD\b/i.test(methods)) {
          emit(await this.reqmod('reqmod-get', opt.options));
          if (this.opts.eicar) emit(await this.reqmod('reqmod-post-eicar', opt.options));
          // A file of one's own goes as RESPMOD when the service takes both; as a POST when only REQMOD is probed.
          if (this.opts.file && !/\bRESPMOD\b/i.test(methods)) emit(await this.reqmod('reqmod-post-file', opt.options));
        }
      }
    } finally {
      this.close();
    }
    const mode = steps[0]?.options?.kdsMode;
    const conclusion = conclude(steps, this.opts.eicar === true, { host: this.uri.host, port: this.uri.port, ...(mode && { mode }) });
    return {
      uri: this.uri.href,
      host: this.uri.host,
      port: this.uri.port,
      service: this.uri.service,
      startedAt: started,
      run: this.runId,
      steps,
      ...(mode && { mode }),
      conclusion,
      exitCode: steps.every((s) => s.outcome !== 'failed') ? 0 : 1,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

export interface DiscoverResult {
  path: string;
  uri: string;
  status?: number;
  methods?: string;
  istag?: string;
  service?: string;
  error?: string;
}

/** OPTIONS on each candidate path; stops early when the host does not speak ICAP at all. */
export async function discover(host: string, port: number, opts: { timeoutMs?: number; paths?: readonly string[]; onResult?(r: DiscoverResult): void } = {}): Promise<{ results: DiscoverResult[]; fatal?: Conclusion }> {
  const results: DiscoverResult[] = [];
  const paths = opts.paths ?? DISCOVER_PATHS;
  const hostText = host.includes(':') ? `[${host}]` : host;
  const run = randomBytes(4).toString('hex');
  for (const path of paths) {
    const uri: IcapUri = { host, port, service: path, tls: false, href: `icap://${hostText}:${port}/${path}` };
    const step = await new IcapProber(uri, { timeoutMs: opts.timeoutMs, traffic: 'discover', run }).options();
    const r: DiscoverResult = { path, uri: uri.href, status: step.status, methods: step.options?.methods, istag: step.options?.istag, service: step.options?.service, error: step.status === undefined ? step.error : undefined };
    results.push(r);
    opts.onResult?.(r);
    if (fatalFailure(step.failure)) {
      return { results, fatal: conclude([step], false, { host, port }) };
    }
  }
  return { results };
}
