import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeliveryWatcher } from './deliveries';
import { pinnedCommand, procCpuSplitMs, trackChild, waitUntil } from './kdsProcess';

const script = join(__dirname, 'demoBaseline.mjs');

export interface BaselineSite {
  root: string;
  dirs: { in: string; out: string; qrnt: string };
  cert: { certPem: string; keyPath: string };
  emulator: { url: string; caPemPath: string };
}

/**
 * Runs the yardstick (demoBaseline.mjs, the original demo's loop) on files already waiting in
 * `site.dirs.in`, until `count` files named `prefix…` are in output or quarantine. Time runs
 * from the spawn of the process, as for `kds run`.
 */
export async function runBaseline(
  site: BaselineSite,
  opts: { prefix: string; count: number; pollIntervalS: number; timeoutMs: number; cpu?: number },
): Promise<{ wallS: number; watcher: DeliveryWatcher; cpu: { user: number; system: number } }> {
  const confPath = join(site.root, 'baseline.json');
  writeFileSync(
    confPath,
    JSON.stringify({
      in_dir: site.dirs.in,
      out_dir: site.dirs.out,
      qrnt_dir: site.dirs.qrnt,
      cert_pem: site.cert.certPem,
      cert_key: site.cert.keyPath,
      ca: site.emulator.caPemPath,
      url: site.emulator.url,
      system_id: `baseline-${Math.random().toString(16).slice(2)}`,
      poll_interval_s: opts.pollIntervalS,
      stop_after: opts.count,
    }),
  );
  const watcher = new DeliveryWatcher(site.dirs, opts.prefix);
  const t0 = Date.now();
  const [cmd, args] = pinnedCommand(opts.cpu, [script, confPath]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  trackChild(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  let cpu = { user: NaN, system: NaN };
  try {
    await waitUntil(`the baseline to move ${opts.count} files`, () => {
      if (child.exitCode !== null) throw new Error(`the baseline script ended (${child.exitCode}): ${stderr}`);
      return watcher.count >= opts.count;
    }, opts.timeoutMs);
    // Its CPU when the last file arrived (the script idles once it has moved them all).
    cpu = procCpuSplitMs(child.pid!);
  } finally {
    watcher.sweep();
    watcher.close();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  return { wallS: (watcher.lastAt() - t0) / 1000, watcher, cpu };
}
