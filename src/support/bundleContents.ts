import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { t } from '../common/l10n';
import { SecretScrubber } from './secretScrub';
import { readTar, TarWriter } from './tarArchive';

/**
 * The support bundle as a list of entries: gathered, scrubbed into a private staging folder
 * (so what the user previews is exactly what gets written), written as one tar.gz, then read
 * back and checked for every known secret before it is handed over.
 */

export interface BundleSource {
  /** Path inside the bundle (below its top folder). */
  name: string;
  /** What it is, for the preview and summary.md. */
  about: string;
  data?: Buffer | string;
  /** A local file (pcaps, the downloaded kata-collect archive). */
  file?: string;
  /** A tar.gz whose entries are scrubbed one by one (the kata-collect archive). */
  tarGz?: boolean;
}

export interface PreparedEntry {
  name: string;
  about: string;
  size: number;
  /** Scrubbed content in memory, or a scrubbed file in the staging folder. */
  data?: Buffer;
  file?: string;
}

/** Files bigger than this are not loaded for scrubbing; the user is told to attach them by hand. */
export const MAX_SCRUB_BYTES = 1024 * 1024 * 1024;

const isTarGz = (name: string) => /\.(tar\.gz|tgz)$/i.test(name);
const isPlainGz = (name: string) => /\.gz$/i.test(name) && !isTarGz(name);

/** Scrubs one entry's content by type: nested tar.gz and .gz are opened, scrubbed, packed again. */
async function scrubContent(name: string, data: Buffer, scrubber: SecretScrubber, depth: number): Promise<Buffer> {
  if (depth < 3 && isTarGz(name)) {
    return scrubTarGzBuffer(data, scrubber, depth + 1);
  }
  if (depth < 3 && isPlainGz(name)) {
    try {
      const inner = gunzipSync(data);
      const scrubbed = scrubber.content(inner);
      return scrubbed === inner ? data : gzipSync(scrubbed);
    } catch {
      return scrubber.bytes(data);
    }
  }
  return scrubber.content(data);
}

async function scrubTarGzBuffer(data: Buffer, scrubber: SecretScrubber, depth: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const gz = createGzip();
  gz.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    gz.on('end', resolve);
    gz.on('error', reject);
  });
  const tar = new TarWriter(gz);
  // Nested archives keep files and folders only, like the outer one.
  for await (const e of readTar(Readable.from([data]).pipe(createGunzip()))) {
    const name = scrubber.text(e.name);
    if (e.type === 'directory') await tar.addDirectory(name, e.mtimeMs);
    else if (e.type === 'file') await tar.addBuffer(name, await scrubContent(e.name, e.data, scrubber, depth), { mode: e.mode & 0o644, mtimeMs: e.mtimeMs });
  }
  await tar.finish();
  await done;
  return Buffer.concat(chunks);
}

/**
 * A tar.gz scrubbed entry by entry into `outPath` (names and contents; symlinks and devices are
 * left out). Returns the listing (names and sizes) for the bundle.
 */
export async function scrubTarGz(inPath: string, outPath: string, scrubber: SecretScrubber): Promise<string[]> {
  const fh = await open(outPath, 'wx', 0o600);
  const gz = createGzip();
  const sink = pipeline(gz, createWriteStream('', { fd: fh.fd, autoClose: false }));
  const tar = new TarWriter(gz);
  const listing: string[] = [];
  try {
    for await (const e of readTar(createReadStream(inPath).pipe(createGunzip()))) {
      const name = scrubber.text(e.name);
      if (e.type === 'directory') {
        await tar.addDirectory(name, e.mtimeMs);
        listing.push(`${name}/`);
      } else if (e.type === 'file') {
        const content = await scrubContent(e.name, e.data, scrubber, 1);
        await tar.addBuffer(name, content, { mode: e.mode & 0o644, mtimeMs: e.mtimeMs });
        listing.push(`${name}\t${content.length}`);
      } else {
        listing.push(`${name} (${e.type}, ${t('left out')})`);
      }
    }
    await tar.finish();
    await sink;
    await fh.sync();
  } finally {
    await fh.close();
  }
  return listing;
}

