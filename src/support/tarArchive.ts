import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { t } from '../common/l10n';

/**
 * POSIX tar (ustar, with pax extended headers for long names and big sizes) — the format GNU tar,
 * bsdtar and 7-Zip read. Small enough to own rather than add a dependency; GNU tar is the test
 * oracle (test/unit/supportTar.test.ts).
 */

const BLOCK = 512;
const MAX_OCTAL_SIZE = 0o77777777777; // 11 octal digits

export interface TarEntryHeader {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mode: number;
  mtimeMs: number;
  linkName?: string;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function putString(buf: Buffer, offset: number, width: number, s: string): void {
  buf.write(s, offset, width, 'utf8');
}

function paxRecord(key: string, value: string): string {
  // "<len> key=value\n" where len counts itself.
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function header(name: string, size: number, mode: number, mtimeSec: number, typeflag: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  putString(h, 0, 100, name);
  putString(h, 100, 8, octal(mode & 0o7777, 8));
  putString(h, 108, 8, octal(0, 8));
  putString(h, 116, 8, octal(0, 8));
  putString(h, 124, 12, octal(Math.min(size, MAX_OCTAL_SIZE), 12));
  putString(h, 136, 12, octal(Math.max(0, Math.floor(mtimeSec)), 12));
  h.fill(0x20, 148, 156);
  putString(h, 156, 1, typeflag);
  putString(h, 257, 6, 'ustar\0');
  putString(h, 263, 2, '00');
  putString(h, 265, 32, 'root');
  putString(h, 297, 32, 'root');
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** Names inside the archive: relative, '/'-separated, no '..', no empty parts. */
export function safeEntryName(name: string): string {
  const parts = name.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.some((p) => p === '..') || name.includes('\0')) throw new Error(t('Unsafe name for an archive entry: {0}', name));
  return parts.join('/');
}

function headersFor(entry: { name: string; size: number; mode: number; mtimeMs: number; type: 'file' | 'directory' }): Buffer {
  const name = safeEntryName(entry.name) + (entry.type === 'directory' ? '/' : '');
  const typeflag = entry.type === 'directory' ? '5' : '0';
  const mtime = entry.mtimeMs / 1000;
  const needsPax = Buffer.byteLength(name) > 100 || entry.size > MAX_OCTAL_SIZE || /[^\x20-\x7e]/.test(name);
  const main = header(needsPax ? name.replace(/[^\x20-\x7e]/g, '_').slice(0, 99) : name, entry.size, entry.mode, mtime, typeflag);
  if (!needsPax) return main;
  const records = paxRecord('path', name) + (entry.size > MAX_OCTAL_SIZE ? paxRecord('size', String(entry.size)) : '');
  const body = Buffer.from(records, 'utf8');
  const pax = header(`PaxHeaders/${safeEntryName(name).slice(-80)}`, body.length, 0o644, mtime, 'x');
  return Buffer.concat([pax, body, Buffer.alloc(padding(body.length)), main]);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

async function write(out: Writable, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/** Writes tar entries to `out` (usually a gzip stream). Entries are added one after the other. */
export class TarWriter {
  private finished = false;
  constructor(private readonly out: Writable) {}

  async addDirectory(name: string, mtimeMs = Date.now()): Promise<void> {
    await write(this.out, headersFor({ name, size: 0, mode: 0o755, mtimeMs, type: 'directory' }));
  }

  async addBuffer(name: string, data: Buffer, opts: { mode?: number; mtimeMs?: number } = {}): Promise<void> {
    await write(this.out, headersFor({ name, size: data.length, mode: opts.mode ?? 0o644, mtimeMs: opts.mtimeMs ?? Date.now(), type: 'file' }));
    if (data.length) await write(this.out, data);
    const pad = padding(data.length);
    if (pad) await write(this.out, Buffer.alloc(pad));
  }

  /**
   * Streams a local file; `transform` may rewrite each chunk but must keep its length (masking).
   * A file that grows or shrinks while read is an error: the header already carries its size.
   */
  async addFile(name: string, path: string, opts: { transform?: (chunk: Buffer) => Buffer } = {}): Promise<void> {
    const st = await stat(path);
    if (!st.isFile()) throw new Error(t('{0} is not a regular file.', path));
    await write(this.out, headersFor({ name, size: st.size, mode: 0o644, mtimeMs: st.mtimeMs, type: 'file' }));
    let written = 0;
    for await (const raw of createReadStream(path, { end: st.size === 0 ? -1 : st.size - 1 })) {
      if (st.size === 0) break;
      let chunk = raw as Buffer;
      if (opts.transform) chunk = opts.transform(chunk);
      written += chunk.length;
      await write(this.out, chunk);
    }
    if (written !== st.size) throw new Error(t('{0} changed size while it was archived.', path));
    const pad = padding(st.size);
    if (pad) await write(this.out, Buffer.alloc(pad));
  }

  /** The two zero blocks that end an archive; ends `out`. */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await write(this.out, Buffer.alloc(BLOCK * 2));
    this.out.end();
  }
}

function readString(buf: Buffer, offset: number, width: number): string {
  const slice = buf.subarray(offset, offset + width);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? width : nul).toString('utf8');
}

function readOctal(buf: Buffer, offset: number, width: number): number {
  if (buf[offset]! & 0x80) {
    // GNU base-256 for big numbers
    let v = 0;
    for (let i = offset + 1; i < offset + width; i++) v = v * 256 + buf[i]!;
    return v;
  }
  const s = readString(buf, offset, width).trim();
  return s ? Number.parseInt(s, 8) : 0;
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    const sp = body.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = Number.parseInt(body.subarray(pos, sp).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = body.subarray(sp + 1, pos + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

/** Pulls exact byte counts out of a stream. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  private done = false;
  constructor(input: Readable) {
    this.it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }
  async read(n: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [this.buf];
    let have = this.buf.length;
    while (have < n && !this.done) {
      const next = await this.it.next();
      if (next.done) {
        this.done = true;
        break;
      }
      parts.push(next.value);
      have += next.value.length;
    }
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (all.length < n) {
      // Nothing left, or a truncated stream: either way no full block.
      this.buf = Buffer.alloc(0);
      return undefined;
    }
    this.buf = all.subarray(n);
    return all.subarray(0, n);
  }
}

export interface TarEntry extends TarEntryHeader {
  data: Buffer;
}

/**
 * Reads a tar stream entry by entry, each entry's content in memory (at most `maxEntryBytes`,
 * default 1 GiB). Understands ustar, pax ('x', 'g') and GNU long names ('L', 'K').
 */
export async function* readTar(input: Readable, opts: { maxEntryBytes?: number } = {}): AsyncGenerator<TarEntry> {
  const max = opts.maxEntryBytes ?? 1024 * 1024 * 1024;
  const r = new ByteReader(input);
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const h = await r.read(BLOCK);
    if (!h) return;
    if (h.every((b) => b === 0)) return;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== readOctal(h, 148, 8)) throw new Error(t('The archive is damaged: a header checksum does not match.'));
    const typeflag = String.fromCharCode(h[156]!);
    let size = readOctal(h, 124, 12);
    if (pax.size) size = Number(pax.size);
    if (size > max) throw new Error(t('An archive entry is too big to check ({0} bytes).', size));
    const data = size ? await r.read(size) : Buffer.alloc(0);
    if (!data) throw new Error(t('The archive ends in the middle of an entry.'));
    const pad = padding(size);
    if (pad && !(await r.read(pad))) throw new Error(t('The archive ends in the middle of an entry.'));
    if (typeflag === 'x') {
      pax = { ...pax, ...parsePax(data) };
      continue;
    }
    if (typeflag === 'g') continue;
    if (typeflag === 'L') {
      longName = data.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    if (typeflag === 'K') {
      longLink = data.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    const prefix = readString(h, 345, 155);
    const baseName = readString(h, 0, 100);
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${baseName}` : baseName);
    const linkName = pax.linkpath ?? longLink ?? readString(h, 157, 100);
    const type: TarEntryHeader['type'] = typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : typeflag === '2' ? 'symlink' : 'other';
    const mtime = pax.mtime ? Number(pax.mtime) : readOctal(h, 136, 12);
    pax = {};
    longName = undefined;
    longLink = undefined;
    yield { name, type, size, mode: readOctal(h, 100, 8), mtimeMs: mtime * 1000, ...(type === 'symlink' && { linkName }), data };
  }
}
