import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KdsLogger } from '../../src/common/log';
import { ensureTlsMaterial } from '../../src/emulator/tlsMaterial';
import { pinnedCommand, procCpuMs, trackChild, waitUntil } from './kdsProcess';

/**
 * The minimal KATA stand-in (minimalKata.mjs) as its own process: constant-time answers, no
 * hashing, "not detected" `verdictMs` after each upload. Issue 20's yardstick and engine runs
 * go against it, so what is measured is the client's own CPU per file, not the embedded KATA's.
 */
export class MinimalKata {
  url = '';
  port = 0;

  private constructor(
    readonly child: ChildProcess,
    readonly caPemPath: string,
  ) {}

  /** `cpu`: pin it to that core (taskset), as KATA and KDS share a Central Node's cores. */
  static async start(dir: string, opts: { verdictMs: number; cpu?: number }): Promise<MinimalKata> {
    const tlsDir = join(dir, 'minimal-kata');
    mkdirSync(tlsDir, { recursive: true });
    const tls = await ensureTlsMaterial(tlsDir, '127.0.0.1', new KdsLogger({ sinks: [] }));
    const [cmd, args] = pinnedCommand(opts.cpu, [join(__dirname, 'minimalKata.mjs'), join(tlsDir, 'server.key'), join(tlsDir, 'server.pem'), String(opts.verdictMs)]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    trackChild(child);
    const k = new MinimalKata(child, tls.caPemPath);
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => {
      out += s;
      const m = /listening (\d+)/.exec(out);
      if (m && !k.url) {
        k.port = Number(m[1]);
        k.url = `https://127.0.0.1:${k.port}`;
      }
    });
    await waitUntil('the minimal KATA stand-in to listen', () => {
      if (child.exitCode !== null) throw new Error(`the minimal KATA stand-in exited (${child.exitCode})`);
      return k.url !== '';
    }, 30_000);
    return k;
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
    await exited;
  }
}
