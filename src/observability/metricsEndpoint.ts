import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { t } from '../common/l10n';
import { type ListenAddress, formatListenAddress } from '../common/listenAddress';
import type { Logger } from '../common/log';

export interface MetricsEndpointOptions {
  address: ListenAddress;
  /** The exposition text, made at each scrape. */
  metrics(): Promise<string>;
  contentType: string;
  readiness(): { ready: boolean; reasons: string[] };
  logger: Logger;
  /** After a failed bind (port in use…), the next attempt (default 30 s). */
  bindRetryMs?: number;
}

/**
 * The HTTP endpoint of the service: /metrics (Prometheus text format), /healthz (the process
 * answers) and /readyz (200 "ready", or 503 with one reason a line). GET and HEAD only, no
 * request body read, short timeouts, a few connections at most. A port KDS cannot bind (in use)
 * is logged and tried again every bindRetryMs: monitoring never keeps the service from scanning.
 * A Unix socket is created 0600 (root only, like the rest of the service's state) in a folder
 * nobody else may write, replacing only a stale socket, never another kind of file.
 */
export class MetricsEndpoint {
  private server?: Server;
  private retry?: NodeJS.Timeout;
  private closed = false;
  private failedLogged = false;
  private socketIno?: number;

  constructor(private readonly o: MetricsEndpointOptions) {}

  /** Where it listens, as written in metrics_listen (the bound port when 0 was asked, for tests). */
  get where(): string {
    const a = this.server?.address();
    if (a && typeof a === 'object' && this.o.address.kind === 'tcp') return formatListenAddress({ kind: 'tcp', host: this.o.address.host, port: a.port });
    return formatListenAddress(this.o.address);
  }

  get listening(): boolean {
    return this.server?.listening === true;
  }

  /** One attempt now; on failure it keeps trying in the background. */
  async start(): Promise<void> {
    try {
      await this.bind();
      if (this.failedLogged) this.o.logger.info('metrics-listening', t('serving metrics and health at {0} now', this.where));
      else this.o.logger.info('metrics-listening', t('serving metrics and health at {0}', this.where));
      this.failedLogged = false;
    } catch (err) {
      if (!this.failedLogged) {
        this.o.logger.error('metrics-listen-failed', t('cannot serve metrics at {0}: {1}; scanning goes on, the endpoint is tried again every {2} s', formatListenAddress(this.o.address), (err as Error).message, Math.round((this.o.bindRetryMs ?? 30_000) / 1000)));
        this.failedLogged = true;
      }
      if (!this.closed) {
        this.retry = setTimeout(() => void this.start(), this.o.bindRetryMs ?? 30_000);
        this.retry.unref();
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    if (this.o.address.kind === 'unix' && this.socketIno !== undefined) {
      // Only the socket this process made: another process may have taken the path since.
      const st = await lstat(this.o.address.path).catch(() => undefined);
      if (st?.isSocket() && st.ino === this.socketIno) await unlink(this.o.address.path).catch(() => undefined);
    }
  }

  private async bind(): Promise<void> {
    const a = this.o.address;
    if (a.kind === 'unix') await prepareSocketPath(a.path);
    const server = createServer((req, res) => void this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 15_000;
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 64;
    server.maxConnections = 32;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (a.kind === 'unix') server.listen(a.path, () => resolve());
      else server.listen({ host: a.host, port: a.port, exclusive: true }, () => resolve());
    });
    server.on('error', (err) => this.o.logger.warn('metrics-error', t('metrics endpoint: {0}', err.message)));
    if (a.kind === 'unix') {
      await chmod(a.path, 0o600);
      this.socketIno = (await lstat(a.path)).ino;
    }
    if (this.closed) {
      server.close();
      return;
    }
    this.server = server;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const text = 'text/plain; charset=utf-8';
    try {
      switch (path) {
        case '/metrics':
          reply(200, this.o.contentType, await this.o.metrics());
          return;
        case '/healthz':
          reply(200, text, 'ok\n');
          return;
        case '/readyz': {
          const r = this.o.readiness();
          reply(r.ready ? 200 : 503, text, r.ready ? 'ready\n' : r.reasons.map((l) => `not ready: ${l}\n`).join(''));
          return;
        }
        case '/':
          reply(200, text, 'KATA Directory Scanner: /metrics /healthz /readyz\n');
          return;
        default:
          reply(404, text, 'not found\n');
      }
    } catch (err) {
      reply(500, text, `error: ${(err as Error).message}\n`);
    }
  }
}

/**
 * Makes a Unix socket path safe to listen on as root: its folder exists (created 0755 when
 * missing), is a real folder owned by root (or this user) that nobody else may write (so nobody
 * can swap the socket for something else), and whatever is at the path is a stale socket.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const st = await lstat(dir);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory()) throw new Error(t('{0} is not a folder', dir));
  if (st.uid !== uid && st.uid !== 0) throw new Error(t('the folder {0} belongs to another user (uid {1})', dir, st.uid));
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) throw new Error(t('the folder {0} may be written by other users (mode {1}); choose a folder only root can write', dir, (st.mode & 0o7777).toString(8)));
  let existing;
  try {
    existing = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!existing.isSocket()) throw new Error(t('{0} exists and is not a socket; it was left alone', path));
  if (await socketAnswers(path)) throw new Error(t('{0} is in use by another process', path));
  await unlink(path);
}

/** Whether something listens on the socket (a stale one refuses the connection). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(2000, () => done(true));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