/** Scrubs every source into `staging` (a private folder) and returns what will be written. */
export async function prepareBundle(sources: BundleSource[], scrubber: SecretScrubber, staging: string): Promise<PreparedEntry[]> {
  const out: PreparedEntry[] = [];
  let n = 0;
  for (const s of sources) {
    if (s.data !== undefined) {
      const raw = typeof s.data === 'string' ? Buffer.from(s.data, 'utf8') : s.data;
      const data = scrubber.content(raw);
      out.push({ name: s.name, about: s.about, size: data.length, data });
      continue;
    }
    if (!s.file) continue;
    const st = await stat(s.file);
    if (s.tarGz) {
      const file = join(staging, `${n++}-${basename(s.name)}`);
      const listing = await scrubTarGz(s.file, file, scrubber);
      out.push({ name: s.name, about: s.about, size: (await stat(file)).size, file });
      const text = Buffer.from(listing.join('\n') + '\n', 'utf8');
      out.push({ name: `${s.name.replace(/\.(tar\.gz|tgz)$/i, '')}.listing.txt`, about: t('names and sizes inside {0}', basename(s.name)), size: text.length, data: text });
      continue;
    }
    if (st.size > MAX_SCRUB_BYTES) throw new Error(t('{0} is {1} bytes, more than KDS checks for secrets; attach it to the request by hand.', s.file, String(st.size)));
    const raw = await readFile(s.file);
    const data = await scrubContent(s.name, raw, scrubber, 1);
    out.push({ name: s.name, about: s.about, size: data.length, data });
  }
  return out;
}

/** Writes the entries under `top/` into `outPath` (0600, written beside and renamed into place). */
export async function writeBundle(entries: PreparedEntry[], top: string, outPath: string): Promise<{ size: number; sha256: string }> {
  const tmp = join(dirname(outPath), `.${basename(outPath)}.kds-${process.pid}-${Date.now()}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  const hash = createHash('sha256');
  let size = 0;
  try {
    const gz = createGzip();
    const file = createWriteStream('', { fd: fh.fd, autoClose: false });
    gz.on('data', (c: Buffer) => {
      hash.update(c);
      size += c.length;
    });
    const sink = pipeline(gz, file);
    const tar = new TarWriter(gz);
    await tar.addDirectory(top);
    for (const e of entries) {
      if (e.data) await tar.addBuffer(`${top}/${e.name}`, e.data, { mode: 0o644 });
      else if (e.file) await tar.addFile(`${top}/${e.name}`, e.file);
    }
    await tar.finish();
    await sink;
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, outPath);
  return { size, sha256: hash.digest('hex') };
}

/** Every known secret found anywhere in the written bundle (nested archives opened): should be empty. */
export async function findLeaks(bundlePath: string, scrubber: SecretScrubber): Promise<string[]> {
  const found: string[] = [];
  const check = async (name: string, data: Buffer, depth: number): Promise<void> => {
    // Only where, never what: the report must not quote any part of a secret.
    if (scrubber.leaks(Buffer.from(name, 'utf8')).length) found.push(t('{0} (its name)', name));
    const n = scrubber.leaks(data).length;
    if (n) found.push(t('{0} ({1} secrets)', name, n));
    if (depth < 4 && isTarGz(name)) {
      for await (const e of readTar(Readable.from([data]).pipe(createGunzip()))) await check(`${name}!${e.name}`, e.data, depth + 1);
    } else if (depth < 4 && isPlainGz(name)) {
      try {
        await check(name.replace(/\.gz$/i, ''), gunzipSync(data), depth + 1);
      } catch {
        // not gzip after all: already checked as bytes
      }
    }
  };
  for await (const e of readTar(createReadStream(bundlePath).pipe(createGunzip()))) await check(e.name, e.data, 0);
  return found;
}
