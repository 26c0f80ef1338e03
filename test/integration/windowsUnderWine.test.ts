import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { waitFor } from '../helpers/engineHarness';
import { ensureBuilt } from '../helpers/kdsProcess';
import { removeTree } from '../helpers/tempDirs';
import { bundleForWine, needWine, parseTap, repoRoot, runNodeExe, stopWineServer, wineDir, winePrefix, windowsPath } from '../helpers/wine';

/*
 * Windows, with the closest stand-in a Linux CI has: the Windows build of Node.js 20 under Wine
 * (scripts/setup-wine.sh). The engine's own suites and the Windows-only ones in test/wine/ are
 * bundled to plain JavaScript and run by node.exe; every test they hold becomes a test here.
 * docs/testing.md ("Windows under Wine") says what this does not prove.
 */

const suites = [
  'test/unit/journal.test.ts',
  'test/unit/engineParts.test.ts',
  'test/unit/delivery.test.ts',
  'test/unit/sourceRemoval.test.ts',
  'test/integration/engineVerdicts.test.ts',
  'test/integration/engineCrash.test.ts',
  'test/integration/engineSafety.test.ts',
  'test/integration/engineResilience.test.ts',
  'test/integration/engineSourceRemoval.test.ts',
  'test/integration/engineIntake.test.ts',
  'test/integration/engineFolders.test.ts',
  'test/integration/engineLimits.test.ts',
  'test/integration/engineApproval.test.ts',
  'test/integration/engineNames.test.ts',
  'test/integration/engineProcess.test.ts',
  'test/integration/engineStop.test.ts',
  'test/wine/windowsPlatform.wine.ts',
  'test/wine/windowsEngine.wine.ts',
  'test/wine/sshAgent.wine.ts',
];

/**
 * Tests of those suites that check POSIX facts Windows does not have (each has its Windows
 * counterpart in test/wine/ where one exists), or that Wine cannot stage. Not run under Wine.
 */
const posixOnly: Record<string, string> = {
  'delivers across file systems (EXDEV: /tmp → /dev/shm), replacing a file of the same name': 'permission bits 0640 and /dev/shm',
  'missing sources and symlinks are reported, not followed': 'Wine cannot make symbolic links (CreateSymbolicLink is a stub)',
  'odd names survive delivery: spaces, quotes, newline, Cyrillic, leading dash': 'quotes and newlines are names Windows forbids (windowsEngine.wine.ts)',
  'only regular files directly in input are scanned; other entries are ignored, logged once, left alone': 'FIFOs, sockets and symbolic links',
  'a file unchanged for stable_ms before the engine found it is sent without waiting again; a new one waits':
    'Windows lets a writer set a file\'s change time, so a backlog file waits stable_ms like a new one',
  'odd file names are delivered under exactly the same name': 'quotes and newlines are names Windows forbids (windowsEngine.wine.ts)',
  'a name that is not valid UTF-8 is ignored as bad-name, stays, and is logged once': 'Windows names are UTF-16',
  'a file nobody may read stays in input with an "unreadable" warning; the file next to it is routed': 'chmod 000 (Windows has ACLs; windowsEngine.wine.ts holds a file without sharing instead)',
  'kds run: JSON log lines with the scan fields, SIGHUP reopens a rotated log, SIGTERM stops cleanly': 'SIGHUP and SIGTERM',
  'kds run: text log lines carry the fields as key=value, and a newline in a file name stays on one line': 'a newline is a name Windows forbids',
  'a swapper racing symlinks, FIFOs and hard links to a secret into input for 20 s: no byte of the secret is uploaded or delivered, nothing hangs':
    'FIFOs and symbolic links (windowsEngine.wine.ts races hard links and file swaps)',
  "quarantine copies are 0600 and the service's own; output copies keep the permission bits": 'permission bits and owners',
  'a name the destination refuses (EINVAL on the final rename) is delivered under a name it takes, without pausing it':
    'a Windows program cannot create `?` in a name (windowsEngine.wine.ts covers names a share lists)',
};

