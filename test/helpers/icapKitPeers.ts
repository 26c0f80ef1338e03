import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';
import { tempDir } from './tempDirs';

/**
 * Real ICAP peers on 127.0.0.1 for the ICAP kit tests (icapProbe, icapServer, icapSquid; the capture
 * tests have their own in icapPeers.ts): c-icap (a reference ICAP server, with its echo
 * service) and Squid (a reference ICAP client). Recipe: /work/shared/reference/icap-peers-on-loopback.md.
 */

const CICAP = '/usr/bin/c-icap';
const SQUID = '/usr/sbin/squid';

/** Skips the test when the tool is missing; under CI=true a missing tool fails it instead. */
export function requireTool(t: TestContext, path: string, pkg: string): boolean {
  if (existsSync(path)) return true;
  const msg = `${path} is missing: install the Debian package ${pkg} (scripts/install-system-deps.sh does it as root)`;
  if (process.env.CI === 'true') throw new Error(msg);
  t.skip(msg);
  return false;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Waits (bounded) until something accepts TCP connections on the port. */
export async function waitForPort(port: number, what: string, child?: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops a child by its pid and waits (bounded) for it to exit. */
export async function stopChild(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export interface CIcapServer {
  port: number;
  dir: string;
  accessLog: string;
  stop(): Promise<void>;
}

/** c-icap in the foreground on 127.0.0.1 with the stock echo service; `echoConf` adds echo.* lines. */
export async function startCIcap(echoConf: string[] = []): Promise<CIcapServer> {
  const dir = tempDir('kds-cicap-');
  const port = await freePort();
  const stock = readFileSync('/etc/c-icap/c-icap.conf', 'utf8');
  const drop = /^\s*(Port|PidFile|CommandsSocket|User|Group|ServerLog|AccessLog|StartServers|MaxServers)\b/;
  const conf = [
    ...stock.split('\n').filter((l) => !drop.test(l)),
    `Port 127.0.0.1:${port}`,
    `PidFile ${dir}/c-icap.pid`,
    `CommandsSocket ${dir}/c-icap.ctl`,
    'User root',
    'Group root',
    'StartServers 1',
    'MaxServers 2',
    `ServerLog ${dir}/server.log`,
    `AccessLog ${dir}/access.log`,
    ...echoConf,
  ].join('\n');
  writeFileSync(join(dir, 'c-icap.conf'), conf);
  const child = spawn(CICAP, ['-N', '-f', join(dir, 'c-icap.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const stop = () => stopChild(child);
  after(stop);
  try {
    await waitForPort(port, 'c-icap', child);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output}`);
  }
  return { port, dir, accessLog: join(dir, 'access.log'), stop };
}

export interface SquidProxy {
  port: number;
  dir: string;
  accessLog: string;
  cacheLog: string;
  stop(): Promise<void>;
}

/** squid.conf for a Squid on 127.0.0.1:`port` keeping everything under `dir`, sending RESPMOD (and optionally REQMOD) with preview. */
export function squidConfig(dir: string, port: number, respmodUri: string, opts: { reqmodUri?: string; previewSize?: number } = {}): string {
  return [
    `http_port 127.0.0.1:${port}`,
    `pid_filename ${dir}/squid.pid`,
    `access_log stdio:${dir}/squid-access.log`,
    `cache_log ${dir}/squid-cache.log`,
    'cache deny all',
    'cache_mem 8 MB',
    `coredump_dir ${dir}`,
    'dns_nameservers 127.0.0.1',
    'shutdown_lifetime 1 second',
    'acl localnet src 127.0.0.1/32',
    'http_access allow localnet',
    'http_access deny all',
    'icap_enable on',
    'icap_preview_enable on',
    `icap_preview_size ${opts.previewSize ?? 1024}`,
    'icap_persistent_connections on',
    `icap_service svc_resp respmod_precache bypass=0 ${respmodUri}`,
    'adaptation_access svc_resp allow all',
    ...(opts.reqmodUri ? [`icap_service svc_req reqmod_precache bypass=0 ${opts.reqmodUri}`, 'adaptation_access svc_req allow all'] : []),
    `icap_log ${dir}/icap.log icap_squid`,
  ].join('\n');
}

/** Squid on 127.0.0.1 with `icapUri` as its essential RESPMOD (and optional REQMOD) service. */
export async function startSquid(respmodUri: string, opts: { reqmodUri?: string; previewSize?: number } = {}): Promise<SquidProxy> {
  const dir = tempDir('kds-squid-');
  // Squid drops privileges to "proxy": it must be able to write its logs and pid here.
  chmodSync(dir, 0o777);
  const port = await freePort();
  const conf = squidConfig(dir, port, respmodUri, opts);
  writeFileSync(join(dir, 'squid.conf'), conf);
  // A fresh Squid needs its (empty) cache structures; with "cache deny all" there are none to make.
  const child = spawn(SQUID, ['-N', '-f', join(dir, 'squid.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const stop = () => stopChild(child, 20_000);
  after(stop);
  try {
    await waitForPort(port, 'squid', child);
  } catch (err) {
    await stop();
    const cache = existsSync(join(dir, 'squid-cache.log')) ? readFileSync(join(dir, 'squid-cache.log'), 'utf8') : '';
    throw new Error(`${(err as Error).message}\n${output}\n${cache}`);
  }
  return { port, dir, accessLog: join(dir, 'squid-access.log'), cacheLog: join(dir, 'squid-cache.log'), stop };
}

/** A local HTTP origin serving in-memory files by path. */
export async function startOrigin(files: Record<string, Buffer>): Promise<{ port: number; server: Server }> {
  const server = createHttpServer((req, res) => {
    const body = files[req.url ?? ''];
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.keepAliveTimeout = 1000;
  return { port: (server.address() as AddressInfo).port, server };
}

export function haveCurl(): boolean {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const tools = { CICAP, SQUID, CICAP_CLIENT: '/usr/bin/c-icap-client' };
