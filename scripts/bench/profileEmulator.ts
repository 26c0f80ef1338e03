/*
 * Development aid: the baseline script against `kds emulate` alone, optionally with the
 * emulator under --cpu-prof, to see where the embedded KATA spends its time.
 *   node --import tsx scripts/bench/profileEmulator.ts [COUNT] [PROFILE_DIR]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { clientCertFiles } from '../../test/helpers/engineConfig';
import { runBaseline } from './baseline';
import { EmulatorProcess } from './emulatorProcess';

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 2000);
  const profDir = process.argv[3];
  const root = mkdtempSync(join(tmpdir(), 'kds-prof-'));
  const dirs = { in: join(root, 'in'), out: join(root, 'out'), qrnt: join(root, 'qrnt') };
  for (const d of Object.values(dirs)) mkdirSync(d);
  const emulator = await EmulatorProcess.start({
    dataDir: join(root, 'kata'),
    verdictDelayMs: 200,
    maxProcessing: 100_000,
    nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  });
  try {
    const cert = await clientCertFiles(root, 'kds-prof');
    for (let i = 0; i < count; i++) writeFileSync(join(dirs.in, `p-${i}.bin`), randomBytes(1024));
    const c0 = emulator.cpuMs();
    const { wallS, watcher } = await runBaseline({ root, dirs, cert, emulator }, { prefix: 'p-', count, pollIntervalS: 1, timeoutMs: 600_000 });
    process.stdout.write(`${count} files in ${wallS.toFixed(2)} s: ${(count / wallS).toFixed(0)} files/s; emulator CPU ${((emulator.cpuMs() - c0) / 1000).toFixed(2)} s; out ${watcher.list('out').length}\n`);
  } finally {
    await emulator.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
void main();
