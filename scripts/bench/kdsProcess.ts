import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

  /**
   * `probeMs`: the memory probe's sampling interval; 0 runs the engine without it (the CPU
   * figures compare the process with the yardstick, which has none). `cpu`: pinned to that core.
   * `bin`: another build's bin/kds.js (KDS_BENCH_KDS_BEFORE).
   */
  constructor(
    confPath: string,
    readonly logFile: string,
    probeMs = 10,
    cpu?: number,
    bin = kdsBin,
    nodeArgs: string[] = [],
  ) {
    // KDS_BENCH_CPU_PROF=DIR: a V8 CPU profile of each engine run, for finding where its time goes.
    const prof = process.env.KDS_BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.KDS_BENCH_CPU_PROF] : [];
    // KDS_BENCH_PERF=DIR: `perf record` of each engine run, the kernel included (which V8's profile cannot see); JS frames named through --perf-basic-prof.
    const perfDir = process.env.KDS_BENCH_PERF;
    const [cmd, args] = pinnedCommand(cpu, [...nodeArgs, ...prof, ...(perfDir ? ['--perf-basic-prof', `--logfile=${join(perfDir, 'v8.log')}`, '--no-logfile-per-isolate'] : []), ...(probeMs > 0 ? ['--require', probe] : []), bin, 'run', '--config', confPath]);
    this.child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KDS_BENCH_PROBE_MS: String(probeMs) },
    });
    trackChild(this.child);
    // Not tracked: each ends by itself with the engine, and a kill would leave its file unfinished.
    const tag = bin === kdsBin ? 'now' : 'other';
    if (perfDir) spawn('perf', ['record', '-F', '1999', '-g', '-o', join(perfDir, `perf-${tag}-${this.child.pid}.data`), '-p', String(this.child.pid)], { stdio: 'ignore' });
    // KDS_BENCH_SYSCALLS=DIR: `perf stat` of each engine run: thread-pool wake-ups (futex), context switches, fsyncs, writes.
    const statDir = process.env.KDS_BENCH_SYSCALLS;
    if (statDir) {
      const events = 'syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_write,syscalls:sys_enter_futex,context-switches,task-clock';
      spawn('perf', ['stat', '-e', events, '-x', ',', '-o', join(statDir, `stat-${tag}-${this.child.pid}.txt`), '-p', String(this.child.pid)], { stdio: 'ignore' });
    }
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
    const { user, system } = this.cpuSplitMs();
    return user + system;
  }

  /** User and system (kernel: system calls, thread wake-ups) CPU time so far, in ms. */
  cpuSplitMs(): { user: number; system: number } {
    return procCpuSplitMs(this.pid);
  }

  /** New log lines since the last call are appended; returns all lines read so far. */
  log(): LogLine[] {
    if (!existsSync(this.logFile)) return this.logLines;
    // Only what was appended since the last call: a busy engine's log grows by megabytes.
    const fd = openSync(this.logFile, 'r');
    let chunk: Buffer;
    try {
      const size = fstatSync(fd).size;
      chunk = Buffer.alloc(Math.max(0, size - this.logOffset));
      readSync(fd, chunk, 0, chunk.length, this.logOffset);
    } finally {
      closeSync(fd);
    }
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

/** User and system CPU time of a process so far, in ms, from /proc/PID/stat (stat(5) fields 14 and 15). */
export function procCpuSplitMs(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: fields are counted from its closing parenthesis (field 3 on).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(fields[11]) * 1000) / clockTicks, system: (Number(fields[12]) * 1000) / clockTicks };
}

export function procCpuMs(pid: number): number {
  const { user, system } = procCpuSplitMs(pid);
  return user + system;
}

/** `node ARGS`, or `taskset -c CPU node ARGS` (taskset execs node: the child's pid is node's). */
export function pinnedCommand(cpu: number | undefined, args: string[]): [string, string[]] {
  return cpu === undefined ? [process.execPath, args] : ['taskset', ['-c', String(cpu), process.execPath, ...args]];
}

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
