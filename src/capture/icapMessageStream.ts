/**
 * A streaming ICAP message parser for one direction of a reassembled TCP connection. It keeps
 * only start lines and header blocks (bounded); encapsulated bodies are followed chunk by chunk
 * and counted, never stored, so a body of any size costs nothing. A hole in the stream inside
 * a body chunk only shortens that chunk; anywhere else it ends the message as incomplete and the
 * parser looks for the next start line (also how a capture that begins mid-connection syncs).
 */

export interface IcapMessage {
  kind: 'request' | 'response';
  /** Time of the packet that carried the start line. */
  time: number;
  startLine: string;
  method?: string;
  uri?: string;
  status?: number;
  reason?: string;
  /** The ICAP header block as sent (start line included, at most maxHeaderText characters). */
  headerText: string;
  headers: Array<[string, string]>;
  /** Encapsulated HTTP header blocks (req-hdr, res-hdr) as sent, bounded. */
  httpHeaders: string[];
  /** Bytes of this message in the stream (headers, encapsulated headers, chunked body). */
  bytes: number;
  /** Body bytes (chunk data) in the stream, counted even when not captured. */
  bodyBytes: number;
  /** The preview ended with "0; ieof": the whole body fit in it. */
  ieof: boolean;
  /** The encapsulated body was complete (terminating zero chunk seen). */
  complete: boolean;
  /** Why the message could not be read to its end. */
  incomplete?: 'gap' | 'malformed' | 'end-of-capture' | 'headers-too-long';
  /** Stream bytes of this message that the capture does not hold. */
  missingBytes: number;
}

export interface MessageSink {
  /** The start line and headers are read (the body may follow). */
  message(m: IcapMessage): void;
  /** Bytes before the first start line that belong to no message (capture began mid-message). */
  skipped(bytes: number): void;
}

export const maxHeaderText = 16 * 1024;
const maxHeaderBlock = 64 * 1024;
const maxLine = 4096;

const requestLine = /^([A-Z][A-Z0-9_-]{1,31}) (icaps?:\/\/\S+) ICAP\/1\.\d\s*$/;
const responseLine = /^ICAP\/1\.\d (\d{3})(?: (.*))?$/;
const startPattern = /(?:^|\n)((?:[A-Z][A-Z0-9_-]{1,31} icaps?:\/\/\S+ ICAP\/1\.\d)|(?:ICAP\/1\.\d \d{3}))/;

type State =
  | { s: 'seek' }
  | { s: 'headers' }
  | { s: 'encap'; left: number; keep: number; parts: Buffer[] }
  | { s: 'chunkSize' }
  | { s: 'chunkData'; left: number }
  | { s: 'chunkEnd'; left: number }
  | { s: 'trailer' }
  /** A preview ended without ieof: the rest of the body follows (after 100 Continue) or a new message. */
  | { s: 'afterPreview' };

export class IcapMessageStream {
  private state: State = { s: 'seek' };
  private buf: Buffer = Buffer.alloc(0);
  private current: IcapMessage | undefined;
  /** Encapsulated header block lengths still to read, then whether a chunked body follows. */
  private encapPlan: number[] = [];
  private hasBody = false;
  private sawPreview = false;
  private sawAnyMessage = false;
  private time = 0;

  constructor(private readonly sink: MessageSink) {}

  push(data: Buffer, time: number): void {
    this.time = time;
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    this.run();
  }

  /** `bytes` of the stream are not in the capture. */
  gap(bytes: number, time: number): void {
    this.time = time;
    const st = this.state;
    const m = this.current;
    if (m) {
      // Missing bytes still belong to the message: its size stays what was on the wire.
      m.missingBytes += bytes;
      m.bytes += bytes;
    }
    if (st.s === 'chunkData' && this.buf.length === 0 && bytes <= st.left) {
      // Only body bytes are missing: the message stays in step.
      st.left -= bytes;
      if (m) m.bodyBytes += bytes;
      if (st.left === 0) this.state = { s: 'chunkEnd', left: 2 };
      return;
    }
    // Out of step: look for the next start line. Until then the bytes count toward this message.
    if (m && !m.complete && !m.incomplete) m.incomplete = 'gap';
    if (!m) this.sawPreview = false;
    this.consume(this.buf.length);
    this.state = { s: 'seek' };
  }

