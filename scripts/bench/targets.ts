/*
 * Issue 12's targets, each measured on the real `kds run` (a child process) against the real
 * `kds emulate` (another child process), from outside: files appearing in output/quarantine,
 * process RSS and CPU from /proc, the engine's JSON log, the journal's size. Each target gives
 * a figure, the target and whether it is met; a target that cannot be measured (a timeout, a
 * crash) is reported as not met, with the reason, and the bench goes on.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { runBaseline } from './baseline';
import { cpuTargets } from './cpuTargets';
import { DeliveryWatcher } from './deliveries';
import { percentile, sleep, waitUntil } from './kdsProcess';
import { MB, POLL_S, STABLE_MS, type TargetOptions, type TargetResult, VERDICT_MS, checkRouting, cpuText, fmtMiB, fmtRate, kdsMoves, makeSite, partial, placeFiles, vmRss } from './site';

/** Throughput of small files: KDS and the demo's loop, in turn, against the same `kds emulate`. */
async function smallFiles(o: TargetOptions): Promise<number | undefined> {
  const count = o.quick ? 500 : 2000;
  o.log(`\nThroughput: ${count} × 1 KiB, verdict ${VERDICT_MS} ms, poll ${POLL_S} s, stable_ms ${STABLE_MS}, files waiting before start`);
  const site = await makeSite();
  try {
    const body = () => randomBytes(1024);
    placeFiles(site, Array.from({ length: count }, (_, i) => ({ name: `b-${i}.bin`, body: body() })));
    const base = await runBaseline(site, { prefix: 'b-', count, pollIntervalS: POLL_S, timeoutMs: 600_000 });
    const baseRate = count / base.wallS;
    o.log(`  baseline (scripts/bench/demoBaseline.mjs): ${fmtRate(baseRate)} files/s (${base.wallS.toFixed(2)} s)`);
    placeFiles(site, Array.from({ length: count }, (_, i) => ({ name: `k-${i}.bin`, body: body() })));
    const expected = new Map(Array.from({ length: count }, (_, i) => [`k-${i}.bin`, 'out' as const]));
    let kdsRate = 0;
    let detail = '';
    let complete = false;
    try {
      const cpu0 = site.emulator.cpuMs();
      const r = await kdsMoves(site, 'k-', count, o.runTimeoutS * 1000);
      kdsRate = r.delivered / r.wallS;
      const check = checkRouting(site, r.watcher, expected);
      detail = `${r.wallS.toFixed(2)} s, ${r.fromReadyS.toFixed(2)} s after "started"; kds CPU ${cpuText(r.cpu)}, emulator CPU ${((site.emulator.cpuMs() - cpu0) / 1000).toFixed(1)} s; misrouted ${check.misrouted}, duplicated ${check.duplicated}, missing ${check.missing}${partial(r, count)}`;
      o.log(`  kds run: ${fmtRate(kdsRate)} files/s (${detail})`);
      complete = r.complete;
    } catch (err) {
      detail = (err as Error).message;
      o.log(`  kds run: ${detail}`);
    }
    // Issue 12's throughput targets against the embedded KATA (≥ 600 files/s, ≥ 2.5× the demo
    // loop) were found out of reach on two cores shared with it; issue 20 measures against the
    // minimal stand-in instead (cpuTargets.ts). This run stays: it is the fault-free figure the
    // faults target compares with.
    const gaveUp = complete ? '' : ` (${detail.slice(detail.indexOf('gave up'))}`;
    o.info(
      `${count} × 1 KiB against kds emulate: kds vs the demo loop (issue 12 asked ≥ 600 files/s and ≥ 2.5×)`,
      kdsRate ? `${fmtRate(kdsRate)} vs ${fmtRate(baseRate)} files/s = ${(kdsRate / baseRate).toFixed(2)}×${gaveUp}` : `failed: ${detail}`,
    );
    return kdsRate || undefined;
  } finally {
    await site.close();
  }
}

