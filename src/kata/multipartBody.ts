import { randomUUID } from 'node:crypto';

/**
 * The framing of a multipart/form-data body whose single file part is streamed between
 * `head` and `tail`. Built up front so the exact Content-Length is known before any file
 * byte is read: KATA gets a plain length-delimited request, not chunked encoding.
 */
export interface MultipartFrame {
  boundary: string;
  contentType: string;
  head: Buffer;
  tail: Buffer;
  contentLength: number;
}

export interface MultipartSpec {
  /** Plain text fields, sent before the file part in this order. */
  fields: Array<[name: string, value: string]>;
  file: { field: string; fileName: string; size: number; contentType?: string };
}

const CRLF = '\r\n';

// Field names and values are ours (scanId, objectType); a CR/LF in them would let a value
// forge extra headers or parts, so refuse instead of escaping.
function assertHeaderSafe(what: string, value: string): void {
  if (/[\r\n\0]/.test(value)) throw new RangeError(`multipart ${what} must not contain CR, LF or NUL: ${JSON.stringify(value)}`);
}

/**
 * `filename="<ascii fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266 / 5987 style).
 * The fallback replaces quotes, backslashes, control and non-ASCII characters with `_` so no
 * parser can be confused; servers that understand `filename*` get the exact name.
 */
export function fileNameParams(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/gu, '_');
  if (ascii === fileName) return `filename="${ascii}"`;
  return `filename="${ascii}"; filename*=UTF-8''${encodeRfc5987(fileName)}`;
}

function encodeRfc5987(value: string): string {
  // encodeURIComponent leaves !'()* alone; RFC 5987 attr-char does not allow ' ( ) *.
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function newBoundary(): string {
  // Random enough (122 bits) that it cannot occur in the file by accident nor be guessed by whoever
  // wrote it; a few recognisable chars help in captures. randomUUID draws from a cached pool.
  return `----KdsFormBoundary${randomUUID().replace(/-/g, '')}`;
}

export function buildMultipartFrame(spec: MultipartSpec, boundary = newBoundary()): MultipartFrame {
  const parts: string[] = [];
  for (const [name, value] of spec.fields) {
    assertHeaderSafe('field name', name);
    assertHeaderSafe(`field ${name}`, value);
    parts.push(`--${boundary}${CRLF}Content-Disposition: form-data; name="${name}"${CRLF}${CRLF}${value}${CRLF}`);
  }
  assertHeaderSafe('field name', spec.file.field);
  parts.push(
    `--${boundary}${CRLF}` +
      `Content-Disposition: form-data; name="${spec.file.field}"; ${fileNameParams(spec.file.fileName)}${CRLF}` +
      `Content-Type: ${spec.file.contentType ?? 'application/octet-stream'}${CRLF}${CRLF}`,
  );
  const head = Buffer.from(parts.join(''), 'utf8');
  const tail = Buffer.from(`${CRLF}--${boundary}--${CRLF}`, 'utf8');
  return {
    boundary,
    contentType: `multipart/form-data; boundary=${boundary}`,
    head,
    tail,
    contentLength: head.length + spec.file.size + tail.length,
  };
}
