import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeCaptureFile } from '../../src/capture/analyzeCapture';
import { type CIcapServer, icapClient, needTools, startCIcap, startTcpdump, tsharkIcap, tsharkTransactions, waitForCapturedAnswers } from '../helpers/icapPeers';
import { tempDir } from '../helpers/tempDirs';

/** What both readers must agree on, transaction for transaction. */
function essentials(list: Array<{ method: string | null; uri: string | null; status: number | null }>) {
  return list.map((x) => ({ method: x.method, uri: x.uri, status: x.status }));
}

test('real c-icap traffic captured by tcpdump on lo: the analysis agrees with tshark and with c-icap\'s access log', async (t) => {
  if (!needTools(t, ['tcpdump', 'tshark', 'cIcap', 'cIcapClient'], true)) return;
  const dir = tempDir('kds-capture-real-');
  let server: CIcapServer | undefined;
  try {
    server = await startCIcap(dir);
    const small = join(dir, 'small.txt');
    const big = join(dir, 'big.bin');
    writeFileSync(small, 'hello ICAP\n');
    writeFileSync(big, randomBytes(300_000));
    const pcap = join(dir, 'real.pcap');
    const dump = await startTcpdump(pcap, ['tcp', 'port', String(server.port)]);
    await icapClient(server.port, ['-s', 'echo']);
    await icapClient(server.port, ['-s', 'echo', '-f', small, '-resp', 'http://198.51.100.7/small.txt']);
    await icapClient(server.port, ['-s', 'echo', '-f', big, '-resp', 'http://198.51.100.7/big.bin', '-w', '1024']);
    await icapClient(server.port, ['-s', 'echo', '-f', small, '-req', 'http://198.51.100.7/upload']);
    await icapClient(server.port, ['-s', 'echo', '-f', big, '-resp', 'http://198.51.100.7/nopreview.bin', '-nopreview']);
    await icapClient(server.port, ['-s', 'no-such-service']).catch(() => '');
    // Every transaction is in c-icap's access log once it answered (each run with a file sends
    // OPTIONS first): wait for all ten.
    const end = Date.now() + 20_000;
    while (server.accessLines().length < 10 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    await waitForCapturedAnswers(pcap, server.port, 10);
    await dump.stop();

    const ours = await analyzeCaptureFile(pcap, { port: server.port });
    const theirs = tsharkTransactions(await tsharkIcap(pcap, server.port));
    assert.equal(ours.problems.length, 0, JSON.stringify(ours.problems));
    assert.ok(theirs.length >= 6, `tshark saw ${theirs.length} transactions`);
    assert.deepEqual(essentials(ours.transactions), essentials(theirs), 'transactions as tshark decodes them');

    // c-icap's own access log: one line per transaction, method and status.
    const logged = server.accessLines().map((l) => / (OPTIONS|REQMOD|RESPMOD) \S* (\d{3})/.exec(l)).filter(Boolean).map((m) => `${m![1]} ${m![2]}`);
    assert.equal(logged.length, 10);
    assert.deepEqual(ours.transactions.map((x) => `${x.method} ${x.status}`).sort(), [...logged].sort());

    const resp = ours.transactions.filter((x) => x.method === 'RESPMOD');
    assert.equal(resp.length, 3);
    // c-icap-client names the service without the port.
    assert.ok(resp.every((x) => x.uri === "icap://127.0.0.1/echo"));
    const bigOne = resp.find((x) => x.httpRequest?.includes('/big.bin'))!;
    assert.equal(bigOne.preview, 1024);
    assert.equal(bigOne.httpStatus?.startsWith('HTTP/1.'), true);
    const whole = resp.find((x) => x.httpRequest?.includes('/nopreview.bin'))!;
    assert.equal(whole.preview, null);
    assert.ok(whole.requestBytes > 300_000, `request bytes ${whole.requestBytes}`);
    assert.ok(whole.responseBytes > 300_000, `response bytes ${whole.responseBytes}`);
    assert.ok(bigOne.latencyMs !== null && bigOne.latencyMs >= 0);
    assert.equal(ours.transactions.at(-1)!.status, 404);
    assert.ok(ours.diagnosis.some((d) => /404/.test(d)), ours.diagnosis.join('\n'));
  } finally {
    await server?.stop();
  }
});
