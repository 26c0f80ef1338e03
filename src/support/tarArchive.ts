import { once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { extract, pack, type Pack } from 'tar-stream';
import { t } from '../common/l10n';

/**
 * Tar archives through `tar-stream` (streaming, ustar + pax + GNU long names, years of real-world
 * archives behind it), with KDS's rules on top: entry names are normalised the way `tar` itself
 * reads them (`./` prefixes and the `./` entry of `tar czf x.tar.gz -C dir .` are normal), and a
 * name that escapes (`..`, absolute after normalisation) is reported, never written. GNU tar is
 * the test oracle (test/unit/supportTarArchive.test.ts).
 */

export interface TarEntryHeader {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mode: number;
  mtimeMs: number;
  linkName?: string;
}

export interface TarEntry extends TarEntryHeader {
  /** The content, read once (a file's bytes; empty for the others). What is not read is skipped. */
  content: AsyncIterable<Buffer>;
}

/** What a name inside an archive means to KDS. */
export type EntryName = { kind: 'name'; name: string } | { kind: 'root' } | { kind: 'unsafe'; reason: string };

/**
 * `./a/b` → `a/b`; `./` and `.` → the archive's own root folder (nothing to write); a name with a
 * `..` part, an absolute name, or a NUL → unsafe (left out and listed, never written).
 */
export function entryName(raw: string): EntryName {
  const name = raw.replace(/\\/g, '/');
  if (name.includes('\0')) return { kind: 'unsafe', reason: t('a NUL in the name') };
  if (name.startsWith('/') || /^[A-Za-z]:\//.test(name)) return { kind: 'unsafe', reason: t('an absolute name') };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return { kind: 'unsafe', reason: t('a ".." in the name') };
  if (parts.length === 0) return { kind: 'root' };
  return { kind: 'name', name: parts.join('/') };
}

/** A name KDS writes itself: must be a plain relative name. */
function ownName(raw: string): string {
  const n = entryName(raw);
  if (n.kind !== 'name') throw new Error(t('Unsafe name for an archive entry: {0}', raw));
  return n.name;
}

/** Reads a tar stream entry by entry. The entry's content is skipped if the caller does not read it. */
export async function* readTar(input: Readable): AsyncGenerator<TarEntry> {
  const ex = extract();
  input.on('error', (e: Error) => ex.destroy(e));
  input.pipe(ex as unknown as Writable);
  try {
    for await (const entry of ex) {
      const h = entry.header;
      const type: TarEntryHeader['type'] = h.type === 'file' || h.type === 'contiguous-file' ? 'file' : h.type === 'directory' ? 'directory' : h.type === 'symlink' ? 'symlink' : 'other';
      yield {
        name: h.name,
        type,
        size: h.size ?? 0,
        mode: h.mode ?? 0o644,
        mtimeMs: h.mtime ? h.mtime.getTime() : 0,
        ...(type === 'symlink' && { linkName: h.linkname }),
        content: entry as AsyncIterable<Buffer>,
      };
      // Whatever the caller left unread is skipped before the next header.
      for await (const _ of entry) void _;
    }
  } catch (err) {
    throw damaged(err);
  }
}

function damaged(err: unknown): Error {
  const message = (err as Error)?.message ?? String(err);
  if (/unexpected end/i.test(message)) return new Error(t('The archive ends in the middle of an entry.'));
  if (/invalid tar header/i.test(message)) return new Error(t('The archive is damaged: a header checksum does not match.'));
  return err instanceof Error ? err : new Error(message);
}

/** An entry's whole content (small entries and tests). */
export async function readAll(content: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of content) parts.push(c);
  return Buffer.concat(parts);
}

/** Writes tar entries to `out` (usually a gzip stream), one after the other. */
export class TarWriter {
  private readonly p: Pack = pack();
  private readonly piped: Promise<void>;
  private finished = false;

  constructor(private readonly out: Writable) {
    this.piped = (async () => {
      for await (const chunk of this.p as AsyncIterable<Buffer>) if (!out.write(chunk)) await once(out, 'drain');
    })();
    this.piped.catch(() => undefined);
  }

  async addDirectory(name: string, mtimeMs = Date.now()): Promise<void> {
    await this.entryFromBuffer({ name: `${ownName(name)}/`, type: 'directory', mode: 0o755, mtime: new Date(mtimeMs) }, Buffer.alloc(0));
  }

  async addBuffer(name: string, data: Buffer, opts: { mode?: number; mtimeMs?: number } = {}): Promise<void> {
    await this.entryFromBuffer({ name: ownName(name), type: 'file', size: data.length, mode: opts.mode ?? 0o644, mtime: new Date(opts.mtimeMs ?? Date.now()) }, data);
  }

  /**
   * A file's bytes from an open handle (the one the checks were made on): exactly `size` bytes
   * from offset 0. A file that shrank while read is an error (the header already holds its size).
   */
  async addHandle(name: string, fh: FileHandle, size: number, opts: { mode?: number; mtimeMs?: number } = {}): Promise<void> {
    const sink = this.p.entry({ name: ownName(name), type: 'file', size, mode: opts.mode ?? 0o644, mtime: new Date(opts.mtimeMs ?? Date.now()) });
    const done = new Promise<void>((resolve, reject) => {
      sink.on('finish', () => resolve());
      sink.on('error', reject);
    });
    const buf = Buffer.alloc(Math.min(size, 1024 * 1024) || 1);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
      if (bytesRead === 0) {
        sink.destroy(new Error(t('{0} changed size while it was archived.', name)));
        throw new Error(t('{0} changed size while it was archived.', name));
      }
      at += bytesRead;
      // tar-stream keeps the chunk: hand it a copy of the reused buffer.
      if (!sink.write(Buffer.from(buf.subarray(0, bytesRead)))) await new Promise<void>((r) => sink.once('drain', () => r()));
    }
    // streamx's end() takes an optional last chunk (its typings say otherwise).
    (sink as unknown as { end(): void }).end();
    await done;
  }

  /** The two zero blocks that end an archive; ends `out`. */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.p.finalize();
    await this.piped;
    this.out.end();
  }

  private entryFromBuffer(header: Parameters<Pack['entry']>[0], data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.p.entry(header, data, (err) => (err ? reject(err) : resolve())));
  }
}
