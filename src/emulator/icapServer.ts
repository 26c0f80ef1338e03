import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import {
  type EncapsulatedSections,
  type HttpHead,
  type IcapHead,
  type IcapEvent,
  IcapMessageParser,
  IcapParseError,
  encodeChunk,
  icapReasons,
  lastChunk,
  parseHttpHead,
  parseIcapUri,
  serializeHttpHead,
  serializeIcapResponse,
} from '../icap/icapMessage';
import { type DetectionEngine, HEAD_BYTES, testMarkerOf, type Verdict } from './detection';
import { blockPage } from './icapBlockPage';
import { type IcapMode, IcapServiceLog } from './icapServiceLog';

export type { IcapMode } from './icapServiceLog';

export interface IcapServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  mode: IcapMode;
  dataDir: string;
  engine: DetectionEngine;
  logger: Logger;
  /** Larger bodies are not scanned: 204 when the client allows it, else 413 and close. */
  maxObjectSize: number;
  /** How long a KDS-TEST-SLOW object takes to get its verdict. */
  slowVerdictMs: number;
  /** blocking_advanced waits this long for a slow verdict before letting the object through. */
  advancedWaitMs: number;
  /** More simultaneous connections get 503 and are closed. */
  maxConnections?: number;
  /** The head of a request must arrive within this (slowloris guard). */
  headTimeoutMs?: number;
  /** A connection idle between requests, or silent in the middle of a body, is closed after this. */
  idleTimeoutMs?: number;
  /** Called for each detection (the emulator records it as an alert). */
  onDetection?(d: IcapDetection): void;
  version: string;
}

export interface IcapDetection {
  scanId: string;
  method: 'REQMOD' | 'RESPMOD';
  url: string;
  peer: string;
  size: number;
  sha256: string;
  md5: string;
  verdict: Verdict;
  mode: IcapMode;
  action: 'blocked' | 'passed';
  at: string;
}

export interface IcapStats {
  connections: number;
  openConnections: number;
  requests: number;
  byStatus: Map<number, number>;
  detections: number;
  parseErrors: number;
}

export interface RunningIcapServer {
  host: string;
  port: number;
  /** icap://HOST:PORT */
  url: string;
  respmodUrl: string;
  reqmodUrl: string;
  logPath: string;
  mode(): IcapMode;
  setMode(mode: IcapMode, by: string): void;
  stats(): IcapStats;
  close(): Promise<void>;
}

const SERVICES = { respmod: 'RESPMOD', reqmod: 'REQMOD' } as const;
const PREVIEW = 1024;
/** Larger previews are refused: a preview is held in memory. */
const MAX_PREVIEW = 1024 * 1024;
/**
 * A proxy that cannot keep a whole large object (Squid, beyond its buffer) sends no Allow: 204 and
 * stops sending the body until the answer starts. Without Allow: 204 and past this many bytes, the
 * unchanged message is echoed as it arrives, with its last chunk held back until the verdict: a
 * detection then aborts the connection (the client gets a broken transfer, as with c-icap's
 * trickling), since the head is already sent. Smaller objects are answered whole (block page).
 */
const STREAM_AFTER = 32 * 1024;
const OPTIONS_TTL = 300;

function hostForUrl(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** Tells the client (the probe) that the object passed because the verdict wait expired, not because it is clean. */
function verdictNote(tx: Transaction): Record<string, string> {
  return tx.waitedOutMs === undefined ? {} : { 'X-KDS-Verdict': `timeout; waited_ms=${tx.waitedOutMs}` };
}

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
  service: keyof typeof SERVICES;
  sections?: EncapsulatedSections;
  reqHttp?: HttpHead;
  resHttp?: HttpHead;
  preview: boolean;
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
  /** Body bytes kept in memory until streaming starts (at most STREAM_AFTER). */
  early: Buffer[];
  sha256: ReturnType<typeof createHash>;
  md5: ReturnType<typeof createHash>;
  scanId: string;
  headBytes: Buffer[];
  /** blocking_advanced gave up waiting for the verdict after this many ms and let the object through. */
  waitedOutMs?: number;
}

