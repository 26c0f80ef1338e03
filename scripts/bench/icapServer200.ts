import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../../src/emulator/server';
import { IcapConnection } from '../../src/icap/icapClient';
import { serializeHttpHead, serializeIcapRequest } from '../../src/icap/icapMessage';

/**
 * The embedded KATA's ICAP server under 200 concurrent RESPMOD transactions (64 KiB bodies,
 * preview 1024 + 100 Continue, one connection each), as a busy Squid would send them.
 * Targets: none lost; RSS flat across rounds (bodies are spooled to disk).
 */
export async function benchIcapServer200(rounds = 5): Promise<Array<{ name: string; value: string }>> {
  const dir = mkdtempSync(join(tmpdir(), 'kds-bench-icap-'));
  const emu = await startEmulator({ dataDir: dir, port: 0, icapPort: 0, verdictDelayMs: 20 });
  const port = emu.icap!.port;
  const body = Buffer.alloc(64 * 1024, 0x41);
  const one = async () => {
    const conn = await IcapConnection.connect('127.0.0.1', port, 60_000);
    try {
      const head = serializeIcapRequest({
        method: 'RESPMOD',
        uri: `icap://127.0.0.1:${port}/respmod`,
        headers: { Host: '127.0.0.1', Allow: 204, Preview: 1024 },
        resHdr: serializeHttpHead('HTTP/1.1 200 OK', { 'Content-Length': body.length }),
        body: 'res-body',
      });
      return await conn.transact({ head, body, preview: 1024, timeoutMs: 120_000 });
    } finally {
      conn.close();
    }
  };
  const out: Array<{ name: string; value: string }> = [];
  try {
    const times: number[] = [];
    const rss: number[] = [];
    let answered = 0;
    for (let r = 0; r < rounds; r++) {
      const t0 = process.hrtime.bigint();
      const results = await Promise.all(Array.from({ length: 200 }, one));
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      answered += results.filter((x) => x.response.head.status === 204).length;
      rss.push(process.memoryUsage().rss);
    }
    const best = Math.min(...times);
    out.push({ name: 'ICAP: 200 concurrent RESPMOD × 64 KiB (target: none lost)', value: `${answered} / ${200 * rounds} answered 204` });
    out.push({ name: 'ICAP: one round of 200, best of rounds', value: `${best.toFixed(0)} ms (${((200 / best) * 1000).toFixed(0)} transactions/s)` });
    out.push({ name: 'ICAP: RSS after round 1 → last (target: flat)', value: `${(rss[0]! / 1048576).toFixed(0)} MiB → ${(rss.at(-1)! / 1048576).toFixed(0)} MiB` });
  } finally {
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
