import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KdsLogger, type LogRecord } from '../../src/common/log';
import { parseConfigText, originalTemplate } from '../../src/engine/config';
import { MetricsEndpoint } from '../../src/observability/metricsEndpoint';
import { observabilityChecks } from '../../src/observability/settingsChecks';
import { waitFor } from '../helpers/engineHarness';
import { freePort } from '../helpers/sshd';

function call(opts: { port?: number; socketPath?: string; path: string; method?: string }): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', method: opts.method ?? 'GET', ...opts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function endpoint(address: ConstructorParameters<typeof MetricsEndpoint>[0]['address'], ready = { ready: true, reasons: [] as string[] }) {
  const logs: LogRecord[] = [];
  const e = new MetricsEndpoint({
    address,
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    metrics: async () => 'kds_up 1\n',
    readiness: () => ready,
    logger: new KdsLogger({ sinks: [(r) => logs.push(r)] }),
    bindRetryMs: 50,
  });
  return { e, logs };
}

test('the endpoint: /metrics, /healthz, /readyz with its reasons, HEAD, 405 for other methods, 404 elsewhere', async () => {
  const port = await freePort();
  const ready = { ready: true, reasons: [] as string[] };
  const { e } = endpoint({ kind: 'tcp', host: '127.0.0.1', port }, ready);
  await e.start();
  try {
    const m = await call({ port, path: '/metrics' });
    assert.deepEqual([m.status, m.body, m.headers['content-type'], m.headers['cache-control']], [200, 'kds_up 1\n', 'text/plain; version=0.0.4; charset=utf-8', 'no-store']);
    assert.deepEqual((await call({ port, path: '/healthz' })).body, 'ok\n');
    assert.deepEqual((await call({ port, path: '/readyz?verbose' })).body, 'ready\n');
    Object.assign(ready, { ready: false, reasons: ['KATA has not answered yet', 'the engine is not running'] });
    const r = await call({ port, path: '/readyz' });
    assert.deepEqual([r.status, r.body], [503, 'not ready: KATA has not answered yet\nnot ready: the engine is not running\n']);
    const head = await call({ port, path: '/metrics', method: 'HEAD' });
    assert.deepEqual([head.status, head.body, head.headers['content-length']], [200, '', '9']);
    const post = await call({ port, path: '/metrics', method: 'POST' });
    assert.deepEqual([post.status, post.headers.allow], [405, 'GET, HEAD']);
    assert.equal((await call({ port, path: '/../etc/passwd' })).status, 404);
  } finally {
    await e.close();
  }
});

test('a port in use does not stop the service: logged once, bound as soon as it is free', async () => {
  const port = await freePort();
  const holder: Server = createServer();
  await new Promise<void>((r) => holder.listen(port, '127.0.0.1', () => r()));
  const { e, logs } = endpoint({ kind: 'tcp', host: '127.0.0.1', port });
  await e.start();
  assert.equal(e.listening, false);
  await waitFor('a few retries', () => logs.length >= 1);
  await new Promise<void>((r) => holder.close(() => r()));
  await waitFor('bound after the port was freed', () => e.listening, 10_000);
  assert.equal(logs.filter((l) => l.event === 'metrics-listen-failed').length, 1);
  assert.match(logs.find((l) => l.event === 'metrics-listening')!.msg, /now/);
  assert.equal((await call({ port, path: '/healthz' })).status, 200);
  await e.close();
});