/**
 * The embedded KATA's ICAP server (RFC 3507): services `respmod` and `reqmod`, OPTIONS for each,
 * preview with 100 Continue, 204, persistent connections, the scanner API's detection, and the
 * three KATA integration modes. Bodies are spooled to files (memory stays flat whatever the size),
 * every framing error ends in a 4xx/5xx answer or a closed connection.
 */
export async function startIcapServer(opts: IcapServerOptions): Promise<RunningIcapServer> {
  const spoolDir = join(opts.dataDir, 'icap-spool');
  await mkdir(spoolDir, { recursive: true, mode: 0o700 });
  for (const name of await readdir(spoolDir)) await unlink(join(spoolDir, name)).catch(() => undefined);
  const log = new IcapServiceLog(opts.dataDir);
  let mode = opts.mode;
  const maxConnections = opts.maxConnections ?? 1000;
  const headTimeoutMs = opts.headTimeoutMs ?? 15_000;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;
  const stats: IcapStats = { connections: 0, openConnections: 0, requests: 0, byStatus: new Map(), detections: 0, parseErrors: 0 };
  const sockets = new Set<Socket>();
  const pending = new Set<Promise<unknown>>();
  let closing = false;
  const stopping = new AbortController();

  const istag = () => `"KDS-${opts.version}-${mode === 'monitoring' ? 'mon' : mode === 'blocking_simple' ? 'bs' : 'ba'}"`.slice(0, 34);
  const count = (status: number) => stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + 1);

  const server: Server = createServer((socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    stats.connections++;
    if (sockets.size >= maxConnections) {
      count(503);
      socket.on('error', () => undefined);
      socket.end(serializeIcapResponse({ status: 503, reason: icapReasons[503]!, headers: { ISTag: istag(), Connection: 'close' }, body: 'none' }));
      return;
    }
    sockets.add(socket);
    stats.openConnections = sockets.size;
    socket.on('close', () => {
      sockets.delete(socket);
      stats.openConnections = sockets.size;
    });
    const job = serveConnection(socket).catch((err: Error) => {
      opts.logger.error('emulator.icap', t('ICAP connection failed: {0}', err.message));
      socket.destroy();
    });
    pending.add(job);
    void job.finally(() => pending.delete(job));
  });
  server.on('error', (err) => opts.logger.error('emulator.icap', t('ICAP server error: {0}', err.message)));

  async function serveConnection(socket: Socket): Promise<void> {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    const parser = new IcapMessageParser({ maxHeadBytes: 64 * 1024, maxSectionBytes: 64 * 1024, maxBodyBytes: Infinity });
    let tx: Transaction | undefined;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;

    const arm = (ms: number, why: 'head' | 'idle') => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (why === 'head') {
          log.error(peer, 408, 'request head not received in time');
          refuse(408);
        } else socket.destroy();
      }, ms);
    };
    const write = (b: Buffer) => {
      if (!socket.destroyed) socket.write(b);
    };
    const refuse = (status: number) => {
      count(status);
      if (!socket.destroyed) {
        socket.end(serializeIcapResponse({ status, reason: icapReasons[status] ?? 'Error', headers: { ISTag: istag(), Connection: 'close' }, body: 'none' }));
        setTimeout(() => socket.destroy(), 2000).unref();
      }
      ended = true;
    };
    const cleanup = async () => {
      if (tx?.spool) await tx.spool.close().catch(() => undefined);
      if (tx?.spoolPath) await unlink(tx.spoolPath).catch(() => undefined);
      tx = undefined;
    };

    arm(idleTimeoutMs, 'idle');
    const queue: Buffer[] = [];
    let busy = false;
    const drain = async () => {
      if (busy) return;
      busy = true;
      try {
        while (queue.length && !ended) {
          const chunk = queue.shift()!;
          // Back-pressure: stop reading while this chunk's events (disk writes, scans) are handled.
          socket.pause();
          // The head timer starts with the first byte of a message and is not re-armed by later
          // bytes, so a client trickling its head (slowloris) is cut off.
          if (parser.idle) arm(headTimeoutMs, 'head');
          const events = parser.push(chunk);
          while (events.length && !ended) {
            const more = await handle(events.shift()!);
            if (more) events.push(...more);
          }
          if (!ended) {
            if (parser.idle && tx === undefined) arm(idleTimeoutMs, 'idle');
            else if (tx?.sections) arm(idleTimeoutMs, 'idle');
            socket.resume();
          }
        }
      } catch (err) {
        if (err instanceof IcapParseError) {
          stats.parseErrors++;
          log.error(peer, err.status || 'closed', err.message);
          if (err.status) refuse(err.status);
          else socket.destroy();
        } else if (err instanceof Refusal) {
          log.error(peer, err.status, err.message);
          refuse(err.status);
        } else throw err;
      } finally {
        busy = false;
      }
    };
    socket.on('data', (d: Buffer) => {
      queue.push(d);
      void drain().catch((err: Error) => {
        opts.logger.error('emulator.icap', t('ICAP connection failed: {0}', err.message));
        socket.destroy();
      });
    });
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    clearTimeout(timer);
    // Wait for a handler still writing to the spool before removing it.
    while (busy) await new Promise((r) => setTimeout(r, 10));
    await cleanup();

    /** Handles one event; returns the events that parsing further (after 100 Continue, say) produced. */
    async function handle(ev: IcapEvent): Promise<IcapEvent[] | void> {
      switch (ev.type) {
        case 'head': {
          stats.requests++;
          const head = ev.head;
          if (head.kind !== 'request') throw new Refusal(400, 'a response where a request was expected');
          if (!head.headers.has('Host')) throw new Refusal(400, 'missing Host header');
          const method = head.method;
          if (method !== 'OPTIONS' && method !== 'REQMOD' && method !== 'RESPMOD') throw new Refusal(501, `method ${method} not implemented`);
          const uri = parseIcapUri(head.uri);
          const name = uri?.service.split('?')[0]!.replace(/\/+$/, '') ?? '';
          if (!uri || !(name in SERVICES)) {
            // The proxy may go on using the connection after a 404 on OPTIONS; anything with a body is refused and closed.
            const enc = head.headers.get('Encapsulated')?.trim();
            if (method === 'OPTIONS' && (enc === undefined || enc === 'null-body=0')) {
              count(404);
              log.error(peer, 404, `no such service ${JSON.stringify(uri?.service ?? head.uri).slice(0, 200)}`);
              write(serializeIcapResponse({ status: 404, reason: icapReasons[404]!, headers: { ISTag: istag() }, body: 'none' }));
              tx = undefined;
              return;
            }
            throw new Refusal(404, `no such service ${JSON.stringify(uri?.service ?? head.uri).slice(0, 200)}`);
          }
          const service = name as keyof typeof SERVICES;
          if (method !== 'OPTIONS' && SERVICES[service] !== method) throw new Refusal(405, `${method} sent to the ${SERVICES[service]} service ${service}`);
          tx = {
            head,
            method,
            service,
            preview: head.headers.has('Preview'),
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
          if (tx.preview && (!/^\s*\d{1,9}\s*$/.test(head.headers.get('Preview')!) || Number(head.headers.get('Preview')) > MAX_PREVIEW)) {
            throw new Refusal(400, `bad Preview header (a number up to ${MAX_PREVIEW})`);
          }
          if (method === 'OPTIONS') {
            count(200);
            log.options(peer, service);
            write(
              serializeIcapResponse({
                status: 200,
                reason: 'OK',
                headers: {
                  Methods: SERVICES[service],
                  Service: `KDS embedded KATA ICAP ${opts.version}`,
                  'Service-ID': `kata_${service}`,
                  ISTag: istag(),
                  'Max-Connections': maxConnections,
                  'Options-TTL': OPTIONS_TTL,
                  Allow: 204,
                  Preview: PREVIEW,
                  'Transfer-Preview': '*',
                  Date: new Date().toUTCString(),
                  'X-KDS-Mode': mode,
                },
                body: 'none',
              }),
            );
          }
          return;
        }
        case 'sections': {
          if (!tx) return; // a 404'd OPTIONS
          tx.sections = ev.sections;
          const s = ev.sections;
          if (tx.method === 'OPTIONS') {
            if (s.body !== 'null-body') throw new Refusal(400, 'OPTIONS with a body');
            tx = undefined;
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
            tx.spoolPath = join(spoolDir, `${tx.scanId}.bin`);
            tx.spool = await open(tx.spoolPath, 'wx', 0o600);
          }
          return;
        }
        case 'data': {
          if (!tx) return;
          const data = ev.data;
          if (tx.size < HEAD_BYTES) tx.headBytes.push(Buffer.from(data.subarray(0, HEAD_BYTES - tx.size)));
          tx.size += data.length;
          await streamEcho(tx, data);
          if (tx.tooLarge) return;
          if (tx.size > opts.maxObjectSize) {
            tx.tooLarge = true;
            // Without a 204 or a running echo the whole message would have to be kept: refuse.
            if (!tx.allow204 && !tx.streaming && !(tx.preview && !tx.continued)) throw new Refusal(413, `object larger than ${opts.maxObjectSize} bytes and no Allow: 204`);
            await tx.spool?.close();
            tx.spool = undefined;
            return;
          }
          tx.sha256.update(data);
          tx.md5.update(data);
          await tx.spool!.write(data);
          return;
        }
        case 'bodyEnd':
          return;
        case 'end': {
          if (!tx) return;
          if (parser.waiting) {
            // End of a preview without ieof: KATA scans whole objects, so it always asks for the rest
            // (unless the object is already too large to scan, when 204 lets it through).
            if (tx.tooLarge) {
              await finishTransaction(tx, peer, true);
              return parser.nextMessage();
            }
            write(Buffer.from('ICAP/1.0 100 Continue\r\n\r\n', 'latin1'));
            tx.continued = true;
            return parser.continueBody();
          }
          await finishTransaction(tx, peer, false);
          return;
        }
      }
    }

    /** Echo as the body arrives once it is large and 204 is not allowed (see STREAM_AFTER). */
    async function streamEcho(current: Transaction, data: Buffer): Promise<void> {
      if (current.allow204) return;
      if (!current.streaming) {
        // Kept from the first byte (the preview included), so the echo is whole.
        if (current.size <= STREAM_AFTER || (current.preview && !current.continued)) {
          current.early.push(Buffer.from(data));
          return;
        }
        current.streaming = true;
        write(echoHead(current));
        const all = Buffer.concat([...current.early, data]);
        current.early = [];
        write(encodeChunk(all.subarray(0, all.length - data.length)));
        current.held = Buffer.from(data);
        return;
      }
      write(encodeChunk(current.held!));
      current.held = Buffer.from(data);
      if (socket.writableNeedDrain) await new Promise<void>((r) => socket.once('drain', () => r()));
    }

    async function finishTransaction(current: Transaction, from: string, afterPreview: boolean): Promise<void> {
      // RFC 3507: 204 needs Allow: 204, except as the answer to a preview (before any 100 Continue).
      const may204 = current.allow204 || (current.preview && !current.continued) || afterPreview;
      const url = urlOf(current);
      log.accepted(current.method, from, url, mode);
      if (current.spool) {
        await current.spool.close();
        current.spool = undefined;
      }
      const answerMode = mode;
      let blockWith: Verdict | undefined;
      if (current.sections?.body === 'null-body') {
        log.notScanned(current.scanId, 'no HTTP body in the message');
      } else if (current.tooLarge) {
        log.notScanned(current.scanId, `object larger than ${opts.maxObjectSize} bytes, passed`);
      } else {
        blockWith = await scan(current, from, url, answerMode);
      }
      if (current.streaming) {
        if (blockWith) {
          log.error(from, 'aborted', `detection in an object already being echoed (no Allow: 204): connection aborted, scan_id=${current.scanId}`);
          socket.destroy();
        } else {
          count(200);
          write(Buffer.concat([encodeChunk(current.held ?? Buffer.alloc(0)), lastChunk()]));
        }
      } else if (blockWith) {
        count(200);
        const threat = blockWith.threats[0]?.name ?? 'unknown';
        const page = blockPage(threat, url, current.scanId);
        const resHdr = serializeHttpHead('HTTP/1.1 403 Forbidden', {
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Length': page.length,
          'Cache-Control': 'no-store',
          Connection: 'close',
          'X-KDS-Threat': threat,
        });
        const headers = {
          ISTag: istag(),
          'X-Infection-Found': `Type=0; Resolution=2; Threat=${threat.replace(/;/g, ',')};`,
          'X-Virus-ID': threat,
          'X-Response-Info': 'Blocked',
          'X-KDS-Scan-ID': current.scanId,
        };
        write(Buffer.concat([serializeIcapResponse({ status: 200, reason: 'OK', headers, resHdr, body: 'res-body' }), encodeChunk(page), lastChunk()]));
      } else if (may204) {
        count(204);
        write(serializeIcapResponse({ status: 204, reason: 'No Content', headers: { ISTag: istag(), 'X-KDS-Scan-ID': current.scanId, ...verdictNote(current) }, body: 'none' }));
      } else {
        count(200);
        await echo(current);
      }
      if (current.spoolPath) await unlink(current.spoolPath).catch(() => undefined);
      if (tx === current) tx = undefined;
    }

    function echoHead(current: Transaction): Buffer {
      const isResp = current.method === 'RESPMOD';
      const hasBody = current.sections?.body !== 'null-body';
      return serializeIcapResponse({
        status: 200,
        reason: 'OK',
        headers: { ISTag: istag(), 'X-KDS-Scan-ID': current.scanId, ...verdictNote(current) },
        reqHdr: isResp ? undefined : current.sections?.reqHdr,
        resHdr: isResp ? current.sections?.resHdr : undefined,
        body: hasBody ? (isResp ? 'res-body' : 'req-body') : 'none',
      });
    }

    /** Sends the message back unchanged (the client did not allow 204). */
    async function echo(current: Transaction): Promise<void> {
      const hasBody = current.sections?.body !== 'null-body';
      write(echoHead(current));
      if (!hasBody || !current.spoolPath) return;
      for await (const piece of createReadStream(current.spoolPath, { highWaterMark: 64 * 1024 })) {
        if (socket.destroyed) return;
        if (!socket.write(encodeChunk(piece as Buffer))) await new Promise<void>((r) => socket.once('drain', () => r()));
      }
      write(lastChunk());
    }
  }

  /** Runs the detection as the mode says; returns the verdict when the object must be blocked. */
  async function scan(current: Transaction, peer: string, url: string, answerMode: IcapMode): Promise<Verdict | undefined> {
    const size = current.size;
    const sha256 = current.sha256.digest('hex');
    const md5 = current.md5.digest('hex');
    const slow = testMarkerOf(Buffer.concat(current.headBytes)) === 'slow';
    let path = current.spoolPath!;
    if (slow) {
      // The slow verdict may outlive the answer (which removes the spool file): it gets its own copy.
      path = `${path}.slow`;
      await rename(current.spoolPath!, path);
    }
    const report = (verdict: Verdict, action: 'blocked' | 'passed') => {
      if (verdict.state !== 'detect') return;
      stats.detections++;
      opts.onDetection?.({ scanId: current.scanId, method: current.method as 'REQMOD' | 'RESPMOD', url, peer, size, sha256, md5, verdict, mode: answerMode, action, at: new Date().toISOString() });
    };
    const verdictWord = (v: Verdict) => (v.state === 'detect' ? 'detected' : v.state === 'not detected' ? 'clean' : v.state);
    if (!slow) {
      const verdict = await opts.engine.examine({ path, size, sha256 }, stopping.signal);
      return decide(verdict);
    }

    const started = Date.now();
    const slowJob = (async () => {
      try {
        await sleep(opts.slowVerdictMs, undefined, { signal: stopping.signal });
        return await opts.engine.examine({ path, size, sha256 }, stopping.signal);
      } finally {
        await unlink(path).catch(() => undefined);
      }
    })();
    const lateResult = () => {
      const late = slowJob.then(
        (v) => {
          log.lateResult(current.scanId, verdictWord(v), v.threats[0]?.name);
          report(v, 'passed');
        },
        () => undefined,
      );
      pending.add(late);
      void late.finally(() => pending.delete(late));
    };
    if (answerMode !== 'blocking_advanced') {
      // Monitoring and blocking_simple do not hold traffic for a slow verdict: the object passes
      // now and the verdict arrives later, as an alert when it is a detection.
      log.verdict({ scanId: current.scanId, size, sha256, verdict: 'pending', action: 'passed', note: `slow analysis, ${answerMode} mode does not wait` });
      lateResult();
      return undefined;
    }
    const waitOut = new AbortController();
    const outcome = await Promise.race([slowJob, sleep(opts.advancedWaitMs, 'waited-out' as const, { signal: waitOut.signal }).catch(() => 'aborted' as const)]);
    waitOut.abort();
    if (outcome === 'waited-out' || outcome === 'aborted') {
      current.waitedOutMs = Date.now() - started;
      log.verdict({ scanId: current.scanId, size, sha256, verdict: 'timeout', action: 'passed', waitedMs: Date.now() - started, note: 'no verdict within the blocking_advanced wait, object let through' });
      lateResult();
      return undefined;
    }
    return decide(outcome, Date.now() - started);

    function decide(verdict: Verdict, waitedMs?: number): Verdict | undefined {
      const blocking = answerMode !== 'monitoring' && verdict.state === 'detect';
      log.verdict({
        scanId: current.scanId,
        size,
        sha256,
        verdict: verdictWord(verdict),
        threat: verdict.threats.map((x) => x.name).join(', ') || undefined,
        action: blocking ? 'blocked' : 'passed',
        waitedMs,
        note: verdict.state === 'error' || verdict.state === 'timeout' ? 'no verdict, object let through' : undefined,
      });
      report(verdict, blocking ? 'blocked' : 'passed');
      return blocking ? verdict : undefined;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const url = `icap://${hostForUrl(opts.host)}:${port}`;
  log.started(url, mode);
  opts.logger.info('emulator.icap', t('ICAP server listening on {0} in {1} mode', url, mode));

  return {
    host: opts.host,
    port,
    url,
    respmodUrl: `${url}/respmod`,
    reqmodUrl: `${url}/reqmod`,
    logPath: log.path,
    mode: () => mode,
    setMode(next, by) {
      if (next === mode) return;
      log.modeChanged(mode, next, by);
      opts.logger.info('emulator.icap', t('ICAP mode changed from {0} to {1}', mode, next));
      mode = next;
    },
    stats: () => ({ ...stats, byStatus: new Map(stats.byStatus) }),
    async close() {
      if (closing) return;
      closing = true;
      stopping.abort();
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
      await Promise.allSettled([...pending]);
      log.close();
    },
  };
}

function urlOf(tx: Transaction): string {
  const req = tx.reqHttp;
  if (!req?.target) return '-';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(req.target)) return req.target;
  const host = req.headers.get('Host');
  return host ? `http://${host}${req.target}` : req.target;
}
