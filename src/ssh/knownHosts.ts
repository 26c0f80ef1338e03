import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** One usable line of an OpenSSH known_hosts file. */
export interface KnownHostEntry {
  marker?: 'revoked' | 'cert-authority';
  /** Raw host patterns of the line (hashed |1|… entries kept as is). */
  patterns: string[];
  algorithm: string;
  key: Buffer;
  /** "<file>:<line>" for messages. */
  source: string;
}

/** 'SHA256:<base64 without padding>', exactly like `ssh-keygen -lf`. */
export function sha256Fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The key type written at the start of an SSH public key blob. */
export function keyBlobType(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const n = key.readUInt32BE(0);
  if (n <= 0 || n > 64 || 4 + n > key.length) return undefined;
  return key.subarray(4, 4 + n).toString('latin1');
}

/** The name OpenSSH looks up: "host" on port 22, "[host]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

export function parseKnownHosts(text: string, file = 'known_hosts'): { entries: KnownHostEntry[]; ignored: string[] } {
  const entries: KnownHostEntry[] = [];
  const ignored: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const source = `${file}:${i + 1}`;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else {
        ignored.push(`${source}: unknown marker ${m}`);
        return;
      }
    }
    if (fields.length < 3) {
      ignored.push(`${source}: too few fields`);
      return;
    }
    const [hosts, algorithm, b64] = fields as [string, string, string];
    if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) {
      ignored.push(`${source}: key is not base64`);
      return;
    }
    const key = Buffer.from(b64, 'base64');
    if (keyBlobType(key) !== algorithm) {
      ignored.push(`${source}: key type does not match ${algorithm}`);
      return;
    }
    if (marker === 'cert-authority') {
      // Host certificates are not supported by this client: such lines are skipped (see docs/remote.md).
      ignored.push(`${source}: @cert-authority ignored`);
      return;
    }
    entries.push({ marker, patterns: hosts.split(','), algorithm, key, source });
  });
  return { entries, ignored };
}

export async function readKnownHostsFiles(files: string[]): Promise<{ entries: KnownHostEntry[]; ignored: string[] }> {
  const entries: KnownHostEntry[] = [];
  const ignored: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    const r = parseKnownHosts(text, f);
    entries.push(...r.entries);
    ignored.push(...r.ignored);
  }
  return { entries, ignored };
}

function globMatch(pattern: string, s: string): boolean {
  const re = '^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$';
  return new RegExp(re, 'i').test(s);
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  return globMatch(pattern, name);
}

/** Does this line name the host? Any matching negated pattern (!pattern) excludes it. */
export function entryMatches(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  let hit = false;
  for (const p of entry.patterns) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), name)) return false;
    } else if (patternMatches(p, name)) {
      hit = true;
    }
  }
  return hit;
}

/** A hashed host pattern as `ssh-keygen -H` writes it (used by tests and for documentation). */
export function hashHostName(name: string, salt: Buffer): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}
