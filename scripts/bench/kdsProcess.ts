import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server';
import { clientCertFiles, engineConfig } from '../../test/helpers/engineConfig';

export const projectRoot = join(__dirname, '..', '..');
/** KDS_BENCH_KDS: another build's bin/kds.js to measure (e.g. a branch's worktree); the emulator is always this tree's. */
const kdsBin = process.env.KDS_BENCH_KDS || join(projectRoot, 'bin', 'kds.js');
const probe = join(__dirname, 'memoryProbe.cjs');

export interface LogLine {
  time: string;
  event: string;
  msg?: string;
  file?: string;
  scanId?: string;
  size?: number;
  durationMs?: number;
}

export interface MemorySample {
  peak: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  now: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  cpu: { user: number; system: number };
}

/** The real `kds run` as a child process, with the memory probe preloaded. */
export class KdsProcess {
  readonly child: ChildProcess;
  private lastSample?: MemorySample;
  private stderr = '';
  private logOffset = 0;
  private readonly logLines: LogLine[] = [];

  constructor(
    confPath: string,
    readonly logFile: string,
    probeMs = 10,
  ) {
    this.child = spawn(process.execPath, ['--require', probe, kdsBin, 'run', '--config', confPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KDS_BENCH_PROBE_MS: String(probeMs) },
    });
    trackChild(this.child);
    let buf = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (s: string) => {
      buf += s;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        try {
          this.lastSample = JSON.parse(l) as MemorySample;
        } catch {
          /* not a probe line */
        }
      }
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => (this.stderr = (this.stderr + s).slice(-4000)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get memory(): MemorySample | undefined {
    return this.lastSample;
  }

  /** Peak resident set size the kernel recorded for the process (VmHWM), in bytes. */
  kernelPeakRss(): number {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  }

  /**
   * Starts a new peak measurement: the kernel's VmHWM (clear_refs 5) and the probe's peaks. The
   * start-up peak (loading and compiling the bundle) would otherwise hide what a file costs.
   */
  async resetPeaks(): Promise<void> {
    writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
    const before = this.lastSample;
    this.child.kill('SIGUSR2');
    await waitUntil('the probe to reset its peaks', () => this.lastSample !== before && this.lastSample!.peak.rss <= this.lastSample!.now.rss, 5000);
  }

  /** User + system CPU time of the process so far, in ms, from /proc (no probe involved). */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5); the slice above starts at field 3.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  }

  /** New log lines since the last call are appended; returns all lines read so far. */
  log(): LogLine[] {
    if (!existsSync(this.logFile)) return this.logLines;
    const text = readFileSync(this.logFile);
    const chunk = text.subarray(this.logOffset);
    const end = chunk.lastIndexOf(10);
    if (end < 0) return this.logLines;
    this.logOffset += end + 1;
    for (const line of chunk.subarray(0, end).toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        this.logLines.push(JSON.parse(line) as LogLine);
      } catch {
        /* not JSON */
      }
    }
    return this.logLines;
  }

  count(event: string): number {
    return this.log().filter((l) => l.event === event).length;
  }

  assertAlive(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      throw new Error(`kds run exited (code ${this.child.exitCode}, signal ${this.child.signalCode}): ${this.stderr}`);
    }
  }

  /** Waits until the engine has started (its "identity" line). */
  async started(timeoutMs = 20_000): Promise<void> {
    await waitUntil('kds run to start', () => (this.assertAlive(), this.count('identity') > 0), timeoutMs);
  }

  async stop(timeoutMs = 20_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

const clockTicks = 100; // USER_HZ on Linux

const children = new Set<ChildProcess>();
const cleanups = new Set<() => void>();
let handlersInstalled = false;

/** Kills the bench's child processes (and removes registered folders) when the bench is interrupted or exits. */
export function trackChild(child: ChildProcess, cleanup?: () => void): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (cleanup) cleanups.add(cleanup);
  if (handlersInstalled) return;
  handlersInstalled = true;
  const killAll = () => {
    for (const c of children) c.kill('SIGKILL');
    for (const f of cleanups) f();
  };
  process.once('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Registers a folder to remove if the bench is interrupted. */
export function removeOnInterrupt(dir: string): void {
  cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
}

export interface BenchSite {
  root: string;
  dirs: { in: string; out: string; qrnt: string; state: string; staging: string };
  emulator: RunningEmulator;
  confPath: string;
  logFile: string;
  excludeList: string;
  /** (Re)writes kata_dir_scanner.conf with the bench defaults plus `extra`. */
  writeConf(extra?: Record<string, unknown>): void;
  start(probeMs?: number): Promise<KdsProcess>;
  close(): Promise<void>;
}

let siteCount = 0;

/**
 * Folders, a client certificate, the embedded KATA on 127.0.0.1 (auto-approving) and a real
 * kata_dir_scanner.conf. `outOnShm` puts the destinations on tmpfs (cross-device delivery).
 */
export async function createSite(opts: { verdictDelayMs?: number; outOnShm?: boolean } = {}): Promise<BenchSite> {
  const root = mkdtempSync(join(tmpdir(), `kds-bench-${siteCount++}-`));
  const outRoot = opts.outOnShm && existsSync('/dev/shm') ? mkdtempSync('/dev/shm/kds-bench-') : root;
  const dirs = {
    in: join(root, 'in'),
    out: join(outRoot, 'out'),
    qrnt: join(outRoot, 'qrnt'),
    state: join(root, 'state'),
    staging: join(root, 'staging'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const emulator = await startEmulator({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(root, 'kata'),
    autoApprove: true,
    verdictDelayMs: opts.verdictDelayMs ?? 50,
    maxProcessing: 1000,
  });
  const cert = await clientCertFiles(root, 'kds-bench');
  const confPath = join(root, 'kata_dir_scanner.conf');
  const logFile = join(root, 'kds.log');
  const excludeList = join(root, 'exclude_list.txt');
  writeFileSync(excludeList, '');
  const writeConf = (extra: Record<string, unknown> = {}) =>
    writeFileSync(
      confPath,
      JSON.stringify(
        engineConfig(
          { dirs, cert, emulator },
          { system_id: `bench-${Math.random().toString(16).slice(2)}`, stable_ms: 100, exclude_list: excludeList, log_file: logFile, log_format: 'json', ...extra },
        ),
      ),
    );
  writeConf();
  let proc: KdsProcess | undefined;
  return {
    root,
    dirs,
    emulator,
    confPath,
    logFile,
    excludeList,
    writeConf,
    async start(probeMs) {
      rmSync(logFile, { force: true });
      proc = new KdsProcess(confPath, logFile, probeMs);
      await proc.started();
      return proc;
    },
    async close() {
      await proc?.stop();
      await emulator.close();
      rmSync(root, { recursive: true, force: true });
      if (outRoot !== root) rmSync(outRoot, { recursive: true, force: true });
    },
  };
}

/** Polls `cond` every 50 ms until it holds; throws after `timeoutMs`. */
export async function waitUntil(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}
