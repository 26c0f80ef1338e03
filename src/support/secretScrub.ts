/**
 * Removes secrets from everything that goes into a support bundle. Three nets, because a
 * secret can arrive in any of the sources (configuration, logs, journal, KATA's own output,
 * the user's answers):
 *  1. literal secrets KDS knows (SSH and sudo passwords, values of secret keys in the
 *     configuration, the lines of private keys it can read) — wherever they appear;
 *  2. PEM/OpenSSH private key blocks, whoever's they are;
 *  3. values after secret-looking names (password=…, "passphrase": "…", token: …).
 * Text is rewritten with a marker; binary data (pcaps) is masked byte for byte so its structure
 * stays readable by Wireshark.
 */

export const SCRUBBED = '[removed by KDS]';

/** Names whose values are secrets in key=value, key: value and JSON forms. */
export const SECRET_NAME = String.raw`(?:[A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|private[_-]?key|credentials?))`;

const PEM_BLOCK = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----[\s\S]*?(?:-----END \1-----|$)/g;
// "name": "value"  (JSON, with escapes)
const JSON_PAIR = new RegExp(String.raw`("${SECRET_NAME}"\s*:\s*)"(?:[^"\\]|\\.)*"`, 'gi');
// name=value, name: value, --name value, name value? — only the = and : forms, which are unambiguous
const KV_PAIR = new RegExp(String.raw`(\b${SECRET_NAME}\b["']?\s*[=:]\s*)(?:"[^"\n]*"|'[^'\n]*'|[^\s,;&"']+)`, 'gi');
// -----BEGIN ... without the END in this piece (a key cut at a chunk border) also goes.

export interface ScrubStats {
  literals: number;
  privateKeys: number;
  pairs: number;
}

export class SecretScrubber {
  private readonly literals = new Set<string>();
  readonly stats: ScrubStats = { literals: 0, privateKeys: 0, pairs: 0 };

  /** Remembers a secret. Very short values (under 4 characters) would censor ordinary text and are refused. */
  addSecret(secret: string | undefined | null): void {
    if (!secret) return;
    const s = secret.replace(/\r?\n$/, '');
    if (s.length < 4) return;
    this.literals.add(s);
  }

  /** A private key file's content: the whole text and each base64 line of its body. */
  addPrivateKey(text: string): void {
    this.addSecret(text.trim());
    for (const line of text.split(/\r?\n/)) {
      const l = line.trim();
      if (l.length >= 16 && !l.startsWith('-----')) this.addSecret(l);
    }
  }

  /** The secret values a JSON configuration holds under secret-looking keys (nested too). */
  addSecretsFromJson(value: unknown, depth = 0): void {
    if (depth > 8 || value === null || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (new RegExp(`^${SECRET_NAME}$`, 'i').test(k) && (typeof v === 'string' || typeof v === 'number')) this.addSecret(String(v));
      else this.addSecretsFromJson(v, depth + 1);
    }
  }

  get knownSecrets(): readonly string[] {
    return [...this.literals];
  }

  /** Text with every secret replaced by SCRUBBED. */
  text(input: string): string {
    let out = input;
    for (const secret of [...this.literals].sort((a, b) => b.length - a.length)) {
      if (!out.includes(secret)) continue;
      const parts = out.split(secret);
      this.stats.literals += parts.length - 1;
      out = parts.join(SCRUBBED);
    }
    out = out.replace(PEM_BLOCK, (_m, kind: string) => {
      this.stats.privateKeys++;
      return `-----BEGIN ${kind}-----\n${SCRUBBED}\n-----END ${kind}-----`;
    });
    out = out.replace(JSON_PAIR, (_m, head: string) => {
      this.stats.pairs++;
      return `${head}"${SCRUBBED}"`;
    });
    out = out.replace(KV_PAIR, (m, head: string) => {
      if (m.slice(head.length) === SCRUBBED || m.slice(head.length).startsWith('[removed')) return m;
      this.stats.pairs++;
      return `${head}${SCRUBBED}`;
    });
    return out;
  }

  /**
   * Binary content: literal secrets and private key blocks are overwritten with '*' of the same
   * length (UTF-8 bytes), so offsets and lengths inside the file stay valid.
   */
  bytes(input: Buffer): Buffer {
    // latin1 maps every byte to one char and back: byte offsets are char offsets.
    const s = input.toString('latin1');
    let out = s;
    for (const secret of this.literals) {
      const needle = Buffer.from(secret, 'utf8').toString('latin1');
      if (!out.includes(needle)) continue;
      const parts = out.split(needle);
      this.stats.literals += parts.length - 1;
      out = parts.join('*'.repeat(needle.length));
    }
    out = out.replace(PEM_BLOCK, (m) => {
      this.stats.privateKeys++;
      return '*'.repeat(m.length);
    });
    return out === s ? input : Buffer.from(out, 'latin1');
  }

  /** True when the data looks like text (no NUL in its first 8 KiB and valid UTF-8). */
  static isText(data: Buffer): boolean {
    if (data.subarray(0, 8192).includes(0)) return false;
    return Buffer.from(data.toString('utf8'), 'utf8').equals(data);
  }

  /** Text is rewritten, binary masked. */
  content(data: Buffer): Buffer {
    if (SecretScrubber.isText(data)) {
      const s = data.toString('utf8');
      const out = this.text(s);
      return out === s ? data : Buffer.from(out, 'utf8');
    }
    return this.bytes(data);
  }

  /** Any known secret or private key left in `data` (used as a last check before writing). */
  leaks(data: Buffer): string[] {
    const s = data.toString('latin1');
    const found: string[] = [];
    for (const secret of this.literals) if (s.includes(Buffer.from(secret, 'utf8').toString('latin1'))) found.push(secret);
    if (/-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\s*[A-Za-z0-9+/=]{16}/.test(s)) found.push('private key');
    return found;
  }

  total(): number {
    return this.stats.literals + this.stats.privateKeys + this.stats.pairs;
  }
}
