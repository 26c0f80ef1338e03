import type { LogFields, Logger, LogLevel } from '../common/log';

export const CENSORED = '<censored>';

/** Field names whose values are never logged, whatever they hold. */
const secretField = /pass(word|phrase)?|secret|answer|response|token|private_?key|credential/i;

/**
 * Remembers every secret handed to the SSH layer (passwords, passphrases, keyboard-interactive
 * answers, sudo passwords) and censors them wherever they would be logged: in messages, in
 * field values (nested too) and in error texts. Secrets are kept only in memory.
 */
export class Redactor {
  private readonly secrets = new Set<string>();

  add(secret: string | Buffer | undefined | null): void {
    if (secret === undefined || secret === null) return;
    const s = Buffer.isBuffer(secret) ? secret.toString('utf8') : secret;
    // Very short strings (one or two characters) would censor ordinary words; still add them
    // as whole values so a field holding exactly the secret is hidden.
    if (s.length > 0) this.secrets.add(s);
  }

  /** Censors the remembered secrets in a string. */
  text(s: string): string {
    let out = s;
    // Longest first so a secret that contains another is hidden whole.
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) {
      if (secret.length < 3) {
        if (out === secret) out = CENSORED;
        continue;
      }
      out = out.split(secret).join(CENSORED);
    }
    return out;
  }

  value(v: unknown, key?: string, depth = 0): unknown {
    if (key !== undefined && secretField.test(key) && v !== undefined && v !== null && v !== '' && typeof v !== 'boolean') return CENSORED;
    if (typeof v === 'string') return this.text(v);
    if (Buffer.isBuffer(v)) return CENSORED;
    if (v instanceof Error) return this.text(v.message);
    if (depth > 5 || v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => this.value(x, undefined, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = this.value(x, k, depth + 1);
    return out;
  }

  fields(f: LogFields | undefined): LogFields | undefined {
    if (!f) return f;
    return this.value(f) as LogFields;
  }

  /** A logger that passes everything through this redactor before `inner` sees it. */
  logger(inner: Logger | undefined): Logger {
    const log = (level: LogLevel, event: string, msg: string, fields?: LogFields): void => {
      if (!inner) return;
      inner.log(level, event, this.text(msg), this.fields(fields));
    };
    return {
      log,
      debug: (e, m, f) => log('debug', e, m, f),
      info: (e, m, f) => log('info', e, m, f),
      warn: (e, m, f) => log('warn', e, m, f),
      error: (e, m, f) => log('error', e, m, f),
    };
  }
}