/** The machine's own speed for the same job: read, SHA-256, write to the destination, fsync. */
function copyAndHash(src: string, names: string[], destDir: string): number {
  const buf = Buffer.allocUnsafe(MB);
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  for (const name of names) {
    const hash = createHash('sha256');
    const from = openSync(join(src, name), 'r');
    const to = openSync(join(destDir, name), 'w', 0o600);
    for (let n; (n = readSync(from, buf, 0, buf.length, null)) > 0; ) {
      hash.update(buf.subarray(0, n));
      writeSync(to, buf, 0, n);
      bytes += n;
    }
    hash.digest();
    fsyncSync(to);
    closeSync(to);
    closeSync(from);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return bytes / MB / s;
}

async function bigFiles(o: TargetOptions, count: number, sizeMiB: number): Promise<void> {
  o.log(`\nThroughput: ${count} × ${sizeMiB} MiB (MiB/s against fsync'd copy + SHA-256 on the same folders)`);
  const site = await makeSite();
  try {
    const prefix = `m${sizeMiB}-`;
    const names = Array.from({ length: count }, (_, i) => `${prefix}${i}.bin`);
    for (const n of names) {
      const body = Buffer.allocUnsafe(sizeMiB * MB);
      for (let off = 0; off < body.length; off += MB) randomBytes(MB).copy(body, off);
      writeFileSync(join(site.dirs.staging, n), body);
    }
    const scratch = mkdtempSync(join(site.dirs.out, '..', 'copy-'));
    const reference = copyAndHash(site.dirs.staging, names, scratch);
    rmSync(scratch, { recursive: true, force: true });
    o.log(`  copy + SHA-256 + fsync: ${reference.toFixed(0)} MiB/s`);
    for (const n of names) renameSync(join(site.dirs.staging, n), join(site.dirs.in, n));
    let rate = 0;
    let detail = '';
    let complete = false;
    try {
      const cpu0 = site.emulator.cpuMs();
      const r = await kdsMoves(site, prefix, count, o.runTimeoutS * 1000);
      const cpu = `kds CPU ${cpuText(r.cpu)}, emulator CPU ${((site.emulator.cpuMs() - cpu0) / 1000).toFixed(1)} s`;
      // From the engine's "started" line (process start-up is not part of moving bytes; the
      // stability wait, the verdict delay and the polls are).
      rate = (r.delivered * sizeMiB) / r.fromReadyS;
      complete = r.complete;
      detail = `${fmtRate(rate)} MiB/s = ${(rate / reference).toFixed(2)} of ${reference.toFixed(0)} MiB/s${partial(r, count)}`;
      o.log(`  kds run: ${detail} (${r.fromReadyS.toFixed(1)} s from "started", ${r.wallS.toFixed(1)} s from spawn; ${cpu})`);
    } catch (err) {
      detail = `failed: ${(err as Error).message}`;
      o.log(`  kds run: ${detail}`);
    }
    // Issue 12 asked for half the copy + hash speed; out of reach with TLS and a KATA on the same
    // two cores (docs/benchmarks.md), so it is a figure, not a target.
    o.info(`${count} × ${sizeMiB} MiB against kds emulate, share of copy + hash speed (issue 12 asked ≥ 0.50)`, complete ? detail : `${detail} (incomplete)`);
  } finally {
    await site.close();
  }
}

/** Files arriving at a steady rate; how long each takes from complete in input to present in output. */
async function latency(o: TargetOptions, results: TargetResult[]): Promise<void> {
  const rate = 50;
  const total = rate * o.latencyS;
  const bound = STABLE_MS + VERDICT_MS + (POLL_S * 1000) / 2 + 300;
  o.log(`\nLatency: ${total} × 1 KiB arriving at ${rate} files/s`);
  const site = await makeSite();
  try {
    const proc = await site.startKds();
    await sleep(2000);
    const watcher = new DeliveryWatcher(site.dirs, 'l-');
    const completeAt = new Map<string, number>();
    const t0 = Date.now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const name = `l-${i}.bin`;
      writeFileSync(join(site.dirs.staging, name), randomBytes(1024));
      renameSync(join(site.dirs.staging, name), join(site.dirs.in, name));
      completeAt.set(name, Date.now());
    }
    let failure = '';
    try {
      await waitUntil('every file delivered', () => (proc.assertAlive(), watcher.count >= total), 120_000);
    } catch (err) {
      failure = `${(err as Error).message} (${watcher.count} of ${total})`;
    }
    watcher.sweep();
    watcher.close();
    const lat = [...watcher.seen].map(([name, [at]]) => at - completeAt.get(name)!).sort((a, b) => a - b);
    const p50 = percentile(lat, 50);
    const p99 = percentile(lat, 99);
    o.log(`  p50 ${p50} ms, p99 ${p99} ms${failure ? `; ${failure}` : ''}`);
    results.push({ name: 'latency p50 at 50 files/s (complete → in output)', figure: failure ? `${p50} ms, ${failure}` : `${p50} ms`, target: `≤ ${bound} ms`, met: !failure && p50 <= bound });
    results.push({ name: 'latency p99 at 50 files/s', figure: `${p99} ms`, target: `≤ ${2 * bound} ms`, met: !failure && p99 <= 2 * bound });
  } finally {
    await site.close();
  }
}

