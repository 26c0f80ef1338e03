/*
 * `npm run bench`: issues 12 and 20's targets, each measured on the real `kds run` (a child
 * process) against a KATA in another (the embedded one, `kds emulate`, or the minimal stand-in
 * for the CPU comparisons with the yardstick; mutual TLS on 127.0.0.1) and printed last, one line
 * a target with the figure, the target and ✓/✗; then written into docs/benchmarks.md. Before
 * them, figures without a target (journal appends, the extension's views). Not part of
 * `npm test`: see docs/benchmarks.md for the knobs and what each figure means.
 *
 *   KDS_BENCH_QUICK=1      smaller sizes, a smoke run
 *   KDS_BENCH_SOAK_S=60    the memory soak (default 300 s)
 *   KDS_BENCH_LATENCY_S=20 how long files arrive at 50/s (default 20 s)
 *   KDS_BENCH_ONLY=targets|other   one half only
 *   KDS_BENCH_TARGETS=cpu1k,faults  only these targets (cpu1k pinned cpu1m emulator startcpu small 1mib 20mib latency faults upload startup waiting)
 *   KDS_BENCH_ROUNDS=5     rounds of each yardstick/engine CPU comparison (medians reported; 1 with QUICK)
 *   KDS_BENCH_RUN_TIMEOUT_S=150     longest one engine run may take before its target is ✗
 *   KDS_BENCH_NO_DOCS=1    do not rewrite docs/benchmarks.md
 *   KDS_BENCH_SMB=1        also the 1 KiB and 1 MiB sets on a real SMB share (root; samba, smbnetfs)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../src/engine/journal';
import { benchCapture } from './bench/capture1g';
import { benchIcapLog200m } from './bench/icapLog200m';
import { benchIcapServer200 } from './bench/icapServer200';
import { benchSmbShare } from './bench/smbShare';
import { projectRoot } from './bench/kdsProcess';
import type { TargetResult } from './bench/site';
import { runTargets } from './bench/targets';
import { benchVerdicts100k } from './bench/verdicts100k';
import { benchViewModel10k } from './bench/viewModel10k';

const quick = process.env.KDS_BENCH_QUICK === '1';
const soakS = Number(process.env.KDS_BENCH_SOAK_S ?? 300);
const latencyS = Number(process.env.KDS_BENCH_LATENCY_S ?? 20);
const only = process.env.KDS_BENCH_ONLY;
const MB = 1024 * 1024;
const rows: Array<[string, string]> = [];
const log = (line: string) => process.stdout.write(`${line}\n`);

function row(what: string, value: string): void {
  rows.push([what, value]);
  log(`  ${what.padEnd(58)} ${value}`);
}

async function benchJournal(): Promise<void> {
  log("\nJournal (every append is written and fdatasync'ed)");
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
        // Awaited one by one: each append durable before the next (a promise on the engine
        // branch's group-committing journal, an entry written synchronously before it).
        await j.intent({ scanId, name: `file-${n}.bin`, size: 65536, mtimeMs: 1_700_000_000_000 + n, ino: n });
        await j.submitted(scanId, 'a'.repeat(64));
        await j.verdict(scanId, 'not detected', 'out');
        await j.done(scanId, 'routed');
        appends += 4;
      }
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      j.close();
      row(`journal appends/s, ${label}`, `${Math.round(appends / secs)} (${((secs / appends) * 1e6).toFixed(0)} µs each)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function targetLines(results: TargetResult[]): string[] {
  const w = Math.max(...results.map((r) => r.name.length));
  const f = Math.max(...results.map((r) => r.figure.length));
  return results.map((r) => `${r.met ? '✓' : '✗'} ${r.name.padEnd(w)}  ${r.figure.padEnd(f)}  target ${r.target}`);
}

/** Replaces the generated block of docs/benchmarks.md with this run's figures. */
function writeDocs(header: string, results: TargetResult[]): void {
  const path = join(projectRoot, 'docs', 'benchmarks.md');
  const begin = '<!-- bench:targets:begin (written by npm run bench) -->';
  const end = '<!-- bench:targets:end -->';
  const text = readFileSync(path, 'utf8');
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) {
    log(`\n(docs/benchmarks.md has no ${begin} block; not updated)`);
    return;
  }
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const table = [
    header,
    '',
    '| | Target | Figure | Goal |',
    '|---|---|---|---|',
    ...results.map((r) => `| ${r.met ? '✓' : '✗'} | ${esc(r.name)} | ${esc(r.figure)} | ${esc(r.target)} |`),
    '',
    ...(rows.length ? ['| Other figures | |', '|---|---|', ...rows.map(([w, v]) => `| ${esc(w)} | ${esc(v)} |`), ''] : []),
  ].join('\n');
  writeFileSync(path, `${text.slice(0, i + begin.length)}\n${table}\n${text.slice(j)}`);
  log('\n(figures written to docs/benchmarks.md)');
}

async function main(): Promise<void> {
  const started = Date.now();
  const header = `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / MB / 1024).toFixed(0)} GiB RAM, load average ${loadavg()[0]!.toFixed(1)} at start, ${new Date().toISOString().slice(0, 16)}Z${quick ? ', QUICK' : ''}, soak ${soakS} s`;
  log(`KDS benchmarks: ${header}`);
  if (only !== 'targets') {
    await benchJournal();
    log('\nExtension views, 10 000 files');
    for (const r of await benchViewModel10k()) row(r.name, r.value);
    log('\nVerdicts panel, 100 000 rows');
    for (const r of await benchVerdicts100k()) row(r.name, r.value);
    log('\nICAP log viewer, 200 MB log');
    for (const r of await benchIcapLog200m()) row(r.name, r.value);
    log('\nEmbedded KATA ICAP server');
    for (const r of await benchIcapServer200(quick ? 2 : 5)) row(r.name, r.value);
    log('\nICAP capture analysis');
    for (const r of await benchCapture(quick ? 128 : 1024)) row(r.name, r.value);
  }
  if (process.env.KDS_BENCH_SMB === '1') for (const r of await benchSmbShare({ quick, log })) row(r.name, r.value);
  const results = only === 'other' ? [] : await runTargets({
        quick,
        soakS,
        latencyS,
        runTimeoutS: Number(process.env.KDS_BENCH_RUN_TIMEOUT_S ?? 150),
        rounds: Math.max(1, Number(process.env.KDS_BENCH_ROUNDS ?? (quick ? 1 : 5))),
        only: (process.env.KDS_BENCH_TARGETS ?? '').split(',').filter(Boolean),
        log,
        info: row,
      });
  if (process.env.KDS_BENCH_NO_DOCS !== '1' && results.length) writeDocs(header, results);
  log(`\nTargets (issues 12 and 20), ${((Date.now() - started) / 1000).toFixed(0)} s in all, load average now ${loadavg()[0]!.toFixed(1)}`);
  for (const line of targetLines(results)) log(line);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
