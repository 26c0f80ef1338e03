import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { writeBigCapture } from '../helpers/captureWriter';
import { repoRoot } from '../helpers/kdsProcess';
import { tempDir } from '../helpers/tempDirs';

const run = promisify(execFile);

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
