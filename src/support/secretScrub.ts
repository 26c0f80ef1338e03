import { isUtf8 } from 'node:buffer';
import { binaryForms, findBase64Keys, findDerKeys, type KeyRange } from './keyMaterial';

/**
 * Removes secrets from everything that goes into a support bundle. Four nets, because a
 * secret can arrive in any of the sources (configuration, logs, journal, KATA's own output,
 * the user's answers, files the user adds):
 *  1. literal secrets KDS knows (SSH and sudo passwords, values of secret keys in the
 *     configuration, the lines of private keys it can read, and those keys' DER forms) — wherever
 *     they appear;
 *  2. PEM/OpenSSH private key blocks, whoever's they are;
 *  3. private keys in other encodings, whoever's: raw DER (PKCS#8, PKCS#1, SEC1) and base64 of
 *     DER or PEM at any wrapping width (keyMaterial.ts);
 *  4. in text, values after secret-looking names (password=…, "passphrase": "…", token: …).
 * Text is rewritten with a marker; binary data (pcaps) is masked byte for byte so its structure
 * stays readable by Wireshark. Files are scrubbed in windows of a few MiB that overlap where a
 * secret could straddle two of them, so their size is bounded by the disk, not by memory or the
 * longest string V8 can hold (a 600 MB pcap used to fail).
 */

export const SCRUBBED = '[removed by KDS]';

/** Names whose values are secrets in key=value, key: value and JSON forms. */
export const SECRET_NAME = String.raw`(?:[A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|private[_-]?key|credentials?))`;

const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----/g;
// "name": "value"  (JSON, with escapes)
const JSON_PAIR = new RegExp(String.raw`("${SECRET_NAME}"\s*:\s*)"(?:[^"\\\n]|\\.)*"`, 'gi');
// name=value, name: value — only the = and : forms, which are unambiguous
const KV_PAIR = new RegExp(String.raw`(\b${SECRET_NAME}\b["']?\s*[=:]\s*)(?:"[^"\n]*"|'[^'\n]*'|[^\s,;&"']+)`, 'gi');

/** Bytes one step of a pass looks at. */
const WINDOW = 4 * 1024 * 1024;
/** Bytes a binary window keeps for the next one: longer than any needle, DER key or base64 key. */
const OVERLAP = 64 * 1024;
/** How far back a window may hold bytes for a key that may continue (then it decides on what it has). */
const MAX_HOLD = 1024 * 1024;

export interface ScrubStats {
  literals: number;
  privateKeys: number;
  pairs: number;
}

interface Found extends KeyRange {
  kind: keyof ScrubStats;
  /** Text mode: what replaces the range (default SCRUBBED). */
  text?: string;
  /** The rest of a key block that began in an earlier window (counted there). */
  continued?: boolean;
  /** A PEM block whose body is already censored (a leak scan does not count it). */
  censored?: boolean;
}

export class SecretScrubber {
  private readonly literals = new Set<string>();
  /** Byte needles: every literal as UTF-8, and the DER/binary forms of known keys. */
  private needles: Buffer[] = [];
  /** The DER/binary forms of known keys (also looked for inside decoded base64). */
  private readonly keyForms: Buffer[] = [];
  readonly stats: ScrubStats = { literals: 0, privateKeys: 0, pairs: 0 };

  /** Remembers a secret. Very short values (under 4 characters) would censor ordinary text and are refused. */
  addSecret(secret: string | undefined | null): void {
    if (!secret) return;
    const s = secret.replace(/\r?\n$/, '');
    if (s.length < 4 || this.literals.has(s)) return;
    this.literals.add(s);
    this.needles.push(Buffer.from(s, 'utf8'));
    this.sortNeedles();
  }

