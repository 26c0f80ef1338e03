/*
 * Issue 20's targets: the engine's CPU per file and its throughput against the yardstick (the
 * seed-like script, demoBaseline.mjs), both against the minimal KATA stand-in (minimalKata.mjs:
 * constant-time answers, no hashing), so what is compared is the clients' own work; and the
 * embedded KATA's CPU per MiB. CPU comes from /proc/PID/stat of each client process (user +
 * system, from its spawn to its last delivery). The yardstick and the engine run in turn, on
 * the same number of files, `rounds` times; the figures are the medians of the rounds, and each
 * ratio the median of the rounds' ratios, so a machine whose speed drifts between rounds still
 * compares like with like.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runBaseline } from './baseline';
import { procCpuSplitMs } from './kdsProcess';
import { MB, POLL_S, type Site, type TargetOptions, type TargetResult, VERDICT_MS, fmtRate, kdsMoves, makeSite, placeFiles } from './site';

/**
 * The embedded KATA's CPU per MiB before issue 20, measured by this bench (the yardstick sending
 * 300 × 1 MiB to `kds emulate`, median of 3) on the code of the start of issue 20; the target is half.
 */
export const emulatorMsPerMiBBefore = 11.5;

interface Round {
  /** Files per second, spawn to last delivery. */
  rate: number;
  /** CPU ms per file, user + system. */
  cpuPerFile: number;
  /** Of it, in the kernel. */
  sysPerFile: number;
}

interface Pair {
  yard: Round;
  kds: Round;
  /** The engine of KDS_BENCH_KDS_BEFORE, on its own files in the same round. */
  before?: Round;
  complete: boolean;
}

/** KDS_BENCH_KDS_BEFORE: another build's bin/kds.js, run in every round beside this one (before/after in the same minute). */
const beforeBin = process.env.KDS_BENCH_KDS_BEFORE || undefined;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Removes what a run delivered, so rounds do not pile files up in /dev/shm. */
function clearDestinations(site: Site): void {
  for (const dir of [site.dirs.out, site.dirs.qrnt]) for (const n of readdirSync(dir)) rmSync(join(dir, n), { force: true });
}

function files(prefix: string, count: number, size: number): Array<{ name: string; body: Buffer }> {
  return Array.from({ length: count }, (_, i) => ({ name: `${prefix}${i}.bin`, body: randomBytes(size) }));
}

/** One round: the yardstick, then `kds run` (and the KDS_BENCH_KDS_BEFORE one), each on `count` fresh files of `size` bytes. */
async function pairRound(o: TargetOptions, site: Site, tag: string, count: number, size: number, cpu?: number): Promise<Pair> {
  placeFiles(site, files(`y${tag}-`, count, size));
  const y = await runBaseline(site, { prefix: `y${tag}-`, count, pollIntervalS: POLL_S, timeoutMs: o.runTimeoutS * 1000, cpu });
  clearDestinations(site);
  const round = (wallS: number, c: { user: number; system: number }, n: number): Round => ({ rate: n / wallS, cpuPerFile: (c.user + c.system) / n, sysPerFile: c.system / n });
  const runKds = async (prefix: string, bin?: string) => {
    placeFiles(site, files(`${prefix}${tag}-`, count, size));
    const r = await kdsMoves(site, `${prefix}${tag}-`, count, o.runTimeoutS * 1000, { probeMs: 0, cpu, ...(bin ? { bin } : {}) });
    await r.proc.stop();
    clearDestinations(site);
    return r;
  };
  // With a "before" engine, the two take turns going first, so neither always finds the caches warmer.
  const beforeFirst = beforeBin !== undefined && Number(tag) % 2 === 1;
  const b0 = beforeFirst ? await runKds('b', beforeBin) : undefined;
  const k = await runKds('k');
  const b = beforeFirst ? b0 : beforeBin ? await runKds('b', beforeBin) : undefined;
  const before = b ? round(b.wallS, b.cpu, b.delivered) : undefined;
  const pair: Pair = { yard: round(y.wallS, y.cpu, count), kds: round(k.wallS, k.cpu, k.delivered), complete: k.complete, ...(before ? { before } : {}) };
  const line = (r: Round) => `${fmtRate(r.rate)} files/s, ${r.cpuPerFile.toFixed(2)} ms CPU a file (${r.sysPerFile.toFixed(2)} in the kernel); CPU ${(r.cpuPerFile / pair.yard.cpuPerFile).toFixed(2)}×, throughput ${(r.rate / pair.yard.rate).toFixed(2)}×`;
  o.log(`  round ${tag}: yardstick ${fmtRate(pair.yard.rate)} files/s, ${pair.yard.cpuPerFile.toFixed(2)} ms CPU a file`);
  if (before) o.log(`    kds before (${beforeBin}): ${line(before)}`);
  o.log(`    kds: ${line(pair.kds)}${k.complete ? '' : ` (gave up: ${k.delivered} of ${count})`}`);
  return pair;
}

