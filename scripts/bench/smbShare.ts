/*
 * Issue 18, point 4: the 1 KiB and 1 MiB sets with input, output and quarantine on a real SMB
 * share (Samba + smbnetfs, test/helpers/samba.ts), `kds run` beside the yardstick script
 * (demoBaseline.mjs: a plain rename within the share) against the same `kds emulate`, in the
 * same run. Figures: files/s and MiB/s of each, their ratio, CPU seconds of `kds run` and of
 * Samba + smbnetfs (which carry every byte KDS reads and writes). Selected with KDS_BENCH_SMB=1
 * (root, `samba smbnetfs` installed); not part of `npm test`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientCertFiles, engineConfig } from '../../test/helpers/engineConfig';
import { sambaUnavailable, startSamba } from '../../test/helpers/samba';
import { runBaseline } from './baseline';
import { DeliveryWatcher } from './deliveries';
import { EmulatorProcess } from './emulatorProcess';
import { KdsProcess, waitUntil } from './kdsProcess';

const MB = 1024 * 1024;

export interface ShareFigure {
  name: string;
  value: string;
}

export async function benchSmbShare(opts: { quick: boolean; log: (line: string) => void }): Promise<ShareFigure[]> {
  const why = sambaUnavailable();
  if (why) throw new Error(`KDS_BENCH_SMB=1: ${why}`);
  const samba = await startSamba();
  const root = mkdtempSync(join(tmpdir(), 'kds-bench-smb-'));
  const figures: ShareFigure[] = [];
  let emulator: EmulatorProcess | undefined;
  try {
    emulator = await EmulatorProcess.start({ dataDir: join(root, 'kata'), verdictDelayMs: 200, maxProcessing: 100_000, autoApprove: true });
    const cert = await clientCertFiles(root, 'kds-bench');
    const sets: Array<[string, number, number]> = [
      ['1 KiB', 1024, opts.quick ? 100 : 500],
      ['1 MiB', MB, opts.quick ? 20 : 100],
    ];
    for (const [label, size, count] of sets) {
      const tag = label.replace(/\W/g, '');
      const served = { in: join(samba.served, tag, 'in'), out: join(samba.served, tag, 'out'), qrnt: join(samba.served, tag, 'qrnt') };
      for (const d of Object.values(served)) mkdirSync(d, { recursive: true, mode: 0o777 });
      const dirs = { in: join(samba.share, tag, 'in'), out: join(samba.share, tag, 'out'), qrnt: join(samba.share, tag, 'qrnt') };
      // Written on the server (as another host would), complete before either tool starts.
      const place = (prefix: string) => {
        for (let i = 0; i < count; i++) writeFileSync(join(served.in, `${prefix}${i}.bin`), randomBytes(size));
      };
      opts.log(`\nOn the SMB share: ${count} × ${label}, input, output and quarantine on one share (verdict 200 ms, poll 1 s)`);

      place('b-');
      const sambaBase0 = samba.cpuSeconds();
      const base = await runBaseline({ root, dirs, cert, emulator }, { prefix: 'b-', count, pollIntervalS: 1, timeoutMs: 900_000 });
      const baseSamba = samba.cpuSeconds() - sambaBase0;
      const baseRate = count / base.wallS;
      opts.log(`  yardstick (rename within the share): ${baseRate.toFixed(1)} files/s, ${base.wallS.toFixed(1)} s; Samba + smbnetfs CPU ${baseSamba.toFixed(1)} s`);

      place('k-');
      const confPath = join(root, `kds-${tag}.conf`);
      const logFile = join(root, `kds-${tag}.log`);
      writeFileSync(
        confPath,
        JSON.stringify(
          engineConfig(
            { dirs: { ...dirs, state: join(root, `state-${tag}`) }, cert, emulator: { port: emulator.port, caPemPath: emulator.caPemPath } },
            // A share needs stable_ms above the client's attribute cache (smbnetfs: 1 s); the files are complete anyway.
            { system_id: `bench-smb-${randomUUID()}`, stable_ms: 1500, poll_interval_s: 1, log_file: logFile, log_format: 'json' },
          ),
        ),
      );
      const watcher = new DeliveryWatcher(dirs, 'k-');
      const sambaKds0 = samba.cpuSeconds();
      const t0 = Date.now();
      const proc = new KdsProcess(confPath, logFile, 100);
      try {
        await waitUntil(`kds run to deliver ${count} files on the share`, () => (proc.assertAlive(), watcher.count >= count), 900_000);
        watcher.sweep();
        const wallS = (watcher.lastAt() - t0) / 1000;
        const kdsCpu = proc.cpuMs() / 1000;
        const kdsSamba = samba.cpuSeconds() - sambaKds0;
        const rate = count / wallS;
        opts.log(`  kds run (verified copy): ${rate.toFixed(1)} files/s, ${wallS.toFixed(1)} s; kds CPU ${kdsCpu.toFixed(1)} s, Samba + smbnetfs CPU ${kdsSamba.toFixed(1)} s`);
        const mib = size >= MB ? ` (${((rate * size) / MB).toFixed(1)} vs ${((baseRate * size) / MB).toFixed(1)} MiB/s)` : '';
        figures.push({
          name: `SMB share, ${count} × ${label}: kds run vs the yardstick, same run`,
          value:
            `${(rate / baseRate).toFixed(2)}× (${rate.toFixed(1)} vs ${baseRate.toFixed(1)} files/s${mib}); ` +
            `CPU s: kds ${kdsCpu.toFixed(1)}, Samba+smbnetfs ${kdsSamba.toFixed(1)} (yardstick's run ${baseSamba.toFixed(1)})`,
        });
      } finally {
        watcher.close();
        await proc.stop().catch(() => undefined);
      }
    }
  } finally {
    await emulator?.stop();
    await samba.close();
    rmSync(root, { recursive: true, force: true });
  }
  return figures;
}
