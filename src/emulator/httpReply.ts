import type { IncomingMessage, ServerResponse } from 'node:http';

/** A complete response with a length, so keep-alive clients never have to guess where it ends. */
export function reply(res: ServerResponse, status: number, body: string | Buffer = '', headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, {
    'Cache-Control': 'no-store',
    ...(data.length ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}),
    ...headers,
    'Content-Length': String(data.length),
  });
  res.end(data);
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
