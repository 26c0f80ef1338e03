import { constants, createWriteStream } from 'node:fs';
import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { unzipSync, zipSync } from 'fflate';
import { t } from '../common/l10n';
import type { SecretScrubber } from './secretScrub';
import { type TarEntry, TarWriter, entryName, readTar } from './tarArchive';

/**
 * A file on its way into a support bundle: opened once, recognised by its content (not its name),
 * and scrubbed into the private staging folder — plain files window by window, gzip, tar, tar.gz
 * and zip opened and scrubbed entry by entry (nested ones too), formats KDS cannot look into
 * refused with the reason. Node.js reads gzip and zlib itself and fflate (already a dependency)
 * reads zip; xz, bzip2, zstd, 7-Zip and RAR would each need a decoder library for a case the user
 * solves in one command (`xz -d file.xz`), so they are refused with that command rather than
 * unpacked; PKCS#12 and Java keystores are key containers and are never attached.
 */

/** Files bigger than this are not checked for secrets; the user is told to attach them by hand. */
export const MAX_SCRUB_BYTES = 1024 * 1024 * 1024;
/** A zip is opened in memory: at most this much unpacked, in at most this many entries. */
const MAX_ZIP_BYTES = 256 * 1024 * 1024;
const MAX_ZIP_ENTRIES = 10_000;
/** Archives inside archives are opened this deep; deeper ones are left out. */
const MAX_DEPTH = 3;

export type Format = 'gzip' | 'tar' | 'zip' | 'xz' | 'bzip2' | 'zstd' | '7z' | 'rar' | 'pkcs12' | 'jks' | 'plain';