async function pairs(o: TargetOptions, title: string, count: number, size: number, pin: boolean): Promise<Pair[]> {
  o.log(`\n${title}: ${count} × ${size >= MB ? `${size / MB} MiB` : `${size / 1024} KiB`} against the minimal KATA stand-in (verdict ${VERDICT_MS} ms, poll ${POLL_S} s)${pin ? ', the stand-in on core 0, the client on core 1' : ''}, ${o.rounds} rounds`);
  const site = await makeSite({ minimal: true, ...(pin ? { kataCpu: 0 } : {}) });
  try {
    const out: Pair[] = [];
    for (let r = 1; r <= o.rounds; r++) out.push(await pairRound(o, site, String(r), count, size, pin ? 1 : undefined));
    return out;
  } finally {
    await site.close();
  }
}

function summary(ps: Pair[]): { yard: Round; kds: Round; cpuRatio: number; rateRatio: number; complete: boolean; before: string } {
  const pick = (f: (p: Pair) => number) => median(ps.map(f));
  const bs = ps.filter((p) => p.before);
  const b = (f: (p: Required<Pair>) => number) => median((bs as Array<Required<Pair>>).map(f));
  return {
    before: bs.length
      ? `; before: CPU ${b((p) => p.before.cpuPerFile / p.yard.cpuPerFile).toFixed(2)}× (${b((p) => p.before.cpuPerFile).toFixed(2)} ms), throughput ${b((p) => p.before.rate / p.yard.rate).toFixed(2)}×`
      : '',
    yard: { rate: pick((p) => p.yard.rate), cpuPerFile: pick((p) => p.yard.cpuPerFile), sysPerFile: pick((p) => p.yard.sysPerFile) },
    kds: { rate: pick((p) => p.kds.rate), cpuPerFile: pick((p) => p.kds.cpuPerFile), sysPerFile: pick((p) => p.kds.sysPerFile) },
    cpuRatio: pick((p) => p.kds.cpuPerFile / p.yard.cpuPerFile),
    rateRatio: pick((p) => p.kds.rate / p.yard.rate),
    complete: ps.every((p) => p.complete),
  };
}

/**
 * The targets are for 5 000 files. KDS_BENCH_CPU1K_FILES: another count, e.g. 15 000, to see how
 * much of the figure is the engine's fixed cost (start-up, the JIT's warm-up) rather than its cost per file.
 */
const smallCount = (o: TargetOptions) => Number(process.env.KDS_BENCH_CPU1K_FILES) || (o.quick ? 1000 : 5000);

/** 1 KiB files, the cores shared freely: CPU per file ≤ 2× the yardstick's, throughput ≥ 1.0×. */
async function smallCpu(o: TargetOptions, results: TargetResult[]): Promise<void> {
  const count = smallCount(o);
  const s = summary(await pairs(o, 'CPU per file', count, 1024, false));
  results.push({
    name: `client CPU per file, ${count} × 1 KiB, vs the yardstick`,
    figure: `${s.cpuRatio.toFixed(2)}× (kds ${s.kds.cpuPerFile.toFixed(2)} ms, ${s.kds.sysPerFile.toFixed(2)} in the kernel; yardstick ${s.yard.cpuPerFile.toFixed(2)} ms${s.before})`,
    target: '≤ 2×',
    met: s.complete && s.cpuRatio <= 2,
  });
  results.push({
    name: `throughput ${count} × 1 KiB vs the yardstick`,
    figure: `${s.rateRatio.toFixed(2)}× (kds ${fmtRate(s.kds.rate)} files/s; yardstick ${fmtRate(s.yard.rate)}${s.before})`,
    target: '≥ 1.0×',
    met: s.complete && s.rateRatio >= 1,
  });
}