test('the engine suites pass on the Windows build of Node.js (Wine)', { timeout: 30 * 60_000 }, async (t) => {
  if (!needWine(t)) return;
  ensureBuilt();
  // A UNC share and a drive letter for windowsEngine.wine.ts: Wine maps \\server\share through
  // dosdevices/unc/<server>/<share> and X: through dosdevices/x:.
  const shared = mkdtempSync(join(tmpdir(), 'kds-wine-unc-'));
  const driveDir = mkdtempSync(join(tmpdir(), 'kds-wine-drive-'));
  const server = join(winePrefix, 'dosdevices', 'unc', 'kds-wine');
  const share = `share-${process.pid}`;
  mkdirSync(server, { recursive: true });
  symlinkSync(shared, join(server, share));
  const letter = 'klmnopqrstuvwxy'.split('').find((l) => !existsSync(join(winePrefix, 'dosdevices', `${l}:`)))!;
  symlinkSync(driveDir, join(winePrefix, 'dosdevices', `${letter}:`));
  t.after(async () => {
    rmSync(join(server, share), { force: true });
    rmSync(join(winePrefix, 'dosdevices', `${letter}:`), { force: true });
    stopWineServer();
    await removeTree(shared);
    await removeTree(driveDir);
  });

  const [filter, ...bundles] = await bundleForWine(['test/wine/posixOnlyFilter.ts', ...suites]);
  const started = Date.now();
  const run = await runNodeExe(['--require', windowsPath(filter!), '--test', '--test-reporter=tap', '--test-concurrency=2', ...bundles.map(windowsPath)], {
    cwd: join(wineDir, 'bundles'),
    outFile: join(wineDir, 'last-run.tap'),
    timeoutMs: 25 * 60_000,
    env: {
      KDS_WINE_UNC: `\\\\kds-wine\\${share}`,
      KDS_WINE_DRIVE: `${letter.toUpperCase()}:\\`,
      KDS_WINE_POSIX_ONLY: JSON.stringify(Object.keys(posixOnly)),
      // node.exe takes seconds to start under Wine: longer lives between kills (engineCrash.test.ts).
      KDS_CRASH_SLOWDOWN: '3',
    },
  });
  const results = parseTap(run.output);
  const ran = results.filter((r) => !r.skipped);
  const leftOut = [...run.output.matchAll(/kds-wine-posix-only: (.*?)\r?$/gm)].map((m) => m[1]!);
  t.diagnostic(
    `node.exe under Wine: ${ran.length} tests in ${suites.length} files, ${ran.filter((r) => r.ok).length} passed, ${ran.filter((r) => !r.ok).length} failed, ` +
      `${leftOut.length} POSIX-only not run, ${((Date.now() - started) / 1000).toFixed(0)} s (TAP in .wine/last-run.tap)`,
  );
  for (const r of ran) {
    await t.test(`[Windows] ${r.name}`, () => {
      if (!r.ok) assert.fail(r.detail || 'failed under Wine');
    });
  }
  assert.equal(run.timedOut, false, 'node.exe finished in time');
  assert.ok(ran.length >= 60, `${ran.length} tests ran under Wine: ${run.output.slice(-2000)}`);
  assert.deepEqual(results.filter((r) => r.skipped).map((r) => r.name), [], 'nothing skipped');
  assert.deepEqual(Object.keys(posixOnly).filter((n) => !leftOut.includes(n)), [], 'every POSIX-only test still exists under that name');
  assert.equal(run.code, ran.every((r) => r.ok) ? 0 : 1);
});

test('kds demo on the Windows build of Node.js (Wine) sends EICAR to quarantine and a clean file to output', { timeout: 5 * 60_000 }, async (t) => {
  if (!needWine(t)) return;
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'kds-wine-demo-'));
  const outFile = join(dir, 'demo.out');
  t.after(async () => {
    stopWineServer();
    await removeTree(dir);
  });
  const demo = runNodeExe([windowsPath(join(repoRoot, 'bin', 'kds.js')), 'demo', '--dir', windowsPath(join(dir, 'demo')), '--port', '0'], {
    cwd: dir,
    outFile,
    timeoutMs: 4 * 60_000,
  });
  const output = () => (existsSync(outFile) ? readFileSync(outFile, 'utf8') : '');
  await waitFor('the demo to say it is running', () => output().includes('Press Ctrl-C') || /Error|EPERM/.test(output()), 120_000);
  assert.match(output(), /Press Ctrl-C/, output());
  const inDir = join(dir, 'demo', 'in');
  writeFileSync(join(inDir, 'eicar.com'), EICAR);
  writeFileSync(join(inDir, 'clean.txt'), 'a harmless text file\n');
  await waitFor('both routed', () => existsSync(join(dir, 'demo', 'qrnt', 'eicar.com')) && existsSync(join(dir, 'demo', 'out', 'clean.txt')), 60_000);
  assert.equal(readFileSync(join(dir, 'demo', 'qrnt', 'eicar.com'), 'latin1'), EICAR);
  assert.equal(readFileSync(join(dir, 'demo', 'out', 'clean.txt'), 'utf8'), 'a harmless text file\n');
  await waitFor('input emptied', () => readdirSync(inDir).length === 0, 30_000);
  assert.match(output(), /detect → quarantine/);
  assert.match(output(), /not detected → output/);
  stopWineServer();
  const end = await demo;
  t.diagnostic(`kds demo under Wine stopped (code ${end.code}, signal ${end.signal})`);
});