/** 100 000 files waiting while KATA has not approved KDS (401 on every call). */
async function waitingFiles(o: TargetOptions, results: TargetResult[]): Promise<void> {
  const count = o.quick ? 20_000 : 100_000;
  o.log(`\nMemory: ${count} files waiting in input, KATA answering 401, soak ${o.soakS} s`);
  const site = await makeSite({ autoApprove: false });
  try {
    const body = Buffer.alloc(1024, 0x61);
    for (let i = 0; i < count; i++) writeFileSync(join(site.dirs.in, `w-${String(i).padStart(6, '0')}.bin`), body);
    // Not site.startKds(): an engine slow to start with this many files is still measured.
    const proc = site.spawnKds();
    const t0Start = Date.now();
    let startNote = '';
    await waitUntil('the "identity" line', () => (proc.assertAlive(), proc.count('identity') > 0), 120_000).catch(() => {
      startNote = `; no "identity" log line ${((Date.now() - t0Start) / 1000).toFixed(0)} s after the spawn`;
    });
    // Settled: the first rescans have seen every file.
    await sleep(Math.min(30, Math.max(5, o.soakS / 10)) * 1000);
    const samples: number[] = [];
    const cpu0 = proc.cpuMs();
    const t0 = Date.now();
    while (Date.now() - t0 < o.soakS * 1000) {
      proc.assertAlive();
      samples.push(vmRss(proc.pid));
      await sleep(1000);
    }
    const seconds = (Date.now() - t0) / 1000;
    const cpuPerRescan = (proc.cpuMs() - cpu0) / 1000 / (seconds / POLL_S);
    const peak = Math.max(...samples);
    const fifth = Math.max(1, Math.floor(samples.length / 5));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(samples.slice(0, fifth));
    const last = mean(samples.slice(-fifth));
    const growth = (last - first) / first;
    o.log(`  RSS peak ${fmtMiB(peak)} (VmHWM incl. start-up ${fmtMiB(vmRss(proc.pid, 'VmHWM'))}); first fifth ${fmtMiB(first)}, last fifth ${fmtMiB(last)}; CPU ${cpuPerRescan.toFixed(3)} s per ${POLL_S} s poll interval`);
    o.log(`  ${startNote}`);
    results.push({ name: `RSS with ${count} files waiting (401)`, figure: `${fmtMiB(peak)}${startNote}`, target: '≤ 150 MiB', met: peak <= 150 * MB });
    results.push({ name: `RSS flat over ${o.soakS} s (last fifth vs first)`, figure: `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %`, target: '≤ +5 %', met: growth <= 0.05 });
    results.push({ name: `CPU per rescan of ${count} files`, figure: `${cpuPerRescan.toFixed(3)} s (CPU per poll interval)`, target: '≤ 0.5 s', met: cpuPerRescan <= 0.5 });
  } finally {
    await site.close();
  }
}