/** The same with the stand-in on one core and the client on the other, as on a Central Node. */
async function pinnedSmall(o: TargetOptions, results: TargetResult[]): Promise<void> {
  const count = smallCount(o);
  const s = summary(await pairs(o, 'Pinned', count, 1024, true));
  results.push({
    name: `throughput ${count} × 1 KiB, KATA and client on a core each (taskset)`,
    figure: `${s.rateRatio.toFixed(2)}× (kds ${fmtRate(s.kds.rate)} files/s, ${s.kds.cpuPerFile.toFixed(2)} ms CPU a file; yardstick ${fmtRate(s.yard.rate)}, ${s.yard.cpuPerFile.toFixed(2)} ms${s.before})`,
    target: '≥ 0.9×',
    met: s.complete && s.rateRatio >= 0.9,
  });
}

/** 1 MiB files: CPU per MiB ≤ 2× the yardstick's. */
async function largeCpu(o: TargetOptions, results: TargetResult[]): Promise<void> {
  // KDS_BENCH_CPU1M_FILES: another count, e.g. 1000, to see how much of the figure is the engine's fixed cost (start-up).
  const count = Number(process.env.KDS_BENCH_CPU1M_FILES) || (o.quick ? 100 : 300);
  const s = summary(await pairs(o, 'CPU per MiB', count, MB, false));
  results.push({
    name: `client CPU per MiB, ${count} × 1 MiB, vs the yardstick`,
    figure: `${s.cpuRatio.toFixed(2)}× (kds ${s.kds.cpuPerFile.toFixed(2)} ms, ${s.kds.sysPerFile.toFixed(2)} in the kernel; yardstick ${s.yard.cpuPerFile.toFixed(2)} ms${s.before})`,
    target: '≤ 2×',
    met: s.complete && s.cpuRatio <= 2,
  });
  o.info(`throughput ${count} × 1 MiB against the minimal stand-in, kds vs the yardstick`, `${s.rateRatio.toFixed(2)}× (${fmtRate(s.kds.rate)} vs ${fmtRate(s.yard.rate)} files/s)`);
}

/** KDS_BENCH_EMULATOR_BEFORE: another build's bin/kds.js whose `kds emulate` runs in every round of the emulator target beside this one. */
const emulatorBeforeBin = process.env.KDS_BENCH_EMULATOR_BEFORE || undefined;

/** The embedded KATA's CPU per MiB received (TLS, parsing, hashing, storing), the yardstick sending. */
async function emulatorCpu(o: TargetOptions, results: TargetResult[]): Promise<void> {
  const count = o.quick ? 100 : 300;
  o.log(`\nThe embedded KATA: ${count} × 1 MiB from the yardstick to kds emulate${emulatorBeforeBin ? ` (and to the one of ${emulatorBeforeBin})` : ''}, and the same to the minimal stand-in, ${o.rounds} rounds`);
  const emu = await makeSite();
  const before = emulatorBeforeBin ? await makeSite({ emulatorBin: emulatorBeforeBin }) : undefined;
  const minimal = await makeSite({ minimal: true });
  const pid = (site: Site) => site.emulator.pid;
  try {
    const perMiB: number[] = [];
    const sysPerMiB: number[] = [];
    const beforePerMiB: number[] = [];
    const ratios: number[] = [];
    const floor: number[] = [];
    const measure = async (site: Site, tag: string) => {
      placeFiles(site, files(tag, count, MB));
      const c0 = procCpuSplitMs(pid(site));
      await runBaseline(site, { prefix: tag, count, pollIntervalS: POLL_S, timeoutMs: o.runTimeoutS * 1000 });
      const c1 = procCpuSplitMs(pid(site));
      clearDestinations(site);
      return { total: (c1.user + c1.system - c0.user - c0.system) / count, system: (c1.system - c0.system) / count };
    };
    for (let r = 1; r <= o.rounds; r++) {
      // With a "before" build, the two take turns going first, so neither always finds the caches warmer.
      const b0 = before && r % 2 === 1 ? await measure(before, `b${r}-`) : undefined;
      const now = await measure(emu, `e${r}-`);
      const b = before ? (b0 ?? (await measure(before, `b${r}-`))) : undefined;
      const f = await measure(minimal, `m${r}-`);
      perMiB.push(now.total);
      sysPerMiB.push(now.system);
      floor.push(f.total);
      if (b) {
        beforePerMiB.push(b.total);
        ratios.push(now.total / b.total);
      }
      o.log(
        `  round ${r}: kds emulate ${now.total.toFixed(2)} ms CPU per MiB (${now.system.toFixed(2)} in the kernel)` +
          (b ? `; before ${b.total.toFixed(2)} ms (${b.system.toFixed(2)} in the kernel), after/before ${(now.total / b.total).toFixed(2)}` : '') +
          `; the minimal stand-in ${f.total.toFixed(2)} ms`,
      );
    }
    const m = median(perMiB);
    const vsBefore = before ? `; the before build ${median(beforePerMiB).toFixed(2)} ms in the same rounds, after/before ${median(ratios).toFixed(2)}` : '';
    results.push({
      name: 'embedded KATA (kds emulate) CPU per MiB received',
      figure: `${m.toFixed(2)} ms, ${median(sysPerMiB).toFixed(2)} in the kernel (was ${emulatorMsPerMiBBefore} ms${vsBefore}; the minimal stand-in ${median(floor).toFixed(2)} ms)`,
      target: `≤ ${(emulatorMsPerMiBBefore / 2).toFixed(2)} ms (half)`,
      met: m <= emulatorMsPerMiBBefore / 2,
    });
  } finally {
    await emu.close();
    await before?.close();
    await minimal.close();
  }
}

