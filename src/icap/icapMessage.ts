/**
 * ICAP (RFC 3507) message heads, the Encapsulated header, encapsulated HTTP heads and the chunked
 * body: a pure, push-driven parser and the serializers. No sockets here, so the server, the probe
 * and a capture analyser can all feed it bytes as they arrive, in any split.
 */

export const ICAP_DEFAULT_PORT = 1344;
const CRLF = '\r\n';

/** Why a message cannot be read, with the ICAP status a server should answer (or 0: just close). */
export class IcapParseError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413 | 414 | 431 | 505 | 0,
    readonly code: string,
  ) {
    super(message);
    this.name = 'IcapParseError';
  }
}

/** Header fields in arrival order; names compared case-insensitively. */
export class IcapHeaders {
  readonly list: Array<[string, string]> = [];

  static from(entries: Iterable<[string, string]> | Record<string, string | number | undefined>): IcapHeaders {
    const h = new IcapHeaders();
    const it = Symbol.iterator in entries ? (entries as Iterable<[string, string]>) : Object.entries(entries);
    for (const [k, v] of it) if (v !== undefined) h.add(k, String(v));
    return h;
  }

  add(name: string, value: string): void {
    this.list.push([name, value]);
  }

  get(name: string): string | undefined {
    const n = name.toLowerCase();
    const found = this.list.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
    return found.length ? found.join(', ') : undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, value: string): void {
    this.delete(name);
    this.add(name, value);
  }

  delete(name: string): void {
    const n = name.toLowerCase();
    for (let i = this.list.length - 1; i >= 0; i--) if (this.list[i]![0].toLowerCase() === n) this.list.splice(i, 1);
  }

  toObject(): Record<string, string> {
    const o: Record<string, string> = {};
    for (const [k] of this.list) o[k] ??= this.get(k)!;
    return o;
  }

  serialize(): string {
    return this.list.map(([k, v]) => `${k}: ${v}${CRLF}`).join('');
  }
}

export interface IcapRequestLine {
  kind: 'request';
  method: string;
  uri: string;
  version: string;
}

export interface IcapStatusLine {
  kind: 'response';
  version: string;
  status: number;
  reason: string;
}

export type IcapHead = (IcapRequestLine | IcapStatusLine) & {
  headers: IcapHeaders;
  /** Bytes of the head including the blank line. */
  byteLength: number;
};

