import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { Server as TlsServer, createServer as createTlsServer } from 'node:tls';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after } from 'node:test';
import { runIcap } from '../../src/cli/icapCommand';
import { type CommandIo, UsageError } from '../../src/cli/command';
import type { ProbeReport } from '../../src/icap/icapProbe';
import { freePort, requireTool, startCIcap, tools } from '../helpers/icapKitPeers';
import { ensureTlsMaterial } from '../../src/emulator/tlsMaterial';
import { tempDir } from '../helpers/tempDirs';
import { KdsLogger } from '../../src/common/log';
import { startEmulator } from '../../src/emulator/server';
import type { IcapMode } from '../../src/emulator/icapServiceLog';
import { PROBE_REPORT_NAME, loadProbeReport } from '../../src/icap/probeReportFile';
import { spawn } from 'node:child_process';
import { ensureBuilt, kdsBin } from '../helpers/kdsProcess';

// The probe keeps its latest report for the support request: here, in a private folder.
const stateHome = tempDir('kds-probe-state-');
process.env.XDG_STATE_HOME = stateHome;

async function probe(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return raw(['probe', ...argv]);
}

async function raw(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CommandIo = { out: (s) => void (out += s), err: (s) => void (err += s) };
  try {
      const code = await runIcap(argv, io);
      return { code, out, err };
    } catch (e) {
      assert.ok(e instanceof UsageError, String(e));
      return { code: 2, out, err: err + (e as Error).message };
    }
  }

  async function probeJson(argv: string[]): Promise<{ code: number; report: ProbeReport }> {
    const r = await probe([...argv, '--json']);
    return { code: r.code, report: JSON.parse(r.out) as ProbeReport };
  }

  /** Listens on a free loopback port; after the test, its open connections are cut and it is closed. */
  async function listen(server: Server): Promise<number> {
    const sockets = new Set<Socket>();
    server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', (s: Socket) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    });
    return (server.address() as AddressInfo).port;
  }

  test('probe reads every OPTIONS field of real c-icap and round-trips RESPMOD and REQMOD (echo service)', async (t) => {
    if (!requireTool(t, tools.CICAP, 'c-icap')) return;
    const cicap = await startCIcap();
    const { code, report } = await probeJson([`icap://127.0.0.1:${cicap.port}/echo`, '--eicar']);
    assert.equal(code, 0, JSON.stringify(report.conclusion));
    const opt = report.steps[0]!;
    assert.equal(opt.status, 200);
    assert.equal(opt.options!.methods, 'RESPMOD, REQMOD');
    assert.match(opt.options!.istag!, /^"CI0001/);
    assert.match(opt.options!.service!, /C-ICAP\/[\d.]+ server - Echo demo service/);
    assert.equal(opt.options!.preview, 1024);
    assert.equal(opt.options!.transferPreview, '*');
    assert.equal(opt.options!.allow204, true);
    assert.equal(opt.options!.encapsulated, 'null-body=0');
    assert.ok(opt.options!.optionsTtl! > 0);
    assert.deepEqual(
      report.steps.map((s) => [s.name, s.status]),
      [
        ['options', 200],
        ['respmod-clean', opt.status === 200 ? report.steps[1]!.status : 0],
        ['respmod-eicar', report.steps[2]!.status],
        ['reqmod-get', 204],
        ['reqmod-post-eicar', report.steps[4]!.status],
      ],
    );
    // The echo service never blocks: the clean body comes back whole (after 100 Continue) or as 204.
    for (const s of report.steps.slice(1)) assert.ok(s.modification === 'unchanged-echo' || s.modification === 'unchanged-204', `${s.name}: ${s.modification}`);
    const clean = report.steps[1]!;
    assert.equal(clean.continued, true, 'the 2688-byte body is longer than the 1024-byte preview: 100 Continue expected');
    assert.equal(report.steps[2]!.ieof, true, 'EICAR fits the preview: ieof');
    assert.equal(report.conclusion.kind, 'does-not-block');
    // One connection for all the transactions, as a proxy would.
    assert.deepEqual(report.steps.map((s) => s.newConnection), [true, false, false, false, false]);
    // c-icap's access log is the ground truth for what happened on the wire.
    const access = readFileSync(cicap.accessLog, 'utf8').trim().split('\n');
    assert.deepEqual(
      access.map((l) => l.split(' ').slice(-3).join(' ')),
      ['OPTIONS echo 200', `RESPMOD echo ${clean.status}`, `RESPMOD echo ${report.steps[2]!.status}`, 'REQMOD echo 204', `REQMOD echo ${report.steps[4]!.status}`],
    );
  });

  test('probe against c-icap configured with a 1-byte preview', async (t) => {
    if (!requireTool(t, tools.CICAP, 'c-icap')) return;
    const cicap = await startCIcap(['echo.PreviewSize 1', 'echo.MaxConnections 5']);
    const r = await probe([`icap://127.0.0.1:${cicap.port}/echo`]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /Preview\s+1\n/);
    assert.match(r.out, /Max-Connections 5 is low/);
    assert.match(r.out, /preview 1 bytes, 100 Continue/);
    assert.match(r.out, /Conclusion: icap:\/\/127\.0\.0\.1:\d+\/echo: reachable/);
    const { report } = await probeJson([`icap://127.0.0.1:${cicap.port}/echo`, '--no-preview']);
    assert.equal(report.steps[1]!.previewBytes, undefined);
    assert.match(report.steps[1]!.modification, /^unchanged/);
    assert.equal(report.steps[1]!.continued, false);
  });

  test('an unknown service is "service not found" (404) and exit 1; discover lists echo', async (t) => {
    if (!requireTool(t, tools.CICAP, 'c-icap')) return;
    const cicap = await startCIcap();
    const r = await probe([`icap://127.0.0.1:${cicap.port}/no-such-service`]);
    assert.equal(r.code, 1);
    assert.match(r.out, /service not found \(ICAP 404\)/);
    const d = await probe(['--discover', `127.0.0.1:${cicap.port}`]);
    assert.equal(d.code, 0, d.out);
    assert.match(d.out, new RegExp(`Services that answer OPTIONS:\\n  icap://127\\.0\\.0\\.1:${cicap.port}/echo  \\(RESPMOD, REQMOD\\)`));
    assert.match(d.out, /· av\/respmod\s+ICAP 404/);
  });

  test('failures give one clear line and exit 1, never a stack trace', async () => {
    // Connection refused: a port nobody listens on.
    const closedPort = await freePort();
    let r = await probe([`icap://127.0.0.1:${closedPort}/respmod`, '--timeout', '5']);
    assert.equal(r.code, 1);
    assert.match(r.out, /unreachable: connection refused by 127\.0\.0\.1:\d+/);

    assert.match(r.out, /\nNext step: Nothing accepts connections on 127\.0\.0\.1:\d+: check that ICAP integration is enabled/);

    // An HTTP server on the ICAP port (Node's answers "HTTP/1.1 400 Bad Request" to an ICAP request line).
    const http = createHttpServer((_req, res) => res.end('hello'));
    const httpPort = await listen(http);
    r = await probe([`icap://127.0.0.1:${httpPort}/respmod`, '--timeout', '5']);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`Conclusion \\(failure\\): icap://127\\.0\\.0\\.1:${httpPort}/respmod: 127\\.0\\.0\\.1:${httpPort} is an HTTP server, not an ICAP service \\(it answered “HTTP/1\\.1 400 Bad Request”\\)\n`));
    assert.match(r.out, /\nNext step: KATA's ICAP service is plain ICAP on port 1344: check the address, the port and the scheme icap:\/\/ in the proxy's icap_service line\./);
    assert.equal(r.out.match(/not an ICAP/g)?.length, 1, 'said once');

    // An HTTP server that answers an unknown protocol with a bare HTML page (Python's http.server, HTTP/0.9 style).
    const html = createServer((s) => s.end('<!DOCTYPE HTML>\n<html lang="en">\n<head><title>Error response</title></head></html>\n'));
    r = await probe([`icap://127.0.0.1:${await listen(html)}/respmod`, '--timeout', '5']);
    assert.equal(r.code, 1);
    assert.match(r.out, /is an HTTP server, not an ICAP service \(it answered “<!DOCTYPE HTML>”\)/);
    assert.doesNotMatch(r.out, /\\n/, 'no escaped newline in the conclusion');
    assert.match(r.out, /Next step: KATA's ICAP service is plain ICAP on port 1344/);

    // TLS where plain ICAP was expected: an HTTPS server (KATA's console or API on 8443) or an icaps-only server.
    const material = await ensureTlsMaterial(tempDir('kds-icap-tls-'), '127.0.0.1', new KdsLogger({ sinks: [] }));
    const tls = createTlsServer({ key: material.key, cert: material.cert });
    tls.on('tlsClientError', () => undefined);
    r = await probe([`icap://127.0.0.1:${await listen(tls)}/respmod`, '--timeout', '5']);
    assert.equal(r.code, 1);
    assert.match(r.out, /speaks TLS: it is an HTTPS server — KATA's web console or scanner API, for example — or an ICAP-over-TLS \(icaps:\/\/\) service\n/);
    assert.match(r.out, /Next step: KATA's ICAP service is plain ICAP on port 1344, not TLS/);

    // A server that accepts and never answers.
    const silent = createServer(() => undefined);
    r = await probe([`icap://127.0.0.1:${await listen(silent)}/respmod`, '--timeout', '1']);
    assert.equal(r.code, 1);
    assert.match(r.out, /timed out: .*accepted the connection but sent no answer within 1 s/);

    // A half-open port: accepts, then closes without a word.
    const closer = createServer((s) => s.destroy());
    r = await probe([`icap://127.0.0.1:${await listen(closer)}/respmod`, '--timeout', '5']);
    assert.equal(r.code, 1);
    assert.match(r.out, /closed the connection without answering|reset the connection/);

    // Something that is neither ICAP nor HTTP.
    const garbage = createServer((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n'));
    r = await probe([`icap://127.0.0.1:${await listen(garbage)}/respmod`, '--timeout', '5']);
    assert.equal(r.code, 1);
    assert.match(r.out, /is not an ICAP service: it answered “SSH-2\.0-OpenSSH_9\.2”\n/);
    assert.match(r.out, /Next step: Another service listens on that port\./);

    for (const out of [r.out, r.err]) assert.doesNotMatch(out, /\n\s+at /);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await probe([])).code, 2);
    assert.equal((await probe(['http://x/y'])).code, 2);
    assert.equal((await probe(['icap://x/y', '--preview', 'ten'])).code, 2);
    assert.equal((await probe(['icap://x/y', '--preview', '5', '--no-preview'])).code, 2);
    assert.equal((await probe(['icap://x/y', '--discover', 'x'])).code, 2);
    assert.equal((await raw(['frobnicate'])).code, 2);
  });

  test('the embedded KATA: the probe names its mode, tells blocking_simple from blocking_advanced, and reports an object let through after the verdict wait', async () => {
    const dataDir = tempDir('kds-probe-emu-');
    // The slow verdict takes 10 × 100 ms; blocking_advanced waits 300 ms for it.
    const emu = await startEmulator({ dataDir, port: 0, icapPort: 0, verdictDelayMs: 100, icapAdvancedWaitMs: 300 });
  try {
    const url = emu.icap!.respmodUrl;
    const slowFile = `${dataDir}/slow.bin`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(slowFile, 'KDS-TEST-SLOW a document whose verdict takes long\n');
    const conclusions: Partial<Record<IcapMode, string>> = {};
    for (const mode of ['monitoring', 'blocking_simple', 'blocking_advanced'] as const) {
      emu.icap!.setMode(mode, 'test');
      const r = await probe([url, '--eicar']);
      conclusions[mode] = r.out;
      assert.match(r.out, new RegExp(`— the server says it is in ${mode} mode`), r.out);
    }
    assert.match(conclusions.monitoring!, /Conclusion: .*: EICAR was not blocked — the server says it is in monitoring mode\nNext step: Expected in monitoring mode/);
    assert.match(conclusions.blocking_simple!, /detects EICAR and blocks it \(HTTP 403\) — the server says it is in blocking_simple mode \(standard real-time scanning/);
    assert.match(conclusions.blocking_advanced!, /detects EICAR and blocks it \(HTTP 403\) — the server says it is in blocking_advanced mode \(extended real-time scanning/);

    // A slow verdict in blocking_advanced: let through after the wait, and said so — not "reachable".
    const slow = await probeJson([url, '--file', slowFile]);
    assert.equal(slow.report.conclusion.kind, 'passed-after-wait', JSON.stringify(slow.report.conclusion));
    assert.equal(slow.report.mode, 'blocking_advanced');
    const step = slow.report.steps.find((s) => s.name === 'respmod-file')!;
    assert.ok(step.waitedOutMs! >= 300, String(step.waitedOutMs));
    assert.match(slow.report.conclusion.text, /RESPMOD: HTTP response with slow\.bin: the object was let through because the verdict wait expired after \d+ ms \(blocking_advanced mode\), not because it is clean/);
    // In blocking_simple the same object passes at once: no wait expired, nothing to report beyond reachable.
    emu.icap!.setMode('blocking_simple', 'test');
    const simple = await probeJson([url, '--file', slowFile]);
    assert.equal(simple.report.conclusion.kind, 'reachable');

    // The probe's requests are in preprocessor_icap.log under its run (the Show in ICAP Log filter).
    const log = readFileSync(emu.icap!.logPath, 'utf8');
    assert.ok(log.split('\n').some((l) => l.includes(`kds-probe.invalid/r-${simple.report.run}/`) && l.includes('accepted in blocking_simple mode')), 'the run is in the logged URLs');
  } finally {
    await emu.close();
  }
});

test('--method reqmod probes REQMOD only (a file of one\'s own as a POST, from standard input too); the report is kept for the support request', async () => {
  const dataDir = tempDir('kds-probe-emu2-');
  const emu = await startEmulator({ dataDir, port: 0, icapPort: 0, verdictDelayMs: 20 });
  try {
    const reqmodUrl = emu.icap!.respmodUrl.replace(/respmod$/, 'reqmod');
    const file = `${dataDir}/form.txt`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, 'name=value\n');
    const { code, report } = await probeJson([reqmodUrl, '--method', 'reqmod', '--file', file]);
    assert.equal(code, 0, JSON.stringify(report.conclusion));
    assert.deepEqual(report.steps.map((s) => s.name), ['options', 'reqmod-get', 'reqmod-post-file']);
    // RESPMOD asked of the REQMOD service: the server's 405, and what to do about it.
    const wrong = await probeJson([reqmodUrl, '--method', 'respmod']);
    assert.equal(wrong.report.conclusion.kind, 'method-not-allowed');
    assert.match(wrong.report.conclusion.next, /pair respmod_precache with the RESPMOD path/);
    const saved = await loadProbeReport(`${stateHome}/kds/${PROBE_REPORT_NAME}`);
    assert.equal(saved?.run, wrong.report.run, 'the latest report is kept');
    await probe([reqmodUrl, '--no-save']);
    assert.equal((await loadProbeReport(`${stateHome}/kds/${PROBE_REPORT_NAME}`))?.run, wrong.report.run, '--no-save keeps the previous one');
    assert.equal((await probe([reqmodUrl, '--method', 'options'])).code, 2);
    // A file from standard input (how VS Code sends one to the probe on a Central Node).
    ensureBuilt();
    // Spawned, not spawnSync: the embedded KATA answers from this process's event loop.
    const child = spawn(process.execPath, [kdsBin, 'icap', 'probe', reqmodUrl, '--method', 'reqmod', '--file', '-', '--file-name', 'upload.txt', '--json', '--no-save'], { stdio: ['pipe', 'pipe', 'inherit'], timeout: 60_000 });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stdin.end('from standard input\n');
    await new Promise((r) => child.on('close', r));
    const fromStdin = JSON.parse(stdout) as ProbeReport;
    assert.equal(fromStdin.steps.find((x) => x.name === 'reqmod-post-file')?.title, 'REQMOD: POST carrying upload.txt');
    assert.match(readFileSync(emu.icap!.logPath, 'utf8'), new RegExp(`REQMOD request from \\S+ url=http://kds-probe\\.invalid/r-${fromStdin.run}/upload/upload\\.txt accepted`));
  } finally {
    await emu.close();
  }
});
