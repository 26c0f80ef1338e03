import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { unzipSync } from 'fflate';
import { t } from '../common/l10n';
import { type FileIdentity, UnscrubbableFile, openBundleSource, peekStream, scrubFile, sniffFormat } from './scrubFiles';
import type { SecretScrubber } from './secretScrub';
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
  /** A local file (pcaps, the downloaded kata-collect archive, files the user adds). */
  file?: string;
  /**
   * The file was found by listing a folder (a recent capture): it must still be that inode,
   * opened without following a link (scrubFiles.openBundleSource).
   */
  expect?: FileIdentity;
  /** The kata-collect archive: its listing goes in beside it. */
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

/**
 * Scrubs every source into `staging` (a private folder) and returns what will be written. Each
 * file is opened once and read from that handle; archives are scrubbed entry by entry
 * (scrubFiles.ts); a file KDS cannot check throws UnscrubbableFile, naming it and saying why.
 * A file KDS found by listing (`expect`) that is no longer what was listed is left out, with a
 * line in `notes`.
 */
export async function prepareBundle(sources: BundleSource[], scrubber: SecretScrubber, staging: string, notes?: string[]): Promise<PreparedEntry[]> {
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
    let src;
    try {
      src = await openBundleSource(s.file, s.expect);
    } catch (err) {
      // A file KDS found itself (a recent capture) that changed since: left out and said so.
      if (s.expect && notes && (err instanceof UnscrubbableFile || (err as NodeJS.ErrnoException).code === 'ENOENT')) {
        notes.push(err instanceof UnscrubbableFile ? err.message : t('{0} is gone: it was left out.', s.file));
        continue;
      }
      throw err;
    }
    let scrubbed;
    try {
      scrubbed = await scrubFile(src.fh, src.size, s.file, scrubber, staging);
    } finally {
      await src.fh.close();
    }
    const file = join(staging, `${n++}-${basename(s.name)}`);
    await rename(scrubbed.path, file);
    out.push({ name: s.name, about: s.about, size: scrubbed.size, file });
    if (scrubbed.listing && (s.tarGz || scrubbed.listing.some((l) => / \(.*\)$/.test(l)))) {
      const text = Buffer.from(scrubbed.listing.join('\n') + '\n', 'utf8');
      out.push({ name: `${s.name.replace(/\.(tar\.gz|tgz|tar|zip|gz)$/i, '')}.listing.txt`, about: t('names and sizes inside {0}', basename(s.name)), size: text.length, data: text });
    }
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
      else if (e.file) {
        const fh = await open(e.file, 'r');
        try {
          await tar.addHandle(`${top}/${e.name}`, fh, (await fh.stat()).size);
        } finally {
          await fh.close();
        }
      }
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

/**
 * Every known secret or key found anywhere in the written bundle, nested archives opened, read
 * window by window (a bundle holding a 1 GiB capture is checked in bounded memory). Should be empty.
 */
export async function findLeaks(bundlePath: string, scrubber: SecretScrubber): Promise<string[]> {
  const found: string[] = [];
  // Only where, never what: the report must not quote any part of a secret.
  const check = async (name: string, content: AsyncIterable<Buffer>, depth: number): Promise<void> => {
    if (scrubber.leaks(Buffer.from(name, 'utf8')).total) found.push(t('{0} (its name)', name));
    const [first, all] = await peekStream(content, 512);
    const format = sniffFormat(first, name);
    if (depth < 4 && format === 'gzip') return check(name.replace(/\.(gz|tgz)$/i, ''), Readable.from(all).pipe(createGunzip()), depth + 1);
    if (depth < 4 && format === 'tar') {
      for await (const e of readTar(Readable.from(all))) if (e.type === 'file') await check(`${name}!${e.name}`, e.content, depth + 1);
      return;
    }
    if (depth < 4 && format === 'zip') {
      const parts: Buffer[] = [];
      for await (const c of all) parts.push(c);
      let entries: Record<string, Uint8Array> = {};
      try {
        entries = unzipSync(Buffer.concat(parts));
      } catch {
        // not a readable zip after all: checked as bytes below
        entries = { '': Buffer.concat(parts) };
      }
      for (const [inner, data] of Object.entries(entries)) await check(inner ? `${name}!${inner}` : name, Readable.from([Buffer.from(data)]), depth + 1);
      return;
    }
    const scan = scrubber.leakScan();
    for await (const c of all) scan.push(c);
    scan.end();
    const { secrets, privateKeys } = scan.leaked;
    if (secrets) found.push(t('{0} ({1} secrets)', name, secrets));
    if (privateKeys) found.push(t('{0} ({1} private keys)', name, privateKeys));
  };
  for await (const e of readTar(createReadStream(bundlePath).pipe(createGunzip()))) if (e.type === 'file') await check(e.name, e.content, 0);
  return found;
}
