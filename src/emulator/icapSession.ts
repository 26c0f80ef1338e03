import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { t } from '../common/l10n';
import {
  type EncapsulatedSections,
  type HttpHead,
  type IcapEvent,
  type IcapHead,
  IcapMessageParser,
  IcapParseError,
  encodeChunk,
  lastChunk,
  parseHttpHead,
  parseIcapUri,
} from '../icap/icapMessage';
import { HEAD_BYTES, testMarkerOf } from './detection';
import { SERVICES, type ServiceName, blockAnswer, echoHead, errorAnswer, noContentAnswer, optionsAnswer } from './icapAnswers';
import type { IcapServerContext } from './icapContext';
import { type LinkTimeout, PeerLink } from './icapPeerLink';
import { type ScanOutcome, scanObject } from './icapScan';

/** Larger previews are refused: a preview is held in memory until the answer. */
const MAX_PREVIEW = 64 * 1024;
/** Default minimum of body bytes per idle window (a slow drip keeps no slot). */
const MIN_BODY_BYTES_PER_WINDOW = 8 * 1024;
/**
 * A proxy that cannot keep a whole large object (Squid, beyond its buffer) sends no Allow: 204 and
 * stops sending the body until the answer starts. Without Allow: 204 and past this many bytes, the
 * unchanged message is echoed as it arrives, with its last chunk held back until the verdict: a
 * detection then aborts the connection (the client gets a broken transfer, as with c-icap's
 * trickling), since the head is already sent. Smaller objects are answered whole (block page).
 */
const STREAM_AFTER = 32 * 1024;

/** Answers that end the connection: the rest of the stream cannot be trusted to be framed. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    reason: string,
  ) {
    super(reason);
  }
}

interface Transaction {
  head: IcapHead & { kind: 'request' };
  method: 'OPTIONS' | 'REQMOD' | 'RESPMOD';
  service: ServiceName;
  sections?: EncapsulatedSections;
  reqHttp?: HttpHead;
  resHttp?: HttpHead;
  /** The size announced in Preview:, when the client previews. */
  previewLimit?: number;
  previewBytes: number;
  allow204: boolean;
  spoolPath?: string;
  spool?: FileHandle;
  size: number;
  tooLarge: boolean;
  /** 100 Continue was sent: the preview is over. */
  continued: boolean;
  /** Echo already under way (see STREAM_AFTER); `held` is the last chunk, kept back until the verdict. */
  streaming: boolean;
  held?: Buffer;
  /** Body bytes kept in memory until streaming starts (at most max(STREAM_AFTER, the preview) and a chunk). */
  early: Buffer[];
  sha256: ReturnType<typeof createHash>;
  md5: ReturnType<typeof createHash>;
  scanId: string;
  headBytes: Buffer[];
  /** blocking_advanced gave up waiting for the verdict after this many ms and let the object through. */
  waitedOutMs?: number;
}

function urlOf(tx: Transaction): string {
  const req = tx.reqHttp;
  if (!req?.target) return '-';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(req.target)) return req.target;
  const host = req.headers.get('Host');
  return host ? `http://${host}${req.target}` : req.target;
}

/**
 * One connection of the embedded KATA's ICAP server: reads requests one at a time (RFC 3507
 * allows no overlap), spools bodies to files, scans them and answers. Whatever state the
 * connection ends in, its spool file is removed and its memory released.
 */