  /** A private key file's content: the whole text, each base64 line of its body, and its DER forms (PKCS#8, PKCS#1/SEC1). */
  addPrivateKey(text: string): void {
    this.addSecret(text.trim());
    for (const line of text.split(/\r?\n/)) {
      const l = line.trim();
      if (l.length >= 16 && !l.startsWith('-----')) this.addSecret(l);
    }
    for (const der of binaryForms(text)) {
      if (this.keyForms.some((k) => k.equals(der))) continue;
      this.keyForms.push(der);
      this.needles.push(der);
    }
    this.sortNeedles();
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

  /** A pass over one file or stream: push its chunks, then end(). */
  pass(mode: 'auto' | 'text' | 'binary' = 'auto'): ScrubPass {
    return new ScrubPass(this, mode, false);
  }

  /** A pass that only looks: how many secrets or keys the data still holds (the last check of a written bundle). */
  leakScan(): ScrubPass {
    return new ScrubPass(this, 'binary', true);
  }

  /** Text with every secret replaced by SCRUBBED. */
  text(input: string): string {
    return run(this.pass('text'), Buffer.from(input, 'utf8')).toString('utf8');
  }

  /**
   * Binary content: literal secrets and key material are overwritten with '*' of the same length
   * (UTF-8 bytes), so offsets and lengths inside the file stay valid.
   */
  bytes(input: Buffer): Buffer {
    const out = run(this.pass('binary'), input);
    return out.equals(input) ? input : out;
  }

  /** True when the data looks like text (no NUL in its first 8 KiB and valid UTF-8). */
  static isText(data: Buffer): boolean {
    if (data.subarray(0, 8192).includes(0)) return false;
    return isUtf8(data);
  }

  /** Text is rewritten, binary masked. */
  content(data: Buffer): Buffer {
    const out = run(this.pass(), data);
    return out.equals(data) ? data : out;
  }

  /** How many known secrets and keys are left in `data` (counts, never the secret itself). */
  leaks(data: Buffer): { secrets: number; privateKeys: number; total: number } {
    const scan = this.leakScan();
    scan.push(data);
    scan.end();
    return { ...scan.leaked, total: scan.leakCount };
  }

  total(): number {
    return this.stats.literals + this.stats.privateKeys + this.stats.pairs;
  }

  /**
   * @internal Every range of the window `buf` (`latin`: the same bytes as latin1) that holds a
   * secret. `pemOpen`: the window starts inside a key block of that kind. `textPairs`: also the
   * values after secret-looking names (text windows). `holdFrom`: where something starts that may
   * go on past the window's end.
   */
  findRanges(buf: Buffer, latin: string, o: { atEnd: boolean; pemOpen?: string; textPairs: boolean }): { found: Found[]; holdFrom?: number; pemOpen?: string } {
    const found: Found[] = [];
    const decideBefore = o.atEnd ? buf.length : buf.length - MAX_HOLD;
    let holdFrom: number | undefined;
    let open: string | undefined;
    let scanFrom = 0;
    if (o.pemOpen) {
      // Inside a key block that began in an earlier window: everything up to its END goes.
      const end = latin.indexOf(`-----END ${o.pemOpen}-----`);
      if (end < 0) return { found: [{ start: 0, end: buf.length, kind: 'privateKeys', text: '', continued: true }], ...(!o.atEnd && { pemOpen: o.pemOpen }) };
      if (end > 0) found.push({ start: 0, end, kind: 'privateKeys', text: '', continued: true });
      scanFrom = end;
    }
    PEM_BEGIN.lastIndex = scanFrom;
    for (let m = PEM_BEGIN.exec(latin); m; m = PEM_BEGIN.exec(latin)) {
      const kind = m[1]!;
      const bodyStart = m.index + m[0].length;
      const endMarker = `-----END ${kind}-----`;
      const end = latin.indexOf(endMarker, bodyStart);
      const censored = !/^\s*[A-Za-z0-9+/=]{16}/.test(latin.slice(bodyStart, bodyStart + 256)) && !/^\s*Proc-Type:/.test(latin.slice(bodyStart, bodyStart + 64));
      // Without its END here, the block goes on in the next window (or the file ends inside it): all of the rest goes.
      found.push({ start: bodyStart, end: end < 0 ? buf.length : end, kind: 'privateKeys', text: `\n${SCRUBBED}\n`, ...(censored && { censored }) });
      if (end < 0) {
        if (!o.atEnd) open = kind;
        break;
      }
      PEM_BEGIN.lastIndex = end + endMarker.length;
    }
    for (const needle of this.needles) {
      for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + needle.length)) found.push({ start: i, end: i + needle.length, kind: 'literals' });
    }
    const der = findDerKeys(buf);
    for (const r of der.found) found.push({ ...r, kind: 'privateKeys' });
    if (der.needMore !== undefined && der.needMore >= decideBefore) holdFrom = der.needMore;
    const b64 = findBase64Keys(buf, this.keyForms, o.atEnd, decideBefore);
    for (const r of b64.found) found.push({ ...r, kind: 'privateKeys' });
    if (b64.needMore !== undefined) holdFrom = Math.min(holdFrom ?? b64.needMore, b64.needMore);
    if (o.textPairs) found.push(...pairRanges(buf));
    return { found: merge(found), ...(holdFrom !== undefined && { holdFrom }), ...(open && { pemOpen: open }) };
  }

  private sortNeedles(): void {
    this.needles.sort((a, b) => b.length - a.length);
  }
}

