/**
 * A streaming ICAP message parser for one direction of a reassembled TCP connection. It keeps
 * only start lines and header blocks (bounded: a block of 64 KiB, the first maxHeaderLines header
 * lines, the first maxHeaderText characters); encapsulated bodies are followed chunk by chunk and
 * counted, never stored, so a body of any size costs nothing. A hole in the stream inside a body
 * chunk only shortens that chunk; anywhere else it ends the message as incomplete and the parser
 * looks for the next start line (also how a capture that begins mid-connection syncs). Bytes are
 * appended to a growing buffer and every search resumes where the last one stopped, so a stream
 * delivered a byte at a time costs what it costs delivered at once.
 */
import type { MemoryGauge } from './tcpReassembly';

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
  /** The first maxHeaderLines header fields (and Encapsulated, Preview and Allow wherever they are). */
  headers: Array<[string, string]>;
  /** Header lines past maxHeaderLines: counted, not kept. */
  droppedHeaderLines: number;
  /** Encapsulated HTTP header blocks (req-hdr, res-hdr) as sent, bounded. */
  httpHeaders: string[];
  /** `lines`: only start lines are kept from here on (the analysis' budget for details is spent, or the message is not listed). */
  detail: 'full' | 'lines';
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

/** Characters of header text the analysis may still keep, shared by all its streams. */
export class DetailBudget {
  constructor(public left: number) {}

  take(chars: number): boolean {
    if (chars > this.left) return false;
    this.left -= chars;
    return true;
  }
}

/** The first line of a header block (at most 1 KiB), as a string of its own. */
export function firstLineOf(text: string): string {
  const end = text.search(/\r?\n/);
  return copyText(end < 0 ? text : text.slice(0, end), 1024);
}

/** At most `max` characters of `s`, not sharing memory with `s` (a slice would keep all of it alive). */
export function copyText(s: string, max: number): string {
  return Buffer.from(s.length > max ? s.slice(0, max) : s, 'latin1').toString('latin1');
}

export interface MessageSink {
  /** The start line and headers are read (the body may follow). */
  message(m: IcapMessage): void;
  /** Bytes before the first start line that belong to no message (capture began mid-message). */
  skipped(bytes: number): void;
}

export const maxHeaderText = 16 * 1024;
export const maxHeaderLines = 256;
const maxHeaderBlock = 64 * 1024;
const maxLine = 4096;
/** Kept wherever they are in a head: they decide how the message is framed and paired. */
const framingHeaders = new Set(['encapsulated', 'preview', 'allow']);
const empty = Buffer.alloc(0);

const requestLine = /^([A-Z][A-Z0-9_-]{1,31}) (icaps?:\/\/\S+) ICAP\/1\.\d\s*$/;
const responseLine = /^ICAP\/1\.\d (\d{3})(?: (.*))?$/;
const startLine = /^(?:[A-Z][A-Z0-9_-]{1,31} icaps?:\/\/\S+ ICAP\/1\.\d|ICAP\/1\.\d \d{3})/;

type State =
  /** `at`: the next candidate start (a line start); `inLine`: the bytes from `at` on belong to a line already given up. */
  | { s: 'seek'; at: number; inLine: boolean }
  /** `scan`: where the search for the blank line resumes. */
  | { s: 'headers'; scan: number }
  | { s: 'encap'; left: number; keep: number; parts: Buffer[] }
  | { s: 'chunkSize' }
  | { s: 'chunkData'; left: number }
  | { s: 'chunkEnd'; left: number }
  | { s: 'trailer' }
  /** A preview ended without ieof: the rest of the body follows (after 100 Continue) or a new message. */
  | { s: 'afterPreview' };

export class IcapMessageStream {
  private state: State = { s: 'seek', at: 0, inLine: false };
  /** Unconsumed bytes are store[head, tail). */
  private store: Buffer = empty;
  private head = 0;
  private tail = 0;
  /** The store is this stream's (else a view of the bytes being pushed). */
  private owned = false;
  /** Where the search for a line end resumes (relative to head); reset by every consume. */
  private lfFrom = 0;
  private current: IcapMessage | undefined;
  /** Encapsulated header block lengths still to read, then whether a chunked body follows. */
  private encapPlan: number[] = [];
  private hasBody = false;
  private sawPreview = false;
  private sawAnyMessage = false;
  private time = 0;
  private counted = 0;

  constructor(
    private readonly sink: MessageSink,
    private readonly gauge?: MemoryGauge,
    private readonly budget = new DetailBudget(Infinity),
  ) {}

