/*
 * What every engine target of the bench stands on: fresh folders, a client certificate, a KATA
 * (the embedded one, `kds emulate`, or the minimal stand-in) as its own process, and `kds run`
 * as another, measured from outside.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientCertFiles, engineConfig } from '../../test/helpers/engineConfig';
import { DeliveryWatcher } from './deliveries';
import { EmulatorProcess } from './emulatorProcess';
import { KdsProcess, removeOnInterrupt, waitUntil } from './kdsProcess';
import { MinimalKata } from './minimalKata';

export interface TargetResult {
  name: string;
  figure: string;
  target: string;
  met: boolean;
}

export interface TargetOptions {
  quick: boolean;
  soakS: number;
  latencyS: number;
  log: (line: string) => void;
  /** The longest one engine run may take before its target is reported as not met. */
  runTimeoutS: number;
  /** Only these targets (keys of the target tables), for development; all when empty. */
  only: string[];
  /** How many times each CPU comparison runs (yardstick and engine in turn); medians are reported. */
  rounds: number;
  /** A figure without a target, for the "other figures" table. */
  info: (what: string, value: string) => void;
}

export const MB = 1024 * 1024;
/** Issue 12's setting: a fast KATA stand-in. */
export const VERDICT_MS = 200;
export const POLL_S = 1;
export const STABLE_MS = 500;

/** What a site's KATA offers the bench: where it listens, what it costs. */
export interface BenchKata {
  url: string;
  port: number;
  caPemPath: string;
  pid: number;
  cpuMs(): number;
  stop(): Promise<void>;
}

export interface KdsRunOptions {
  /** The memory probe's sampling interval in ms; 0: none (the CPU comparisons). Default 100. */
  probeMs?: number;
  /** Pin `kds run` to this core. */
  cpu?: number;
  /** Another build's bin/kds.js instead of this one's (or KDS_BENCH_KDS). */
  bin?: string;
  /** Options for node itself, before bin/kds.js (as a systemd unit's ExecStart could give them). */
  nodeArgs?: string[];
}

export interface Site {
  root: string;
  dirs: { in: string; out: string; qrnt: string; state: string; staging: string };
  cert: { certPem: string; keyPath: string };
  emulator: BenchKata;
  confPath: string;
  logFile: string;
  startKds(opts?: KdsRunOptions): Promise<KdsProcess>;
  /** Spawns `kds run` without waiting for its first log line. */
  spawnKds(opts?: KdsRunOptions): KdsProcess;
  close(): Promise<void>;
}

let sites = 0;

/**
 * Folders (output and quarantine on /dev/shm: a delivery crosses file systems, as to a share), a
 * client certificate, and `kds emulate` or, with `minimal`, the minimal KATA stand-in (pinned to
 * core `kataCpu` when given).
 */