  /** End of capture. */
  finish(): void {
    if (this.current && !this.current.complete && !this.current.incomplete && this.state.s !== 'afterPreview') {
      this.current.incomplete = 'end-of-capture';
    }
    if (this.state.s === 'seek' && this.buf.length && !this.sawAnyMessage) this.sink.skipped(this.buf.length);
    this.endMessage();
  }

  private endMessage(): void {
    this.current = undefined;
    this.sawPreview = false;
  }

  private consume(n: number): Buffer {
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    if (this.current) this.current.bytes += n;
    return b;
  }

  /** Index just past the next line end (LF), or -1. */
  private lineEnd(): number {
    const i = this.buf.indexOf(0x0a);
    return i < 0 ? -1 : i + 1;
  }

  private run(): void {
    for (;;) {
      const st = this.state;
      switch (st.s) {
        case 'seek': {
          const text = this.buf.toString('latin1', 0, Math.min(this.buf.length, maxHeaderBlock));
          const m = startPattern.exec(text);
          if (!m) {
            // Keep a tail that could hold the beginning of a start line.
            if (this.buf.length > maxLine) {
              const drop = this.buf.length - maxLine;
              if (!this.sawAnyMessage) this.sink.skipped(drop);
              this.consume(drop);
            }
            return;
          }
          const at = m.index + (text[m.index] === '\n' ? 1 : 0);
          if (at > 0) {
            if (!this.sawAnyMessage) this.sink.skipped(at);
            this.consume(at);
          }
          this.state = { s: 'headers' };
          break;
        }
        case 'headers': {
          const text = this.buf.toString('latin1', 0, Math.min(this.buf.length, maxHeaderBlock));
          const end = /\r?\n\r?\n/.exec(text);
          if (!end) {
            if (this.buf.length >= maxHeaderBlock) {
              this.buf = this.buf.subarray(1);
              this.state = { s: 'seek' };
              break;
            }
            return;
          }
          const blockLength = end.index + end[0].length;
          this.endMessage();
          this.startMessage(text.slice(0, end.index));
          this.consume(blockLength);
          this.afterHeaders();
          break;
        }
        case 'encap': {
          if (this.buf.length === 0) return;
          const n = Math.min(st.left, this.buf.length);
          const part = this.consume(n);
          if (st.keep > 0) {
            const k = part.subarray(0, st.keep);
            st.parts.push(Buffer.from(k));
            st.keep -= k.length;
          }
          st.left -= n;
          if (st.left > 0) return;
          this.current?.httpHeaders.push(Buffer.concat(st.parts).toString('latin1'));
          this.nextEncap();
          break;
        }
        case 'chunkSize': {
          const e = this.lineEnd();
          if (e < 0) {
            if (this.buf.length > maxLine) this.malformed();
            else return;
            break;
          }
          const line = this.consume(e).toString('latin1').trim();
          const m = /^([0-9a-fA-F]+)\s*(;.*)?$/.exec(line);
          if (!m) {
            if (line === '') break; // tolerate a stray blank line between chunks
            this.malformed();
            break;
          }
          const size = Number.parseInt(m[1]!, 16);
          if (size === 0) {
            if (m[2] && /ieof/i.test(m[2]) && this.current) this.current.ieof = true;
            this.state = { s: 'trailer' };
          } else {
            this.state = { s: 'chunkData', left: size };
          }
          break;
        }
        case 'chunkData': {
          if (this.buf.length === 0) return;
          const n = Math.min(st.left, this.buf.length);
          this.consume(n);
          if (this.current) this.current.bodyBytes += n;
          st.left -= n;
          if (st.left > 0) return;
          this.state = { s: 'chunkEnd', left: 2 };
          break;
        }
        case 'chunkEnd': {
          const e = this.lineEnd();
          if (e < 0) {
            if (this.buf.length > 2) this.malformed();
            else return;
            break;
          }
          this.consume(e);
          this.state = { s: 'chunkSize' };
          break;
        }
        case 'trailer': {
          const e = this.lineEnd();
          if (e < 0) {
            if (this.buf.length > maxLine) this.malformed();
            else return;
            break;
          }
          const line = this.consume(e).toString('latin1');
          if (line.trim() !== '') break;
          const m = this.current;
          if (m && m.kind === 'request' && this.sawPreview && !m.ieof && !m.complete) {
            // The preview is over; the rest of the body may follow after 100 Continue.
            this.state = { s: 'afterPreview' };
            this.sawPreview = false;
            m.complete = true;
            break;
          }
          if (m) m.complete = true;
          this.endMessage();
          this.state = { s: 'seek' };
          break;
        }
        case 'afterPreview': {
          if (this.buf.length === 0) return;
          const text = this.buf.toString('latin1', 0, Math.min(this.buf.length, 64));
          if (/^[0-9a-fA-F]+\s*(;[^\n]*)?\r?\n/.test(text)) {
            if (this.current) this.current.complete = false;
            this.state = { s: 'chunkSize' };
          } else if (/^[0-9a-fA-F]*\s*(;[^\n]*)?\r?$/.test(text)) {
            return; // a chunk-size line still arriving
          } else {
            this.endMessage();
            this.state = { s: 'seek' };
          }
          break;
        }
      }
    }
  }

