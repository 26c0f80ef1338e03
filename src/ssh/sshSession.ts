import { PassThrough, type Readable, type Writable } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import { AuthSteps } from './authSteps';
import { hostKeyTypeChanged, isHostKeyAlgorithmMismatch } from './hostKeyProbe';
import { hostKeyInfo, preferredHostKeyAlgorithms, verifyHostKey } from './hostKeyVerifier';
import { Redactor } from './redact';
import { SftpFiles } from './sftpFiles';
import { checkShellQuoting } from './shellQuotingCheck';
import { commandLine } from './shellCommand';
import { type SudoOption, SudoStderr, sudoCommand } from './sudoPrompt';
import { SshAuthError, SshClosedError, SshConnectError, SshError, SshTimeoutError, SudoError } from './sshErrors';
import type { HostKeyPolicy, SshAuth, SshTarget } from './sshTarget';

export interface SshSessionOptions {
  /** SSH keepalive (ignored-request pings); the connection is dropped after 3 unanswered. Default 15 s. */
  keepaliveIntervalMs?: number;
  /** Whole handshake (TCP, key exchange, authentication without user prompts). Default 20 s. */
  readyTimeoutMs?: number;
  logger?: Logger;
  /** ssh2's protocol trace at debug level (censored like everything else). */
  protocolDebug?: boolean;
}

export interface ExecOptions {
  sudo?: SudoOption;
  stdin?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: Buffer;
  stderr: Buffer;
}

export interface RemoteExit {
  code: number | null;
  signal?: string;
}

export interface RemoteProcess {
  stdout: Readable;
  stderr: Readable;
  stdin: Writable;
  /** Settles when the channel closed (all output delivered). Rejects when it could not be opened, or sudo refused the password. */
  exit: Promise<RemoteExit>;
  /** Sends the signal (default TERM) and closes the channel. */
  kill(signal?: string): void;
}

