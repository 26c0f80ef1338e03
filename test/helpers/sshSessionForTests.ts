/**
 * A client of a private TestSshd (./sshd.ts): a fresh key authorized on it, a known_hosts file
 * trusting its host key (unknown keys refused), and the SshSession / ReconnectingSession
 * arguments made from them.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SshSession, type SshSessionOptions } from '../../src/ssh/sshSession';
import type { HostKeyPolicy, SshAuth, SshTarget } from '../../src/ssh/sshTarget';
import { keygen, type TestSshd } from './sshd';

export interface SshdClient {
  target: SshTarget;
  auth: SshAuth;
  hostKeys: HostKeyPolicy;
  /** The private key file (its .pub is in the sshd's authorized_keys). */
  keyPath: string;
  knownHostsPath: string;
}

/** Generates `keyName` in the sshd's dir, authorizes it and writes known_hosts with the sshd's host key. */
export function sshdClient(sshd: TestSshd, keyName: string): SshdClient {
  const keyPath = join(sshd.dir, keyName);
  sshd.authorize(keygen(keyPath));
  const knownHostsPath = join(sshd.dir, 'known_hosts');
  writeFileSync(knownHostsPath, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey()}\n`);
  return {
    target: { host: '127.0.0.1', port: sshd.port, user: sshd.user },
    auth: { privateKeyPath: keyPath },
    hostKeys: { knownHostsFiles: [knownHostsPath], onUnknown: async () => false },
    keyPath,
    knownHostsPath,
  };
}

/** An SshSession to the sshd as its test user, with a fresh key named `keyName`. */
export function connectToSshd(sshd: TestSshd, keyName: string, opts?: SshSessionOptions): Promise<SshSession> {
  const c = sshdClient(sshd, keyName);
  return SshSession.connect(c.target, c.auth, c.hostKeys, opts);
}

/**
 * Lets `user` run anything through `sudo -n`: a drop-in /etc/sudoers.d/kds-test-`tag`-<random>.
 * Returns its removal.
 */
export function allowPasswordlessSudo(user: string, tag: string): () => void {
  const file = `/etc/sudoers.d/kds-test-${tag}-${randomBytes(4).toString('hex')}`;
  writeFileSync(file, `${user} ALL=(ALL:ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
  return () => rmSync(file, { force: true });
}

/** The numeric uid of a local user (the sshd's test user owns what it must write). */
export function uidOf(user: string): number {
  return Number(execFileSync('/usr/bin/id', ['-u', user], { encoding: 'utf8' }).trim());
}
