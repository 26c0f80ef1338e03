import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeCaptureFile } from '../../src/capture/analyzeCapture';
import { writeBigCapture } from '../../test/helpers/captureWriter';

/**
 * kds capture analyze on a generated capture (one RESPMOD carrying `sizeMB` of body in 64 KiB
 * segments): time, MB/s and how much the resident memory grew while reading it. Figures only.
 */
export async function benchCapture(sizeMB = 1024): Promise<Array<{ name: string; value: string }>> {
  const root = mkdtempSync(join(tmpdir(), 'kds-bench-capture-'));
  const file = join(root, 'big.pcap');
  try {
    writeBigCapture(file, sizeMB * 1024 * 1024);
    const mb = statSync(file).size / 1048576;
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    const t0 = process.hrtime.bigint();
    const a = await analyzeCaptureFile(file);
    const took = Number(process.hrtime.bigint() - t0) / 1e9;
    clearInterval(sampler);
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    return [
      { name: `capture analysis, ${mb.toFixed(0)} MB pcap (${a.packets} packets, ${a.totalTransactions} transactions)`, value: `${took.toFixed(1)} s (${(mb / took).toFixed(0)} MB/s; target ≥ 100 MB/s)` },
      { name: 'capture analysis: resident memory growth while reading', value: `${((rssPeak - rssBefore) / 1048576).toFixed(0)} MB (target: < 64 MB, whatever the file size)` },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