  push(data: Buffer, time: number): void {
    this.time = time;
    if (this.length === 0) {
      // Nothing held: parse the caller's bytes in place and keep a copy of only what is left over.
      this.store = data;
      this.head = 0;
      this.tail = data.length;
      this.owned = false;
    } else this.append(data);
    this.run();
    if (!this.owned && this.length) {
      const rest = this.length;
      const own = Buffer.allocUnsafeSlow(Math.max(4096, 2 * rest));
      this.store.copy(own, 0, this.head, this.tail);
      this.store = own;
      this.head = 0;
      this.tail = rest;
      this.owned = true;
    }
    this.account();
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
    if (st.s === 'chunkData' && this.length === 0 && bytes <= st.left) {
      // Only body bytes are missing: the message stays in step.
      st.left -= bytes;
      if (m) m.bodyBytes += bytes;
      if (st.left === 0) this.state = { s: 'chunkEnd', left: 2 };
      return;
    }
    // Out of step: look for the next start line. Until then the bytes count toward this message.
    if (m && !m.complete && !m.incomplete) m.incomplete = 'gap';
    if (!m) this.sawPreview = false;
    this.consume(this.length);
    this.seek();
    this.account();
  }

  /** End of capture (or of the connection): what is held is let go. */
  finish(): void {
    if (this.current && !this.current.complete && !this.current.incomplete && this.state.s !== 'afterPreview') {
      this.current.incomplete = 'end-of-capture';
    }
    if (this.state.s === 'seek' && this.length && !this.sawAnyMessage) this.sink.skipped(this.length);
    this.endMessage();
    this.head = this.tail = 0;
    this.account();
  }

  private get length(): number {
    return this.tail - this.head;
  }

  private bytesView(): Buffer {
    return this.store.subarray(this.head, this.tail);
  }

  /** Appends with room to spare: each byte is copied a bounded number of times on average, however small the pieces. */
  private append(data: Buffer): void {
    const live = this.length;
    if (!this.owned || this.tail + data.length > this.store.length) {
      const fits = this.owned && 2 * (live + data.length) <= this.store.length;
      const next = fits ? this.store : Buffer.allocUnsafeSlow(Math.max(4096, 2 * (live + data.length)));
      this.store.copy(next, 0, this.head, this.tail);
      this.store = next;
      this.head = 0;
      this.tail = live;
      this.owned = true;
    }
    data.copy(this.store, this.tail);
    this.tail += data.length;
  }

  /** Keeps the gauge at what this stream holds; an emptied buffer is let go (an idle stream holds nothing). */
  private account(): void {
    if (this.length === 0) {
      this.store = empty;
      this.head = this.tail = 0;
      this.owned = false;
    }
    const now = this.owned ? this.store.length : 0;
    if (this.gauge) this.gauge.used += now - this.counted;
    this.counted = now;
  }

  private endMessage(): void {
    this.current = undefined;
    this.sawPreview = false;
  }

  private consume(n: number): void {
    this.head += n;
    if (this.head >= this.tail) this.head = this.tail = 0;
    this.lfFrom = 0;
    if (this.current) this.current.bytes += n;
  }

  private seek(): void {
    this.state = { s: 'seek', at: 0, inLine: false };
  }

  /** Index just past the next line end (LF), or -1. */
  private lineEnd(): number {
    const view = this.bytesView();
    const i = view.indexOf(0x0a, this.lfFrom);
    if (i < 0) {
      this.lfFrom = view.length;
      return -1;
    }
    return i + 1;
  }

  private skip(n: number): void {
    if (n <= 0) return;
    if (!this.sawAnyMessage) this.sink.skipped(n);
    this.consume(n);
  }

