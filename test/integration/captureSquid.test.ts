import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeCaptureFile } from '../../src/capture/analyzeCapture';
import { type CIcapServer, type SquidProxy, needTools, startCIcap, startSquid, startTcpdump, tsharkIcap, tsharkTransactions, waitForCapturedAnswers } from '../helpers/icapPeers';
import { tempDir } from '../helpers/tempDirs';

/** GET through the proxy; resolves with the status and body length. */
function fetchViaProxy(proxyPort: number, url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, path: url, method: 'GET', headers: { Host: new URL(url).host }, timeout: 30_000 }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
    });
    req.on('timeout', () => req.destroy(new Error('proxy request timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('Squid as the ICAP client of c-icap, captured by tcpdump: OPTIONS and RESPMOD with preview, equal to tshark', async (t) => {
  if (!needTools(t, ['tcpdump', 'tshark', 'cIcap', 'squid'], true)) return;
  const dir = tempDir('kds-capture-squid-');
  const big = randomBytes(200_000);
  const origin = createServer((req, res) => {
    const body = req.url === '/big.bin' ? big : Buffer.from('hello through squid\n');
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  const originPort = (origin.address() as AddressInfo).port;
  let server: CIcapServer | undefined;
  let squid: SquidProxy | undefined;
  try {
    server = await startCIcap(dir);
    const pcap = join(dir, 'squid.pcap');
    const dump = await startTcpdump(pcap, ['tcp', 'port', String(server.port)]);
    squid = await startSquid(dir, server.port);
    const small = await fetchViaProxy(squid.port, `http://127.0.0.1:${originPort}/small.txt`);
    const large = await fetchViaProxy(squid.port, `http://127.0.0.1:${originPort}/big.bin`);
    assert.deepEqual([small.status, large.status, large.bytes], [200, 200, big.length]);
    // Both answers went through the ICAP server: wait for its access log, then stop capturing.
    const end = Date.now() + 20_000;
    while (server.accessLines().filter((l) => / RESPMOD /.test(l)).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    await squid.stop();
    squid = undefined;
    await waitForCapturedAnswers(pcap, server.port, 3);
    await dump.stop();

    const ours = await analyzeCaptureFile(pcap, { port: server.port });
    const theirs = tsharkTransactions(await tsharkIcap(pcap, server.port));
    const essentials = ours.transactions.map((x) => ({ method: x.method, uri: x.uri, status: x.status }));
    assert.deepEqual(essentials, theirs);
    assert.ok(essentials.some((x) => x.method === 'OPTIONS'));
    const resp = ours.transactions.filter((x) => x.method === 'RESPMOD');
    assert.equal(resp.length, 2);
    assert.deepEqual(resp.map((x) => x.httpRequest?.split(' ')[1]), [`http://127.0.0.1:${originPort}/small.txt`, `http://127.0.0.1:${originPort}/big.bin`]);
    // Squid previews at most icap_preview_size bytes (less when the body is shorter).
    assert.deepEqual(resp.map((x) => x.preview), [20, 1024]);
    assert.ok(resp.every((x) => x.httpStatus?.startsWith('HTTP/1.1 200')));
    assert.deepEqual(ours.problems, []);
  } finally {
    await squid?.stop();
    await server?.stop();
    await new Promise((r) => origin.close(r));
  }
});