/**
 * `kds run`'s fixed cost, which every CPU figure above carries: CPU from the spawn to the
 * delivery of one 1 KiB file (loading the bundle, the configuration, the first TLS connection,
 * the first upload, poll and delivery), the yardstick's and the KDS_BENCH_KDS_BEFORE build's in
 * the same rounds. No target of its own: a figure for the "other figures" table.
 */
async function startupCpu(o: TargetOptions): Promise<void> {
  const runs = o.rounds * 3;
  o.log(`\nStart-up CPU: one 1 KiB file, spawn to its delivery, against the minimal KATA stand-in, ${runs} runs each`);
  const site = await makeSite({ minimal: true });
  const ms = (c: { user: number; system: number }) => c.user + c.system;
  try {
    const yard: number[] = [];
    const now: number[] = [];
    const before: number[] = [];
    const runKds = async (prefix: string, bin?: string) => {
      placeFiles(site, files(prefix, 1, 1024));
      const r = await kdsMoves(site, prefix, 1, o.runTimeoutS * 1000, { probeMs: 0, ...(bin ? { bin } : {}) });
      await r.proc.stop();
      clearDestinations(site);
      if (!r.complete) throw new Error(`${bin ?? 'kds'} did not deliver its file`);
      return ms(r.cpu);
    };
    for (let r = 1; r <= runs; r++) {
      placeFiles(site, files(`sy${r}-`, 1, 1024));
      yard.push(ms((await runBaseline(site, { prefix: `sy${r}-`, count: 1, pollIntervalS: POLL_S, timeoutMs: o.runTimeoutS * 1000 })).cpu));
      clearDestinations(site);
      // With a "before" engine, the two take turns going first.
      const b0 = beforeBin && r % 2 === 1 ? await runKds(`sb${r}-`, beforeBin) : undefined;
      now.push(await runKds(`sk${r}-`));
      const b = beforeBin ? (b0 ?? (await runKds(`sb${r}-`, beforeBin))) : undefined;
      if (b !== undefined) before.push(b);
      o.log(`  run ${r}: yardstick ${yard.at(-1)} ms, kds ${now.at(-1)} ms${b !== undefined ? `, kds before ${b} ms` : ''}`);
    }
    const vsBefore = before.length ? `; before ${median(before).toFixed(0)} ms` : '';
    o.info('start-up CPU of kds run: spawn to the delivery of one 1 KiB file (median)', `${median(now).toFixed(0)} ms (yardstick ${median(yard).toFixed(0)} ms${vsBefore}; ${runs} runs)`);
  } finally {
    await site.close();
  }
}

/** Issue 20's targets, by key for KDS_BENCH_TARGETS. */
export const cpuTargets: Array<[string, (o: TargetOptions, results: TargetResult[]) => Promise<void>]> = [
  ['cpu1k', smallCpu],
  ['pinned', pinnedSmall],
  ['cpu1m', largeCpu],
  ['emulator', emulatorCpu],
  ['startcpu', (o) => startupCpu(o)],
];
