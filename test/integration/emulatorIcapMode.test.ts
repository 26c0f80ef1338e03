/**
 * Issue 23 point 7: the embedded KATA's ICAP mode is switched from outside the browser console —
 * `kds emulate mode` in another process, VS Code through RunningEmulator.setIcapMode — and the
 * mode switched last is the one the next start uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { startEmulator } from '../../src/emulator/server';
import { tempDataDir } from '../helpers/emulatorClient';
import { runKds } from '../helpers/kdsProcess';

test('kds emulate mode: shows and switches the mode of the emulator running on DIR; a stopped one starts in it', async (t) => {
  const dataDir = await tempDataDir();
  let emu = await startEmulator({ dataDir, port: 0, icapPort: 0 });
  t.after(async () => {
    await emu.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  assert.equal(emu.icap!.mode(), 'blocking_simple');

  let shown = await runKds(['emulate', 'mode', '--data', dataDir]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`^blocking_simple \\(the emulator running on .*, pid ${process.pid}\\)`));

  const set = await runKds(['emulate', 'mode', 'blocking_advanced', '--data', dataDir]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /ICAP mode is now blocking_advanced\./);
  // Confirmed by the running emulator itself, not just written down.
  assert.equal(emu.icap!.mode(), 'blocking_advanced');
  assert.match(readFileSync(emu.icap!.logPath, 'utf8'), /ICAP scan mode changed from blocking_simple to blocking_advanced by kds emulate mode/);

  // VS Code's way (and the console's): in-process, recorded for the CLI and the next start.
  await emu.setIcapMode('monitoring', 'VS Code');
  shown = await runKds(['emulate', 'mode', '--data', dataDir]);
  assert.match(shown.stdout, /^monitoring \(the emulator running/);

  const bad = await runKds(['emulate', 'mode', 'blocking', '--data', dataDir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /"blocking" is not an ICAP mode; use one of monitoring, blocking_simple, blocking_advanced/);
  assert.equal(emu.icap!.mode(), 'monitoring');

  await emu.close();
  const saved = await runKds(['emulate', 'mode', 'blocking_advanced', '--data', dataDir]);
  assert.equal(saved.code, 0, saved.stderr);
  assert.match(saved.stdout, /No emulator runs on .*: it starts in blocking_advanced mode\./);
  emu = await startEmulator({ dataDir, port: 0, icapPort: 0 });
  assert.equal(emu.icap!.mode(), 'blocking_advanced');
  await emu.close();
  // An explicit --icap-mode wins, and is what the data folder says from then on.
  emu = await startEmulator({ dataDir, port: 0, icapPort: 0, icapMode: 'monitoring' });
  assert.equal(emu.icap!.mode(), 'monitoring');
  shown = await runKds(['emulate', 'mode', '--data', dataDir]);
  assert.match(shown.stdout, /^monitoring \(the emulator running/);
});