export async function serveIcapConnection(ctx: IcapServerContext, socket: Socket): Promise<void> {
  const { opts, log } = ctx;
  const parser = new IcapMessageParser({ maxHeadBytes: 64 * 1024, maxSectionBytes: 64 * 1024, maxBodyBytes: Infinity });
  let tx: Transaction | undefined;
  let heldHere = 0;
  const hold = (n: number) => {
    heldHere += n;
    ctx.held(n);
  };

  const link = new PeerLink(
    socket,
    {
      headTimeoutMs: opts.headTimeoutMs ?? 15_000,
      idleTimeoutMs: opts.idleTimeoutMs ?? 120_000,
      minBodyBytesPerWindow: opts.minBodyBytesPerWindow ?? MIN_BODY_BYTES_PER_WINDOW,
    },
    { chunk: onChunk, timeout: onTimeout, failed: (err) => opts.logger.error('emulator.icap', t('ICAP connection failed: {0}', err.message)) },
  );
  const peer = link.peer;
  ctx.links.add(link);
  try {
    await link.finished();
  } finally {
    ctx.links.delete(link);
    if (tx) await dropTransaction(tx);
    hold(-heldHere);
  }

  function refuse(status: number, why: string): void {
    log.error(peer, status, why);
    ctx.count(status);
    link.refuse(errorAnswer(status, ctx.istag(), true));
  }

  function onTimeout(to: LinkTimeout): void {
    switch (to.kind) {
      case 'head':
        refuse(408, 'request head not received in time');
        return;
      case 'idle':
        link.destroy();
        return;
      case 'slow-body': {
        const why = `body arrived too slowly (${to.bytes} bytes in ${to.windowMs} ms, fewer than ${opts.minBodyBytesPerWindow ?? MIN_BODY_BYTES_PER_WINDOW})`;
        // Once the echo has started, no answer can follow it.
        if (tx?.streaming) {
          log.error(peer, 'closed', why);
          link.destroy();
        } else refuse(408, why);
        return;
      }
      case 'not-reading':
        log.error(peer, 'closed', `the client read none of the answers for ${to.waitedMs} ms`);
        return;
    }
  }

  async function onChunk(chunk: Buffer): Promise<void> {
    try {
      const wasIdle = parser.idle;
      const events = parser.push(chunk);
      // The head deadline starts with the first byte of a message (stray CRLFs between messages are not one).
      if (wasIdle && (!parser.idle || events.length) && link.currentPhase === 'idle') link.setPhase('head');
      while (events.length && !link.ended) {
        // An answer the peer has not read yet: handle nothing more until it does.
        if (link.needsDrain && !(await link.writable())) return;
        const more = await handle(events.shift()!);
        if (more) events.push(...more);
      }
    } catch (err) {
      if (err instanceof IcapParseError) {
        ctx.stats.parseErrors++;
        if (err.status) refuse(err.status, err.message);
        else {
          log.error(peer, 'closed', err.message);
          link.destroy();
        }
      } else if (err instanceof Refusal) {
        refuse(err.status, err.message);
      } else throw err;
    }
  }

  /** The message is answered: the next one may already have begun (pipelined). */
  function transactionDone(): void {
    tx = undefined;
    link.setPhase(parser.pending > 0 ? 'head' : 'idle');
  }

  /** Handles one event; returns the events that parsing further (after 100 Continue, say) produced. */
  async function handle(ev: IcapEvent): Promise<IcapEvent[] | void> {
    switch (ev.type) {
      case 'head':
        if (link.currentPhase !== 'head') link.setPhase('head');
        return startTransaction(ev.head);
      case 'sections':
        return onSections(ev.sections);
      case 'data':
        return onData(ev.data);
      case 'bodyEnd':
        return;
      case 'end': {
        if (!tx) {
          transactionDone(); // a 404'd OPTIONS
          return;
        }
        if (parser.waiting) {
          // End of a preview without ieof: KATA scans whole objects, so it always asks for the rest
          // (unless the object is already too large to scan, when 204 lets it through).
          if (tx.tooLarge) {
            await finishTransaction(tx, true);
            return parser.nextMessage();
          }
          link.write(Buffer.from('ICAP/1.0 100 Continue\r\n\r\n', 'latin1'));
          tx.continued = true;
          return parser.continueBody();
        }
        await finishTransaction(tx, false);
        return;
      }
    }
  }

  function startTransaction(head: IcapHead): void {
    ctx.stats.requests++;
    if (head.kind !== 'request') throw new Refusal(400, 'a response where a request was expected');
    if (!head.headers.has('Host')) throw new Refusal(400, 'missing Host header');
    const method = head.method;
    if (method !== 'OPTIONS' && method !== 'REQMOD' && method !== 'RESPMOD') throw new Refusal(501, `method ${method} not implemented`);
    const uri = parseIcapUri(head.uri);
    const name = uri?.service.split('?')[0]!.replace(/\/+$/, '') ?? '';
    if (!uri || !(name in SERVICES)) {
      const what = `no such service ${JSON.stringify(uri?.service ?? head.uri).slice(0, 200)}`;
      // The proxy may go on using the connection after a 404 on OPTIONS; anything with a body is refused and closed.
      const enc = head.headers.get('Encapsulated')?.trim();
      if (method === 'OPTIONS' && (enc === undefined || enc === 'null-body=0')) {
        ctx.count(404);
        log.error(peer, 404, what);
        link.write(errorAnswer(404, ctx.istag(), false));
        tx = undefined;
        return;
      }
      throw new Refusal(404, what);
    }
    const service = name as ServiceName;
    if (method !== 'OPTIONS' && SERVICES[service] !== method) throw new Refusal(405, `${method} sent to the ${SERVICES[service]} service ${service}`);
    const previewText = head.headers.get('Preview');
    if (previewText !== undefined && (!/^\s*\d{1,9}\s*$/.test(previewText) || Number(previewText) > MAX_PREVIEW)) {
      throw new Refusal(400, `bad Preview header (a number up to ${MAX_PREVIEW})`);
    }
    tx = {
      head,
      method,
      service,
      previewLimit: previewText === undefined ? undefined : Number(previewText),
      previewBytes: 0,
      allow204: (head.headers.get('Allow') ?? '').split(',').some((x) => x.trim() === '204'),
      size: 0,
      tooLarge: false,
      continued: false,
      streaming: false,
      early: [],
      sha256: createHash('sha256'),
      md5: createHash('md5'),
      scanId: randomUUID(),
      headBytes: [],
    };
    if (method === 'OPTIONS') {
      ctx.count(200);
      log.options(peer, service);
      link.write(optionsAnswer({ service, version: opts.version, istag: ctx.istag(), maxConnections: ctx.maxConnections, mode: ctx.mode() }));
    }
  }

  async function onSections(s: EncapsulatedSections): Promise<void> {
    if (!tx) return; // a 404'd OPTIONS
    tx.sections = s;
    if (tx.method === 'OPTIONS') {
      if (s.body !== 'null-body') throw new Refusal(400, 'OPTIONS with a body');
      return;
    }
    if (tx.method === 'RESPMOD' && s.body === 'req-body') throw new Refusal(400, 'RESPMOD with a request body');
    if (tx.method === 'REQMOD' && (s.resHdr || s.body === 'res-body')) throw new Refusal(400, 'REQMOD with an HTTP response');
    if (s.body === 'opt-body') throw new Refusal(400, `${tx.method} with an opt-body`);
    try {
      if (s.reqHdr) tx.reqHttp = parseHttpHead(s.reqHdr);
      if (s.resHdr) tx.resHttp = parseHttpHead(s.resHdr);
    } catch (err) {
      throw new Refusal(400, (err as Error).message);
    }
    if (s.body !== 'null-body') {
      tx.spoolPath = join(ctx.spoolDir, `${tx.scanId}.bin`);
      tx.spool = await open(tx.spoolPath, 'wx', 0o600);
      link.setPhase('body');
    }
  }

  async function onData(data: Buffer): Promise<void> {
    if (!tx) return;
    if (tx.previewLimit !== undefined && !tx.continued) {
      // RFC 3507 4.5: at most the announced size before the zero chunk; more is not a preview.
      tx.previewBytes += data.length;
      if (tx.previewBytes > tx.previewLimit) throw new Refusal(400, `preview longer than the ${tx.previewLimit} bytes announced in Preview`);
    }
    if (tx.size < HEAD_BYTES) tx.headBytes.push(Buffer.from(data.subarray(0, HEAD_BYTES - tx.size)));
    tx.size += data.length;
    await streamEcho(tx, data);
    if (tx.tooLarge) return;
    if (tx.size > opts.maxObjectSize) {
      tx.tooLarge = true;
      // Without a 204 or a running echo the whole message would have to be kept: refuse.
      if (!tx.allow204 && !tx.streaming && !(tx.previewLimit !== undefined && !tx.continued)) throw new Refusal(413, `object larger than ${opts.maxObjectSize} bytes and no Allow: 204`);
      await tx.spool?.close();
      tx.spool = undefined;
      return;
    }
    tx.sha256.update(data);
    tx.md5.update(data);
    await tx.spool!.write(data);
  }

  /** Echo as the body arrives once it is large and 204 is not allowed (see STREAM_AFTER). */
  async function streamEcho(current: Transaction, data: Buffer): Promise<void> {
    if (current.allow204) return;
    if (!current.streaming) {
      // Kept from the first byte (the preview included), so the echo is whole.
      if (current.size <= STREAM_AFTER || (current.previewLimit !== undefined && !current.continued)) {
        current.early.push(Buffer.from(data));
        hold(data.length);
        return;
      }
      current.streaming = true;
      link.write(echoHead({ method: current.method as 'REQMOD' | 'RESPMOD', sections: current.sections, istag: ctx.istag(), scanId: current.scanId }));
      for (const piece of current.early) {
        link.write(encodeChunk(piece));
        hold(-piece.length);
      }
      current.early = [];
      current.held = Buffer.from(data);
      hold(data.length);
      return;
    }
    link.write(encodeChunk(current.held!));
    hold(data.length - current.held!.length);
    current.held = Buffer.from(data);
    await link.writable();
  }

  async function finishTransaction(current: Transaction, afterPreview: boolean): Promise<void> {
    if (current.method === 'OPTIONS') {
      transactionDone();
      return;
    }
    link.setPhase('server');
    // RFC 3507: 204 needs Allow: 204, except as the answer to a preview (before any 100 Continue).
    const may204 = current.allow204 || (current.previewLimit !== undefined && !current.continued) || afterPreview;
    const url = urlOf(current);
    const mode = ctx.mode();
    log.accepted(current.method, peer, url, mode);
    if (current.spool) {
      await current.spool.close();
      current.spool = undefined;
    }
    let outcome: ScanOutcome = {};
    if (current.sections?.body === 'null-body') {
      log.notScanned(current.scanId, 'no HTTP body in the message');
    } else if (current.tooLarge) {
      log.notScanned(current.scanId, `object larger than ${opts.maxObjectSize} bytes, passed`);
    } else {
      const slow = testMarkerOf(Buffer.concat(current.headBytes)) === 'slow';
      outcome = await scanObject(
        ctx,
        { scanId: current.scanId, method: current.method as 'REQMOD' | 'RESPMOD', url, peer, path: current.spoolPath!, size: current.size, sha256: current.sha256.digest('hex'), md5: current.md5.digest('hex'), slow },
        mode,
      );
    }
    current.waitedOutMs = outcome.waitedOutMs;
    const blockWith = outcome.block;
    if (current.streaming) {
      if (blockWith) {
        log.error(peer, 'aborted', `detection in an object already being echoed (no Allow: 204): connection aborted, scan_id=${current.scanId}`);
        link.destroy();
      } else {
        ctx.count(200);
        link.write(Buffer.concat([encodeChunk(current.held ?? Buffer.alloc(0)), lastChunk()]));
      }
    } else if (blockWith) {
      ctx.count(200);
      link.write(blockAnswer({ threat: blockWith.threats[0]?.name ?? 'unknown', url, scanId: current.scanId, istag: ctx.istag() }));
    } else if (may204) {
      ctx.count(204);
      link.write(noContentAnswer(ctx.istag(), current.scanId, current.waitedOutMs));
    } else {
      ctx.count(200);
      await echo(current);
    }
    await dropTransaction(current);
    if (tx === current) transactionDone();
  }

  /** Sends the message back unchanged (the client did not allow 204). */
  async function echo(current: Transaction): Promise<void> {
    link.write(echoHead({ method: current.method as 'REQMOD' | 'RESPMOD', sections: current.sections, istag: ctx.istag(), scanId: current.scanId, waitedOutMs: current.waitedOutMs }));
    if (current.sections?.body === 'null-body' || !current.spoolPath) return;
    const pieces = createReadStream(current.spoolPath, { highWaterMark: 64 * 1024 });
    try {
      for await (const piece of pieces) {
        link.write(encodeChunk(piece as Buffer));
        if (!(await link.writable())) return;
      }
    } finally {
      pieces.destroy();
    }
    link.write(lastChunk());
  }

  /** Closes and removes the transaction's spool file and releases what it held in memory. */
  async function dropTransaction(current: Transaction): Promise<void> {
    const early = current.early.reduce((n, b) => n + b.length, 0) + (current.held?.length ?? 0);
    current.early = [];
    current.held = undefined;
    hold(-early);
    const spool = current.spool;
    current.spool = undefined;
    if (spool) await spool.close().catch(() => undefined);
    if (current.spoolPath) await unlink(current.spoolPath).catch(() => undefined);
  }
}
