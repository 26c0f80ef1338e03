import { createPrivateKey } from 'node:crypto';

/**
 * Private keys in the encodings people copy them in: PEM, raw DER (PKCS#1, PKCS#8, SEC1) and
 * base64 of either, wrapped at any width. Used by the secret scrubber on every window of every
 * file that goes into a support bundle, so everything here works on byte ranges of a window and
 * says when it needs to see more bytes first.
 */

/** A range [start, end) of a window that holds key material. */
export interface KeyRange {
  start: number;
  end: number;
}

/** The DER and binary forms of a private key given as PEM text: what a `--add key.der` would hold. */
export function binaryForms(pemText: string): Buffer[] {
  const out: Buffer[] = [];
  const body = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----([\s\S]*?)-----END \1-----/.exec(pemText);
  if (body) {
    // The PEM body itself (any format: PKCS#1, PKCS#8, SEC1, OpenSSH's own), unless encrypted with headers.
    const b64 = body[2]!.includes(':') ? '' : body[2]!.replace(/\s+/g, '');
    if (b64.length >= 16) out.push(Buffer.from(b64, 'base64'));
  }
  try {
    const key = createPrivateKey(pemText);
    out.push(key.export({ format: 'der', type: 'pkcs8' }));
    if (key.asymmetricKeyType === 'rsa') out.push(key.export({ format: 'der', type: 'pkcs1' }));
    if (key.asymmetricKeyType === 'ec') out.push(key.export({ format: 'der', type: 'sec1' }));
  } catch {
    // Encrypted, or a format Node.js does not read (OpenSSH): its body bytes above still count.
  }
  const unique = new Map<string, Buffer>();
  for (const b of out) if (b.length >= 32) unique.set(b.toString('base64'), b);
  return [...unique.values()];
}

const derTypes = ['pkcs8', 'pkcs1', 'sec1'] as const;
const minDer = 40;
const maxDer = 16 * 1024;

/** Does `der` parse as an unencrypted private key (PKCS#8, PKCS#1 or SEC1)? */
export function isDerPrivateKey(der: Buffer): boolean {
  for (const type of derTypes) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch {
      // not this type
    }
  }
  return false;
}

/**
 * Unencrypted DER private keys anywhere in `buf[from, to)`, whoever's: a SEQUENCE whose first
 * element is the version INTEGER 0 (PKCS#8, PKCS#1) or 1 (SEC1), that Node.js parses as a key.
 * `needMore`: a candidate that starts in the range but runs past the end of `buf`.
 */
export function findDerKeys(buf: Buffer, from = 0, to = buf.length): { found: KeyRange[]; needMore?: number } {
  const found: KeyRange[] = [];
  let needMore: number | undefined;
  for (let i = buf.indexOf(versionTag, Math.max(from, 2)); i >= 0 && i < to; i = buf.indexOf(versionTag, i + 1)) {
    const v = buf[i + 2];
    if (v !== 0 && v !== 1) continue;
    for (const [h, total] of sequenceHeaders(buf, i)) {
      if (h < from || total < minDer || total > maxDer) continue;
      if (h + total > buf.length) {
        needMore = Math.min(needMore ?? h, h);
        continue;
      }
      if (isDerPrivateKey(buf.subarray(h, h + total))) {
        found.push({ start: h, end: h + total });
        i = h + total - 1;
        break;
      }
    }
  }
  return needMore === undefined ? { found } : { found, needMore };
}

const versionTag = Buffer.from([0x02, 0x01]);

/** The SEQUENCE headers (start, total length) that could end right before `i`. */
function sequenceHeaders(buf: Buffer, i: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (i >= 2 && buf[i - 2] === 0x30 && buf[i - 1]! < 0x80) out.push([i - 2, 2 + buf[i - 1]!]);
  if (i >= 3 && buf[i - 3] === 0x30 && buf[i - 2] === 0x81 && buf[i - 1]! >= 0x80) out.push([i - 3, 3 + buf[i - 1]!]);
  if (i >= 4 && buf[i - 4] === 0x30 && buf[i - 3] === 0x82) out.push([i - 4, 4 + ((buf[i - 2]! << 8) | buf[i - 1]!)]);
  return out;
}

/** Bytes of the base64 alphabet (without the '=' padding). */
const B64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[c.charCodeAt(0)] = 1;
const EQ = 0x3d;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Base64 runs in `buf`: a line of at least 16 base64 characters, then further lines of at least
 * 4 joined by line breaks (any wrapping width), each with up to two '=' of padding. A plain loop
 * over the bytes: a regular expression was the scrubber's slowest part on large captures.
 */
export function* base64Runs(buf: Buffer, from = 0): Generator<KeyRange> {
  const n = buf.length;
  const span = (at: number) => {
    let j = at;
    while (j < n && B64[buf[j]!]) j++;
    return j;
  };
  const pad = (at: number) => {
    let j = at;
    while (j < n && j - at < 2 && buf[j] === EQ) j++;
    return j;
  };
  let i = from;
  while (i < n) {
    while (i < n && !B64[buf[i]!]) i++;
    const j = span(i);
    if (j - i < 16) {
      i = j;
      continue;
    }
    let end = pad(j);
    for (;;) {
      const k = buf[end] === CR && buf[end + 1] === LF ? end + 2 : buf[end] === LF ? end + 1 : -1;
      if (k < 0) break;
      const m = span(k);
      if (m - k < 4) break;
      end = pad(m);
    }
    yield { start: i, end };
    i = end;
  }
}

/** The shortest base64 that can hold a private key (an Ed25519 PKCS#8 key: 48 bytes). */
const minRunChars = 60;

const PEM_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;

function decodeRun(buf: Buffer, r: KeyRange): { chars: number; bytes: Buffer } {
  const text = buf.toString('latin1', r.start, r.end).replace(/\s+/g, '');
  return { chars: text.length, bytes: Buffer.from(text, 'base64') };
}

/**
 * Does this decoded content hold a private key: one of `known` (DER/binary forms of keys KDS
 * knows), a PEM private key block, a DER key anywhere in it — or, once more, base64 of one?
 */
export function holdsKeyMaterial(decoded: Buffer, known: readonly Buffer[], depth = 0): boolean {
  if (known.some((k) => decoded.includes(k))) return true;
  if (PEM_KEY.test(decoded.toString('latin1'))) return true;
  if (findDerKeys(decoded).found.length) return true;
  if (depth < 1) {
    for (const r of base64Runs(decoded)) {
      const inner = decodeRun(decoded, r);
      if (inner.chars >= minRunChars && holdsKeyMaterial(inner.bytes, known, depth + 1)) return true;
    }
  }
  return false;
}

/**
 * Base64 runs in the window `buf` that decode to key material. A run touching the end of the
 * window may go on in the next one: unless it starts before `decideBefore` (held long enough),
 * it is left for then and `needMore` says where it starts.
 */
export function findBase64Keys(buf: Buffer, known: readonly Buffer[], atEnd: boolean, decideBefore = 0): { found: KeyRange[]; needMore?: number } {
  const found: KeyRange[] = [];
  let needMore: number | undefined;
  for (const r of base64Runs(buf)) {
    if (!atEnd && r.end >= buf.length - 2 && r.start >= decideBefore) {
      needMore = r.start;
      break;
    }
    if (r.end - r.start < minRunChars) continue;
    const d = decodeRun(buf, r);
    if (d.chars >= minRunChars && holdsKeyMaterial(d.bytes, known)) found.push(r);
  }
  return needMore === undefined ? { found } : { found, needMore };
}