test('a Unix socket is 0600 in a folder only root writes; a stale socket is replaced, a live one or another file is not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-metrics-sock-'));
  try {
    const path = join(dir, 'run', 'metrics.sock');
    const { e } = endpoint({ kind: 'unix', path });
    await e.start();
    assert.equal(lstatSync(path).mode & 0o777, 0o600);
    assert.equal((await call({ socketPath: path, path: '/healthz' })).body, 'ok\n');
    // A second instance on the same socket is refused (it is live), and says why.
    const second = endpoint({ kind: 'unix', path });
    await second.e.start();
    assert.equal(second.e.listening, false);
    assert.match(second.logs[0]!.msg, /in use by another process/);
    await second.e.close();
    await e.close();
    assert.throws(() => lstatSync(path), /ENOENT/, 'its own socket is removed at close');

    // A stale socket (its process killed before it could remove it) is replaced.
    spawnSync(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.ok(lstatSync(path).isSocket(), 'a stale socket is left behind');
    const again = endpoint({ kind: 'unix', path });
    await again.e.start();
    assert.equal(again.e.listening, true);
    assert.equal((await call({ socketPath: path, path: '/healthz' })).body, 'ok\n');
    await again.e.close();

    // Not a socket: left alone.
    writeFileSync(path, 'precious');
    const refused = endpoint({ kind: 'unix', path });
    await refused.e.start();
    assert.equal(refused.e.listening, false);
    assert.match(refused.logs[0]!.msg, /exists and is not a socket; it was left alone/);
    await refused.e.close();
    rmSync(path);

    // A folder others may write: refused.
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const unsafe = endpoint({ kind: 'unix', path: join(open, 'metrics.sock') });
    await unsafe.e.start();
    assert.equal(unsafe.e.listening, false);
    assert.match(unsafe.logs[0]!.msg, /may be written by other users \(mode 777\)/);
    await unsafe.e.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kds check reports the endpoint and the SIEM: free, taken by another program or by KDS; reachable, refused, TLS unverifiable, UDP unknowable', async () => {
  const SID = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const conf = (over: Record<string, unknown>) => parseConfigText(JSON.stringify({ ...originalTemplate, system_id: SID, ...over }), '/opt/kata-dir-scanner/kata_dir_scanner.conf').config;
  const port = await freePort();
  const byId = async (over: Record<string, unknown>) => Object.fromEntries((await observabilityChecks(conf(over), { timeoutMs: 2000 })).map((i) => [i.id, i]));

  assert.deepEqual(await observabilityChecks(conf({})), []);
  const free = (await byId({ metrics_listen: String(port) })).metrics_listen!;
  assert.deepEqual([free.status, free.title], ['ok', `metrics_listen 127.0.0.1:${port} is free: /metrics, /healthz and /readyz will be served there`]);
  assert.equal((await byId({ metrics_listen: `0.0.0.0:${port}` })).metrics_listen!.status, 'warn');

  const other: Server = createServer((s) => s.resume().end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'));
  await new Promise<void>((r) => other.listen(port, '127.0.0.1', () => r()));
  const taken = (await byId({ metrics_listen: String(port) })).metrics_listen!;
  assert.deepEqual([taken.status, taken.title], ['fail', `metrics_listen 127.0.0.1:${port} is in use by another program`]);
  await new Promise<void>((r) => other.close(() => r()));
  const { e } = endpoint({ kind: 'tcp', host: '127.0.0.1', port });
  await e.start();
  assert.equal((await byId({ metrics_listen: String(port) })).metrics_listen!.status, 'ok');
  assert.match((await byId({ metrics_listen: String(port) })).metrics_listen!.title, /served by a running KDS/);
  await e.close();
  assert.equal((await byId({ metrics_listen: '192.0.2.123:9464' })).metrics_listen!.status, 'fail');

  // SIEM: a listener accepts; nothing listening refuses; TLS against a plain listener cannot verify.
  const siem: Server = createServer((s) => s.resume());
  await new Promise<void>((r) => siem.listen(0, '127.0.0.1', () => r()));
  const siemPort = (siem.address() as { port: number }).port;
  const ok = (await byId({ siem: { host: '127.0.0.1', port: siemPort } })).siem!;
  assert.deepEqual([ok.status, ok.title], ['ok', `SIEM 127.0.0.1:${siemPort} accepts a TCP connection`]);
  const tls = (await byId({ siem: { host: '127.0.0.1', port: siemPort, transport: 'tls' } })).siem!;
  assert.equal(tls.status, 'fail');
  assert.match(tls.title, /cannot be reached over tls/);
  await new Promise<void>((r) => siem.close(() => r()));
  const refused = (await byId({ siem: { host: '127.0.0.1', port: siemPort } })).siem!;
  assert.equal(refused.status, 'fail');
  assert.match(refused.title, /ECONNREFUSED/);
  assert.match(refused.details.join('\n'), /queue \(at most 10000\)/);
  const udp = (await byId({ siem: { host: '127.0.0.1', transport: 'udp' } })).siem!;
  assert.equal(udp.status, 'warn');
  const badCa = (await byId({ siem: { host: '127.0.0.1', transport: 'tls', ca: '/nonexistent/ca.pem' } })).siem!;
  assert.deepEqual([badCa.status, badCa.title.startsWith('siem.ca /nonexistent/ca.pem cannot be used')], ['fail', true]);
  const badHost = (await byId({ siem: { host: 'no-such-host.invalid' } })).siem!;
  assert.match(badHost.title, /cannot be resolved/);
});
