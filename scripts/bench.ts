/*
 * `npm run bench`: figures for the real engine (`kds run` as a child process) talking mutual TLS
 * to the embedded KATA on 127.0.0.1. Prints numbers, asserts nothing. See docs/benchmarks.md.
 *
 *   KDS_BENCH_QUICK=1 npm run bench    smaller sizes, for a smoke run
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../src/engine/journal';
import { listInput } from '../src/engine/inputListing';
import { benchCapture } from './bench/capture1g';
import { benchIcapLog200m } from './bench/icapLog200m';
import { benchIcapServer200 } from './bench/icapServer200';
import { benchVerdicts100k } from './bench/verdicts100k';
import { benchViewModel10k } from './bench/viewModel10k';
import { createSite, median, percentile, sleep, waitUntil, type KdsProcess } from './bench/kdsProcess';

const quick = process.env.KDS_BENCH_QUICK === '1';
const MB = 1024 * 1024;
const rows: Array<[string, string]> = [];

function row(what: string, value: string): void {
  rows.push([what, value]);
  process.stdout.write(`  ${what.padEnd(58)} ${value}\n`);
}

function fmtMB(bytes: number): string {
  return bytes < MB ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / MB).toFixed(1)} MiB`;
}

/** Drops files into input the way a producer should (write beside, rename in); returns when each became complete. */
function dropFiles(site: { dirs: { in: string; staging: string } }, files: Array<{ name: string; body: Buffer }>): Map<string, number> {
  for (const f of files) writeFileSync(join(site.dirs.staging, f.name), f.body);
  const completeAt = new Map<string, number>();
  for (const f of files) {
    renameSync(join(site.dirs.staging, f.name), join(site.dirs.in, f.name));
    completeAt.set(f.name, Date.now());
  }
  return completeAt;
}

async function throughputRun(proc: KdsProcess, site: Parameters<typeof dropFiles>[0], label: string, count: number, size: number, timeoutMs: number): Promise<void> {
  const prefix = `${label}-`;
  // Distinct contents (a fresh random block each), so KATA sees count different objects.
  const files = Array.from({ length: count }, (_, i) => ({ name: `${prefix}${String(i).padStart(4, '0')}.bin`, body: randomBytes(size) }));
  const completeAt = dropFiles(site, files);
  const first = Math.min(...completeAt.values());
  const routed = () => proc.log().filter((l) => l.event === 'routed' && l.file?.startsWith(prefix));
  await waitUntil(`${count} files of ${label} delivered`, () => (proc.assertAlive(), routed().length >= count), timeoutMs);
  const lines = routed();
  const deliveredAt = lines.map((l) => Date.parse(l.time));
  const wall = (Math.max(...deliveredAt) - first) / 1000;
  const latencies = lines.map((l) => Date.parse(l.time) - completeAt.get(l.file!)!).sort((a, b) => a - b);
  const bytes = count * size;
  row(`${label}: ${count} × ${fmtMB(size)}`, `${(count / wall).toFixed(1)} files/s, ${(bytes / MB / wall).toFixed(1)} MiB/s (${wall.toFixed(1)} s)`);
  row(`${label}: latency complete → delivered p50 / p95`, `${(percentile(latencies, 50) / 1000).toFixed(2)} s / ${(percentile(latencies, 95) / 1000).toFixed(2)} s`);
}

async function benchThroughput(): Promise<void> {
  process.stdout.write('\nThroughput (engine process + emulator, mTLS on 127.0.0.1, out_dir on another file system)\n');
  const site = await createSite({ verdictDelayMs: 50, outOnShm: true });
  try {
    const proc = await site.start(1000);
    await throughputRun(proc, site, 'small', quick ? 100 : 500, 64 * 1024, 120_000);
    await throughputRun(proc, site, 'large', quick ? 4 : 20, 20 * MB, 180_000);
    await proc.stop();
  } finally {
    await site.close();
  }
}

async function benchMemory(): Promise<void> {
  const size = quick ? 20 * MB : 100_000_000;
  process.stdout.write(`\nMemory of the engine process while one ${fmtMB(size)} file is uploaded and delivered\n`);
  const site = await createSite({ verdictDelayMs: 50 });
  try {
    const proc = await site.start(5);
    await sleep(1000);
    const startupPeak = proc.kernelPeakRss();
    const idle = proc.memory!.now;
    const body = Buffer.alloc(size);
    for (let off = 0; off < size; off += MB) randomBytes(Math.min(MB, size - off)).copy(body, off);
    await proc.resetPeaks();
    dropFiles(site, [{ name: 'big.bin', body }]);
    await waitUntil('the big file delivered', () => (proc.assertAlive(), proc.count('routed') >= 1), 120_000);
    await sleep(200);
    const peak = proc.memory!.peak;
    const kernelPeak = proc.kernelPeakRss();
    row('file size', fmtMB(size));
    row('RSS idle / peak RSS of start-up (bundle load)', `${fmtMB(idle.rss)} / ${fmtMB(startupPeak)}`);
    row('peak RSS while uploading + delivering (kernel VmHWM)', `${fmtMB(kernelPeak)} (+${fmtMB(kernelPeak - idle.rss)} over idle = ${(((kernelPeak - idle.rss) / size) * 100).toFixed(0)} % of the file)`);
    row('peak heap used / heap total (sampled every 5 ms)', `${fmtMB(peak.heapUsed)} / ${fmtMB(peak.heapTotal)}`);
    row('peak external / of which array buffers (sampled)', `${fmtMB(peak.external)} / ${fmtMB(peak.arrayBuffers)}`);
    await proc.stop();
  } finally {
    await site.close();
  }
}

