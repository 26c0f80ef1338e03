import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, win32 } from 'node:path';
import { hostPlatform, type Platform } from '../common/platform';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import { entryMatches, keyBlobType, type KnownHostEntry, readKnownHostsFiles, sha256Fingerprint } from './knownHosts';
import { HostKeyChangedError, HostKeyNotTrustedError } from './sshErrors';
import type { HostKeyInfo, HostKeyPolicy } from './sshTarget';

/** One key the user accepted, as kept in KDS's trust store (JSON, never synced, mode 0600). */
export interface TrustedHostKey {
  host: string;
  port: number;
  algorithm: string;
  /** Base64 public key blob, as in known_hosts. */
  key: string;
  sha256: string;
  addedAt: string;
}

interface TrustStoreFile {
  version: 1;
  keys: TrustedHostKey[];
}

/**
 * Default trust store for the CLI/service: $XDG_CONFIG_HOME/kds/ssh-host-keys.json, on Windows
 * %APPDATA%\kds\ssh-host-keys.json (the extension uses its machine-scoped global storage).
 */
export function defaultTrustStorePath(env: NodeJS.ProcessEnv = process.env, platform: Platform = hostPlatform, home = homedir()): string {
  if (platform.os === 'win32') return win32.join(env.APPDATA || win32.join(home, 'AppData', 'Roaming'), 'kds', 'ssh-host-keys.json');
  const base = env.XDG_CONFIG_HOME || join(home, '.config');
  return join(base, 'kds', 'ssh-host-keys.json');
}

/**
 * The user's OpenSSH files, read (never written) by default, where OpenSSH itself keeps them:
 * ~/.ssh and /etc/ssh, on Windows %USERPROFILE%\.ssh and %ProgramData%\ssh.
 */
export function defaultKnownHostsFiles(env: NodeJS.ProcessEnv = process.env, platform: Platform = hostPlatform, home = homedir()): string[] {
  if (platform.os === 'win32') {
    const system = win32.join(env.ProgramData || env.PROGRAMDATA || 'C:\\ProgramData', 'ssh');
    return [win32.join(home, '.ssh', 'known_hosts'), win32.join(home, '.ssh', 'known_hosts2'), win32.join(system, 'ssh_known_hosts'), win32.join(system, 'ssh_known_hosts2')];
  }
  return [join(home, '.ssh', 'known_hosts'), join(home, '.ssh', 'known_hosts2'), '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];
}

export async function readTrustStore(path: string): Promise<TrustedHostKey[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(t('The SSH trust store {0} is not valid JSON; fix or remove it.', path));
  }
  const keys = (parsed as TrustStoreFile | null)?.keys;
  if (!Array.isArray(keys)) throw new Error(t('The SSH trust store {0} is not valid JSON; fix or remove it.', path));
  return keys.filter((k) => k && typeof k.host === 'string' && typeof k.port === 'number' && typeof k.algorithm === 'string' && typeof k.key === 'string');
}

async function addToTrustStore(path: string, info: HostKeyInfo): Promise<void> {
  const keys = await readTrustStore(path);
  const b64 = info.key.toString('base64');
  if (keys.some((k) => k.host === info.host.toLowerCase() && k.port === info.port && k.key === b64)) return;
  keys.push({ host: info.host.toLowerCase(), port: info.port, algorithm: info.algorithm, key: b64, sha256: info.sha256, addedAt: new Date().toISOString() });
  const body: TrustStoreFile = { version: 1, keys };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

function trustStoreEntries(keys: TrustedHostKey[], path: string): KnownHostEntry[] {
  return keys.map((k, i) => {
    const name = k.port === 22 ? k.host : `[${k.host}]:${k.port}`;
    return { patterns: [name], algorithm: k.algorithm, key: Buffer.from(k.key, 'base64'), source: `${path}#${i + 1}` };
  });
}

async function knownEntries(policy: HostKeyPolicy, host: string, port: number, logger?: Logger): Promise<KnownHostEntry[]> {
  const { entries, ignored } = await readKnownHostsFiles(policy.knownHostsFiles);
  for (const note of ignored) logger?.debug('ssh.knownHosts', note);
  const all = [...entries];
  if (policy.trustStorePath) all.push(...trustStoreEntries(await readTrustStore(policy.trustStorePath), policy.trustStorePath));
  return all.filter((e) => entryMatches(e, host, port));
}

const rsaAlgorithms = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
const defaultOrder = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', ...rsaAlgorithms];

/**
 * The host key algorithms to offer the server: when any key is known for the host, only the
 * known types, so a man in the middle cannot make a new type look like an unknown host (OpenSSH
 * only prefers them; KDS refuses the others). undefined = nothing known: ssh2's default order.
 */
export async function preferredHostKeyAlgorithms(policy: HostKeyPolicy, host: string, port: number): Promise<string[] | undefined> {
  let matches: KnownHostEntry[];
  try {
    matches = await knownEntries(policy, host, port);
  } catch {
    return undefined;
  }
  const known = new Set<string>();
  for (const e of matches) {
    if (e.marker === 'revoked') continue;
    for (const a of e.algorithm === 'ssh-rsa' ? rsaAlgorithms : [e.algorithm]) if (defaultOrder.includes(a)) known.add(a);
  }
  if (known.size === 0) return undefined;
  return defaultOrder.filter((a) => known.has(a));
}

/** The fingerprints of the live keys known for a host (any type), for a "changed" message. */
export async function knownKeysOf(policy: HostKeyPolicy, host: string, port: number): Promise<Array<{ sha256: string; source: string }>> {
  const matches = await knownEntries(policy, host, port);
  return matches.filter((e) => e.marker === undefined).map((e) => ({ sha256: sha256Fingerprint(e.key), source: e.source.replace(/[:#]\d+$/, '') }));
}

export function hostKeyInfo(host: string, port: number, key: Buffer): HostKeyInfo {
  return { host, port, algorithm: keyBlobType(key) ?? 'unknown', sha256: sha256Fingerprint(key), key: Buffer.from(key) };
}

export type HostKeyVerdict = { status: 'known'; source: string } | { status: 'accepted' };

/**
 * Decides about the key a server presented, before any credential is sent. Known and matching →
 * 'known'; revoked, or any other key known for the host (of any type: a new type offered by a
 * man in the middle is a change, not a new host) → HostKeyChangedError;
 * unknown → policy.onUnknown, then remembered in the trust store, or HostKeyNotTrustedError.
 */
export async function verifyHostKey(policy: HostKeyPolicy, info: HostKeyInfo, logger?: Logger): Promise<HostKeyVerdict> {
  const matches = await knownEntries(policy, info.host, info.port, logger);
  const revoked = matches.find((e) => e.marker === 'revoked' && e.key.equals(info.key));
  if (revoked) throw new HostKeyChangedError(info, 'revoked', [{ sha256: sha256Fingerprint(revoked.key), source: revoked.source }]);
  const live = matches.filter((e) => e.marker === undefined);
  const same = live.find((e) => e.key.equals(info.key));
  if (same) return { status: 'known', source: same.source };
  if (live.length) {
    throw new HostKeyChangedError(
      info,
      'changed',
      live.map((e) => ({ sha256: sha256Fingerprint(e.key), source: e.source.replace(/[:#]\d+$/, '') })),
    );
  }
  const accepted = await policy.onUnknown({ ...info, key: Buffer.from(info.key) });
  if (!accepted) throw new HostKeyNotTrustedError(info);
  if (policy.trustStorePath) await addToTrustStore(policy.trustStorePath, info);
  return { status: 'accepted' };
}
