/**
 * The figures of issue 19, points 2, 3, 4, 7 and 8, measured on this machine against the code in
 * ROOT (this checkout by default; a checkout of the code before the fixes gives the "before"):
 *
 *   node --import tsx scripts/hostile-figures.ts [--root DIR] [--only icap|capture] [--big]
 *
 * ICAP (the embedded KATA's server in a child process; RSS from /proc/PID/status):
 *   2. RESPMOD with Preview: 0 and no Allow: 204, then 200 MiB of "preview": RSS before and peak, the answer.
 *   3. 20 clients send large bodies without Allow: 204, never read, then reset: spool files left,
 *      the server's CPU in the 5 s after, how long SIGTERM takes.
 *   4. 300 000 pipelined OPTIONS from a client that never reads: peak RSS, requests taken.
 * Capture (`kds capture analyze FILE --json` of ROOT's build, under /usr/bin/time):
 *   7. 300 000 one-SYN connections (21 MB); 16 000-line ICAP heads (20 MB); with --big, 1 GB of each,
 *      1 GB of small transactions and the 1 GB single-body capture: peak RSS and CPU seconds.
 *   8. 100 000 one-byte segments in descending order (7 MB): CPU seconds.
 * Not a test: nothing is asserted; it prints what it measured. Needs root for nothing; uses /tmp.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeBigCapture } from '../test/helpers/captureWriter';
import { writeDescendingSegments, writeLongHeads, writeManySyns } from '../test/helpers/hostileCaptures';

const { values } = parseArgs({ options: { root: { type: 'string' }, only: { type: 'string' }, big: { type: 'boolean', default: false } } });
const root = resolve(values.root ?? join(__dirname, '..'));
const work = mkdtempSync(join(tmpdir(), 'kds-hostile-figures-'));
const MiB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const print = (what: string, figures: Record<string, unknown>) => console.log(`${what.padEnd(58)} ${JSON.stringify(figures)}`);

function proc(pid: number): { rssMiB: number; hwmMiB: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssMiB: Math.round(kb('VmRSS') / 1024), hwmMiB: Math.round(kb('VmHWM') / 1024), cpuS: ticks / 100 };
}

/** The embedded KATA's ICAP server of ROOT in a child process; SIGTERM closes it. */
async function icapServer(): Promise<{ pid: number; port: number; dataDir: string; stop(): Promise<number | 'hung'> }> {
  const dataDir = mkdtempSync(join(work, 'icap-'));
  const script = `
    const root = process.argv[1];
    const { startIcapServer } = require(root + '/src/emulator/icapServer');
    const { DetectionEngine } = require(root + '/src/emulator/detection');
    const { KdsLogger } = require(root + '/src/common/log');
    const logger = new KdsLogger({ sinks: [] });
    startIcapServer({ host: '127.0.0.1', port: 0, mode: 'blocking_simple', dataDir: process.argv[2], engine: new DetectionEngine(process.argv[2], logger), logger, maxObjectSize: 1 << 30, slowVerdictMs: 10, advancedWaitMs: 10, version: 'fig' }).then((s) => {
      process.stdout.write(JSON.stringify({ port: s.port }) + '\\n');
      process.on('SIGTERM', async () => { await s.close(); process.exit(0); });
    });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script, root, dataDir], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((r) => child.stdout.once('data', (d: Buffer) => r((JSON.parse(d.toString()) as { port: number }).port)));
  return {
    pid: child.pid!,
    port,
    dataDir,
    async stop() {
      const t0 = Date.now();
      child.kill('SIGTERM');
      const exited = await Promise.race([new Promise((r) => child.once('exit', () => r(true))), sleep(30_000).then(() => false)]);
      if (!exited) {
        child.kill('SIGKILL');
        return 'hung';
      }
      return Date.now() - t0;
    },
  };
}

function client(port: number): Promise<Socket> {
  return new Promise((r) => {
    const s = connect({ host: '127.0.0.1', port }, () => r(s));
    s.on('error', () => undefined);
  });
}

async function flood(s: Socket, piece: Buffer, total: number): Promise<number> {
  let sent = 0;
  while (sent < total && !s.destroyed) {
    sent += piece.length;
    if (!s.write(piece)) if (!(await new Promise<boolean>((r) => (s.once('drain', () => r(true)), s.once('close', () => r(false)))))) break;
  }
  return sent;
}

function chunk(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
}

function respmodHead(port: number, extra: string): Buffer {
  const req = 'GET http://origin.test/big.bin HTTP/1.1\r\nHost: origin.test\r\n\r\n';
  const res = 'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n';
  return Buffer.from(`RESPMOD icap://127.0.0.1:${port}/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\n${extra}Encapsulated: req-hdr=0, res-hdr=${req.length}, res-body=${req.length + res.length}\r\n\r\n${req}${res}`);
}

/** Waits until the server has used (almost) no CPU for 3 s: it took all it will take. */
async function serverIdle(pid: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  let last = proc(pid).cpuS;
  let still = 0;
  while (Date.now() < end && still < 6) {
    await sleep(500);
    const now = proc(pid).cpuS;
    still = now - last < 0.05 ? still + 1 : 0;
    last = now;
  }
}