/** One 100 MB file: how much the engine's RSS grows while it uploads and delivers it. */
async function bigUpload(o: TargetOptions, results: TargetResult[]): Promise<void> {
  const size = 100_000_000;
  o.log('\nMemory: one 100 MB file uploaded and delivered');
  const site = await makeSite();
  try {
    const proc = await site.startKds();
    await sleep(2000);
    const idle = vmRss(proc.pid);
    await proc.resetPeaks();
    const body = Buffer.allocUnsafe(size);
    for (let off = 0; off < size; off += MB) randomBytes(Math.min(MB, size - off)).copy(body, off);
    const watcher = new DeliveryWatcher(site.dirs, 'big-');
    placeFiles(site, [{ name: 'big-1.bin', body }]);
    let failure = '';
    try {
      await waitUntil('the big file delivered', () => (proc.assertAlive(), watcher.count >= 1), 180_000);
      await sleep(500);
    } catch (err) {
      failure = (err as Error).message;
    }
    watcher.close();
    const growth = vmRss(proc.pid, 'VmHWM') - idle;
    o.log(`  idle ${fmtMiB(idle)}, peak ${fmtMiB(idle + growth)} (+${fmtMiB(growth)})${failure ? `; ${failure}` : ''}`);
    results.push({ name: 'RSS growth during a 100 MB upload', figure: failure ? `failed: ${failure}` : `+${fmtMiB(growth)}`, target: '≤ +50 MiB', met: !failure && growth <= 50 * MB });
  } finally {
    await site.close();
  }
}

/** 25 % of calls answered 500 and 20 % 429: as fast as half the fault-free run, every file once in the right folder. */
async function faults(o: TargetOptions, results: TargetResult[], faultFree: number | undefined): Promise<void> {
  const count = o.quick ? 500 : 2000;
  o.log(`\nFaults: ${count} files (1 in 20 EICAR), KATA answering 25 % 500 and 20 % 429`);
  const site = await makeSite({ faults: '500=0.25,429=0.2' });
  try {
    const expected = new Map<string, 'out' | 'qrnt'>();
    const files = Array.from({ length: count }, (_, i) => {
      const eicar = i % 20 === 7;
      const name = `f-${i}.bin`;
      expected.set(name, eicar ? 'qrnt' : 'out');
      return { name, body: eicar ? Buffer.from(EICAR, 'latin1') : randomBytes(1024) };
    });
    placeFiles(site, files);
    let rate = 0;
    let check = { missing: count, misrouted: 0, duplicated: 0, leftInInput: 0, extra: 0 };
    let failure = '';
    const watcher = new DeliveryWatcher(site.dirs, 'f-');
    try {
      const r = await kdsMoves(site, 'f-', count, o.runTimeoutS * 1000);
      rate = r.delivered / r.wallS;
      if (!r.complete) failure = partial(r, count).trim();
      await sleep(2000); // a duplicate would show up after the last first delivery
    } catch (err) {
      failure = (err as Error).message;
    }
    watcher.sweep();
    watcher.close();
    check = checkRouting(site, watcher, expected);
    o.log(`  ${fmtRate(rate)} files/s; missing ${check.missing}, misrouted ${check.misrouted}, duplicated ${check.duplicated}, still in input ${check.leftInInput}, unexpected ${check.extra}${failure ? `; ${failure}` : ''}`);
    results.push({
      name: 'throughput under faults vs fault-free',
      figure: `${faultFree ? `${(rate / faultFree).toFixed(2)} (${fmtRate(rate)} vs ${fmtRate(faultFree)} files/s)` : `${fmtRate(rate)} files/s, no fault-free figure`}${failure ? ` ${failure}` : ''}`,
      target: '≥ 0.50',
      met: !failure && !!faultFree && rate >= faultFree / 2,
    });
    const clean = check.missing + check.misrouted + check.duplicated + check.extra === 0;
    results.push({
      name: 'under faults: every file exactly once, right folder',
      figure: `misrouted ${check.misrouted}, duplicated ${check.duplicated}, missing ${check.missing}, unexpected ${check.extra}${failure ? ` ${failure}` : ''}`,
      target: 'all 0',
      met: clean && !failure,
    });
  } finally {
    await site.close();
  }
}

