import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { KdsLogger } from '../../src/common/log';
import { ensureTlsMaterial } from '../../src/emulator/tlsMaterial';

/**
 * A scanner API that does no work: every POST is "OK" and every scan is "not detected" at once.
 * Not a KATA stand-in (it checks nothing): only the ceiling the yardstick reaches on this
 * machine when the server costs nothing, to show how much of it the embedded KATA keeps.
 */
export async function startNullKata(dir: string): Promise<{ url: string; caPemPath: string; close(): void }> {
  mkdirSync(join(dir, 'null-kata'), { recursive: true });
  const tls = await ensureTlsMaterial(join(dir, 'null-kata'), '127.0.0.1', new KdsLogger({ sinks: [] }));
  const ids: string[] = [];
  const server: Server = createServer({ key: tls.key, cert: tls.cert, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') {
        const id = /name="scanId"\r\n\r\n([^\r]+)/.exec(Buffer.concat(chunks).toString('latin1'))?.[1];
        if (id) ids.push(id);
        res.end('OK');
      } else {
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(ids.map((scanId) => ({ scanId, state: ['not detected'] }))));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `https://127.0.0.1:${port}`,
    caPemPath: tls.caPemPath,
    close() {
      server.close();
      server.closeAllConnections();
    },
  };
}
