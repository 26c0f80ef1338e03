import busboy from 'busboy';
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, openSync, writevSync } from 'node:fs';
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
 * its SHA-256, so a 100 MiB object never sits in memory. Ordinary fields are collected.
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
 * Bytes are gathered in memory up to this much and written with one call. An object up to
 * this size is written in one synchronous call at its end (no file handle, no thread-pool
 * trips); a bigger one through a file handle, a write per this much. One write a MiB instead
 * of one per received chunk (~16 KiB) was most of the emulator's file-system CPU (issue 20).
 */
const WRITE_BATCH = 1024 * 1024;

async function saveContent(stream: Readable, path: string, fileName: string, inlineMax: number): Promise<SavedContent> {
  // Only SHA-256 here: it names the object (block list, alerts, logs). MD5 is wanted only by an
  // alert, so it is computed when an object is detected (objectMd5), not for every upload.
  const sha256 = createHash('sha256');
  const head = Buffer.alloc(HEAD_BYTES);
  let headLength = 0;
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let size = 0;
  let fh: FileHandle | undefined;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      sha256.update(chunk);
      size += chunk.length;
      if (headLength < HEAD_BYTES) headLength += chunk.copy(head, headLength, 0, HEAD_BYTES - headLength);
      // The chunks are kept as they came (no copy) and handed to writev together.
      pending.push(chunk);
      pendingLength += chunk.length;
      if (pendingLength > WRITE_BATCH) {
        fh ??= await open(path, 'wx', 0o600);
        wrote((await fh.writev(pending)).bytesWritten, pendingLength);
        pending = [];
        pendingLength = 0;
      }
    }
    if (!fh) {
      if (size <= inlineMax) {
        return { path: '', data: Buffer.concat(pending, size), fileName, size, sha256: sha256.digest('hex'), head: head.subarray(0, headLength) };
      }
      // Synchronous: a fraction of a millisecond for a MiB into the page cache, no thread-pool trips.
      const fd = openSync(path, 'wx', 0o600);
      try {
        wrote(writevSync(fd, pending), size);
      } finally {
        closeSync(fd);
      }
    } else if (pending.length) {
      wrote((await fh.writev(pending)).bytesWritten, pendingLength);
    }
    // No fsync: the scan store's journal is synced at most a second later (see ScanStore); a
    // power cut inside that second can lose a scan still processing, never a crash or restart.
  } finally {
    await fh?.close();
  }
  return { path, fileName, size, sha256: sha256.digest('hex'), head: head.subarray(0, headLength) };
}

/** libuv returns a short count, not an error, when the disk fills up after part of a writev. */
function wrote(written: number, expected: number): void {
  if (written !== expected) throw new Error(`Only ${written} of ${expected} bytes could be written (is the disk full?)`);
}