/** A state_dir whose journal holds 100 000 entries: time to "started", and the journal's size once there is no pending work. */
async function startup(o: TargetOptions, results: TargetResult[]): Promise<void> {
  const scans = 20_000; // × 5 entries each
  o.log(`\nStart-up: journal with ${scans * 5} entries (${scans} scans delivered before a restart)`);
  const site = await makeSite();
  try {
    // Written as the journal's own JSON lines rather than through Journal: its appends are
    // fdatasync'ed one by one, and it compacts every 20 000, so the API cannot leave 100 000.
    const lines: string[] = [];
    const at = Date.now() - 3_600_000;
    for (let n = 0; n < scans; n++) {
      const scanId = randomUUID();
      lines.push(
        JSON.stringify({ op: 'intent', scanId, name: `old-${n}.bin`, size: 1024, mtimeMs: 1_700_000_000_000 + n, ino: n + 1, at }),
        JSON.stringify({ op: 'submitted', scanId, sha256: createHash('sha256').update(String(n)).digest('hex'), at }),
        JSON.stringify({ op: 'verdict', scanId, state: 'not detected', destination: 'out', at }),
        JSON.stringify({ op: 'done', scanId, outcome: 'routed', at }),
        JSON.stringify({ op: 'cleared', scanId, at }),
      );
    }
    writeFileSync(join(site.dirs.state, 'journal.jsonl'), lines.join('\n') + '\n', { mode: 0o600 });
    const journalBytes = () => readdirSync(site.dirs.state).filter((n) => n.startsWith('journal')).reduce((sum, n) => sum + statSync(join(site.dirs.state, n)).size, 0);
    const before = journalBytes();
    const t0 = Date.now();
    const proc = await site.startKds();
    await waitUntil('the "started" line', () => (proc.assertAlive(), proc.count('started') > 0), 120_000).catch(() => undefined);
    const started = proc.log().find((l) => l.event === 'started');
    const startS = started ? (Date.parse(started.time) - t0) / 1000 : NaN;
    await sleep(5000);
    const after = journalBytes();
    o.log(`  started after ${startS.toFixed(2)} s; journal ${fmtMiB(before)} before, ${(after / 1024).toFixed(0)} KiB after`);
    results.push({ name: 'start-up with 100 000 journal entries', figure: Number.isFinite(startS) ? `${startS.toFixed(2)} s` : 'no "started" line', target: '≤ 3 s', met: startS <= 3 });
    results.push({ name: 'journal size with no pending work', figure: `${(after / 1024).toFixed(0)} KiB (was ${fmtMiB(before)})`, target: '≤ 1 MiB', met: after <= MB });
  } finally {
    await site.close();
  }
}

export async function runTargets(o: TargetOptions): Promise<TargetResult[]> {
  const results: TargetResult[] = [];
  const guard = async (name: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      o.log(`  ${name} failed: ${(err as Error).stack ?? String(err)}`);
      results.push({ name, figure: `failed: ${(err as Error).message}`, target: '-', met: false });
    }
  };
  let faultFree: number | undefined;
  const targets: Array<[string, () => Promise<unknown>]> = [
    ...cpuTargets.map(([key, fn]): [string, () => Promise<unknown>] => [key, () => fn(o, results)]),
    ['small', async () => (faultFree = await smallFiles(o))],
    ['1mib', () => bigFiles(o, o.quick ? 100 : 1000, 1)],
    ['20mib', () => bigFiles(o, o.quick ? 5 : 20, 20)],
    ['latency', () => latency(o, results)],
    ['faults', () => faults(o, results, faultFree)],
    ['upload', () => bigUpload(o, results)],
    ['startup', () => startup(o, results)],
    ['waiting', () => waitingFiles(o, results)],
  ];
  for (const [key, fn] of targets) if (o.only.length === 0 || o.only.includes(key)) await guard(key, fn);
  return results;
}
