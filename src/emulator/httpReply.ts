import type { IncomingMessage, ServerResponse } from 'node:http';

/** A complete response with a length, so keep-alive clients never have to guess where it ends. */
export function reply(res: ServerResponse, status: number, body: string | Buffer = '', headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const length = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  res.writeHead(status, {
    'Cache-Control': 'no-store',
    ...(length ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}),
    ...headers,
    'Content-Length': String(length),
  });
  // A string goes out in the same write (one TLS record) as the headers; Node sends a Buffer
  // as a second chunk, and on loopback each write costs the receiver's work too.
  res.end(body);
}

export function replyJson(res: ServerResponse, status: number, value: unknown): void {
  reply(res, status, JSON.stringify(value), { 'Content-Type': 'application/json; charset=utf-8' });
}

/** Reads a small body (HTML forms) and refuses anything bigger than `limit`. */
export async function readSmallBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