  private run(): void {
    for (;;) {
      const st = this.state;
      switch (st.s) {
        case 'seek': {
          const view = this.bytesView();
          if (st.inLine) {
            // The rest of a line that cannot start a message: up to its end.
            const lf = view.indexOf(0x0a, st.at);
            if (lf < 0) {
              this.skip(view.length);
              st.at = 0;
              return;
            }
            st.at = lf + 1;
            st.inLine = false;
          }
          const lf = view.indexOf(0x0a, st.at);
          if (lf < 0) {
            // Wait for the candidate line to end, unless it is too long to be a start line.
            this.skip(st.at);
            st.at = 0;
            if (this.length > maxLine) {
              this.skip(this.length);
              st.inLine = true;
            }
            return;
          }
          const line = view.toString('latin1', st.at, Math.min(lf, st.at + maxLine));
          if (startLine.test(line)) {
            this.skip(st.at);
            this.state = { s: 'headers', scan: 0 };
            break;
          }
          st.at = lf + 1;
          break;
        }
        case 'headers': {
          const view = this.bytesView();
          let end = -1;
          let blockLength = 0;
          for (let i = view.indexOf(0x0a, st.scan); i >= 0 && i < maxHeaderBlock; i = view.indexOf(0x0a, i + 1)) {
            // The head ends at LF (CR) LF; a line end whose next bytes have not arrived is looked at again.
            if (i + 1 >= view.length || (view[i + 1] === 0x0d && i + 2 >= view.length)) {
              st.scan = i;
              break;
            }
            if (view[i + 1] === 0x0a || (view[i + 1] === 0x0d && view[i + 2] === 0x0a)) {
              end = i > 0 && view[i - 1] === 0x0d ? i - 1 : i;
              blockLength = view[i + 1] === 0x0a ? i + 2 : i + 3;
              break;
            }
            st.scan = i + 1;
          }
          if (end < 0) {
            if (this.length >= maxHeaderBlock) {
              this.consume(1);
              this.seek();
              break;
            }
            return;
          }
          this.endMessage();
          this.startMessage(view.subarray(0, end));
          this.consume(blockLength);
          this.afterHeaders();
          break;
        }
        case 'encap': {
          if (this.length === 0) return;
          const n = Math.min(st.left, this.length);
          const part = this.bytesView().subarray(0, n);
          if (st.keep > 0) {
            const k = part.subarray(0, st.keep);
            st.parts.push(Buffer.from(k));
            st.keep -= k.length;
          }
          this.consume(n);
          st.left -= n;
          if (st.left > 0) return;
          const m = this.current;
          if (m) {
            const text = Buffer.concat(st.parts).toString('latin1');
            m.httpHeaders.push(m.detail === 'full' && this.budget.take(text.length) ? text : firstLineOf(text));
          }
          this.nextEncap();
          break;
        }
        case 'chunkSize': {
          const e = this.lineEnd();
          if (e < 0) {
            if (this.length > maxLine) this.malformed();
            else return;
            break;
          }
          const line = this.bytesView().toString('latin1', 0, Math.min(e, maxLine)).trim();
          this.consume(e);
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
          if (this.length === 0) return;
          const n = Math.min(st.left, this.length);
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
            if (this.length > 2) this.malformed();
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
            if (this.length > maxLine) this.malformed();
            else return;
            break;
          }
          const blank = this.bytesView().toString('latin1', 0, Math.min(e, maxLine)).trim() === '';
          this.consume(e);
          if (!blank) break;
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
          this.seek();
          break;
        }
        case 'afterPreview': {
          if (this.length === 0) return;
          const text = this.bytesView().toString('latin1', 0, Math.min(this.length, 64));
          if (/^[0-9a-fA-F]+\s*(;[^\n]*)?\r?\n/.test(text)) {
            if (this.current) this.current.complete = false;
            this.state = { s: 'chunkSize' };
          } else if (/^[0-9a-fA-F]*\s*(;[^\n]*)?\r?$/.test(text)) {
            return; // a chunk-size line still arriving
          } else {
            this.endMessage();
            this.seek();
          }
          break;
        }
      }
    }
  }

  private malformed(): void {
    if (this.current && !this.current.incomplete) this.current.incomplete = 'malformed';
    this.endMessage();
    this.consume(1);
    this.seek();
  }

  /** Reads the head block (start line and headers, without the blank line): each line decoded on its own, so nothing keeps the whole block alive. */
  private startMessage(block: Buffer): void {
    const lineEnd = (from: number) => {
      const i = block.indexOf(0x0a, from);
      return i < 0 ? block.length : i;
    };
    const decode = (from: number, to: number) => block.toString('latin1', from, to > from && block[to - 1] === 0x0d ? to - 1 : to);
    let at = lineEnd(0);
    const first = decode(0, at);
    const headers: Array<[string, string]> = [];
    let dropped = 0;
    let kept = 0;
    let lastKept = false;
    for (let from = at + 1; from <= block.length && at < block.length; from = at + 1) {
      at = lineEnd(from);
      const line = decode(from, at);
      const c = line.indexOf(':');
      if (c > 0) {
        const name = line.slice(0, c).trim();
        if (kept < maxHeaderLines || (framingHeaders.has(name.toLowerCase()) && !headers.some(([n]) => n.toLowerCase() === name.toLowerCase()))) {
          headers.push([name, line.slice(c + 1).trim()]);
          kept++;
          lastKept = true;
        } else {
          dropped++;
          lastKept = false;
        }
      } else if (/^[ \t]/.test(line) && headers.length) {
        if (lastKept) headers[headers.length - 1]![1] += ' ' + line.trim();
      }
    }
    const req = requestLine.exec(first);
    const res = responseLine.exec(first);
    const m: IcapMessage = {
      kind: req ? 'request' : 'response',
      time: this.time,
      startLine: first,
      headerText: block.toString('latin1', 0, Math.min(block.length, maxHeaderText)),
      headers,
      droppedHeaderLines: dropped,
      httpHeaders: [],
      detail: 'full',
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
      this.seek();
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
    this.seek();
  }
}
