import type { Hash } from 'node:crypto';
import { getDefaultHighWaterMark } from 'node:stream';
import type { MultipartFrame } from './multipartBody';
import type { ReadableFile } from './scannerApi';

/**
 * The body of an upload: the multipart frame around exactly `size` bytes of an open file, read
 * from offset 0 at explicit positions (the handle may be shared: the engine copies from it later,
 * and a stream over a FileHandle would close it), hashed as read. Reading one byte more than
 * expected is how growth is noticed; a regular file's read comes back short only at its end.
 */
export interface UploadBody {
  /** What undici sends: one buffer (a small file) or an async iterable it pulls chunk by chunk. */
  body: Buffer | AsyncIterable<Buffer>;
  /** File bytes read and hashed so far (all of them once the body has been sent). */
  readonly bytes: number;
  /** What reading the file threw while undici pulled the body (it then fails the request its own way). */
  readonly error: unknown;
}

/** Files whose whole request is up to this size are read before the request, in one buffer. */
const oneBufferBytes = 64 * 1024;
/** Read size of a larger file; each upload in progress holds one such buffer. */
const chunkBytes = 1024 * 1024;
/** Spare read buffers kept between uploads (a fresh MiB per upload is what made V8 collect). */
const maxSpares = 8;
const spares: Buffer[] = [];

/**
 * The shortest chunk sent straight from a reused read buffer. undici pulls the next chunk only
 * after the socket took the last one: when its write returned true (fewer bytes waiting than the
 * socket's high-water mark) or once 'drain' came (every byte written, or the socket closed and
 * its queue dropped). A chunk at least as long as the high-water mark always waits for 'drain',
 * so by the time the next read overwrites the buffer, TLS has encrypted it. A shorter chunk
 * could still sit in the socket's queue: it is sent as a copy. The undici connector's TLS
 * sockets use the default high-water mark (16 KiB in Node 20, 64 KiB in 22); four times it, and
 * at least 256 KiB, leaves a wide margin.
 */
function reuseFromBytes(): number {
  return Math.max(256 * 1024, 4 * getDefaultHighWaterMark(false));
}

/** `changed(actual)` makes the error thrown when the file is not `size` bytes long. */
export async function uploadBody(handle: ReadableFile, frame: MultipartFrame, size: number, hash: Hash, changed: (actual: number | string) => Error): Promise<UploadBody> {
  if (frame.contentLength <= oneBufferBytes) {
    const body = await readFramed(handle, frame, size, changed);
    hash.update(body.subarray(frame.head.length, frame.head.length + size));
    return { body, bytes: size, error: undefined };
  }
  const state: { bytes: number; error?: unknown } = { bytes: 0 };
  async function* parts(): AsyncGenerator<Buffer> {
    try {
      yield* fileParts();
    } catch (err) {
      state.error ??= err;
      throw err;
    }
  }
  async function* fileParts(): AsyncGenerator<Buffer> {
    yield frame.head;
    const buf = spares.pop() ?? Buffer.allocUnsafe(chunkBytes + 1);
    const reuseFrom = reuseFromBytes();
    for (;;) {
      const left = size - state.bytes;
      const want = left <= chunkBytes ? left + 1 : chunkBytes;
      const { bytesRead } = await handle.read(buf, 0, want, state.bytes);
      if (bytesRead === 0) break;
      if (bytesRead > left) throw changed(`>${size}`);
      const data = buf.subarray(0, bytesRead);
      hash.update(data);
      state.bytes += bytesRead;
      yield bytesRead >= reuseFrom ? data : Buffer.from(data);
      if (state.bytes === size) break;
    }
    if (state.bytes !== size) throw changed(state.bytes);
    yield frame.tail;
    // Reached only when undici asked for more after the tail: every chunk of `buf` is written.
    // An upload that failed half-way leaves its buffer to the garbage collector.
    if (spares.length < maxSpares) spares.push(buf);
  }
  return {
    body: parts(),
    get bytes() {
      return state.bytes;
    },
    get error() {
      return state.error;
    },
  };
}

/**
 * The whole request body of a small file: the frame's head, exactly `size` bytes of the file read
 * from offset 0 (one read of one byte more, which is how growth is noticed), the frame's tail.
 */
async function readFramed(handle: ReadableFile, frame: MultipartFrame, size: number, changed: (actual: number | string) => Error): Promise<Buffer> {
  const at = frame.head.length;
  const buf = Buffer.allocUnsafe(at + size + 1 + frame.tail.length);
  frame.head.copy(buf, 0);
  let got = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, at + got, size + 1 - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
    if (got > size) throw changed(`>${size}`);
    // A regular file's read comes back short only at its end.
    if (got === size) break;
  }
  if (got !== size) throw changed(got);
  frame.tail.copy(buf, at + size);
  return buf.subarray(0, frame.contentLength);
}
