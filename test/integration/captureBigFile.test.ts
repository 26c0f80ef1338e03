import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Conversation, frame, icap, ipPacket, pcapFile } from '../helpers/captureWriter';
import { repoRoot } from '../helpers/kdsProcess';
import { tempDir } from '../helpers/tempDirs';

const run = promisify(execFile);

/**
 * A capture of `bodyBytes` in one RESPMOD (one huge chunk), between an OPTIONS before and a 204
 * after, written fast: one 64 KiB frame reused with its sequence number patched.
 */
function writeBigCapture(path: string, bodyBytes: number): void {
  const c = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }).handshake();
  c.send(0, icap.options('10.0.0.9')).send(1, icap.optionsAnswer());
  const reqHdr = 'GET http://example/huge.iso HTTP/1.1\r\nHost: example\r\n\r\n';
  const resHdr = `HTTP/1.1 200 OK\r\nContent-Length: ${bodyBytes}\r\n\r\n`;
  const head = `RESPMOD icap://10.0.0.9/av ICAP/1.0\r\nHost: 10.0.0.9\r\nEncapsulated: req-hdr=0, res-hdr=${reqHdr.length}, res-body=${reqHdr.length + resHdr.length}\r\n\r\n${reqHdr}${resHdr}${bodyBytes.toString(16)}\r\n`;
  c.send(0, head);
  const prefix = pcapFile(1, c.frames('ethernet'));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, prefix);
    const last = c.segments.at(-1)!;
    let seq = (last.spec.seq + last.spec.payload!.length) >>> 0;
    let time = last.time;
    const mss = 65_000;
    const data = frame('ethernet', ipPacket({ src: '10.0.0.2', dst: '10.0.0.9', sport: 40000, dport: 1344, seq: 0, ack: last.spec.ack, flags: 0x18, payload: Buffer.alloc(mss, 0x41) }));
    const record = Buffer.concat([Buffer.alloc(16), data]);
    record.writeUInt32LE(data.length, 8);
    record.writeUInt32LE(data.length, 12);
    const tcpSeqAt = 16 + 14 + 20 + 4;
    for (let left = bodyBytes; left > 0; left -= mss) {
      const n = Math.min(mss, left);
      time += 0.00001;
      record.writeUInt32LE(Math.floor(time), 0);
      record.writeUInt32LE(Math.round((time % 1) * 1e6) % 1_000_000, 4);
      record.writeUInt32BE(seq, tcpSeqAt);
      if (n < mss) {
        // The last, shorter segment.
        const short = Buffer.from(record.subarray(0, 16 + 14 + 40 + n));
        short.writeUInt32LE(14 + 40 + n, 8);
        short.writeUInt32LE(14 + 40 + n, 12);
        short.writeUInt16BE(40 + n, 16 + 14 + 2);
        writeSync(fd, short);
      } else {
        writeSync(fd, record);
      }
      seq = (seq + n) >>> 0;
    }
    // The end of the body, the 204, one more OPTIONS: a tail conversation continuing the numbers.
    const tail = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }, { time: time + 0.001, isn: [seq, last.spec.ack] });
    tail.send(0, '\r\n0\r\n\r\n').send(1, icap.noContent()).send(0, icap.options('10.0.0.9')).send(1, icap.optionsAnswer()).close();
    writeSync(fd, pcapFile(1, tail.frames('ethernet')).subarray(24));
  } finally {
    closeSync(fd);
  }
}

/** Analyzes in a child process and returns its peak RSS and a summary. */
async function analyzeInChild(path: string): Promise<{ maxRssMb: number; transactions: Array<{ method: string; status: number; requestBytes: number }>; problems: unknown[] }> {
  const script = `
    const { analyzeCaptureFile } = require('./src/capture/analyzeCapture');
    analyzeCaptureFile(process.argv[1]).then((a) => {
      process.stdout.write(JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024, transactions: a.transactions, problems: a.problems }));
    });`;
  const r = await run(process.execPath, ['--import', 'tsx', '-e', script, path], { cwd: repoRoot, timeout: 300_000, maxBuffer: 16 << 20 });
  return JSON.parse(r.stdout);
}

test('a 1 GB capture is analyzed streaming: peak memory does not grow with the file', async () => {
  const dir = tempDir('kds-capture-big-');
  const small = join(dir, 'small.pcap');
  const big = join(dir, 'big.pcap');
  try {
    writeBigCapture(small, 32 << 20);
    writeBigCapture(big, 1 << 30);
    assert.ok(statSync(big).size > 1 << 30);
    const s = await analyzeInChild(small);
    rmSync(small);
    const b = await analyzeInChild(big);
    for (const r of [s, b]) {
      assert.deepEqual(r.problems, []);
      assert.deepEqual(r.transactions.map((x) => `${x.method} ${x.status}`), ['OPTIONS 200', 'RESPMOD 204', 'OPTIONS 200']);
    }
    assert.ok(b.transactions[1]!.requestBytes > 1 << 30);
    // 32 times the data, the same memory (within what the runtime's heap growth varies by).
    const growth = b.maxRssMb - s.maxRssMb;
    process.stdout.write(`# peak RSS: ${s.maxRssMb.toFixed(0)} MB for 32 MB, ${b.maxRssMb.toFixed(0)} MB for 1 GB\n`);
    assert.ok(growth < 48, `peak RSS grew by ${growth.toFixed(0)} MB (32 MB file: ${s.maxRssMb.toFixed(0)} MB, 1 GB: ${b.maxRssMb.toFixed(0)} MB)`);
  } finally {
    rmSync(big, { force: true });
  }
});