/**
 * Values after secret-looking names in a text window (valid UTF-8), as byte ranges. The patterns
 * are line-bound, and text windows end at line breaks, so no pair is cut in two.
 */
function pairRanges(buf: Buffer): Found[] {
  const text = buf.toString('utf8');
  const hits: Array<{ start: number; end: number; json: boolean }> = [];
  for (const [re, json] of [[JSON_PAIR, true], [KV_PAIR, false]] as const) {
    for (const m of text.matchAll(re)) {
      const start = m.index! + m[1]!.length;
      const end = m.index! + m[0].length;
      const value = text.slice(start, end).replace(/^["']|["']$/g, '');
      if (value.startsWith('[removed') || /^\*+$/.test(value)) continue;
      hits.push({ start, end, json });
    }
  }
  hits.sort((a, b) => a.start - b.start);
  // Character offsets to byte offsets, in one walk.
  const out: Found[] = [];
  let ch = 0;
  let byte = 0;
  const toByte = (c: number) => {
    byte += Buffer.byteLength(text.slice(ch, c), 'utf8');
    ch = c;
    return byte;
  };
  for (const h of hits) {
    if (h.start < ch) continue; // overlaps the previous one
    const start = toByte(h.start);
    const end = toByte(h.end);
    out.push({ start, end, kind: 'pairs', text: h.json ? `"${SCRUBBED}"` : SCRUBBED });
  }
  return out;
}

/** Overlapping ranges merged (the earlier one's kind and text win). */
function merge(found: Found[]): Found[] {
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Found[] = [];
  for (const f of found) {
    const last = out[out.length - 1];
    if (last && f.start < last.end) {
      last.end = Math.max(last.end, f.end);
      if (!f.censored) delete last.censored;
      continue;
    }
    out.push({ ...f });
  }
  return out;
}

function run(pass: ScrubPass, data: Buffer): Buffer {
  const out = [...pass.push(data), ...pass.end()];
  return out.length === 1 ? out[0]! : Buffer.concat(out);
}

/**
 * One file through the scrubber, window by window: push() chunks as they come, end() at the end;
 * each returns the scrubbed bytes ready so far. Text or binary is decided on the first 8 KiB
 * (`auto`); a text window that is not valid UTF-8 is masked like binary.
 */
export class ScrubPass {
  private buf: Buffer = Buffer.alloc(0);
  private mode: 'text' | 'binary' | undefined;
  private pemOpen: string | undefined;
  private ended = false;
  /** Leak scan: what was found. */
  readonly leaked = { secrets: 0, privateKeys: 0 };

  constructor(
    private readonly scrubber: SecretScrubber,
    mode: 'auto' | 'text' | 'binary',
    private readonly scanOnly: boolean,
  ) {
    if (mode !== 'auto') this.mode = mode;
  }

  /** Leak scan: how many secrets and keys were found (0 when clean). */
  get leakCount(): number {
    return this.leaked.secrets + this.leaked.privateKeys;
  }

  push(chunk: Buffer): Buffer[] {
    if (this.ended) throw new Error('push after end');
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    while (this.buf.length >= WINDOW + (this.mode === 'binary' ? OVERLAP : 0)) {
      const before = this.buf.length;
      out.push(...this.step(false));
      if (this.buf.length === before) break;
    }
    return out;
  }

  end(): Buffer[] {
    if (this.ended) return [];
    const out: Buffer[] = [];
    while (this.buf.length) out.push(...this.step(true));
    this.ended = true;
    return out;
  }

  /** Scrubs what can be decided of the buffer and keeps the rest for the next step. */
  private step(final: boolean): Buffer[] {
    const all = this.buf;
    if (!this.mode) {
      const head = all.subarray(0, 8192);
      this.mode = !head.includes(0) && isUtf8Prefix(head) ? 'text' : 'binary';
    }
    // One window (and its overlap) per step.
    const len = Math.min(all.length, WINDOW + OVERLAP);
    const atEnd = final && len === all.length;
    const win = all.subarray(0, len);
    const text = this.mode === 'text';
    let cut = atEnd ? len : text ? textCut(win, len) : Math.max(0, len - OVERLAP);
    const textPairs = text && !this.scanOnly && isUtf8Prefix(win);
    const r = this.scrubber.findRanges(win, win.toString('latin1'), { atEnd, ...(this.pemOpen && { pemOpen: this.pemOpen }), textPairs });
    if (r.holdFrom !== undefined && r.holdFrom < cut) cut = text ? win.lastIndexOf(0x0a, r.holdFrom) + 1 : r.holdFrom;
    // A range that starts before the cut is taken whole (it lies inside this window).
    for (const f of r.found) if (f.start < cut && f.end > cut) cut = f.end;
    if (cut === 0) {
      if (!final && all.length <= MAX_HOLD + WINDOW) return []; // wait for more
      cut = len;
    }
    const taken = r.found.filter((f) => f.start < cut);
    // Past the cut the next step looks again; a block still open at the window's end stays open.
    this.pemOpen = cut >= len ? r.pemOpen : undefined;
    const head = win.subarray(0, cut);
    this.buf = all.subarray(cut);
    if (this.scanOnly) {
      for (const f of taken) if (!f.continued && !f.censored) this.leaked[f.kind === 'privateKeys' ? 'privateKeys' : 'secrets']++;
      return [head];
    }
    for (const f of taken) if (!f.continued) this.scrubber.stats[f.kind]++;
    return [textPairs && isUtf8(head) ? replaceRanges(head, taken) : maskRanges(head, taken)];
  }
}

/** Where a text window may end: after its last line break (a long line is cut at a space or comma). */
function textCut(win: Buffer, len: number): number {
  const nl = win.lastIndexOf(0x0a, len - 1);
  if (nl >= 0) return nl + 1;
  if (len < WINDOW) return 0;
  for (const sep of [0x20, 0x2c, 0x3b, 0x09]) {
    const at = win.lastIndexOf(sep, len - 1);
    if (at > len - OVERLAP) return at + 1;
  }
  // No separator: a hard cut, on a character boundary.
  let at = len - OVERLAP;
  while (at > 0 && (win[at]! & 0xc0) === 0x80) at--;
  return at;
}

/** Valid UTF-8 but for a sequence cut at the end. */
function isUtf8Prefix(b: Buffer): boolean {
  for (let cut = 0; cut < 4 && cut < b.length; cut++) if (isUtf8(b.subarray(0, b.length - cut))) return true;
  return b.length === 0;
}

function replaceRanges(head: Buffer, ranges: Found[]): Buffer {
  if (!ranges.length) return head;
  const parts: Buffer[] = [];
  let at = 0;
  for (const f of ranges) {
    const end = Math.min(f.end, head.length);
    parts.push(head.subarray(at, f.start), Buffer.from(f.text ?? SCRUBBED, 'utf8'));
    at = end;
  }
  parts.push(head.subarray(at));
  return Buffer.concat(parts);
}

function maskRanges(head: Buffer, ranges: Found[]): Buffer {
  if (!ranges.length) return head;
  const out = Buffer.from(head);
  for (const f of ranges) out.fill(0x2a, f.start, Math.min(f.end, head.length));
  return out;
}
