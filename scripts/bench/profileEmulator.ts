/*
 * Development aid for the embedded KATA: the yardstick (demoBaseline.mjs) against `kds emulate`
 * and, for the ceiling, against a server that does nothing (nullKata.ts), on the same files.
 * With PROFILE_DIR the emulator runs under --cpu-prof.
 *   npm run build && node --import tsx scripts/bench/profileEmulator.ts [COUNT] [PROFILE_DIR]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientCertFiles } from '../../test/helpers/engineConfig';
import { runBaseline } from './baseline';
import { EmulatorProcess } from './emulatorProcess';
import { startNullKata } from './nullKata';

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 2000);
  const profDir = process.argv[3];
  const root = mkdtempSync(join(tmpdir(), 'kds-prof-'));
  const dirs = { in: join(root, 'in'), out: join(root, 'out'), qrnt: join(root, 'qrnt') };
  for (const d of Object.values(dirs)) mkdirSync(d);
  const cert = await clientCertFiles(root, 'kds-prof');
  const fill = (prefix: string) => {
    for (let i = 0; i < count; i++) writeFileSync(join(dirs.in, `${prefix}${i}.bin`), randomBytes(1024));
  };
  const emulator = await EmulatorProcess.start({
    dataDir: join(root, 'kata'),
    verdictDelayMs: 200,
    maxProcessing: 100_000,
    nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  });
  const nullKata = await startNullKata(root);
  try {
    fill('e-');
    const c0 = emulator.cpuMs();
    const e = await runBaseline({ root, dirs, cert, emulator }, { prefix: 'e-', count, pollIntervalS: 1, timeoutMs: 600_000 });
    const cpu = (emulator.cpuMs() - c0) / 1000;
    fill('n-');
    const n = await runBaseline({ root, dirs, cert, emulator: nullKata }, { prefix: 'n-', count, pollIntervalS: 1, timeoutMs: 600_000 });
    process.stdout.write(
      `kds emulate: ${(count / e.wallS).toFixed(0)} files/s (${e.wallS.toFixed(2)} s, emulator CPU ${cpu.toFixed(2)} s = ${((cpu / count) * 1000).toFixed(2)} ms a file)\n` +
        `do-nothing server: ${(count / n.wallS).toFixed(0)} files/s (${n.wallS.toFixed(2)} s)\n`,
    );
  } finally {
    nullKata.close();
    await emulator.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
void main();
