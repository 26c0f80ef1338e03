import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinnedCommand, procCpuMs, trackChild, waitUntil } from './kdsProcess';

const kdsBin = join(__dirname, '..', '..', 'bin', 'kds.js');

export interface EmulatorSettings {
  dataDir: string;
  verdictDelayMs: number;
  maxProcessing?: number;
  autoApprove?: boolean;
  faults?: string;
  /** Extra node options, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/x']. */
  nodeArgs?: string[];
  /** Pin the process to this core (taskset). */
  cpu?: number;
  /** Another build's bin/kds.js instead of this one's (KDS_BENCH_EMULATOR_BEFORE). */
  bin?: string;
}

/**
 * `kds emulate` as its own process, as users and issue 12 run it: its CPU is its own, and the
 * bench's watchers do not share its event loop.
 */
export class EmulatorProcess {
  readonly child: ChildProcess;
  url = '';
  port = 0;
  private readonly logPath: string;

  private constructor(readonly settings: EmulatorSettings) {
    const args = ['emulate', '--port', '0', '--data', settings.dataDir, '--verdict-delay-ms', String(settings.verdictDelayMs)];
    if (settings.autoApprove !== false) args.push('--auto-approve');
    if (settings.maxProcessing) args.push('--max-processing', String(settings.maxProcessing));
    if (settings.faults) args.push('--faults', settings.faults);
    mkdirSync(join(settings.dataDir, '..'), { recursive: true });
    // Its log (a line a verdict) goes to a file: through a pipe, each line would wake the bench.
    this.logPath = join(settings.dataDir, '..', `emulator-${Date.now()}.log`);
    const logFd = openSync(this.logPath, 'a', 0o600);
    const [cmd, cmdArgs] = pinnedCommand(settings.cpu, [...(settings.nodeArgs ?? []), settings.bin ?? kdsBin, ...args]);
    this.child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', logFd] });
    closeSync(logFd);
    trackChild(this.child);
    this.child.stdout!.setEncoding('utf8');
    let out = '';
    this.child.stdout!.on('data', (s: string) => {
      out += s;
      const m = /KATA emulator: (https:\/\/\S+)/.exec(out);
      if (m && !this.url) {
        this.url = m[1]!;
        this.port = Number(new URL(this.url).port);
      }
    });
  }

  static async start(settings: EmulatorSettings): Promise<EmulatorProcess> {
    const e = new EmulatorProcess(settings);
    await waitUntil('kds emulate to listen', () => {
      if (e.child.exitCode !== null) throw new Error(`kds emulate exited: ${readFileSync(e.logPath, 'utf8').slice(-4000)}`);
      return e.url !== '';
    }, 30_000);
    return e;
  }

  get caPemPath(): string {
    return join(this.settings.dataDir, 'ca.pem');
  }

  get pid(): number {
    return this.child.pid!;
  }

  cpuMs(): number {
    return procCpuMs(this.pid);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
}
