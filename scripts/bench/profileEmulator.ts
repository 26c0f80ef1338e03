/*
 * Development aid for the embedded KATA: the yardstick (demoBaseline.mjs) against `kds emulate`
 * and, for the floor, against the minimal stand-in (minimalKata.mjs), on the same files; prints
 * each server's CPU per file. With PROFILE_DIR the emulator runs under --cpu-prof.
 *   npm run build && node --import tsx scripts/bench/profileEmulator.ts [COUNT] [SIZE_KIB] [PROFILE_DIR]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientCertFiles } from '../../test/helpers/engineConfig';
import { runBaseline } from './baseline';
import { EmulatorProcess } from './emulatorProcess';
import { MinimalKata } from './minimalKata';

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 2000);
  const size = Number(process.argv[3] ?? 1) * 1024;
  const profDir = process.argv[4];
  const root = mkdtempSync(join(tmpdir(), 'kds-prof-'));
  const dirs = { in: join(root, 'in'), out: join(root, 'out'), qrnt: join(root, 'qrnt') };
  for (const d of Object.values(dirs)) mkdirSync(d);
  const cert = await clientCertFiles(root, 'kds-prof');
  const fill = (prefix: string) => {
    for (let i = 0; i < count; i++) writeFileSync(join(dirs.in, `${prefix}${i}.bin`), randomBytes(size));
  };
  const emulator = await EmulatorProcess.start({
    dataDir: join(root, 'kata'),
    verdictDelayMs: 200,
    maxProcessing: 100_000,
    nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  });
  const minimal = await MinimalKata.start(root, { verdictMs: 200 });
  try {
    const report = async (name: string, server: EmulatorProcess | MinimalKata, prefix: string) => {
      fill(prefix);
      const c0 = server.cpuMs();
      const r = await runBaseline({ root, dirs, cert, emulator: server }, { prefix, count, pollIntervalS: 1, timeoutMs: 600_000 });
      const cpu = (server.cpuMs() - c0) / 1000;
      process.stdout.write(`${name}: ${(count / r.wallS).toFixed(0)} files/s (${r.wallS.toFixed(2)} s), server CPU ${cpu.toFixed(2)} s = ${((cpu / count) * 1000).toFixed(2)} ms a file\n`);
    };
    await report('kds emulate', emulator, 'e-');
    await report('minimal stand-in', minimal, 'n-');
  } finally {
    await minimal.stop();
    await emulator.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
void main();
