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

  // An HTTP server on the ICAP port.
  const http = createHttpServer((_req, res) => res.end('hello'));
  r = await probe([`icap://127.0.0.1:${await listen(http)}/respmod`, '--timeout', '5']);
  assert.equal(r.code, 1);
  assert.match(r.out, /not an ICAP server: .* is an HTTP server, not an ICAP server/);

  // TLS where plain ICAP was expected (an icaps-only server).
  const material = await ensureTlsMaterial(tempDir('kds-icap-tls-'), '127.0.0.1', new KdsLogger({ sinks: [] }));
  const tls = createTlsServer({ key: material.key, cert: material.cert });
  tls.on('tlsClientError', () => undefined);
  r = await probe([`icap://127.0.0.1:${await listen(tls)}/respmod`, '--timeout', '5']);
  assert.equal(r.code, 1);
  assert.match(r.out, /(answered with|speaks) TLS: it expects ICAP over TLS \(icaps:\/\/\)/);

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
  assert.match(r.out, /is not an ICAP server: it answered "SSH-2\.0/);

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