/** What a file is, by its first bytes (and, for PKCS#12, whose DER has no magic of its own, its name too). */
export function sniffFormat(head: Buffer, name: string): Format {
  const at = (sig: number[], off = 0) => sig.every((b, i) => head[off + i] === b);
  if (at([0x1f, 0x8b])) return 'gzip';
  if (at([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  if (at([0x42, 0x5a, 0x68]) && head[3]! >= 0x31 && head[3]! <= 0x39) return 'bzip2';
  if (at([0x28, 0xb5, 0x2f, 0xfd])) return 'zstd';
  if (at([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return '7z';
  if (at([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07])) return 'rar';
  if (at([0x50, 0x4b, 0x03, 0x04]) || at([0x50, 0x4b, 0x05, 0x06])) return 'zip';
  if (at([0xfe, 0xed, 0xfe, 0xed]) || at([0xce, 0xce, 0xce, 0xce])) return 'jks';
  if (head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar') return 'tar';
  if (/\.(p12|pfx)$/i.test(name) || isPkcs12(head)) return 'pkcs12';
  return 'plain';
}

/** PFX: SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-data … } … }. */
function isPkcs12(head: Buffer): boolean {
  if (head[0] !== 0x30) return false;
  const lenBytes = head[1]! < 0x80 ? 0 : head[1]! & 0x7f;
  const v = 2 + lenBytes;
  if (head[v] !== 0x02 || head[v + 1] !== 0x01 || head[v + 2] !== 0x03) return false;
  return head.subarray(0, 40).includes(Buffer.from([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01]));
}

/** Why a format cannot go into a bundle (undefined: KDS can scrub it). */
export function refusal(format: Format, name: string): string | undefined {
  const file = basename(name);
  switch (format) {
    case 'xz':
    case 'bzip2':
    case 'zstd': {
      const tool = format === 'xz' ? 'xz -dk' : format === 'bzip2' ? 'bzip2 -dk' : 'zstd -d';
      return t('{0} is {1}-compressed: KDS cannot look inside it for secrets, so it does not attach it. Unpack it ({2} {0}) and add the file inside.', file, format, tool);
    }
    case '7z':
    case 'rar':
      return t('{0} is a {1} archive: KDS cannot look inside it for secrets, so it does not attach it. Unpack it and add the files inside (or a .zip or .tar.gz of them).', file, format === '7z' ? '7-Zip' : 'RAR');
    case 'pkcs12':
      return t('{0} is a PKCS#12 (.p12/.pfx) container: it holds a private key that cannot be taken out, so KDS never attaches it. Attach the certificate alone (PEM or DER) if support needs it.', file);
    case 'jks':
      return t('{0} is a Java keystore: it holds private keys, so KDS never attaches it.', file);
    default:
      return undefined;
  }
}

/** A file KDS will not put in a bundle, and why. */
export class UnscrubbableFile extends Error {
  override name = 'UnscrubbableFile';
}

/** Reads the first bytes of a file and says why it cannot be attached (undefined: it can). */
export async function checkAttachable(path: string): Promise<string | undefined> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) return t('{0} is not a regular file.', path);
    if (st.size > MAX_SCRUB_BYTES) return tooBig(path, st.size);
    return refusal(sniffFormat(await head(fh), path), path);
  } finally {
    await fh.close();
  }
}

function tooBig(path: string, size: number): string {
  return t('{0} is {1} bytes, more than KDS checks for secrets; attach it to the request by hand.', path, String(size));
}

async function head(fh: FileHandle): Promise<Buffer> {
  const b = Buffer.alloc(512);
  const { bytesRead } = await fh.read(b, 0, b.length, 0);
  return b.subarray(0, bytesRead);
}

/** The expected identity of a file found by listing a folder (its inode, as listed). */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/**
 * Opens a file for the bundle once; everything is read from this handle. With `expect` (a file
 * KDS found by listing a folder, e.g. a recent capture), it must still be that file: opened with
 * O_NOFOLLOW (a symlink swapped in is refused), a regular file with one link and the listed
 * inode — as the engine opens a file from a share. O_NONBLOCK: a FIFO swapped in does not hang.
 */
export async function openBundleSource(path: string, expect?: FileIdentity): Promise<{ fh: FileHandle; size: number; mtimeMs: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (expect ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new UnscrubbableFile(t('{0} is now a symbolic link: it was left out.', path));
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UnscrubbableFile(t('{0} is not a regular file.', path));
    if (expect && (st.dev !== expect.dev || st.ino !== expect.ino || st.nlink !== 1)) {
      throw new UnscrubbableFile(t('{0} changed after it was listed (another file, or one with more than one link): it was left out.', path));
    }
    return { fh, size: st.size, mtimeMs: st.mtimeMs };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

export interface ScrubbedFile {
  /** The scrubbed copy in the staging folder, and its size. */
  path: string;
  size: number;
  /** For an archive: its entries (name and size), and what was left out and why. */
  listing?: string[];
}

interface Ctx {
  scrubber: SecretScrubber;
  staging: string;
  depth: number;
  seq: { n: number };
}

function tempPath(c: Ctx, name: string): string {
  return join(c.staging, `.scrub-${c.seq.n++}-${basename(name).replace(/[^A-Za-z0-9._-]/g, '_').slice(-60)}`);
}

/**
 * Scrubs `size` bytes of `src` (read from offset 0) into a new file in `staging`. Throws
 * UnscrubbableFile for a format KDS cannot look into.
 */
export async function scrubFile(src: FileHandle, size: number, name: string, scrubber: SecretScrubber, staging: string): Promise<ScrubbedFile> {
  if (size > MAX_SCRUB_BYTES) throw new UnscrubbableFile(tooBig(name, size));
  return scrubAt({ scrubber, staging, depth: 0, seq: { n: 0 } }, src, size, name);
}

async function scrubAt(c: Ctx, src: FileHandle, size: number, name: string): Promise<ScrubbedFile> {
  const format = sniffFormat(await head(src), name);
  const refused = refusal(format, name);
  if (refused) throw new UnscrubbableFile(refused);
  if (format !== 'plain' && c.depth > MAX_DEPTH) throw new UnscrubbableFile(t('{0}: an archive nested too deep to check', basename(name)));
  const out = tempPath(c, name);
  const listing: string[] = [];
  const sink = await open(out, 'wx', 0o600);
  try {
    const input = () => Readable.from(readRange(src, size));
    if (format === 'plain') await writeAll(sink, scrubStream(c.scrubber, input()));
    else if (format === 'tar') {
      const ws = createWriteStream('', { fd: sink.fd, autoClose: false });
      const finished = once(ws, 'finish');
      await scrubTar(c, input(), ws, listing);
      await finished;
    }
    else if (format === 'zip') await sink.writeFile(await scrubZip(c, await readWhole(src, size), listing));
    else {
      // gzip: the inner data by its own format (a tar inside is the common case).
      const gunzipped = input().pipe(createGunzip());
      const [first, all] = await peekStream(gunzipped, 512);
      const rest = Readable.from(all);
      const inner = sniffFormat(first, name.replace(/\.(gz|tgz)$/i, ''));
      const innerRefusal = refusal(inner, name);
      if (innerRefusal) throw new UnscrubbableFile(innerRefusal);
      const gz = createGzip();
      const written = pipeline(gz, createWriteStream('', { fd: sink.fd, autoClose: false }));
      if (inner === 'tar') await scrubTar(c, rest, gz, listing);
      else if (inner === 'plain') {
        for await (const chunk of scrubStream(c.scrubber, rest)) if (!gz.write(chunk)) await new Promise((r) => gz.once('drain', r));
        gz.end();
      } else throw new UnscrubbableFile(t('{0} holds a {1} archive inside gzip: KDS does not look that deep. Unpack it and add the files inside.', basename(name), inner));
      await written;
    }
    await sink.sync();
  } catch (err) {
    await sink.close();
    await rm(out, { force: true });
    throw err;
  }
  await sink.close();
  return { path: out, size: (await stat(out)).size, ...(format !== 'plain' && { listing }) };
}

/** The scrubbed bytes of a stream, window by window. */
async function* scrubStream(scrubber: SecretScrubber, input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const pass = scrubber.pass();
  for await (const chunk of input) yield* pass.push(chunk);
  yield* pass.end();
}

async function writeAll(sink: FileHandle, chunks: AsyncIterable<Buffer>): Promise<void> {
  for await (const c of chunks) await sink.write(c);
}

async function* readRange(fh: FileHandle, size: number): AsyncGenerator<Buffer> {
  const buf = Buffer.alloc(Math.min(size, 1024 * 1024) || 1);
  for (let at = 0; at < size; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
    if (bytesRead === 0) throw new Error(t('The file shrank while it was read.'));
    at += bytesRead;
    yield Buffer.from(buf.subarray(0, bytesRead));
  }
}

async function readWhole(fh: FileHandle, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of readRange(fh, size)) parts.push(c);
  return Buffer.concat(parts);
}

/** The first `n` bytes of a stream (fewer at its end) and the whole stream again, those bytes included. */
export async function peekStream(input: AsyncIterable<Buffer>, n: number): Promise<[Buffer, AsyncIterable<Buffer>]> {
  const it = input[Symbol.asyncIterator]();
  const got: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const r = await it.next();
    if (r.done) break;
    got.push(r.value);
    have += r.value.length;
  }
  const first = Buffer.concat(got);
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length) yield first;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return [first.subarray(0, n), all()];
}

/**
 * A tar stream scrubbed entry by entry into `out`: names and contents; folders kept; the
 * archive's own `./` skipped; symlinks, devices, unsafe names and what cannot be checked left out
 * and listed, never failing the whole archive.
 */
async function scrubTar(c: Ctx, input: Readable, out: Writable, listing: string[]): Promise<void> {
  const tar = new TarWriter(out);
  for await (const e of readTar(input)) {
    const n = entryName(e.name);
    if (n.kind === 'root') continue;
    if (n.kind === 'unsafe') {
      listing.push(`${c.scrubber.text(e.name)} (${t('left out')}: ${n.reason})`);
      continue;
    }
    const name = c.scrubber.text(n.name);
    if (e.type === 'directory') {
      await tar.addDirectory(name, e.mtimeMs);
      listing.push(`${name}/`);
    } else if (e.type === 'file') {
      const kept = await scrubEntry(c, e, name, tar);
      listing.push(kept.ok ? `${name}\t${kept.size}` : `${name} (${t('left out')}: ${kept.reason})`);
    } else {
      listing.push(`${name} (${e.type}, ${t('left out')})`);
    }
  }
  await tar.finish();
}

/** One file of an archive: spooled to the staging folder, scrubbed by its own format, added. */
async function scrubEntry(c: Ctx, e: TarEntry, name: string, tar: TarWriter): Promise<{ ok: true; size: number } | { ok: false; reason: string }> {
  if (e.size > MAX_SCRUB_BYTES) return { ok: false, reason: tooBig(basename(name), e.size) };
  const raw = tempPath(c, name);
  const fh = await open(raw, 'wx+', 0o600);
  let scrubbed: ScrubbedFile | undefined;
  try {
    await writeAll(fh, e.content);
    try {
      scrubbed = await scrubAt({ ...c, depth: c.depth + 1 }, fh, e.size, name);
    } catch (err) {
      if (err instanceof UnscrubbableFile) return { ok: false, reason: err.message };
      throw err;
    }
  } finally {
    await fh.close();
    await rm(raw, { force: true });
  }
  try {
    const out = await open(scrubbed.path, 'r');
    try {
      await tar.addHandle(name, out, scrubbed.size, { mode: e.mode & 0o644, mtimeMs: e.mtimeMs });
    } finally {
      await out.close();
    }
    return { ok: true, size: scrubbed.size };
  } finally {
    await rm(scrubbed.path, { force: true });
  }
}

/** A zip opened in memory (bounded), every entry scrubbed by its own format, packed again. */
async function scrubZip(c: Ctx, data: Buffer, listing: string[]): Promise<Buffer> {
  if (zipIsEncrypted(data)) throw new UnscrubbableFile(t('The zip archive is encrypted: KDS cannot look inside it for secrets, so it does not attach it.'));
  let entries: Record<string, Uint8Array>;
  let total = 0;
  let count = 0;
  let unsupported = '';
  try {
    entries = unzipSync(data, {
      filter(f) {
        count++;
        total += f.originalSize;
        if (f.compression !== 0 && f.compression !== 8) unsupported = f.name;
        return count <= MAX_ZIP_ENTRIES && total <= MAX_ZIP_BYTES && !unsupported;
      },
    });
  } catch (err) {
    throw new UnscrubbableFile(t('The zip archive cannot be read ({0}): KDS does not attach what it cannot check.', (err as Error).message));
  }
  if (unsupported) throw new UnscrubbableFile(t('The zip archive compresses {0} with a method KDS cannot read: it does not attach what it cannot check.', unsupported));
  if (count > MAX_ZIP_ENTRIES || total > MAX_ZIP_BYTES) throw new UnscrubbableFile(t('The zip archive unpacks to more than KDS checks for secrets ({0} entries, {1} bytes); attach it by hand.', count, String(total)));
  const out: Record<string, Uint8Array> = {};
  for (const [raw, content] of Object.entries(entries)) {
    const n = entryName(raw);
    if (n.kind === 'root' || raw.endsWith('/')) continue;
    if (n.kind === 'unsafe') {
      listing.push(`${c.scrubber.text(raw)} (${t('left out')}: ${n.reason})`);
      continue;
    }
    const name = c.scrubber.text(n.name);
    const spool = tempPath(c, name);
    const fh = await open(spool, 'wx+', 0o600);
    try {
      await fh.writeFile(content);
      const s = await scrubAt({ ...c, depth: c.depth + 1 }, fh, content.length, name);
      const sfh = await open(s.path, 'r');
      try {
        out[name] = await readWhole(sfh, s.size);
      } finally {
        await sfh.close();
        await rm(s.path, { force: true });
      }
      listing.push(`${name}\t${s.size}`);
    } catch (err) {
      if (!(err instanceof UnscrubbableFile)) throw err;
      listing.push(`${name} (${t('left out')}: ${err.message})`);
    } finally {
      await fh.close();
      await rm(spool, { force: true });
    }
  }
  return Buffer.from(zipSync(out, { level: 6 }));
}

/** Any entry of the central directory with the "encrypted" flag (bit 0) or AES (method 99). */
function zipIsEncrypted(data: Buffer): boolean {
  const eocd = data.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0 || eocd + 22 > data.length) return false;
  const entries = data.readUInt16LE(eocd + 10);
  let at = data.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries && at + 46 <= data.length; i++) {
    if (data.readUInt32LE(at) !== 0x02014b50) break;
    if (data.readUInt16LE(at + 8) & 1 || data.readUInt16LE(at + 10) === 99) return true;
    at += 46 + data.readUInt16LE(at + 28) + data.readUInt16LE(at + 30) + data.readUInt16LE(at + 32);
  }
  return false;
}