export type EncapsulatedName = 'req-hdr' | 'res-hdr' | 'req-body' | 'res-body' | 'opt-body' | 'null-body';
export interface EncapsulatedEntity {
  name: EncapsulatedName;
  offset: number;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Splits header lines (CRLF; a bare LF is refused as a framing error), folding continuations. */
function parseHeaderLines(lines: string[], what: string): IcapHeaders {
  const headers = new IcapHeaders();
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = headers.list[headers.list.length - 1];
      if (!last) throw new IcapParseError(`${what}: continuation line without a header`, 400, 'bad-header');
      // Folding is kept as a newline so X-Violations-Found's four-line records stay readable.
      last[1] = `${last[1]}\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new IcapParseError(`${what}: header line without a colon: ${JSON.stringify(line.slice(0, 60))}`, 400, 'bad-header');
    const name = line.slice(0, colon);
    if (!HEADER_NAME.test(name)) throw new IcapParseError(`${what}: invalid header name ${JSON.stringify(name.slice(0, 60))}`, 400, 'bad-header');
    headers.add(name, line.slice(colon + 1).trim());
  }
  return headers;
}

function splitHeadLines(text: string, what: string): string[] {
  // The head ends at CRLF CRLF; a lone LF inside it means the peer does not frame lines with CRLF.
  const lines = text.split(CRLF);
  if (lines.some((l) => l.includes('\n') || l.includes('\r'))) throw new IcapParseError(`${what}: lines not terminated by CRLF`, 400, 'bare-lf');
  return lines;
}

/** Parses an ICAP head (text without the final CRLF CRLF). */
export function parseIcapHead(text: string, byteLength: number): IcapHead {
  const lines = splitHeadLines(text, 'ICAP head');
  const first = lines.shift() ?? '';
  const headers = parseHeaderLines(lines, 'ICAP head');
  let m = /^ICAP\/(\d+\.\d+) (\d{3})(?: (.*))?$/.exec(first);
  if (m) return { kind: 'response', version: m[1]!, status: Number(m[2]), reason: m[3] ?? '', headers, byteLength };
  m = /^([A-Z][A-Z0-9_-]{0,31}) (\S+) ICAP\/(\d+\.\d+)$/.exec(first);
  if (m) {
    if (m[3] !== '1.0') throw new IcapParseError(`ICAP version ${m[3]} not supported`, 505, 'version');
    return { kind: 'request', method: m[1]!, uri: m[2]!, version: m[3]!, headers, byteLength };
  }
  throw new IcapParseError(`not an ICAP start line: ${JSON.stringify(first.slice(0, 80))}`, 400, 'start-line');
}

/** Parses an Encapsulated value; checks names, increasing offsets and a single final body entity. */
export function parseEncapsulated(value: string): EncapsulatedEntity[] {
  const out: EncapsulatedEntity[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(req-hdr|res-hdr|req-body|res-body|opt-body|null-body)\s*=\s*(\d{1,12})\s*$/.exec(part);
    if (!m) throw new IcapParseError(`bad Encapsulated entry ${JSON.stringify(part.trim().slice(0, 40))}`, 400, 'encapsulated');
    out.push({ name: m[1] as EncapsulatedName, offset: Number(m[2]) });
  }
  if (out.length === 0) throw new IcapParseError('empty Encapsulated header', 400, 'encapsulated');
  for (let i = 0; i < out.length; i++) {
    const e = out[i]!;
    const isBody = e.name.endsWith('-body');
    if (isBody !== (i === out.length - 1)) throw new IcapParseError('Encapsulated must end with exactly one body entity', 400, 'encapsulated');
    if (i === 0 && e.offset !== 0) throw new IcapParseError('the first Encapsulated offset must be 0', 400, 'encapsulated');
    if (i > 0 && e.offset <= out[i - 1]!.offset) throw new IcapParseError('Encapsulated offsets must increase', 400, 'encapsulated');
  }
  if (new Set(out.map((e) => e.name)).size !== out.length) throw new IcapParseError('Encapsulated names an entity twice', 400, 'encapsulated');
  return out;
}

export function formatEncapsulated(entities: EncapsulatedEntity[]): string {
  return entities.map((e) => `${e.name}=${e.offset}`).join(', ');
}

export interface HttpHead {
  startLine: string;
  /** Request: method, target, version. */
  method?: string;
  target?: string;
  /** Response: status and reason. */
  status?: number;
  reason?: string;
  version: string;
  headers: IcapHeaders;
}

/** Parses an encapsulated HTTP head (with or without its final blank line). */
export function parseHttpHead(raw: Buffer | string): HttpHead {
  let text = typeof raw === 'string' ? raw : raw.toString('latin1');
  if (text.endsWith(CRLF + CRLF)) text = text.slice(0, -4);
  else if (text.endsWith(CRLF)) text = text.slice(0, -2);
  const lines = splitHeadLines(text, 'HTTP head');
  const first = lines.shift() ?? '';
  const headers = parseHeaderLines(lines, 'HTTP head');
  let m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(first);
  if (m) return { startLine: first, version: m[1]!, status: Number(m[2]), reason: m[3] ?? '', headers };
  m = /^([A-Za-z]+) (\S+) HTTP\/(\d\.\d)$/.exec(first);
  if (m) return { startLine: first, method: m[1]!, target: m[2]!, version: m[3]!, headers };
  throw new IcapParseError(`not an HTTP start line: ${JSON.stringify(first.slice(0, 80))}`, 400, 'http-start-line');
}

export function serializeHttpHead(startLine: string, headers: IcapHeaders | Record<string, string | number>): Buffer {
  const h = headers instanceof IcapHeaders ? headers : IcapHeaders.from(headers);
  return Buffer.from(`${startLine}${CRLF}${h.serialize()}${CRLF}`, 'latin1');
}

export interface EncapsulatedSections {
  reqHdr?: Buffer;
  resHdr?: Buffer;
  /** The body entity named last in Encapsulated; `null-body` (or none) means no body follows. */
  body: 'req-body' | 'res-body' | 'opt-body' | 'null-body';
}

export type IcapEvent =
  | { type: 'head'; head: IcapHead }
  | { type: 'sections'; sections: EncapsulatedSections }
  | { type: 'data'; data: Buffer }
  /** A zero chunk: end of the body, or of the preview when `ieof` is false and a preview was announced. */
  | { type: 'bodyEnd'; ieof: boolean; trailers: IcapHeaders }
  /** The whole message (head, sections and body, or the preview part) has been read. */
  | { type: 'end' };

export interface IcapParserLimits {
  /** Largest ICAP head, bytes (431 beyond). */
  maxHeadBytes: number;
  /** Largest total of the encapsulated HTTP heads, bytes (431 beyond). */
  maxSectionBytes: number;
  /** Largest chunk-size line with its extensions (400 beyond). */
  maxChunkLineBytes: number;
  /** Largest decoded body of one message (413 beyond); Infinity for none. */
  maxBodyBytes: number;
}

export const defaultParserLimits: IcapParserLimits = Object.freeze({
  maxHeadBytes: 64 * 1024,
  maxSectionBytes: 256 * 1024,
  maxChunkLineBytes: 4096,
  maxBodyBytes: Infinity,
});

const MAX_START_LINE = 8192;

function isTokenByte(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

type State =
  | { s: 'head' }
  | { s: 'sections'; entities: EncapsulatedEntity[]; total: number }
  | { s: 'chunkSize' }
  | { s: 'chunkData'; left: number }
  | { s: 'chunkCrlf' }
  | { s: 'trailers' }
  | { s: 'waiting' }
  | { s: 'failed' };

/**
 * Reads ICAP messages of one direction of a connection. `push(bytes)` returns what became
 * complete. After a preview's zero chunk the parser waits: call `continueBody()` once the
 * `100 Continue` has been exchanged to read the rest, or `nextMessage()` to go on with the next
 * message. A response to OPTIONS, REQMOD or RESPMOD with no Encapsulated body ends after its head.
 */
export class IcapMessageParser {
  private buf: Buffer = Buffer.alloc(0);
  private state: State = { s: 'head' };
  private bodyBytes = 0;
  private trailerLines: string[] = [];
  private readonly limits: IcapParserLimits;
  /** The head of the message being read. */
  head: IcapHead | undefined;

  constructor(limits: Partial<IcapParserLimits> = {}) {
    this.limits = { ...defaultParserLimits, ...limits };
  }

  /** Bytes received but not consumed yet (e.g. the start of a pipelined next message). */
  get pending(): number {
    return this.buf.length;
  }

  /** True between messages: nothing of a next message has been read. */
  get idle(): boolean {
    return this.state.s === 'head' && this.buf.length === 0;
  }

  get waiting(): boolean {
    return this.state.s === 'waiting';
  }

  push(chunk: Buffer): IcapEvent[] {
    if (this.state.s === 'failed') throw new IcapParseError('parser already failed', 0, 'failed');
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const events: IcapEvent[] = [];
    try {
      this.run(events);
    } catch (err) {
      this.state = { s: 'failed' };
      throw err;
    }
    return events;
  }

  /** After a preview ended without ieof and 100 Continue was sent/received: read the rest of the body. */
  continueBody(): IcapEvent[] {
    if (this.state.s !== 'waiting') throw new Error('continueBody() outside a preview');
    this.state = { s: 'chunkSize' };
    return this.push(Buffer.alloc(0));
  }

  /** Go on with the next message (after a final answer to a preview, say). */
  nextMessage(): IcapEvent[] {
    this.state = { s: 'head' };
    this.head = undefined;
    this.continued = false;
    return this.push(Buffer.alloc(0));
  }

  private run(events: IcapEvent[]): void {
    for (;;) {
      const st = this.state;
      switch (st.s) {
        case 'waiting':
        case 'failed':
          return;
        case 'head': {
          // Skip stray CRLFs between messages, as HTTP servers do.
          while (this.buf.length >= 2 && this.buf[0] === 0x0d && this.buf[1] === 0x0a) this.buf = this.buf.subarray(2);
          // Reject what cannot become a start line at once, rather than waiting for the head timeout.
          if (this.buf.length > 0 && !isTokenByte(this.buf[0]!)) throw new IcapParseError('not an ICAP message', 400, 'start-line');
          const firstEol = this.buf.indexOf('\r\n', 0, 'latin1');
          if (firstEol < 0 && this.buf.length > MAX_START_LINE) throw new IcapParseError('start line too long', 400, 'start-line');
          if (firstEol > MAX_START_LINE) throw new IcapParseError('start line too long', 400, 'start-line');
          const end = this.buf.indexOf('\r\n\r\n', 0, 'latin1');
          if (end < 0) {
            if (this.buf.length > this.limits.maxHeadBytes) throw new IcapParseError('ICAP head too large', 431, 'head-too-large');
            // A head that has only LF line ends never completes: say so instead of waiting for ever.
            if (this.buf.indexOf('\n\n', 0, 'latin1') >= 0) throw new IcapParseError('ICAP head lines not terminated by CRLF', 400, 'bare-lf');
            return;
          }
          if (end + 4 > this.limits.maxHeadBytes) throw new IcapParseError('ICAP head too large', 431, 'head-too-large');
          const head = parseIcapHead(this.buf.subarray(0, end).toString('latin1'), end + 4);
          this.buf = this.buf.subarray(end + 4);
          this.head = head;
          this.bodyBytes = 0;
          events.push({ type: 'head', head });
          const enc = head.headers.get('Encapsulated');
          if (enc === undefined) {
            // Tolerated: OPTIONS requests, 100 Continue and many error answers come without it.
            if (head.kind === 'request' && (head.method === 'REQMOD' || head.method === 'RESPMOD')) throw new IcapParseError('missing Encapsulated header', 400, 'encapsulated');
            events.push({ type: 'sections', sections: { body: 'null-body' } });
            events.push({ type: 'end' });
            this.state = { s: 'head' };
            this.head = undefined;
            if (this.buf.length === 0) return;
            continue;
          }
          const entities = parseEncapsulated(enc);
          const total = entities[entities.length - 1]!.offset;
          if (total > this.limits.maxSectionBytes) throw new IcapParseError('encapsulated HTTP headers too large', 431, 'sections-too-large');
          this.state = { s: 'sections', entities, total };
          continue;
        }
        case 'sections': {
          if (this.buf.length < st.total) return;
          const sections: EncapsulatedSections = { body: st.entities[st.entities.length - 1]!.name as EncapsulatedSections['body'] };
          for (let i = 0; i < st.entities.length - 1; i++) {
            const e = st.entities[i]!;
            const part = this.buf.subarray(e.offset, st.entities[i + 1]!.offset);
            // Each encapsulated head must end exactly at the next offset: a lying offset shows here.
            if (!part.subarray(part.length - 4).equals(Buffer.from('\r\n\r\n'))) {
              throw new IcapParseError(`Encapsulated offset of ${e.name} does not match its header block`, 400, 'encapsulated-offset');
            }
            if (e.name === 'req-hdr') sections.reqHdr = Buffer.from(part);
            else if (e.name === 'res-hdr') sections.resHdr = Buffer.from(part);
          }
          this.buf = this.buf.subarray(st.total);
          events.push({ type: 'sections', sections });
          if (sections.body === 'null-body') {
            events.push({ type: 'end' });
            this.state = { s: 'head' };
            this.head = undefined;
          } else {
            this.state = { s: 'chunkSize' };
          }
          continue;
        }
        case 'chunkSize': {
          const eol = this.buf.indexOf('\r\n', 0, 'latin1');
          if (eol < 0) {
            if (this.buf.length > this.limits.maxChunkLineBytes) throw new IcapParseError('chunk-size line too long', 400, 'chunk-line');
            return;
          }
          const line = this.buf.subarray(0, eol).toString('latin1');
          this.buf = this.buf.subarray(eol + 2);
          const m = /^([0-9A-Fa-f]{1,15})[ \t]*((?:;[^\r\n]*)?)$/.exec(line);
          if (!m) throw new IcapParseError(`bad chunk size ${JSON.stringify(line.slice(0, 40))}`, 400, 'chunk-size');
          const size = parseInt(m[1]!, 16);
          if (size === 0) {
            this.pendingIeof = /;\s*ieof\b/i.test(m[2]!);
            this.trailerLines = [];
            this.state = { s: 'trailers' };
            continue;
          }
          if (this.bodyBytes + size > this.limits.maxBodyBytes) throw new IcapParseError('encapsulated body larger than allowed', 413, 'body-too-large');
          this.state = { s: 'chunkData', left: size };
          continue;
        }
        case 'chunkData': {
          if (this.buf.length === 0) return;
          const n = Math.min(st.left, this.buf.length);
          const data = this.buf.subarray(0, n);
          this.buf = this.buf.subarray(n);
          this.bodyBytes += n;
          events.push({ type: 'data', data });
          st.left -= n;
          if (st.left === 0) this.state = { s: 'chunkCrlf' };
          continue;
        }
        case 'chunkCrlf': {
          if (this.buf.length < 2) return;
          if (this.buf[0] !== 0x0d || this.buf[1] !== 0x0a) throw new IcapParseError('chunk data longer than its size', 400, 'chunk-size-lie');
          this.buf = this.buf.subarray(2);
          this.state = { s: 'chunkSize' };
          continue;
        }
        case 'trailers': {
          const eol = this.buf.indexOf('\r\n', 0, 'latin1');
          if (eol < 0) {
            if (this.buf.length > this.limits.maxChunkLineBytes) throw new IcapParseError('trailer line too long', 400, 'trailer');
            return;
          }
          const line = this.buf.subarray(0, eol).toString('latin1');
          this.buf = this.buf.subarray(eol + 2);
          if (line !== '') {
            if (this.trailerLines.length >= 64) throw new IcapParseError('too many trailers', 400, 'trailer');
            this.trailerLines.push(line);
            continue;
          }
          const ieof = this.pendingIeof;
          events.push({ type: 'bodyEnd', ieof, trailers: parseHeaderLines(this.trailerLines, 'trailer') });
          const previewed = this.head?.kind === 'request' && this.head.headers.has('Preview') && !ieof && !this.continued;
          events.push({ type: 'end' });
          if (previewed) {
            this.state = { s: 'waiting' };
            this.continued = true;
            return;
          }
          this.continued = false;
          this.state = { s: 'head' };
          this.head = undefined;
          continue;
        }
      }
    }
  }

  private pendingIeof = false;
  /** True once the preview of the current message has been followed by the rest. */
  private continued = false;
}

export interface IcapRequestSpec {
  method: string;
  uri: string;
  headers: IcapHeaders | Record<string, string | number | undefined>;
  reqHdr?: Buffer;
  resHdr?: Buffer;
  /** Which body follows the heads; 'none' writes null-body. */
  body: 'req-body' | 'res-body' | 'opt-body' | 'none';
}

/** The start line, ICAP headers with a computed Encapsulated, and the encapsulated HTTP heads. */
export function serializeIcapRequest(spec: IcapRequestSpec): Buffer {
  return serializeHead(`${spec.method} ${spec.uri} ICAP/1.0`, spec);
}

export interface IcapResponseSpec {
  status: number;
  reason: string;
  headers: IcapHeaders | Record<string, string | number | undefined>;
  reqHdr?: Buffer;
  resHdr?: Buffer;
  body: 'req-body' | 'res-body' | 'opt-body' | 'none';
  /** Leave Encapsulated out (100 Continue). */
  noEncapsulated?: boolean;
}

export function serializeIcapResponse(spec: IcapResponseSpec): Buffer {
  return serializeHead(`ICAP/1.0 ${spec.status} ${spec.reason}`, spec);
}

function serializeHead(startLine: string, spec: Omit<IcapRequestSpec, 'method' | 'uri'> & { noEncapsulated?: boolean }): Buffer {
  const headers = spec.headers instanceof IcapHeaders ? IcapHeaders.from(spec.headers.list) : IcapHeaders.from(spec.headers);
  headers.delete('Encapsulated');
  const parts: Buffer[] = [];
  const entities: EncapsulatedEntity[] = [];
  let offset = 0;
  if (spec.reqHdr) {
    entities.push({ name: 'req-hdr', offset });
    parts.push(spec.reqHdr);
    offset += spec.reqHdr.length;
  }
  if (spec.resHdr) {
    entities.push({ name: 'res-hdr', offset });
    parts.push(spec.resHdr);
    offset += spec.resHdr.length;
  }
  entities.push({ name: spec.body === 'none' ? 'null-body' : spec.body, offset });
  if (!spec.noEncapsulated) headers.add('Encapsulated', formatEncapsulated(entities));
  return Buffer.concat([Buffer.from(`${startLine}${CRLF}${headers.serialize()}${CRLF}`, 'latin1'), ...parts]);
}

/** One chunk of an encapsulated body (empty data gives nothing: a zero chunk would end the body). */
export function encodeChunk(data: Uint8Array): Buffer {
  if (data.length === 0) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}${CRLF}`, 'latin1'), data, Buffer.from(CRLF, 'latin1')]);
}

