import type { FoundAgent } from './agentChoice';

/** Where and as whom KDS connects; see docs/remote.md "SSH connection and host keys". */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
}

/**
 * How KDS authenticates. Secrets are never stored here: every one is asked for through a
 * function when (and only when) the server wants it, after its host key was verified.
 * Order tried: agent, private key, keyboard-interactive, password.
 */
export interface SshAuth {
  /**
   * The SSH agent: a socket or pipe path, or a look-up made when the server first accepts keys
   * (findSshAgent: SSH_AUTH_SOCK, then on Windows the OpenSSH agent's pipe, then Pageant).
   */
  agent?: string | (() => Promise<FoundAgent | undefined>);
  privateKeyPath?: string;
  /** Asked once per connection when the key is encrypted. */
  passphrase?: () => Promise<string | undefined>;
  password?: () => Promise<string | undefined>;
  keyboardInteractive?: (
    name: string,
    instructions: string,
    prompts: Array<{ prompt: string; echo: boolean }>,
  ) => Promise<string[] | undefined>;
}

export interface HostKeyInfo {
  host: string;
  port: number;
  /** Key type as in known_hosts: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa… */
  algorithm: string;
  /** 'SHA256:<base64 without padding>', as `ssh-keygen -lf` prints it. */
  sha256: string;
  /** The public key blob (SSH wire format). */
  key: Buffer;
}

export interface HostKeyPolicy {
  /** Read, never written: hashed |1| entries, [host]:port, comma lists, negation, @revoked. @cert-authority lines are ignored. */
  knownHostsFiles: string[];
  /** KDS's own store (JSON), written when the user accepts an unknown key. */
  trustStorePath?: string;
  /** Ask the user; true = trust and remember in trustStorePath. */
  onUnknown(info: HostKeyInfo): Promise<boolean>;
}
