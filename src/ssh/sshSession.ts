import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { type AnyAuthMethod, Client, type ClientChannel, type ConnectConfig, utils as sshUtils, type ParsedKey } from 'ssh2';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import { hostKeyTypeChanged, isHostKeyAlgorithmMismatch } from './hostKeyProbe';
import { hostKeyInfo, preferredHostKeyAlgorithms, verifyHostKey } from './hostKeyVerifier';
import { Redactor } from './redact';
import { SftpFiles } from './sftpFiles';
import { commandLine } from './shellCommand';
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

/** true = `sudo -n` (fails if a password is needed); { password } = `sudo -S` with the prompt answered over stdin. */
export type SudoOption = boolean | { password: () => Promise<string | undefined> };

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

type AuthStep = { method: 'agent' | 'publickey' | 'keyboard-interactive' | 'password'; needs: string };

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

    const steps: AuthStep[] = [];
    if (auth.agent) steps.push({ method: 'agent', needs: 'publickey' });
    if (auth.privateKeyPath) steps.push({ method: 'publickey', needs: 'publickey' });
    if (auth.keyboardInteractive || auth.password) steps.push({ method: 'keyboard-interactive', needs: 'keyboard-interactive' });
    if (auth.password) steps.push({ method: 'password', needs: 'password' });
    let stepIndex = 0;
    const tried: string[] = [];
    let parsedKey: ParsedKey | undefined;
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

      const keyFor = async (): Promise<ParsedKey | undefined> => {
        if (parsedKey) return parsedKey;
        const data = await readFile(auth.privateKeyPath!);
        let k = sshUtils.parseKey(data);
        if (k instanceof Error && /encrypted|passphrase/i.test(k.message)) {
          const pp = auth.passphrase ? await auth.passphrase() : undefined;
          redactor.add(pp);
          if (pp === undefined) {
            log.warn('ssh.auth', t('The private key {0} is encrypted and no passphrase was given.', auth.privateKeyPath!), where);
            return undefined;
          }
          k = sshUtils.parseKey(data, pp);
        }
        if (k instanceof Error) {
          log.warn('ssh.auth', t('Cannot use the private key {0}: {1}', auth.privateKeyPath!, redactor.text(k.message)), where);
          return undefined;
        }
        parsedKey = Array.isArray(k) ? (k[0] as ParsedKey) : k;
        return parsedKey;
      };

      const keyboardPrompt = (
        name: string,
        instructions: string,
        _lang: string,
        prompts: Array<{ prompt: string; echo?: boolean }>,
        finish: (answers: string[]) => void,
      ): void => {
        const list = prompts.map((p) => ({ prompt: p.prompt, echo: p.echo === true }));
        const answer = async (): Promise<string[]> => {
          if (list.length === 0) return [];
          if (auth.keyboardInteractive) return (await auth.keyboardInteractive(name, instructions, list)) ?? [];
          // No keyboard-interactive handler: answer a lone hidden "Password:" prompt like ssh(1) does.
          if (auth.password && list.length === 1 && !list[0]!.echo && /password/i.test(list[0]!.prompt)) {
            const pw = await auth.password();
            return pw === undefined ? [] : [pw];
          }
          return [];
        };
        answer().then(
          (answers) => {
            for (const a of answers) redactor.add(a);
            log.debug('ssh.auth', t('Answering {0} keyboard-interactive prompt(s).', list.length), { ...where, answers });
            finish(answers);
          },
          (e: Error) => fail(e),
        );
      };

      const nextMethod = async (methodsLeft: string[] | null): Promise<AnyAuthMethod | false> => {
        while (stepIndex < steps.length) {
          const step = steps[stepIndex++]!;
          if (methodsLeft && methodsLeft.length && !methodsLeft.includes(step.needs)) continue;
          const username = target.user;
          switch (step.method) {
            case 'agent':
              tried.push('agent');
              return { type: 'agent', username, agent: auth.agent! };
            case 'publickey': {
              const key = await keyFor();
              if (!key) continue;
              tried.push('publickey');
              return { type: 'publickey', username, key };
            }
            case 'keyboard-interactive':
              // With only a password function, prefer plain "password" when the server offers it.
              if (!auth.keyboardInteractive && (!methodsLeft || methodsLeft.includes('password'))) continue;
              tried.push('keyboard-interactive');
              return { type: 'keyboard-interactive', username, prompt: keyboardPrompt };
            case 'password': {
              const password = await auth.password!();
              if (password === undefined) continue;
              redactor.add(password);
              tried.push('password');
              return { type: 'password', username, password };
            }
          }
        }
        return false;
      };

      client.on('ready', () => {
        if (settled) return;
        settled = true;
        log.info('ssh.connected', t('Connected to {0}@{1}:{2}.', target.user, target.host, target.port), { ...where, auth: tried[tried.length - 1] });
        resolve(new SshSession(client, target, redactor, log));
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
        if (e.level === 'client-authentication') return fail(new SshAuthError(target.user, target.host, target.port, tried));
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
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void): void => {
          const info = hostKeyInfo(target.host, target.port, key);
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
          nextMethod(methodsLeft).then(next, (e: Error) => fail(e));
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
    const id = randomBytes(8).toString('hex');
    const prompt = `[kds-sudo-${id}] password: `;
    const marker = `kds-sudo-ready-${id}`;
    let full: string[];
    const sudoPassword = typeof opts.sudo === 'object' ? opts.sudo.password : undefined;
    if (sudoPassword) {
      // sudo -S reads the password from stdin after printing our unique prompt on stderr. The
      // tiny sh wrapper (run by sudo, arguments passed as "$@", not parsed) prints a marker once
      // sudo let it run, so KDS knows when stdin belongs to the command and not to sudo.
      full = ['sudo', '-S', '-p', prompt, '--', '/bin/sh', '-c', 'printf "%s\\n" "$0" >&2 && exec "$@"', marker, ...argv];
    } else if (opts.sudo) {
      full = ['sudo', '-n', '--', ...argv];
    } else {
      full = argv;
    }
    const cmd = commandLine(full);
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
          let phase: 'auth' | 'run' = 'auth';
          let buf = '';
          let prompts = 0;
          ch.stderr.on('data', (d: Buffer) => {
            if (phase === 'run') {
              writeErr(d);
              return;
            }
            buf += d.toString('latin1');
            for (;;) {
              const m = buf.indexOf(marker + '\n');
              const p = buf.indexOf(prompt);
              if (m >= 0 && (p < 0 || m < p)) {
                if (m > 0) writeErr(Buffer.from(buf.slice(0, m), 'latin1'));
                const rest = buf.slice(m + marker.length + 1);
                buf = '';
                phase = 'run';
                if (rest) writeErr(Buffer.from(rest, 'latin1'));
                startStdin();
                return;
              }
              if (p < 0) return;
              if (p > 0) writeErr(Buffer.from(buf.slice(0, p), 'latin1'));
              buf = buf.slice(p + prompt.length);
              prompts++;
              if (prompts > 1) {
                failure = new SudoError(t('sudo on {0} did not accept the password.', this.target.host));
                ch.close();
                return;
              }
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
          });
          ch.stderr.on('end', () => {
            if (phase === 'auth' && buf) writeErr(Buffer.from(buf, 'latin1'));
            buf = '';
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