/** The zero chunk; `ieof` when a preview carried the whole body. */
export function lastChunk(ieof = false): Buffer {
  return Buffer.from(ieof ? `0; ieof${CRLF}${CRLF}` : `0${CRLF}${CRLF}`, 'latin1');
}

export interface IcapUri {
  host: string;
  port: number;
  /** Path without the leading slash, query included ("av/respmod?x=1"). */
  service: string;
  /** Canonical form: icap://host:port/service */
  href: string;
  tls: boolean;
}

/** Parses icap://host[:port]/service (also icaps://, default 11344); undefined when not one. */
export function parseIcapUri(text: string): IcapUri | undefined {
  const m = /^(icaps?):\/\/(?:[^@/]*@)?(\[[0-9A-Fa-f:.]+\]|[^:/?#[\]]+)(?::(\d{1,5}))?(\/[^\s#]*)?$/i.exec(text.trim());
  if (!m) return undefined;
  const tls = m[1]!.toLowerCase() === 'icaps';
  const port = m[3] ? Number(m[3]) : tls ? 11344 : ICAP_DEFAULT_PORT;
  if (port < 1 || port > 65535) return undefined;
  const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
  const service = (m[4] ?? '/').slice(1);
  const hostText = host.includes(':') ? `[${host}]` : host;
  return { host, port, service, tls, href: `${tls ? 'icaps' : 'icap'}://${hostText}:${port}/${service}` };
}

/** The reason phrase a server should put next to a status. */
export const icapReasons: Record<number, string> = {
  100: 'Continue',
  200: 'OK',
  204: 'No Content',
  400: 'Bad Request',
  404: 'ICAP Service Not Found',
  405: 'Method Not Allowed For Service',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Server Error',
  501: 'Method Not Implemented',
  503: 'Service Overloaded',
  505: 'ICAP Version Not Supported',
};
