import { Client } from 'ssh2';
import { t } from '../common/l10n';
import { hostKeyInfo, knownKeysOf } from './hostKeyVerifier';
import { HostKeyChangedError, SshConnectError } from './sshErrors';
import type { HostKeyPolicy, SshTarget } from './sshTarget';

/** ssh2's message when the server offers none of the host key algorithms we allowed. */
export function isHostKeyAlgorithmMismatch(err: Error): boolean {
  return /no matching host key/i.test(err.message);
}

/**
 * The server offered none of the key types known for it (connect limits serverHostKey to
 * them). To say which key it has instead, connect once more without the limit, take the key in
 * hostVerifier and refuse it there: the key exchange stops before authentication, so nothing
 * is sent. The result is always an error: HostKeyChangedError with both fingerprints, or,
 * when the server cannot be reached again, a connect error that still names the known keys.
 */
export async function hostKeyTypeChanged(target: SshTarget, policy: HostKeyPolicy, timeoutMs: number): Promise<Error> {
  const known = await knownKeysOf(policy, target.host, target.port).catch(() => []);
  const presented = await new Promise<Buffer | undefined>((resolve) => {
    const client = new Client();
    let key: Buffer | undefined;
    const done = () => {
      client.destroy();
      resolve(key);
    };
    client.once('error', done);
    client.once('close', done);
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      readyTimeout: timeoutMs,
      hostVerifier: (k: Buffer, verify: (ok: boolean) => void) => {
        key = Buffer.from(k);
        verify(false);
      },
      authHandler: () => false,
    } as Parameters<Client['connect']>[0]);
  });
  if (presented) return new HostKeyChangedError(hostKeyInfo(target.host, target.port, presented), 'changed', known);
  return new SshConnectError(
    target.host,
    target.port,
    t('the server offers none of the host key types known for it (known: {0}); the connection was refused', known.map((k) => k.sha256).join(', ')),
  );
}
