import { t } from '../common/l10n';
import type { HostKeyInfo } from './sshTarget';

/** Base of every error the SSH layer raises; `retryable` tells ReconnectingSession whether to try again. */
export class SshError extends Error {
  constructor(message: string, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SshError';
  }
}

/** The server presented another key than the one known for it (or a revoked one). No override. */
export class HostKeyChangedError extends SshError {
  constructor(
    readonly info: HostKeyInfo,
    readonly reason: 'changed' | 'revoked',
    /** Fingerprints of the keys known for this host and type, and where they were found. */
    readonly known: Array<{ sha256: string; source: string }>,
  ) {
    super(
      reason === 'revoked'
        ? t('The host key of {0}:{1} ({2} {3}) is revoked. The connection was refused.', info.host, info.port, info.algorithm, info.sha256)
        : t(
            'The host key of {0}:{1} has CHANGED: it is now {2} {3}, but {4} is known. Someone may be intercepting the connection, or the server was reinstalled. The connection was refused; if the change is expected, remove the old key from {5}.',
            info.host,
            info.port,
            info.algorithm,
            info.sha256,
            known.map((k) => k.sha256).join(', '),
            [...new Set(known.map((k) => k.source))].join(', '),
          ),
      false,
    );
    this.name = 'HostKeyChangedError';
  }
}

/** The key was unknown and the user did not accept it. */
export class HostKeyNotTrustedError extends SshError {
  constructor(readonly info: HostKeyInfo) {
    super(t('The host key of {0}:{1} ({2} {3}) was not accepted. The connection was refused.', info.host, info.port, info.algorithm, info.sha256), false);
    this.name = 'HostKeyNotTrustedError';
  }
}

export class SshAuthError extends SshError {
  constructor(user: string, host: string, port: number, methods: string[]) {
    super(
      t('Authentication as {0} on {1}:{2} failed (tried: {3}).', user, host, port, methods.length ? methods.join(', ') : t('nothing')),
      false,
    );
    this.name = 'SshAuthError';
  }
}

export class SshConnectError extends SshError {
  constructor(host: string, port: number, detail: string, options?: { cause?: unknown }) {
    super(t('Cannot connect to {0}:{1} over SSH: {2}', host, port, detail), true, options);
    this.name = 'SshConnectError';
  }
}

export class SshClosedError extends SshError {
  constructor() {
    super(t('The SSH connection is closed.'), true);
    this.name = 'SshClosedError';
  }
}

export class SshTimeoutError extends SshError {
  constructor(what: string, ms: number) {
    super(t('{0} did not finish within {1} ms and was stopped.', what, ms), true);
    this.name = 'SshTimeoutError';
  }
}

export class SudoError extends SshError {
  constructor(message: string) {
    super(message, false);
    this.name = 'SudoError';
  }
}