async function benchRescan(): Promise<void> {
  const count = quick ? 2000 : 10_000;
  process.stdout.write(`\nA folder of ${count} files\n`);
  const site = await createSite();
  try {
    writeFileSync(site.excludeList, '*.skip\n');
    const body = Buffer.alloc(1024, 0x61);
    for (let i = 0; i < count; i++) writeFileSync(join(site.dirs.in, `f-${String(i).padStart(5, '0')}.skip`), body);
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = process.hrtime.bigint();
      const listing = await listInput(site.dirs.in);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (listing.files.length !== count) throw new Error(`listInput saw ${listing.files.length} files, not ${count}`);
    }
    row(`listInput, ${count} files: first / median of 7`, `${times[0]!.toFixed(0)} ms / ${median(times).toFixed(0)} ms`);

    // Steady state: the engine rescans every poll_interval_s (1 s here) and finds only excluded files.
    const windowMs = quick ? 4000 : 8000;
    const measure = async (proc: KdsProcess) => {
      const c0 = proc.cpuMs();
      const t0 = Date.now();
      await sleep(windowMs);
      return ((proc.cpuMs() - c0) / (Date.now() - t0)) * 1000;
    };
    let proc = await site.start(60_000);
    await waitUntil(`${count} files classified as excluded`, () => (proc.assertAlive(), proc.count('excluded') >= count), 60_000);
    await sleep(1500);
    const busy = await measure(proc);
    await proc.stop();

    rmSync(site.dirs.in, { recursive: true, force: true });
    mkdirSync(site.dirs.in);
    proc = await site.start(60_000);
    await sleep(1500);
    const idle = await measure(proc);
    await proc.stop();
    row(`engine CPU per 1 s rescan, ${count} excluded files in input`, `${busy.toFixed(0)} ms (${(busy / 10).toFixed(1)} % of one core)`);
    row('engine CPU per 1 s rescan, empty input (baseline)', `${idle.toFixed(0)} ms (${(idle / 10).toFixed(1)} % of one core)`);
  } finally {
    await site.close();
  }
}

function benchJournal(): void {
  process.stdout.write('\nJournal (every append is written and fdatasync\'ed)\n');
  const sites: Array<[string, string]> = [[tmpdir(), 'state_dir on the root file system']];
  if (process.platform === 'linux') sites.push(['/dev/shm', 'state_dir on tmpfs (no disk)']);
  for (const [base, label] of sites) {
    const dir = mkdtempSync(join(base, 'kds-bench-journal-'));
    try {
      const j = Journal.open(dir);
      const until = Date.now() + (quick ? 1000 : 2500);
      let appends = 0;
      const t0 = process.hrtime.bigint();
      for (let n = 0; Date.now() < until; n++) {
        const scanId = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
        j.intent({ scanId, name: `file-${n}.bin`, size: 65536, mtimeMs: 1_700_000_000_000 + n, ino: n });
        j.submitted(scanId, 'a'.repeat(64));
        j.verdict(scanId, 'not detected', 'out');
        j.done(scanId, 'routed');
        appends += 4;
      }
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      j.close();
      row(`appends/s, ${label}`, `${Math.round(appends / secs)} (${((secs / appends) * 1e6).toFixed(0)} µs each)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  process.stdout.write(`KDS benchmarks: node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${fmtMB(totalmem())} RAM${quick ? ', QUICK' : ''}\n`);
  await benchThroughput();
  await benchMemory();
  await benchRescan();
  benchJournal();
  process.stdout.write('\nExtension views, 10 000 files\n');
  for (const r of await benchViewModel10k()) row(r.name, r.value);
  process.stdout.write('\nVerdicts panel, 100 000 rows\n');
  for (const r of await benchVerdicts100k()) row(r.name, r.value);
  process.stdout.write('\nICAP log viewer, 200 MB log\n');
  for (const r of await benchIcapLog200m()) row(r.name, r.value);
  process.stdout.write('\nEmbedded KATA ICAP server\n');
  for (const r of await benchIcapServer200(quick ? 2 : 5)) row(r.name, r.value);
  process.stdout.write('\nICAP capture analysis\n');
  for (const r of await benchCapture(quick ? 128 : 1024)) row(r.name, r.value);
  const width = Math.max(...rows.map(([w]) => w.length));
  process.stdout.write(`\nSummary (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  process.stdout.write(`| ${'What'.padEnd(width)} | Figure |\n|${'-'.repeat(width + 2)}|--------|\n`);
  for (const [what, value] of rows) process.stdout.write(`| ${what.padEnd(width)} | ${value} |\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