/** One authenticated SSH connection. Create with SshSession.connect. */
export class SshSession {
  private closed = false;
  private closeError: Error | undefined;
  private readonly closeListeners = new Set<(err?: Error) => void>();
  private readonly closedPromise: Promise<void>;

  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    private readonly redactor: Redactor,
    private readonly log: Logger,
  ) {
    this.closedPromise = new Promise<void>((resolve) => {
      client.on('error', (e: Error) => {
        this.closeError = e;
        this.log.warn('ssh.error', this.redactor.text(e.message), { host: target.host, port: target.port });
      });
      client.on('close', () => {
        this.closed = true;
        const err = this.closeError ? new SshConnectError(target.host, target.port, this.redactor.text(this.closeError.message)) : undefined;
        this.log.info('ssh.closed', t('SSH connection to {0}:{1} closed.', target.host, target.port), { host: target.host, port: target.port, error: err?.message });
        for (const l of [...this.closeListeners]) {
          try {
            l(err);
          } catch {
            // A listener's failure is not the connection's.
          }
        }
        this.closeListeners.clear();
        resolve();
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Connects and authenticates. The server's host key is verified inside ssh2's hostVerifier,
   * before the authentication starts, so no credential is asked for (or sent) to a server
   * whose key is changed, revoked or refused by the user.
   */
  static async connect(target: SshTarget, auth: SshAuth, hostKeys: HostKeyPolicy, opts: SshSessionOptions = {}): Promise<SshSession> {
    const redactor = new Redactor();
    const log = redactor.logger(opts.logger);
    const where = { host: target.host, port: target.port, user: target.user };
    const serverHostKey = await preferredHostKeyAlgorithms(hostKeys, target.host, target.port);
    const client = new Client();

    let hostVerified = false;

    log.info('ssh.connect', t('Connecting to {0}@{1}:{2} over SSH.', target.user, target.host, target.port), where);

    return new Promise<SshSession>((resolve, reject) => {
      let settled = false;
      let hostKeyError: Error | undefined;
      let lastError: (Error & { level?: string }) | undefined;
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        log.warn('ssh.connectFailed', redactor.text(e.message), where);
        client.end();
        // Make sure the socket goes even if the server does not answer the disconnect.
        setTimeout(() => client.destroy(), 1000).unref();
        reject(e);
      };

      const steps = new AuthSteps(auth, target.user, redactor, log, where, (e) => fail(e));

      client.on('ready', () => {
        if (settled) return;
        settled = true;
        log.info('ssh.connected', t('Connected to {0}@{1}:{2}.', target.user, target.host, target.port), { ...where, auth: steps.tried[steps.tried.length - 1], ...(steps.tried[steps.tried.length - 1] === 'agent' && { agent: steps.agentUsed }) });
        const session = new SshSession(client, target, redactor, log);
        // Every command is quoted for a POSIX shell: refuse a login shell that reads quotes otherwise.
        checkShellQuoting((argv) => session.exec(argv, { timeoutMs: opts.readyTimeoutMs ?? 20000 }), where).then(
          () => resolve(session),
          (e: Error) => {
            log.error('ssh.shell', e.message, where);
            void session.close();
            reject(e);
          },
        );
      });
      client.on('error', (e: Error & { level?: string }) => {
        lastError = e;
        log.debug('ssh.error', redactor.text(e.message), { ...where, level: e.level });
        if (settled || e.level === 'agent') return;
        if (hostKeyError) return fail(hostKeyError);
        if (serverHostKey && isHostKeyAlgorithmMismatch(e)) {
          settled = true; // the probe's answer is the outcome; 'close' must not settle first
          void hostKeyTypeChanged(target, hostKeys, opts.readyTimeoutMs ?? 20000).then((err) => {
            settled = false;
            log.error('ssh.hostKey', err.message, where);
            fail(err);
          });
          return;
        }
        if (e.level === 'client-authentication') return fail(new SshAuthError(target.user, target.host, target.port, steps.tried));
        if (e.level === 'client-timeout') return fail(new SshConnectError(target.host, target.port, t('no answer within {0} ms', opts.readyTimeoutMs ?? 20000), { cause: e }));
        fail(new SshConnectError(target.host, target.port, redactor.text(e.message), { cause: e }));
      });
      client.on('close', () => {
        if (settled) return;
        fail(hostKeyError ?? new SshConnectError(target.host, target.port, lastError ? redactor.text(lastError.message) : t('the server closed the connection'), { cause: lastError }));
      });

      const config: ConnectConfig = {
        host: target.host,
        port: target.port,
        username: target.user,
        readyTimeout: opts.readyTimeoutMs ?? 20000,
        keepaliveInterval: opts.keepaliveIntervalMs ?? 15000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer, verifyNow: (ok: boolean) => void): void => {
          const info = hostKeyInfo(target.host, target.port, key);
          // The check may outlast the connection (a user deciding on an unknown key, a server that
          // drops it): ssh2 then throws from its torn-down protocol. 'close' has settled this attempt.
          const verify = (ok: boolean): void => {
            try {
              verifyNow(ok);
            } catch (e) {
              log.debug('ssh.hostKey', t('the connection closed before its host key was checked: {0}', (e as Error).message), where);
            }
          };
          verifyHostKey(hostKeys, info, log).then(
            (verdict) => {
              hostVerified = true;
              log.info('ssh.hostKey', verdict.status === 'known' ? t('Host key {0} {1} is known ({2}).', info.algorithm, info.sha256, verdict.source) : t('Host key {0} {1} accepted by the user.', info.algorithm, info.sha256), where);
              verify(true);
            },
            (e: Error) => {
              hostKeyError = e instanceof SshError ? e : new SshConnectError(target.host, target.port, e.message, { cause: e });
              log.error('ssh.hostKey', hostKeyError.message, { ...where, sha256: info.sha256 });
              verify(false);
            },
          );
        },
        authHandler: ((methodsLeft: string[] | null, _partial: boolean, next: (m: unknown) => void) => {
          if (!hostVerified) {
            // Cannot happen with ssh2 (auth follows the key exchange), but never send anything unverified.
            next(false);
            return;
          }
          steps.next(methodsLeft).then(next, (e: Error) => fail(e));
        }) as unknown as ConnectConfig['authHandler'],
      };
      if (serverHostKey) config.algorithms = { serverHostKey: serverHostKey as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] };
      if (opts.protocolDebug) config.debug = (m: string) => log.debug('ssh.protocol', m, where);
      try {
        client.connect(config);
      } catch (e) {
        fail(new SshConnectError(target.host, target.port, (e as Error).message, { cause: e }));
      }
    });
  }

  onClose(listener: (err?: Error) => void): () => void {
    if (this.closed) {
      queueMicrotask(() => listener(this.closeError ? new SshClosedError() : undefined));
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.client.end();
    const timer = setTimeout(() => this.client.destroy(), 2000);
    await this.closedPromise;
    clearTimeout(timer);
  }

  /** Runs argv (quoted, never interpreted by the remote shell) and collects its output. */
  exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const proc = this.spawn(argv, { sudo: opts.sudo });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on('data', (d: Buffer) => out.push(d));
    proc.stderr.on('data', (d: Buffer) => err.push(d));
    proc.stdin.on('error', () => undefined);
    proc.stdin.end(opts.stdin ?? '');
    return new Promise<ExecResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        proc.kill('KILL');
        reject(opts.signal?.reason ?? new Error('aborted'));
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cleanup();
          proc.kill('KILL');
          reject(new SshTimeoutError(argv[0] ?? '', opts.timeoutMs!));
        }, opts.timeoutMs);
      }
      proc.exit.then(
        (x) => {
          cleanup();
          const r: ExecResult = { code: x.code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
          if (x.signal) r.signal = x.signal;
          resolve(r);
        },
        (e) => {
          cleanup();
          reject(e);
        },
      );
    });
  }

  /** Starts argv with streaming stdin/stdout/stderr. */
  spawn(argv: string[], opts: { sudo?: SudoOption } = {}): RemoteProcess {
    const sudo = sudoCommand(argv, opts.sudo);
    const sudoPassword = typeof opts.sudo === 'object' ? opts.sudo.password : undefined;
    const cmd = commandLine(sudo.argv);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    // The channel's 'close' may end stderr before sudo's last output or 'end' is handled.
    const writeErr = (d: Buffer): void => {
      if (!stderr.writableEnded) stderr.write(d);
    };
    const stdin = new PassThrough();
    let channel: ClientChannel | undefined;
    let killed: string | undefined;
    const log = this.log;
    const where = { host: this.target.host, port: this.target.port };
    log.debug('ssh.exec', t('Running {0} on {1}.', argv[0] ?? '', this.target.host), { ...where, command: cmd, sudo: !!opts.sudo });

    const exit = new Promise<RemoteExit>((resolve, reject) => {
      if (this.closed) {
        reject(new SshClosedError());
        return;
      }
      this.client.exec(cmd, (err, ch) => {
        if (err) {
          stdout.end();
          stderr.end();
          reject(this.closed ? new SshClosedError() : new SshConnectError(this.target.host, this.target.port, err.message, { cause: err }));
          return;
        }
        channel = ch;
        if (killed) {
          ch.signal(killed);
          ch.close();
        }
        let result: RemoteExit = { code: null };
        let failure: Error | undefined;
        ch.on('exit', (code: number | null, signal?: string) => {
          result = signal ? { code: null, signal } : { code };
        });
        ch.pipe(stdout);
        const startStdin = (): void => {
          stdin.pipe(ch);
        };
        if (!sudoPassword) {
          ch.stderr.pipe(stderr);
          startStdin();
        } else {
          const reader = new SudoStderr(sudo.prompt!, sudo.marker!);
          let prompts = 0;
          ch.stderr.on('data', (d: Buffer) => {
            for (const e of reader.push(d)) {
              if (e.kind === 'text') writeErr(e.data);
              else if (e.kind === 'ready') startStdin();
              else if (++prompts > 1) {
                failure = new SudoError(t('sudo on {0} did not accept the password.', this.target.host));
                ch.close();
                return;
              } else {
                sudoPassword().then(
                  (pw) => {
                    if (pw === undefined) {
                      failure = new SudoError(t('sudo on {0} needs a password and none was given.', this.target.host));
                      ch.close();
                      return;
                    }
                    this.redactor.add(pw);
                    ch.write(pw + '\n');
                  },
                  (e: Error) => {
                    failure = e;
                    ch.close();
                  },
                );
              }
            }
          });
          ch.stderr.on('end', () => {
            const rest = reader.end();
            if (rest) writeErr(rest);
          });
        }
        ch.stderr.on('end', () => stderr.end());
        ch.on('close', () => {
          stdin.unpipe(ch);
          if (!stderr.writableEnded) stderr.end();
          if (!stdout.writableEnded) stdout.end();
          if (failure) reject(failure);
          else if (killed && result.code === null && !result.signal) resolve({ code: null, signal: killed });
          else resolve(result);
        });
      });
    });
    exit.catch(() => undefined);
    return {
      stdout,
      stderr,
      stdin,
      exit,
      kill: (signal = 'TERM') => {
        killed = signal.replace(/^SIG/, '');
        if (channel) {
          try {
            channel.signal(killed);
          } catch {
            // Channel already gone.
          }
          channel.close();
        }
      },
    };
  }

  async sftp(): Promise<SftpFiles> {
    if (this.closed) throw new SshClosedError();
    return new Promise<SftpFiles>((resolve, reject) => {
      this.client.sftp((err, sftp) => (err ? reject(new SshConnectError(this.target.host, this.target.port, err.message, { cause: err })) : resolve(new SftpFiles(sftp))));
    });
  }
}
