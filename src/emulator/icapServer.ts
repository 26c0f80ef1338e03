import { mkdir, readdir, unlink } from 'node:fs/promises';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { t } from '../common/l10n';
import { errorAnswer } from './icapAnswers';
import type { IcapServerContext, IcapServerOptions, IcapStats } from './icapContext';
import type { PeerLink } from './icapPeerLink';
import { type IcapMode, IcapServiceLog } from './icapServiceLog';
import { serveIcapConnection } from './icapSession';

export type { IcapMode } from './icapServiceLog';
export type { IcapDetection, IcapServerOptions, IcapStats } from './icapContext';

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

function hostForUrl(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return isIP(host) === 6 ? `[${host}]` : host;
}

/**
 * The embedded KATA's ICAP server (RFC 3507): services `respmod` and `reqmod`, OPTIONS for each,
 * preview with 100 Continue, 204, persistent connections, the scanner API's detection, and the
 * three KATA integration modes. Bodies are spooled to files (memory stays flat whatever the size),
 * every framing error ends in a 4xx/5xx answer or a closed connection, and a peer that is slow,
 * silent or not reading its answers costs a bounded slot for a bounded time (icapPeerLink.ts).
 */
export async function startIcapServer(opts: IcapServerOptions): Promise<RunningIcapServer> {
  const spoolDir = join(opts.dataDir, 'icap-spool');
  await mkdir(spoolDir, { recursive: true, mode: 0o700 });
  for (const name of await readdir(spoolDir)) await unlink(join(spoolDir, name)).catch(() => undefined);
  const log = new IcapServiceLog(opts.dataDir);
  let mode = opts.mode;
  const maxConnections = opts.maxConnections ?? 1000;
  const stats: IcapStats = {
    connections: 0,
    openConnections: 0,
    requests: 0,
    byStatus: new Map(),
    detections: 0,
    parseErrors: 0,
    heldBodyBytes: 0,
    peakHeldBodyBytes: 0,
    waitingForPeer: 0,
  };
  const sockets = new Set<Socket>();
  const links = new Set<PeerLink>();
  const pending = new Set<Promise<unknown>>();
  let closing = false;
  const stopping = new AbortController();
  const track = (job: Promise<unknown>) => {
    pending.add(job);
    void job.finally(() => pending.delete(job));
  };

  const ctx: IcapServerContext = {
    opts,
    log,
    spoolDir,
    maxConnections,
    stopping: stopping.signal,
    stats,
    links,
    mode: () => mode,
    istag: () => `"KDS-${opts.version}-${mode === 'monitoring' ? 'mon' : mode === 'blocking_simple' ? 'bs' : 'ba'}"`.slice(0, 34),
    count: (status) => stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + 1),
    held(delta) {
      stats.heldBodyBytes += delta;
      stats.peakHeldBodyBytes = Math.max(stats.peakHeldBodyBytes, stats.heldBodyBytes);
    },
    track,
  };

  const server: Server = createServer((socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    stats.connections++;
    if (sockets.size >= maxConnections) {
      ctx.count(503);
      socket.on('error', () => undefined);
      socket.end(errorAnswer(503, ctx.istag(), true));
      return;
    }
    sockets.add(socket);
    stats.openConnections = sockets.size;
    socket.on('close', () => {
      sockets.delete(socket);
      stats.openConnections = sockets.size;
    });
    track(
      serveIcapConnection(ctx, socket).catch((err: Error) => {
        opts.logger.error('emulator.icap', t('ICAP connection failed: {0}', err.message));
        socket.destroy();
      }),
    );
  });
  server.on('error', (err) => opts.logger.error('emulator.icap', t('ICAP server error: {0}', err.message)));

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
    stats: () => ({ ...stats, byStatus: new Map(stats.byStatus), waitingForPeer: [...links].filter((l) => l.waitingForPeer).length }),
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
