import type { Socket } from 'node:net';

/**
 * Where a connection is, for its deadlines: `idle` between messages, `head` while a request's
 * head and encapsulated HTTP heads arrive, `body` while its body arrives, `server` while the
 * server scans and answers (the peer waits: no deadline of the peer's runs).
 */
export type LinkPhase = 'idle' | 'head' | 'body' | 'server';

export interface LinkLimits {
  headTimeoutMs: number;
  idleTimeoutMs: number;
  minBodyBytesPerWindow: number;
}

/** Which deadline a peer missed. */
export type LinkTimeout =
  | { kind: 'head' }
  | { kind: 'idle' }
  | { kind: 'slow-body'; bytes: number; windowMs: number }
  | { kind: 'not-reading'; waitedMs: number };

export interface LinkHandlers {
  /** Handles one chunk of received bytes; no other chunk is handed over until it resolves. */
  chunk(bytes: Buffer): Promise<void>;
  timeout(t: LinkTimeout): void;
  failed(err: Error): void;
}

/**
 * One ICAP connection's socket as the server reads it. Bytes are handed over one chunk at a
 * time, and reading stops while a chunk is handled and while the peer is not reading the answers
 * already written (so a client that pipelines requests and never reads costs a socket buffer,
 * not memory without end). Deadlines are set by phase, never re-armed by single bytes: a head
 * must be complete within headTimeoutMs, an idle connection lasts idleTimeoutMs from its last
 * answer (stray CRLFs do not extend it), and a body must bring minBodyBytesPerWindow bytes in
 * every idleTimeoutMs window. Every wait for `drain` also ends when the connection closes.
 */
export class PeerLink {
  readonly peer: string;
  private readonly queue: Buffer[] = [];
  private pumping: Promise<void> | undefined;
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private phase: LinkPhase = 'idle';
  private windowBytes = 0;
  /** The connection is closed (or being closed): no more chunks are handled. */
  ended = false;
  closed = false;
  waitingForPeer = false;
  private readonly closedPromise: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly limits: LinkLimits,
    private readonly handlers: LinkHandlers,
  ) {
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    this.closedPromise = new Promise<void>((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.ended = true;
        clearTimeout(this.timer);
        resolve();
      }),
    );
    socket.on('data', (d: Buffer) => this.received(d));
    this.setPhase('idle');
  }

  /** Resolves once the socket is closed and the chunk being handled (if any) is done. */
  async finished(): Promise<void> {
    await this.closedPromise;
    while (this.pumping) await this.pumping;
  }

  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed && bytes.length) this.socket.write(bytes);
  }

  /** Sends a last answer and closes; the socket is destroyed if the peer does not take it. */
  refuse(bytes: Buffer): void {
    this.ended = true;
    clearTimeout(this.timer);
    if (this.socket.destroyed) return;
    this.socket.end(bytes);
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.socket.destroy();
  }

  get currentPhase(): LinkPhase {
    return this.phase;
  }

  setPhase(phase: LinkPhase): void {
    this.phase = phase;
    this.windowBytes = 0;
    this.arm();
  }

  /**
   * Waits until the peer has read what was written (true), or the connection is gone (false).
   * A peer that reads nothing for idleTimeoutMs is disconnected.
   */
  async writable(): Promise<boolean> {
    if (this.closed || this.socket.destroyed) return false;
    if (!this.socket.writableNeedDrain) return true;
    this.waitingForPeer = true;
    clearTimeout(this.timer);
    const started = Date.now();
    const drained = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(limit);
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const limit = setTimeout(() => {
        done(false);
        if (!this.closed) {
          this.handlers.timeout({ kind: 'not-reading', waitedMs: Date.now() - started });
          this.destroy();
        }
      }, this.limits.idleTimeoutMs);
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
    this.waitingForPeer = false;
    // The time the peer could not send (we were not reading) does not count against it.
    if (drained && !this.ended) this.setPhase(this.phase);
    return drained;
  }

  private received(d: Buffer): void {
    if (this.ended) return;
    this.windowBytes += d.length;
    this.queue.push(d);
    this.socket.pause();
    if (this.busy) return;
    this.busy = true;
    const p: Promise<void> = this.pump()
      .catch((err: Error) => {
        this.handlers.failed(err);
        this.destroy();
      })
      .finally(() => {
        if (this.pumping === p) this.pumping = undefined;
      });
    this.pumping = p;
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length && !this.ended) {
        await this.handlers.chunk(this.queue.shift()!);
        // Answers the peer has not read yet: read nothing more until it does.
        if (!this.ended && this.socket.writableNeedDrain) await this.writable();
      }
    } finally {
      this.queue.length = 0;
      this.busy = false;
    }
    if (!this.ended) this.socket.resume();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ended) return;
    const { headTimeoutMs, idleTimeoutMs, minBodyBytesPerWindow } = this.limits;
    switch (this.phase) {
      case 'idle':
        this.timer = setTimeout(() => this.handlers.timeout({ kind: 'idle' }), idleTimeoutMs);
        break;
      case 'head':
        this.timer = setTimeout(() => this.handlers.timeout({ kind: 'head' }), headTimeoutMs);
        break;
      case 'body':
        this.timer = setTimeout(() => {
          if (this.windowBytes >= minBodyBytesPerWindow) {
            this.windowBytes = 0;
            this.arm();
          } else this.handlers.timeout({ kind: 'slow-body', bytes: this.windowBytes, windowMs: idleTimeoutMs });
        }, idleTimeoutMs);
        break;
      case 'server':
        break;
    }
  }
}
