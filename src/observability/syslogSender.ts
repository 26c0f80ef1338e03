import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { type Socket, connect as tcpConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import type { SiemTransport } from '../engine/config';
import { backoffDelay } from '../engine/backoff';
import { frame } from './syslogMessage';

export interface SyslogSenderOptions {
  transport: SiemTransport;
  host: string;
  port: number;
  framing: 'octet-counting' | 'lf';
  /** Messages kept while the receiver is unreachable; beyond that new ones are dropped. */
  queueSize: number;
  /** tls: the CA PEM (default: the system's), and the client certificate to present, if any. */
  tls?: { ca?: string; cert?: string; key?: string };
  logger: Logger;
  retryBaseMs?: number;
  retryMaxMs?: number;
  connectTimeoutMs?: number;
  /** Told about every message sent or dropped (metrics). */
  onSent?: () => void;
  onDropped?: () => void;
}

interface Item {
  seq: number;
  message: string;
  /** Called once the message was handed to the network (e.g. to move a cursor past it). */
  onSent?: () => void;
}

/**
 * Syslog delivery that never makes its caller wait: send() only queues (O(1)) and returns; one
 * connection (TCP or TLS, RFC 6587 framing; or UDP datagrams) drains the queue in order. When the
 * receiver is unreachable the queue holds up to `queueSize` messages, reconnecting with
 * exponential backoff; when it is full, new messages are dropped and counted, and the log says
 * so once per outage. A message written to a connection that then dies may be lost with it (no
 * syslog transport acknowledges anything); one whose write failed inside Node goes back in line.
 */
export class SyslogSender {
  private queue: Item[] = [];
  private head = 0;
  private seq = 0;
  /** Written but failed inside Node (the connection died first): sent again first, in their order. */
  private failed: Item[] = [];
  private socket?: Socket;
  private udp?: UdpSocket;
  private connected = false;
  private connecting = false;
  private blocked = false;
  private inFlight = 0;
  private attempts = 0;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;
  /** This outage was logged / drops were logged (once each per outage). */
  private downLogged = false;
  private dropsThisOutage = 0;
  private everConnected = false;
  private readonly waiters: Array<() => void> = [];
  sent = 0;
  dropped = 0;

  constructor(private readonly o: SyslogSenderOptions) {}

  /** Connects now (the first message need not wait for it). */
  start(): void {
    this.connect();
  }

  get queued(): number {
    return this.queue.length - this.head + this.failed.length;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  hasRoom(): boolean {
    return this.queued < this.o.queueSize;
  }

  /** Queues a message; false when the queue was full and it was dropped. */
  send(message: string, onSent?: () => void): boolean {
    if (this.closed) return false;
    if (!this.hasRoom()) {
      this.dropped++;
      this.dropsThisOutage++;
      this.o.onDropped?.();
      if (this.dropsThisOutage === 1) {
        this.o.logger.error('siem-dropping', t('the SIEM queue is full ({0} events): new events are dropped until {1}:{2} takes them again (counted in kds_siem_events_dropped_total)', this.o.queueSize, this.o.host, this.o.port));
      }
      return false;
    }
    this.queue.push(onSent ? { seq: this.seq++, message, onSent } : { seq: this.seq++, message });
    this.pump();
    return true;
  }

  /** Resolves once everything queued was handed to the network, or after `timeoutMs`. */
  flush(timeoutMs: number): Promise<void> {
    if (this.queued === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.socket?.destroy();
    this.udp?.close();
    this.socket = undefined;
    this.udp = undefined;
    for (const w of this.waiters.splice(0)) w();
  }

  private connect(): void {
    if (this.closed || this.connecting || this.connected) return;
    this.connecting = true;
    if (this.o.transport === 'udp') {
      void this.connectUdp();
      return;
    }
    const timeout = this.o.connectTimeoutMs ?? 10_000;
    const socket =
      this.o.transport === 'tls'
        ? tlsConnect({
            host: this.o.host,
            port: this.o.port,
            ...(isIP(this.o.host) ? {} : { servername: this.o.host }),
            ...(this.o.tls?.ca !== undefined && { ca: this.o.tls.ca }),
            ...(this.o.tls?.cert !== undefined && { cert: this.o.tls.cert, key: this.o.tls.key }),
            minVersion: 'TLSv1.2',
          })
        : tcpConnect({ host: this.o.host, port: this.o.port });
    this.socket = socket;
    socket.setTimeout(timeout);
    socket.once('timeout', () => socket.destroy(new Error(t('no connection within {0} s', Math.round(timeout / 1000)))));
    socket.once(this.o.transport === 'tls' ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(0);
      socket.setKeepAlive(true, 60_000);
      this.up();
    });
    socket.on('drain', () => {
      this.blocked = false;
      this.pump();
    });
    // The receiver does not talk back; whatever it sends is read and dropped.
    socket.on('data', () => undefined);
    socket.once('end', () => socket.destroy());
    socket.once('error', (err) => this.down(err.message));
    socket.once('close', () => {
      if (this.socket === socket) this.down(t('connection closed'));
    });
  }

  private async connectUdp(): Promise<void> {
    try {
      const { address, family } = await lookup(this.o.host);
      if (this.closed) return;
      const udp = createSocket(family === 6 ? 'udp6' : 'udp4');
      this.udp = udp;
      udp.on('error', (err) => {
        if (this.udp === udp) {
          udp.close();
          this.down(err.message);
        }
      });
      udp.connect(this.o.port, address, () => this.up());
    } catch (err) {
      this.down((err as Error).message);
    }
  }

  private up(): void {
    this.connecting = false;
    this.connected = true;
    this.attempts = 0;
    if (this.downLogged || this.dropsThisOutage > 0) {
      this.o.logger.info('siem-connected', t('the SIEM receiver {0}:{1} takes events again ({2} waiting, {3} dropped meanwhile)', this.o.host, this.o.port, this.queued, this.dropsThisOutage));
    } else if (!this.everConnected) {
      this.o.logger.info('siem-connected', t('sending SIEM events to {0}:{1} over {2}', this.o.host, this.o.port, this.o.transport));
    }
    this.everConnected = true;
    this.downLogged = false;
    this.dropsThisOutage = 0;
    this.pump();
  }

  private down(reason: string): void {
    const socket = this.socket;
    this.socket = undefined;
    this.udp = undefined;
    socket?.destroy();
    this.connected = false;
    this.connecting = false;
    this.blocked = false;
    if (this.closed) return;
    if (!this.downLogged) {
      this.downLogged = true;
      this.o.logger.warn('siem-unreachable', t('the SIEM receiver {0}:{1} is unreachable ({2}); events wait in the queue (at most {3}) and are sent when it is back', this.o.host, this.o.port, reason, this.o.queueSize));
    }
    this.attempts++;
    const delay = backoffDelay(this.attempts, this.o.retryBaseMs ?? 500, this.o.retryMaxMs ?? 10_000);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  private pump(): void {
    if (!this.connected) {
      // While a reconnect waits for its backoff, new messages only queue: they never force an attempt.
      if (!this.retryTimer) this.connect();
      return;
    }
    if (this.failed.length && this.inFlight === 0) {
      this.queue.splice(this.head, 0, ...this.failed.sort((a, b) => a.seq - b.seq));
      this.failed = [];
    }
    while (this.connected && !this.blocked && this.head < this.queue.length) {
      const item = this.queue[this.head++]!;
      this.inFlight++;
      if (this.o.transport === 'udp') {
        this.udp!.send(Buffer.from(item.message, 'utf8'), (err) => this.written(item, err ?? undefined));
      } else if (!this.socket!.write(frame(item.message, this.o.framing), (err) => this.written(item, err ?? undefined))) {
        this.blocked = true;
      }
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private written(item: Item, err: Error | undefined): void {
    this.inFlight--;
    if (err && this.o.transport !== 'udp') {
      // Never left this process: back at the front of the line for the next connection.
      this.failed.push(item);
    } else if (err) {
      this.dropped++;
      this.o.onDropped?.();
    } else {
      this.sent++;
      this.o.onSent?.();
      try {
        item.onSent?.();
      } catch {
        // A caller's bookkeeping must not stop delivery.
      }
    }
    if (this.queued === 0 && this.inFlight === 0) for (const w of this.waiters.splice(0)) w();
  }
}