async function icapFigures(): Promise<void> {
  {
    const srv = await icapServer();
    const before = proc(srv.pid).rssMiB;
    const s = await client(srv.port);
    let answer = '';
    s.on('data', (d: Buffer) => (answer ||= d.toString('latin1').split('\r\n')[0]!));
    s.write(respmodHead(srv.port, 'Preview: 0\r\n'));
    const sent = await Promise.race([flood(s, chunk(Buffer.alloc(64 * 1024, 0x61)), 200 * MiB), sleep(120_000).then(() => -1)]);
    await sleep(2000);
    const p = proc(srv.pid);
    s.destroy();
    print('2. Preview: 0, then 200 MiB of "preview"', { rssBeforeMiB: before, rssPeakMiB: p.hwmMiB, rssAfterMiB: p.rssMiB, sentMiB: Math.round(sent / MiB), answer: answer || '(none)' });
    await srv.stop();
  }
  {
    const srv = await icapServer();
    const clients = await Promise.all(Array.from({ length: 20 }, () => client(srv.port)));
    for (const c of clients) {
      c.pause();
      c.write(respmodHead(srv.port, ''));
      void flood(c, chunk(Buffer.alloc(256 * 1024, 0x43)), 512 * MiB);
    }
    await serverIdle(srv.pid, 120_000);
    for (const c of clients) c.resetAndDestroy();
    await sleep(3000);
    const cpu0 = proc(srv.pid).cpuS;
    await sleep(5000);
    const cpu = proc(srv.pid).cpuS - cpu0;
    const spool = join(srv.dataDir, 'icap-spool');
    const files = readdirSync(spool);
    const bytes = files.reduce((n, f) => n + statSync(join(spool, f)).size, 0);
    const stopMs = await srv.stop();
    print('3. 20 slow readers reset', { spoolFilesLeft: files.length, spoolMiBLeft: Math.round(bytes / MiB), serverCpuSecondsIn5sAfter: +cpu.toFixed(2), sigtermMs: stopMs });
  }
  {
    const srv = await icapServer();
    const before = proc(srv.pid).rssMiB;
    const s = await client(srv.port);
    s.pause();
    const one = Buffer.from(`OPTIONS icap://127.0.0.1:${srv.port}/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\nEncapsulated: null-body=0\r\n\r\n`);
    let sent = 0;
    void flood(s, Buffer.concat(Array.from({ length: 1000 }, () => one)), 300_000 * one.length).then((n) => (sent = n));
    await serverIdle(srv.pid, 300_000);
    const p = proc(srv.pid);
    s.destroy();
    print('4. 300 000 pipelined OPTIONS, never read', { rssBeforeMiB: before, rssPeakMiB: p.hwmMiB, requestsSentWhileNotReading: Math.round((sent || s.bytesWritten) / one.length), cpuSeconds: p.cpuS });
    await srv.stop();
  }
}

/** `kds capture analyze FILE --json` of ROOT under /usr/bin/time: peak RSS and CPU. */
function analyze(what: string, file: string): void {
  const kds = join(root, 'bin', 'kds.js');
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %M %U %S %e', process.execPath, kds, 'capture', 'analyze', file, '--json'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20, env: { ...process.env, KDS_LOCALE: 'en' } });
  const out = r.stderr ?? '';
  const code = r.status ?? -1;
  const m = /TIME (\d+) ([\d.]+) ([\d.]+) ([\d.]+)/.exec(out);
  const fatal = /FATAL ERROR[^\n]*|RangeError[^\n]*|Error: [^\n]*/.exec(out)?.[0];
  print(what, {
    fileMB: Math.round(statSync(file).size / 1e6),
    exit: code,
    peakRssMiB: m ? Math.round(Number(m[1]) / 1024) : null,
    cpuSeconds: m ? +(Number(m[2]) + Number(m[3])).toFixed(1) : null,
    wallSeconds: m ? Number(m[4]) : null,
    ...(fatal && { error: fatal.slice(0, 120) }),
  });
}

function captureFigures(): void {
  if (!existsSync(join(root, 'dist', 'kds.js'))) execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  const f = (name: string) => join(work, name);
  writeManySyns(f('syns.pcap'), 300_000);
  analyze('7. 300 000 one-SYN connections', f('syns.pcap'));
  rmSync(f('syns.pcap'));
  writeLongHeads(f('heads.pcap'), 20 * 1e6, 16_000);
  analyze('7. 16 000-line ICAP heads', f('heads.pcap'));
  rmSync(f('heads.pcap'));
  writeDescendingSegments(f('desc.pcap'), 100_000);
  analyze('8. 100 000 one-byte segments, descending', f('desc.pcap'));
  rmSync(f('desc.pcap'));
  if (!values.big) return;
  writeManySyns(f('syns-1g.pcap'), Math.ceil(1e9 / 70));
  analyze('7. 1 GB of one-SYN connections', f('syns-1g.pcap'));
  rmSync(f('syns-1g.pcap'));
  writeLongHeads(f('heads-1g.pcap'), 1e9, 16_000);
  analyze('7. 1 GB of 16 000-line ICAP heads', f('heads-1g.pcap'));
  rmSync(f('heads-1g.pcap'));
  writeLongHeads(f('small-1g.pcap'), 1e9, 2);
  analyze('7. 1 GB of small transactions (3 million)', f('small-1g.pcap'));
  rmSync(f('small-1g.pcap'));
  writeBigCapture(f('body-1g.pcap'), 1 << 30);
  analyze('7. 1 GB, one RESPMOD body', f('body-1g.pcap'));
  rmSync(f('body-1g.pcap'));
}

(async () => {
  console.log(`# ${root}`);
  try {
    if (values.only !== 'capture') await icapFigures();
    if (values.only !== 'icap') captureFigures();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
})();
