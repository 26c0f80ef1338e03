import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import { Redactor } from './redact';
import { SshClosedError, SshError } from './sshErrors';
import { SshSession, type SshSessionOptions } from './sshSession';
import type { HostKeyPolicy, SshAuth, SshTarget } from './sshTarget';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface ConnectionStateEvent {
  state: ConnectionState;
  /** Why: the error that dropped or failed the connection, or 'closed by the user'. */
  reason?: string;
  /** 1-based attempt number while connecting/reconnecting. */
  attempt?: number;
  /** Wait before this attempt (ms), while reconnecting. */
  delayMs?: number;
  error?: Error;
}

export interface ReconnectOptions extends SshSessionOptions {
  /** Attempts after a drop (and for the first connection) before giving up; default 10; Infinity = until close(). */
  maxAttempts?: number;
  /** First back-off delay; doubles each attempt up to maxDelayMs. Default 500 ms / 30 s. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Random in [0, 1) for the jitter (tests). */
  random?: () => number;
}

/** Errors that another attempt cannot fix: host key problems, refused authentication, sudo. */
function isFatal(e: unknown): boolean {
  return e instanceof SshError && !e.retryable;
}

/**
 * Keeps one SSH session up. Keepalive detects dead links; after a drop it reconnects with
 * exponential back-off and full jitter, a bounded number of times (or until close()). Host key
 * and authentication failures are final: they are reported with state 'closed'.
 */
export class ReconnectingSession {
  private session: SshSession | undefined;
  private stateValue: ConnectionStateEvent = { state: 'connecting', attempt: 1 };
  private readonly listeners = new Set<(e: ConnectionStateEvent) => void>();
  private waiters: Array<{ resolve: (s: SshSession) => void; reject: (e: Error) => void }> = [];
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private readonly log: Logger;
  private readonly loop: Promise<void>;

  constructor(
    readonly target: SshTarget,
    private readonly auth: SshAuth,
    private readonly hostKeys: HostKeyPolicy,
    private readonly opts: ReconnectOptions = {},
  ) {
    this.log = new Redactor().logger(opts.logger);
    // Started on the next tick so listeners added right after construction see 'connecting'.
    this.loop = new Promise<void>((r) => setImmediate(r)).then(() => this.run());
  }

  get state(): ConnectionStateEvent {
    return this.stateValue;
  }

  onState(listener: (e: ConnectionStateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  current(): SshSession | undefined {
    return this.session && !this.session.isClosed ? this.session : undefined;
  }

  whenConnected(): Promise<SshSession> {
    const s = this.current();
    if (s) return Promise.resolve(s);
    if (this.stateValue.state === 'closed') return Promise.reject(this.stateValue.error ?? new SshClosedError());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async close(): Promise<void> {
    if (this.stopped) return this.loop;
    this.stopped = true;
    this.wakeUp?.();
    const s = this.session;
    this.session = undefined;
    await s?.close();
    await this.loop;
  }

  private emit(e: ConnectionStateEvent): void {
    this.stateValue = e;
    const level = e.state === 'closed' && e.error ? 'warn' : 'info';
    this.log.log(level, 'ssh.state', t('SSH connection to {0}:{1}: {2}.', this.target.host, this.target.port, e.state), {
      state: e.state,
      reason: e.reason,
      attempt: e.attempt,
      delayMs: e.delayMs,
    });
    if (e.state === 'connected' && this.session) {
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w.resolve(this.session);
    } else if (e.state === 'closed') {
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w.reject(e.error ?? new SshClosedError());
    }
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // Listeners cannot break the connection loop.
      }
    }
  }

  private delay(attempt: number): number {
    const base = this.opts.initialDelayMs ?? 500;
    const max = this.opts.maxDelayMs ?? 30000;
    const cap = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
    // "Full jitter" between half and the whole capped delay: spreads reconnect storms, never 0.
    return Math.round(cap / 2 + (this.opts.random ?? Math.random)() * (cap / 2));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private async run(): Promise<void> {
    const maxAttempts = this.opts.maxAttempts ?? 10;
    let mode: 'connecting' | 'reconnecting' = 'connecting';
    let reason: string | undefined;
    while (!this.stopped) {
      let lastError: Error | undefined;
      let connected = false;
      for (let attempt = 1; attempt <= maxAttempts && !this.stopped; attempt++) {
        const delayMs = mode === 'reconnecting' || attempt > 1 ? this.delay(attempt) : 0;
        this.emit({ state: mode, attempt, delayMs, reason });
        if (delayMs) await this.sleep(delayMs);
        if (this.stopped) break;
        try {
          const s = await SshSession.connect(this.target, this.auth, this.hostKeys, this.opts);
          if (this.stopped) {
            await s.close();
            break;
          }
          this.session = s;
          connected = true;
          break;
        } catch (e) {
          lastError = e as Error;
          reason = lastError.message;
          if (isFatal(e)) break;
        }
      }
      if (this.stopped) break;
      if (!connected) {
        this.emit({ state: 'closed', reason: lastError?.message ?? t('gave up reconnecting'), error: lastError });
        this.stopped = true;
        return;
      }
      const dropped = new Promise<Error | undefined>((resolve) => this.session!.onClose(resolve));
      this.emit({ state: 'connected' });
      const err = await dropped;
      this.session = undefined;
      if (this.stopped) break;
      mode = 'reconnecting';
      reason = err?.message ?? t('the connection was lost');
    }
    this.emit({ state: 'closed', reason: t('closed by the user') });
  }
}
