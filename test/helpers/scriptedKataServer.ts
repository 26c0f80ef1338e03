import Busboy from 'busboy';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type KeyAndCert, createCa, createSelfSigned, issueServerCert } from '../../src/pki/certs';

/**
 * A tiny HTTPS server with mutual TLS whose answers each test scripts, recording what the
 * client sent (multipart parts included) and which client certificate it presented. It knows
 * nothing of KATA's semantics on purpose: the emulator in src/emulator does that.
 */

export interface TestPki {
  ca: KeyAndCert;
  /** Issued by `ca` for localhost, 127.0.0.1 and ::1. */
  server: KeyAndCert;
  /** Self-signed, CN only, no SAN: what a KATA Central Node typically has. */
  selfSignedServer: KeyAndCert;
  /** A CA that signed nothing here: verification against it must fail. */
  otherCa: KeyAndCert;
  client: KeyAndCert;
}

let pkiOnce: Promise<TestPki> | undefined;

/** RSA key generation is slow; one set per test process is enough. */
export function testPki(): Promise<TestPki> {
  pkiOnce ??= (async () => {
    const ca = await createCa({ commonName: 'KDS scripted test CA', days: 2 });
    const [server, selfSignedServer, otherCa, client] = await Promise.all([
      issueServerCert(ca, { commonName: 'localhost', days: 2, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] }),
      createSelfSigned({ commonName: 'kata-cn.example.local', days: 2 }),
      createCa({ commonName: 'Some other CA', days: 2 }),
      createSelfSigned({ commonName: 'kds-test-sensor', days: 365 }),
    ]);
    return { ca, server, selfSignedServer, otherCa, client };
  })();
  return pkiOnce;
}

export interface RecordedPart {
  name: string;
  /** For file parts: the file name as the server's parser decoded it. */
  filename?: string;
  mimeType?: string;
  /** For text fields. */
  value?: string;
  /** For file parts. */
  size?: number;
  sha256?: string;
  /** For file parts up to `keepFileBytes`; larger ones are only hashed so tests stay small in memory. */
  data?: Buffer;
}

export interface RecordedRequest {
  method: string;
  url: string;
  /** Decoded path after `/kata/scanner/v1/sensors/<sensorId>/`, e.g. `scans/state`. */
  route: string;
  sensorId?: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  /** SHA-256 of the client certificate, `AA:BB:…`, or undefined when none was presented. */
  clientFingerprint?: string;
  parts?: RecordedPart[];
  /** Raw body of non-multipart requests. */
  body?: Buffer;
  /** True when the client stopped sending before the declared body was complete. */
  aborted: boolean;
  /** Number of this request on its TLS connection (1 = first), to observe keep-alive. */
  connectionRequestNo: number;
  connectionId: number;
  /** Settles once the server has read the whole body or seen the client give up on it. */
  bodyDone: Promise<void>;
}

export type ScriptedReply =
  | { status: number; body?: string | object | Buffer; headers?: Record<string, string> }
  | { action: 'reset' }
  | { action: 'hang' };

export type Responder = ScriptedReply | ((req: RecordedRequest) => ScriptedReply | Promise<ScriptedReply>);

export interface ScriptedServerOptions {
  /** Which certificate the server presents; default the CA-issued one. */
  certificate?: 'ca-issued' | 'self-signed';
  keepFileBytes?: number;
}

interface Route {
  method: string;
  route: string;
  responder: Responder;
  once: boolean;
}

export class ScriptedKataServer {
  readonly requests: RecordedRequest[] = [];
  /** Runs after the headers arrived and before the body is read (e.g. to change the file being uploaded). */
  beforeBody: ((req: RecordedRequest) => Promise<void> | void) | undefined;
  private routes: Route[] = [];
  private readonly sockets = new Set<Socket>();
  private connectionSeq = 0;
  port = 0;

  private constructor(
    readonly pki: TestPki,
    readonly serverCert: KeyAndCert,
    private readonly server: Server,
    private readonly keepFileBytes: number,
  ) {}

