import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeCaptureFile } from '../../src/capture/analyzeCapture';
import { EICAR } from '../../src/emulator/eicar';
import { startEmulator } from '../../src/emulator/server';
import { icapClient, needTools, startTcpdump, tsharkIcap, tsharkTransactions, waitForCapturedAnswers } from '../helpers/icapPeers';
import { tempDir } from '../helpers/tempDirs';

const essentials = (list: Array<{ method: string | null; uri: string | null; status: number | null }>) => list.map((x) => ({ method: x.method, uri: x.uri, status: x.status }));

test("the embedded KATA's ICAP server captured by tcpdump: the analysis agrees with tshark and shows the block", async (t) => {
  if (!needTools(t, ['tcpdump', 'tshark', 'cIcapClient'], true)) return;
  const dir = tempDir('kds-capture-embedded-');
  const emu = await startEmulator({ dataDir: join(dir, 'kata'), port: 0, icapPort: 0, icapMode: 'blocking_simple', verdictDelayMs: 20 });
  try {
    const port = emu.icap!.port;
    const clean = join(dir, 'clean.txt');
    const infected = join(dir, 'sample.com');
    writeFileSync(clean, 'A harmless document.\n'.repeat(50));
    writeFileSync(infected, EICAR);
    const pcap = join(dir, 'embedded.pcap');
    const dump = await startTcpdump(pcap, ['tcp', 'port', String(port)]);
    await icapClient(port, ['-s', 'respmod']);
    await icapClient(port, ['-s', 'respmod', '-f', clean, '-resp', 'http://198.51.100.7/clean.txt']);
    await icapClient(port, ['-s', 'respmod', '-f', infected, '-resp', 'http://198.51.100.7/sample.com']);
    await icapClient(port, ['-s', 'reqmod', '-f', clean, '-req', 'http://198.51.100.7/upload']);
    await waitForCapturedAnswers(pcap, port, 7); // c-icap-client sends OPTIONS before each file
    await dump.stop();

    const ours = await analyzeCaptureFile(pcap, { port });
    const theirs = tsharkTransactions(await tsharkIcap(pcap, port));
    assert.equal(ours.problems.length, 0, JSON.stringify(ours.problems));
    assert.ok(theirs.length >= 4, `tshark saw ${theirs.length} transactions`);
    assert.deepEqual(essentials(ours.transactions), essentials(theirs), 'transactions as tshark decodes them');
    // The EICAR response was answered with the block page and named: the verdict headers are read.
    const blocked = ours.transactions.find((x) => x.method === 'RESPMOD' && x.httpRequest?.includes('/sample.com'));
    assert.ok(blocked, 'the EICAR transaction');
    assert.equal(blocked.status, 200);
    assert.match(blocked.adaptedHttpStatus ?? '', /403/);
    assert.ok(Object.keys(blocked.verdict).some((h) => /^x-(infection-found|virus-id|violations-found)$/i.test(h)), JSON.stringify(blocked.verdict));
    const passed = ours.transactions.find((x) => x.method === 'RESPMOD' && x.httpRequest?.includes('/clean.txt'));
    assert.ok(passed && (passed.status === 204 || passed.status === 200), JSON.stringify(passed));
    assert.ok(!ours.diagnosis.some((d) => /every RESPMOD/i.test(d)), ours.diagnosis.join('\n'));
  } finally {
    await emu.close();
  }
});
