/**
 * Real ICAP peers and capture tools on loopback for the capture tests: a private c-icap server
 * (its echo service), c-icap-client, tcpdump on lo and tshark as the oracle. See
 * /work/shared/reference/icap-peers-on-loopback.md. Every process started here is stopped by pid.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { analyzeCaptureFile } from '../../src/capture/analyzeCapture';
import { squidConfig } from './icapKitPeers';
import { freePort } from './sshd';

const run = promisify(execFile);

export const tools = {
  tcpdump: '/usr/bin/tcpdump',
  tshark: '/usr/bin/tshark',
  cIcap: '/usr/bin/c-icap',
  cIcapClient: '/usr/bin/c-icap-client',
  squid: '/usr/sbin/squid',
} as const;

/**
 * Skips the test when a tool is missing (with the reason), or fails it under CI=true where
 * scripts/install-system-deps.sh must have installed them. Returns false when skipped.
 */
export function needTools(t: TestContext, names: Array<keyof typeof tools>, root = false): boolean {
  const missing = names.filter((n) => !existsSync(tools[n])).map((n) => tools[n]);
  const why = missing.length
    ? `${missing.join(', ')} missing: run scripts/install-system-deps.sh as root (c-icap squid tcpdump tshark)`
    : root && process.getuid?.() !== 0
      ? 'capturing on lo needs root (tcpdump)'
      : undefined;
  if (!why) return true;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', killAfterMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await gone;
  clearTimeout(timer);
}

export interface CIcapServer {
  port: number;
  accessLog: string;
  /** Access log lines: `<date>, <client> <server> <METHOD> <service> <status>`. */
  accessLines(): string[];
  stop(): Promise<void>;
}