  static async start(options: ScriptedServerOptions = {}): Promise<ScriptedKataServer> {
    const pki = await testPki();
    const serverCert = options.certificate === 'self-signed' ? pki.selfSignedServer : pki.server;
    // Asked for but not enforced, so a test can see whether the client presented one.
    const recordClientCertificateInsteadOfEnforcing = true;
    const server = createServer({
      key: serverCert.keyPem,
      cert: serverCert.certPem,
      requestCert: true,
      rejectUnauthorized: !recordClientCertificateInsteadOfEnforcing,
    });
    const s = new ScriptedKataServer(pki, serverCert, server, options.keepFileBytes ?? 1024 * 1024);
    server.on('connection', (socket: Socket) => {
      s.sockets.add(socket);
      socket.on('close', () => s.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      (socket as TLSSocket & { kdsConnectionId?: number; kdsRequests?: number }).kdsConnectionId = ++s.connectionSeq;
    });
    server.on('request', (req, res) => void s.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    s.port = (server.address() as { port: number }).port;
    return s;
  }

  /**
   * Answer `METHOD route` (route relative to the sensor's base path; `*` matches any route,
   * `scans/*` any route below scans/) with `responder`; later calls win.
   */
  on(method: string, route: string, responder: Responder, opts: { once?: boolean } = {}): this {
    this.routes.unshift({ method: method.toUpperCase(), route, responder, once: opts.once ?? false });
    return this;
  }

  reset(): void {
    this.routes = [];
    this.requests.length = 0;
    this.beforeBody = undefined;
  }

  get host(): string {
    return '127.0.0.1';
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const socket = req.socket as TLSSocket & { kdsConnectionId?: number; kdsRequests?: number };
    socket.kdsRequests = (socket.kdsRequests ?? 0) + 1;
    const url = new URL(req.url ?? '/', 'https://scripted');
    const match = /^\/kata\/scanner\/v1\/sensors\/([^/]+)\/(.*)$/.exec(url.pathname);
    const peer = socket.getPeerCertificate();
    let bodyDone!: () => void;
    const recorded: RecordedRequest = {
      bodyDone: new Promise<void>((resolve) => (bodyDone = resolve)),
      method: req.method ?? '',
      url: req.url ?? '',
      route: match ? decodeURIComponent(match[2]!) : url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      aborted: false,
      connectionRequestNo: socket.kdsRequests,
      connectionId: socket.kdsConnectionId ?? 0,
      ...(match ? { sensorId: decodeURIComponent(match[1]!) } : {}),
      ...(peer && peer.fingerprint256 ? { clientFingerprint: peer.fingerprint256 } : {}),
    };
    this.requests.push(recorded);
    try {
      await this.beforeBody?.(recorded);
      await this.readBody(req, recorded);
    } catch {
      recorded.aborted = true;
    } finally {
      bodyDone();
    }
    if (recorded.aborted) return;
    const route = this.routes.find((r) => r.method === recorded.method && routeMatches(r.route, recorded.route));
    if (route?.once) this.routes.splice(this.routes.indexOf(route), 1);
    const reply: ScriptedReply = route
      ? typeof route.responder === 'function'
        ? await route.responder(recorded)
        : route.responder
      : { status: 404, body: 'no script for this request' };
    if ('action' in reply) {
      if (reply.action === 'reset') req.socket.destroy();
      // 'hang': say nothing; close() destroys the socket.
      return;
    }
    const body =
      reply.body === undefined
        ? ''
        : Buffer.isBuffer(reply.body) || typeof reply.body === 'string'
          ? reply.body
          : JSON.stringify(reply.body);
    res.writeHead(reply.status, { ...(typeof reply.body === 'object' && !Buffer.isBuffer(reply.body) ? { 'content-type': 'application/json' } : {}), ...reply.headers });
    res.end(body);
  }

  private readBody(req: IncomingMessage, recorded: RecordedRequest): Promise<void> {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('multipart/form-data')) {
      return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (chunks.length) recorded.body = Buffer.concat(chunks);
          resolve();
        });
        req.on('aborted', () => reject(new Error('aborted')));
        req.on('close', () => req.complete || reject(new Error('aborted')));
        req.on('error', reject);
      });
    }
    return new Promise((resolve, reject) => {
      const parts: RecordedPart[] = [];
      recorded.parts = parts;
      const bb = Busboy({ headers: req.headers, preservePath: true, defParamCharset: 'utf8' });
      const pending: Array<Promise<void>> = [];
      bb.on('field', (name, value) => parts.push({ name, value }));
      bb.on('file', (name, stream, info) => {
        const part: RecordedPart = { name, filename: info.filename, mimeType: info.mimeType };
        parts.push(part);
        const hash = createHash('sha256');
        const kept: Buffer[] = [];
        let size = 0;
        pending.push(
          new Promise<void>((done) => {
            stream.on('data', (c: Buffer) => {
              hash.update(c);
              size += c.length;
              if (size <= this.keepFileBytes) kept.push(c);
            });
            stream.on('close', () => {
              part.size = size;
              part.sha256 = hash.digest('hex');
              if (size <= this.keepFileBytes) part.data = Buffer.concat(kept);
              done();
            });
          }),
        );
      });
      bb.on('close', () => void Promise.all(pending).then(() => resolve()));
      bb.on('error', reject);
      req.on('aborted', () => reject(new Error('aborted')));
      req.on('close', () => req.complete || reject(new Error('aborted')));
      req.on('error', reject);
      req.pipe(bb);
    });
  }
}

function routeMatches(pattern: string, route: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return route.startsWith(pattern.slice(0, -1));
  return pattern === route;
}
