import busboy from 'busboy';
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HEAD_BYTES } from './detection';

export interface SavedContent {
  /** Where the bytes are now; the caller owns the file (and must delete it on failure). '' when `data` holds them. */
  path: string;
  /** The bytes of an object of at most `inlineMax`, kept in memory instead of a file. */
  data?: Buffer;
  fileName: string;
  size: number;
  sha256: string;
  md5: string;
  head: Buffer;
}

export interface ReceivedUpload {
  fields: Map<string, string>;
  content: SavedContent;
}

/** The request cannot be accepted; `status` is what the client gets. */
export class UploadError extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Streams the single `content` part of a multipart/form-data body to `dir` while computing
 * SHA-256 and MD5, so a 100 MiB object never sits in memory. Ordinary fields are collected.
 * The whole body is read even when it turns out too large, so the client gets to see the 413
 * instead of a broken pipe.
 */
export async function receiveUpload(req: IncomingMessage, opts: { dir: string; maxObjectSize: number; inlineMax?: number }): Promise<ReceivedUpload> {
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: req.headers,
      defParamCharset: 'utf8',
      // fileSize is one more than allowed: busboy flags a file that reaches the limit exactly.
      limits: { files: 1, fileSize: opts.maxObjectSize + 1, fields: 16, fieldSize: 4096, parts: 24, headerPairs: 32 },
    });
  } catch {
    throw new UploadError(400, 'Expected a multipart/form-data body');
  }

  const fields = new Map<string, string>();
  let problem: UploadError | undefined;
  let saving: Promise<SavedContent> | undefined;
  let truncated = false;
  let saveError: Error | undefined;
  const path = join(opts.dir, `${randomUUID()}.part`);

  bb.on('file', (name, stream, info) => {
    // A client that disconnects destroys the part with an error; pipeline(req, bb) below reports
    // it, and without a listener here it would be an uncaught exception in the server.
    stream.on('error', () => undefined);
    if (name !== 'content' || saving) {
      problem ??= new UploadError(400, `Unexpected file part "${name}"`);
      stream.resume();
      return;
    }
    stream.once('limit', () => (truncated = true));
    saving = saveContent(stream, path, info.filename ?? '', opts.inlineMax ?? 0);
    // A failed write (disk full) leaves the part unread and busboy waiting for it forever.
    saving.catch((err: Error) => {
      saveError = err;
      bb.destroy(err);
    });
  });
  bb.on('field', (name, value, info) => {
    if (info.nameTruncated || info.valueTruncated) problem ??= new UploadError(400, `Field "${name}" is too long`);
    else if (fields.has(name)) problem ??= new UploadError(400, `Field "${name}" is given twice`);
    else fields.set(name, value);
  });
  for (const limit of ['filesLimit', 'fieldsLimit', 'partsLimit'] as const) {
    bb.on(limit, () => (problem ??= new UploadError(400, 'Too many parts in the form')));
  }

  let content: SavedContent | undefined;
  try {
    await pipeline(req, bb);
    content = await saving;
  } catch (err) {
    await saving?.catch(() => undefined);
    await unlink(path).catch(() => undefined);
    if (saveError) throw saveError;
    if (req.destroyed && !req.complete) throw err;
    throw new UploadError(400, `Malformed multipart body: ${(err as Error).message}`);
  }
  const failure = truncated
    ? new UploadError(413, `The object is larger than ${opts.maxObjectSize} bytes`)
    : (problem ?? (content ? undefined : new UploadError(400, 'The "content" part is missing')));
  if (failure) {
    if (content) await unlink(path).catch(() => undefined);
    throw failure;
  }
  return { fields, content: content! };
}

/**
 * Up to this many bytes are gathered in memory and written with one call; bigger objects are
 * streamed. Most objects are small, and a file handle's open, write and close cost three trips
 * through the thread pool each, which at hundreds of uploads a second is most of the work.
 */
const SMALL_OBJECT = 256 * 1024;

async function saveContent(stream: Readable, path: string, fileName: string, inlineMax: number): Promise<SavedContent> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let head: Buffer | undefined;
  let size = 0;
  let fh: FileHandle | undefined;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      sha256.update(chunk);
      md5.update(chunk);
      size += chunk.length;
      if (fh) {
        await fh.write(chunk);
        continue;
      }
      pending.push(chunk);
      pendingLength += chunk.length;
      if (pendingLength > SMALL_OBJECT) {
        const first = Buffer.concat(pending);
        head = first.subarray(0, HEAD_BYTES);
        pending = [];
        fh = await open(path, 'wx', 0o600);
        await fh.write(first);
      }
    }
    if (!fh) {
      const all = Buffer.concat(pending);
      head = all.subarray(0, HEAD_BYTES);
      if (all.length <= inlineMax) {
        return { path: '', data: all, fileName, size, sha256: sha256.digest('hex'), md5: md5.digest('hex'), head: Buffer.from(head) };
      }
      // Synchronous: a few microseconds for a small file in the page cache, no thread-pool trips.
      writeFileSync(path, all, { flag: 'wx', mode: 0o600 });
    }
    // No fsync: the scan store's journal is synced at most a second later (see ScanStore); a
    // power cut inside that second can lose a scan still processing, never a crash or restart.
  } finally {
    await fh?.close();
  }
  return { path, fileName, size, sha256: sha256.digest('hex'), md5: md5.digest('hex'), head: Buffer.from(head!) };
}
