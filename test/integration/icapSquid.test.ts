import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server';
import type { IcapMode } from '../../src/emulator/icapServiceLog';
import { probeEicar } from '../../src/icap/probeSamples';
import { requireTool, startOrigin, startSquid, tools } from '../helpers/icapKitPeers';
import { tempDir } from '../helpers/tempDirs';

/** GET through the proxy with curl (a test tool here, never in the product); body and status. */
function curlViaProxy(proxyPort: number, url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-s', '--max-time', '60', '-x', `http://127.0.0.1:${proxyPort}`, '-o', '-', '-w', '\n%{http_code}', url],
      { encoding: 'buffer', maxBuffer: 64 << 20 },
      (err, stdout) => {
        if (err && !stdout?.length) return reject(err);
        const out = stdout as Buffer;
        const nl = out.lastIndexOf(0x0a);
        resolve({ status: Number(out.subarray(nl + 1).toString()), body: out.subarray(0, nl) });
      },
    );
  });
}

test('Squid as the ICAP client of the embedded KATA: clean passes byte for byte, EICAR per mode, greppable log', async (t) => {
  if (!requireTool(t, tools.SQUID, 'squid')) return;
  if (!requireTool(t, '/usr/bin/curl', 'curl')) return;
  let emu: RunningEmulator | undefined;
  after(() => emu?.close());
  const dataDir = tempDir('kds-squid-kata-');
  emu = await startEmulator({ dataDir, port: 0, icapPort: 0, verdictDelayMs: 20 });
  const icap = emu.icap!;
  const cleanFile = randomBytes(300 * 1024); // larger than any preview: exercises 100 Continue
  const origin = await startOrigin({ '/clean.bin': cleanFile, '/eicar.com': probeEicar() });
  const squid = await startSquid(icap.respmodUrl);
  const base = `http://127.0.0.1:${origin.port}`;
  const grep = (needle: string) => readFileSync(icap.logPath, 'utf8').split('\n').filter((l) => l.includes(needle)).length;

  for (const mode of ['monitoring', 'blocking_simple', 'blocking_advanced'] as IcapMode[]) {
    icap.setMode(mode, 'test');
    const before = { mode: grep(`accepted in ${mode} mode`), verdict: grep('verdict'), detected: grep('verdict=detected') };
    const clean = await curlViaProxy(squid.port, `${base}/clean.bin`);
    assert.equal(clean.status, 200, `${mode}: clean file`);
    assert.ok(clean.body.equals(cleanFile), `${mode}: the clean file arrives byte for byte`);
    const eicar = await curlViaProxy(squid.port, `${base}/eicar.com`);
    if (mode === 'monitoring') {
      assert.equal(eicar.status, 200);
      assert.ok(eicar.body.equals(probeEicar()), 'monitoring never changes traffic');
    } else {
      assert.equal(eicar.status, 403, `${mode}: EICAR is replaced by the block page`);
      assert.match(eicar.body.toString(), /Threat: <b>EICAR-Test-File<\/b>/);
    }
    // One RESPMOD per download, each with a body to scan; one detection.
    assert.equal(grep(`accepted in ${mode} mode`) - before.mode, 2, `${mode}: grep '${mode} mode'`);
    assert.equal(grep('verdict') - before.verdict, 2, `${mode}: grep verdict`);
    assert.equal(grep('verdict=detected') - before.detected, 1);
    const detectedLine = readFileSync(icap.logPath, 'utf8').split('\n').filter((l) => l.includes('verdict=detected')).at(-1)!;
    assert.match(detectedLine, mode === 'monitoring' ? /action=passed/ : /action=blocked/);
  }
  // Squid's own log agrees: it reached the service and got its answers.
  const squidAccess = readFileSync(squid.accessLog, 'utf8');
  assert.match(squidAccess, /TCP_MISS\/403/);
  assert.equal(emu.icap!.stats().parseErrors, 0);
});
