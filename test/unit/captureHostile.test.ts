/**
 * Hostile captures (issue 19, points 7, 8 and 12), small enough for CI: the analysis stays within
 * its bounds and says what it left out, reassembly holds a capped number of segments, a
 * cancelled analysis stops, and an impossible time stamp is one packet's problem. tshark is the
 * oracle where it reads the same file.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeCaptureFile } from '../../src/capture/analyzeCapture';
import { analysisJson } from '../../src/capture/analysisText';
import { HeldSegments } from '../../src/capture/heldSegments';
import { maxHeaderLines, maxHeaderText } from '../../src/capture/icapMessageStream';
import { impossibleTimePcapng, writeDescendingSegments, writeLongHeads, writeManySyns } from '../helpers/hostileCaptures';
import { tsharkIcap, tsharkTransactions } from '../helpers/icapPeers';
import { tempDir } from '../helpers/tempDirs';

const dir = tempDir('kds-capture-hostile-');
const haveTshark = existsSync('/usr/bin/tshark');
if (!haveTshark && process.env.CI === 'true') throw new Error('/usr/bin/tshark missing: run scripts/install-system-deps.sh as root');
const codes = (a: { findings: Array<{ code: string }> }) => a.findings.map((f) => f.code);
const essentials = (list: Array<{ method: string | null; status: number | null }>) => list.map((x) => `${x.method} ${x.status}`);

test('point 7: 3 000 connections that only send a SYN, with room for 100 at once: every attempt counted, the rest set aside and said so', async () => {
  const path = join(dir, 'syns.pcap');
  writeManySyns(path, 3000);
  const a = await analyzeCaptureFile(path, { limits: { maxConnections: 100 } });
  assert.equal(a.packets, 3000);
  assert.equal(a.connections, 3000);
  assert.ok(a.bounds.connectionsSetAside >= 2900, `set aside: ${a.bounds.connectionsSetAside}`);
  assert.ok(codes(a).includes('syn-unanswered') && codes(a).includes('connections-set-aside'), codes(a).join());
  assert.match(a.diagnosis.find((d) => /SYN without SYN-ACK/.test(d))!, /^3000 connection attempt\(s\) to 10\.0\.0\.9:1344 ×3000 got no answer/);
  if (haveTshark) {
    const syns = execFileSync('/usr/bin/tshark', ['-n', '-r', path, '-Y', 'tcp.flags.syn==1 && tcp.flags.ack==0', '-T', 'fields', '-e', 'tcp.stream'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(new Set(syns.trim().split('\n')).size, 3000, 'tshark: 3000 TCP streams');
  }
  // With the default room nothing is set aside, and the findings say nothing of bounds.
  const b = await analyzeCaptureFile(path);
  assert.equal(b.bounds.connectionsSetAside, 0);
  assert.equal(b.connections, 3000);
  assert.ok(!codes(b).includes('connections-set-aside'));
});

test('point 7: ICAP heads of 16 000 header lines: every transaction read (as tshark reads them), at most 256 lines kept per message, the rest counted', async () => {
  const path = join(dir, 'heads.pcap');
  writeLongHeads(path, 2 << 20, 16_000);
  const a = await analyzeCaptureFile(path, { port: 1344 });
  assert.deepEqual(a.problems, []);
  const n = a.transactions.length;
  assert.ok(n >= 30, `${n} transactions`);
  assert.ok(a.transactions.every((x) => x.method === 'RESPMOD' && x.status === 204 && x.notes.length === 0), JSON.stringify(a.transactions[0]));
  assert.ok(a.transactions.every((x) => x.requestHeaders!.length <= maxHeaderText));
  // Host, 16 000 "a:" lines, X-Last, Encapsulated: 256 kept and Encapsulated (framing) wherever it is.
  assert.equal(a.bounds.messagesWithDroppedLines, n);
  assert.equal(a.bounds.droppedHeaderLines, n * (16_003 - maxHeaderLines - 1));
  assert.ok(codes(a).includes('header-lines-dropped'), codes(a).join());
  if (haveTshark) assert.deepEqual(essentials(a.transactions), essentials(tsharkTransactions(await tsharkIcap(path, 1344))));
  // --json is written a transaction at a time, the same text as one JSON.stringify.
  assert.equal([...analysisJson(a)].join(''), JSON.stringify(a, null, 2) + '\n');
});

test('point 7: past the budget for header text, listed transactions keep their start line and verdict headers only, and the diagnosis says how many', async () => {
  const path = join(dir, 'many.pcap');
  writeLongHeads(path, 200_000, 40);
  const full = await analyzeCaptureFile(path);
  const a = await analyzeCaptureFile(path, { limits: { detailChars: 20_000 } });
  assert.deepEqual(essentials(a.transactions), essentials(full.transactions));
  assert.ok(a.bounds.messagesWithoutDetails > 0 && full.bounds.messagesWithoutDetails === 0, String(a.bounds.messagesWithoutDetails));
  const last = a.transactions.at(-1)!;
  assert.equal(last.requestHeaders, 'RESPMOD icap://10.0.0.9/av ICAP/1.0');
  assert.equal(last.responseHeaders, 'ICAP/1.0 204 No Content');
  assert.ok(codes(a).includes('details-not-kept'));
});

test('point 8: held segments come out lowest first whatever order they went in, across the 32-bit wrap', () => {
  const held = new HeldSegments();
  const base = 0xffff_ff00;
  const order = Array.from({ length: 2000 }, (_, i) => i).sort((x, y) => ((x * 7919) % 2003) - ((y * 7919) % 2003));
  for (const i of order) held.push({ seq: (base + i) >>> 0, data: Buffer.alloc(1), missing: 0, time: i });
  assert.equal(held.size, 2000);
  assert.equal(held.bytes, 2000);
  for (let i = 0; i < 2000; i++) assert.equal(held.pop()!.seq, (base + i) >>> 0);
  assert.equal(held.pop(), undefined);
});

test('point 8: 3 000 one-byte segments in descending order: reassembled whole (as tshark does); with room for 500 held segments the hole is given up and said so', async () => {
  const path = join(dir, 'descending.pcap');
  writeDescendingSegments(path, 3000);
  const a = await analyzeCaptureFile(path);
  assert.deepEqual(essentials(a.transactions), ['OPTIONS 200']);
  assert.deepEqual(a.transactions[0]!.notes, []);
  assert.ok(a.transactions[0]!.requestBytes === 3000);
  if (haveTshark) {
    // tshark reassembles out-of-order segments only when told to.
    const info = execFileSync('/usr/bin/tshark', ['-n', '-r', path, '-o', 'tcp.reassemble_out_of_order:TRUE', '-d', 'tcp.port==1344,icap', '-Y', 'icap', '-T', 'fields', '-e', '_ws.col.Info'], { encoding: 'utf8' });
    const seen = info.trim().split('\n').map((l) => /(OPTIONS) icap:|ICAP\/1\.0 (\d{3})/.exec(l)?.slice(1).find(Boolean));
    assert.deepEqual(seen, ['OPTIONS', '200'], info);
  }
  const capped = await analyzeCaptureFile(path, { limits: { maxHeldSegments: 500 } });
  // The start of the request never came in time: only the answer is read, and the bytes are missing.
  assert.deepEqual(essentials(capped.transactions), ['null 200']);
  assert.deepEqual(capped.transactions[0]!.notes, ['request-not-captured']);
});

test('point 8: a cancelled analysis stops at once, a cancel during the analysis ends it with the reason', async () => {
  const path = join(dir, 'cancel.pcap');
  writeDescendingSegments(path, 5000);
  const before = new AbortController();
  before.abort(new Error('cancelled by the user'));
  await assert.rejects(analyzeCaptureFile(path, { signal: before.signal }), /cancelled by the user/);
  const big = join(dir, 'cancel-big.pcap');
  writeManySyns(big, 200_000);
  const during = new AbortController();
  const run = analyzeCaptureFile(big, { signal: during.signal, onProgress: (done, total) => done < total && during.abort(new Error('stop now')) });
  await assert.rejects(run, /stop now/);
});

test('point 12: a pcapng with if_tsresol 0 and time stamps of all ones (the first packet, the request\'s): those packets\' problem, the rest analyzed', async () => {
  const path = join(dir, 'badtime.pcapng');
  writeFileSync(path, impossibleTimePcapng([1, 4]));
  const a = await analyzeCaptureFile(path);
  assert.deepEqual(essentials(a.transactions), ['OPTIONS 200']);
  assert.deepEqual(a.problems.map((p) => p.code), ['bad-time']);
  assert.match(a.problems[0]!.message, /^2 packet\(s\) have an impossible time stamp \(the first: packet 1, 18446744073709552000 seconds after 1970\)/);
  // Packet 2 is the first with a time; the request (packet 4) takes the time of packet 3.
  assert.equal(a.firstPacketTime, '2026-05-28T20:26:40.000Z');
  assert.equal(a.transactions[0]!.time, '2026-05-28T20:26:40.000Z');
  assert.ok(a.lastPacketTime! >= a.firstPacketTime!);
  assert.ok(a.findings.some((f) => f.code === 'file-bad-time'));
});