export async function makeSite(opts: { autoApprove?: boolean; faults?: string; minimal?: boolean; kataCpu?: number; emulatorBin?: string } = {}): Promise<Site> {
  const root = mkdtempSync(join(tmpdir(), `kds-bench-t${sites++}-`));
  const outRoot = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/kds-bench-') : root;
  const dirs = { in: join(root, 'in'), out: join(outRoot, 'out'), qrnt: join(outRoot, 'qrnt'), state: join(root, 'state'), staging: join(root, 'staging') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  removeOnInterrupt(root);
  removeOnInterrupt(outRoot);
  const emulator: BenchKata = opts.minimal
    ? await MinimalKata.start(root, { verdictMs: VERDICT_MS, cpu: opts.kataCpu })
    : await EmulatorProcess.start({
        dataDir: join(root, 'kata'),
        verdictDelayMs: VERDICT_MS,
        // A real KATA queues far more than the emulator's default 64 in processing.
        maxProcessing: 100_000,
        autoApprove: opts.autoApprove ?? true,
        faults: opts.faults,
        cpu: opts.kataCpu,
        bin: opts.emulatorBin,
      });
  const cert = await clientCertFiles(root, 'kds-bench');
  const confPath = join(root, 'kata_dir_scanner.conf');
  const logFile = join(root, 'kds.log');
  writeFileSync(
    confPath,
    JSON.stringify(
      engineConfig(
        { dirs, cert, emulator: { port: emulator.port, caPemPath: emulator.caPemPath } },
        { system_id: `bench-${randomUUID()}`, stable_ms: STABLE_MS, poll_interval_s: POLL_S, log_file: logFile, log_format: 'json' },
      ),
    ),
  );
  let proc: KdsProcess | undefined;
  const spawnKds = (o: KdsRunOptions = {}) => {
    proc = new KdsProcess(confPath, logFile, o.probeMs ?? 100, o.cpu, o.bin, o.nodeArgs);
    return proc;
  };
  return {
    root,
    dirs,
    cert,
    emulator,
    confPath,
    logFile,
    spawnKds,
    async startKds(o) {
      const p = spawnKds(o);
      // Generous: with 100 000 files in input an engine may take a while to say who it is.
      await p.started(120_000);
      return p;
    },
    async close() {
      await proc?.stop().catch(() => undefined);
      await emulator.stop();
      rmSync(root, { recursive: true, force: true });
      if (outRoot !== root) rmSync(outRoot, { recursive: true, force: true });
    },
  };
}

/** Writes the files beside input and renames them in, so each is complete when it appears. */
export function placeFiles(site: Site, files: Array<{ name: string; body: Buffer }>): void {
  for (const f of files) writeFileSync(join(site.dirs.staging, f.name), f.body);
  for (const f of files) renameSync(join(site.dirs.staging, f.name), join(site.dirs.in, f.name));
}

/** Where every file ended up, against where it belongs. */
export function checkRouting(site: Site, watcher: DeliveryWatcher, expected: Map<string, 'out' | 'qrnt'>): { missing: number; misrouted: number; duplicated: number; leftInInput: number; extra: number } {
  const out = new Set(watcher.list('out'));
  const qrnt = new Set(watcher.list('qrnt'));
  let missing = 0;
  let misrouted = 0;
  let duplicated = 0;
  for (const [name, where] of expected) {
    const inOut = out.has(name);
    const inQrnt = qrnt.has(name);
    if (inOut && inQrnt) duplicated++;
    else if (!inOut && !inQrnt) missing++;
    else if ((where === 'out') !== inOut) misrouted++;
  }
  const extra = [...out, ...qrnt].filter((n) => !expected.has(n)).length;
  const prefixes = new Set([...expected.keys()].map((n) => n.slice(0, n.indexOf('-') + 1)));
  const leftInInput = readdirSync(site.dirs.in).filter((n) => [...prefixes].some((p) => n.startsWith(p))).length;
  return { missing, misrouted, duplicated, leftInInput, extra };
}

export function vmRss(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export const fmtMiB = (bytes: number) => `${(bytes / MB).toFixed(0)} MiB`;
/** A rate with a decimal when it is small (0.3 files/s is not 0). */
export const fmtRate = (x: number) => (x >= 10 ? x.toFixed(0) : x.toFixed(1));

export interface Moved {
  /** Seconds from the spawn to the last delivery (or to the give-up time when incomplete). */
  wallS: number;
  /** The same from the engine's "started" line. */
  fromReadyS: number;
  delivered: number;
  /** Every file delivered within the run's time limit. */
  complete: boolean;
  /** The engine's CPU time (user, system) in ms when the last file arrived. */
  cpu: { user: number; system: number };
  watcher: DeliveryWatcher;
  proc: KdsProcess;
}

/**
 * Runs `kds run` on files already waiting in input until `count` of them (named `prefix…`)
 * are delivered, or `timeoutMs` passed: then the figure is what was delivered by then, and
 * the target is not met. A crash of the engine throws.
 */
export async function kdsMoves(site: Site, prefix: string, count: number, timeoutMs: number, run: KdsRunOptions = {}): Promise<Moved> {
  const watcher = new DeliveryWatcher(site.dirs, prefix);
  const t0 = Date.now();
  const proc = site.spawnKds(run);
  let complete = true;
  try {
    await waitUntil(`kds run to deliver ${count} files`, () => (proc.assertAlive(), watcher.count >= count), timeoutMs);
  } catch (err) {
    if (!/timed out/.test((err as Error).message)) {
      watcher.close();
      throw err;
    }
    complete = false;
  }
  const cpu = proc.cpuSplitMs();
  const endedAt = Date.now();
  watcher.sweep();
  watcher.close();
  const started = proc.log().find((l) => l.event === 'started');
  const readyAt = started ? Date.parse(started.time) : t0;
  const end = complete ? watcher.lastAt() : endedAt;
  return { wallS: (end - t0) / 1000, fromReadyS: (end - readyAt) / 1000, delivered: watcher.count, complete, cpu, watcher, proc };
}

export function cpuText(cpu: { user: number; system: number }): string {
  return `${((cpu.user + cpu.system) / 1000).toFixed(1)} s (${(cpu.system / 1000).toFixed(1)} s in the kernel)`;
}

/** "N of M in S s" when a run gave up, for the figure column. */
export function partial(r: Moved, count: number): string {
  return r.complete ? '' : ` (gave up: ${r.delivered} of ${count} in ${r.wallS.toFixed(0)} s)`;
}