  private malformed(): void {
    if (this.current && !this.current.incomplete) this.current.incomplete = 'malformed';
    this.endMessage();
    this.buf = this.buf.subarray(1);
    this.state = { s: 'seek' };
  }

  private startMessage(block: string): void {
    const lines = block.split(/\r?\n/);
    const first = lines[0]!;
    const headers: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c > 0) headers.push([line.slice(0, c).trim(), line.slice(c + 1).trim()]);
      else if (/^[ \t]/.test(line) && headers.length) headers[headers.length - 1]![1] += ' ' + line.trim();
    }
    const req = requestLine.exec(first);
    const res = responseLine.exec(first);
    const m: IcapMessage = {
      kind: req ? 'request' : 'response',
      time: this.time,
      startLine: first,
      headerText: block.length > maxHeaderText ? block.slice(0, maxHeaderText) : block,
      headers,
      httpHeaders: [],
      bytes: 0,
      bodyBytes: 0,
      ieof: false,
      complete: false,
      missingBytes: 0,
    };
    if (req) {
      m.method = req[1]!;
      m.uri = req[2]!;
    } else if (res) {
      m.status = Number(res[1]);
      m.reason = res[2] ?? '';
    }
    this.current = m;
    this.sawAnyMessage = true;
    this.sawPreview = m.kind === 'request' && headers.some(([n]) => n.toLowerCase() === 'preview');
    // Encapsulated: req-hdr=0, res-hdr=63, res-body=142 — offsets into the encapsulated part.
    const encap = headers.find(([n]) => n.toLowerCase() === 'encapsulated')?.[1];
    const entries = (encap ?? '')
      .split(',')
      .map((p) => /^\s*([a-z-]+)\s*=\s*(\d+)\s*$/i.exec(p))
      .filter((x): x is RegExpExecArray => !!x)
      .map((x) => ({ name: x[1]!.toLowerCase(), offset: Number(x[2]) }));
    this.encapPlan = [];
    this.hasBody = false;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.name.endsWith('-hdr')) {
        const next = entries[i + 1];
        if (next) this.encapPlan.push(Math.max(0, next.offset - e.offset));
      } else if (e.name.endsWith('-body') && e.name !== 'null-body') {
        this.hasBody = true;
      }
    }
    this.sink.message(m);
  }

  private afterHeaders(): void {
    const m = this.current!;
    // "100 Continue" and other answers without Encapsulated carry nothing more.
    if (this.encapPlan.length === 0 && !this.hasBody) {
      m.complete = true;
      this.endMessage();
      this.state = { s: 'seek' };
      return;
    }
    this.nextEncap();
  }

  private nextEncap(): void {
    const len = this.encapPlan.shift();
    if (len !== undefined) {
      this.state = { s: 'encap', left: len, keep: Math.min(len, maxHeaderText), parts: [] };
      if (len === 0) this.nextEncap();
      return;
    }
    if (this.hasBody) {
      this.state = { s: 'chunkSize' };
      return;
    }
    if (this.current) this.current.complete = true;
    this.endMessage();
    this.state = { s: 'seek' };
  }
}