/** c-icap with its echo service on 127.0.0.1:<free port>, everything in `dir`. */
export async function startCIcap(dir: string): Promise<CIcapServer> {
  const port = await freePort();
  const overridden = new Set(['Port', 'PidFile', 'CommandsSocket', 'User', 'Group', 'ServerLog', 'AccessLog']);
  const base = readFileSync('/etc/c-icap/c-icap.conf', 'utf8')
    .split('\n')
    .filter((l) => !overridden.has(l.trim().split(/\s+/)[0] ?? ''));
  const accessLog = join(dir, 'c-icap-access.log');
  base.push(
    `Port 127.0.0.1:${port}`,
    `PidFile ${join(dir, 'c-icap.pid')}`,
    `CommandsSocket ${join(dir, 'c-icap.ctl')}`,
    'User root',
    'Group root',
    `ServerLog ${join(dir, 'c-icap-server.log')}`,
    `AccessLog ${accessLog}`,
  );
  const conf = join(dir, 'c-icap.conf');
  writeFileSync(conf, base.join('\n') + '\n');
  const child = spawn(tools.cIcap, ['-N', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitFor('c-icap to listen', async () => {
    if (child.exitCode !== null) throw new Error(`c-icap exited: ${stderr}`);
    return portOpen(port);
  });
  return {
    port,
    accessLog,
    accessLines: () => (existsSync(accessLog) ? readFileSync(accessLog, 'utf8').split('\n').filter(Boolean) : []),
    stop: () => stopProcess(child),
  };
}

/** Runs c-icap-client against 127.0.0.1:port with `args`; resolves with its output. */
export async function icapClient(port: number, args: string[]): Promise<string> {
  const r = await run(tools.cIcapClient, ['-i', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 });
  return r.stdout + r.stderr;
}

export interface RunningTcpdump {
  /** SIGINT, then the exit; tcpdump flushes and prints its counts. */
  stop(): Promise<string>;
}

/**
 * tcpdump -i lo writing `out`, started only when it says "listening on". --immediate-mode: with
 * TPACKET_V3 packets otherwise wait in a kernel block and those still there at SIGINT are lost.
 */
export async function startTcpdump(out: string, filter: string[], extra: string[] = []): Promise<RunningTcpdump> {
  const child = spawn(tools.tcpdump, ['-i', 'lo', '-nn', '-s', '0', '-U', '--immediate-mode', '-B', '32768', ...(process.getuid?.() === 0 ? ['-Z', 'root'] : []), ...extra, '-w', out, ...filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitFor('tcpdump to listen', () => {
    if (child.exitCode !== null) throw new Error(`tcpdump exited: ${stderr}`);
    return stderr.includes('listening on');
  });
  return {
    stop: async () => {
      await stopProcess(child, 'SIGINT');
      return stderr;
    },
  };
}

/**
 * Waits (bounded) until the capture file holds `count` transactions, each with its answer.
 * A peer may log or return as it answers while tcpdump has not yet read those packets off its
 * socket; stopping tcpdump then loses them (CI once saw an unanswered "OPTIONS null"). tcpdump
 * runs with -U, so each packet is in the file as soon as tcpdump reads it.
 */
/** The capture files KDS is writing now: its private folder on this computer (kds-capture-*), or a CN's /tmp (kds-capture.*; a loopback sshd in the tests). */
export function liveCaptureFiles(): string[] {
  const folders = [...new Set(['/tmp', tmpdir()])].flatMap((d) => readdirSync(d).filter((n) => /^kds-capture[-.]/.test(n)).map((n) => join(d, n)));
  return folders.map((d) => join(d, 'capture.pcap')).filter((f) => existsSync(f));
}

export async function waitForCapturedAnswers(pcap: string, port: number, count: number, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const sofar = await analyzeCaptureFile(pcap, { port }).catch(() => undefined);
    if (sofar && sofar.transactions.length >= count && sofar.transactions.every((x) => x.status !== null)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface TsharkMessage {
  frame: number;
  request?: { method: string; uri: string };
  response?: { status: number };
}

/**
 * Wireshark's ICAP dissector's reading of a capture (requests and answers in frame order): the
 * first line of each ICAP PDU from PDML (the Info column is overwritten by the encapsulated HTTP).
 */
export async function tsharkIcap(file: string, port: number): Promise<TsharkMessage[]> {
  const r = await run(tools.tshark, ['-n', '-r', file, '-d', `tcp.port==${port},icap`, '-Y', 'icap', '-T', 'pdml'], {
    timeout: 120_000,
    maxBuffer: 256 << 20,
  });
  const out: TsharkMessage[] = [];
  let frame = 0;
  let inIcap = false;
  for (const line of r.stdout.split('\n')) {
    const f = /<field name="frame\.number"[^>]* show="(\d+)"/.exec(line);
    if (f) frame = Number(f[1]);
    if (line.includes('<proto name="icap"')) {
      inIcap = true;
      continue;
    }
    if (!inIcap) continue;
    inIcap = false;
    const show = /<field name="" show="([^"]*)"/.exec(line)?.[1]?.replace(/\\r\\n$/, '') ?? '';
    const req = /^([A-Z]+) (icaps?:\/\/\S+) ICAP\/1\.\d/.exec(show);
    const res = /^ICAP\/1\.\d (\d{3})/.exec(show);
    if (req) out.push({ frame, request: { method: req[1]!, uri: req[2]!.replace(/&amp;/g, '&') } });
    else if (res) out.push({ frame, response: { status: Number(res[1]) } });
  }
  return out;
}

/**
 * The transactions as tshark sees them: requests in order, each paired with the next final
 * (non-100) answer on the wire. Good for loopback captures with one client at a time.
 */
export function tsharkTransactions(messages: TsharkMessage[]): Array<{ method: string; uri: string; status: number | null }> {
  const out: Array<{ method: string; uri: string; status: number | null }> = [];
  const waiting: number[] = [];
  for (const m of messages) {
    if (m.request) {
      out.push({ ...m.request, status: null });
      waiting.push(out.length - 1);
    } else if (m.response && m.response.status !== 100) {
      const i = waiting.shift();
      if (i !== undefined) out[i]!.status = m.response.status;
    }
  }
  return out;
}

export interface SquidProxy {
  port: number;
  stop(): Promise<void>;
}

/** Squid on 127.0.0.1:<free port> sending RESPMOD (with preview) to icap://127.0.0.1:<icapPort>/<service>. */
export async function startSquid(dir: string, icapPort: number, service = 'echo'): Promise<SquidProxy> {
  const { chmodSync, chownSync, mkdirSync } = await import('node:fs');
  const { execFileSync } = await import('node:child_process');
  const port = await freePort();
  const home = join(dir, 'squid');
  mkdirSync(home, { recursive: true });
  // Squid drops privileges to "proxy": its folder must be writable by it, and `dir` passable.
  chmodSync(dir, 0o711);
  const uid = Number(execFileSync('/usr/bin/id', ['-u', 'proxy'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('/usr/bin/id', ['-g', 'proxy'], { encoding: 'utf8' }).trim());
  chownSync(home, uid, gid);
  const conf = join(home, 'squid.conf');
  writeFileSync(conf, `${squidConfig(home, port, `icap://127.0.0.1:${icapPort}/${service}`)}\n`);
  const child = spawn(tools.squid, ['-N', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitFor(
    'squid to listen',
    async () => {
      if (child.exitCode !== null) throw new Error(`squid exited: ${stderr}\n${existsSync(join(home, 'squid-cache.log')) ? readFileSync(join(home, 'squid-cache.log'), 'utf8') : ''}`);
      return portOpen(port);
    },
    60_000,
  );
  return { port, stop: () => stopProcess(child, 'SIGTERM', 15_000) };
}
