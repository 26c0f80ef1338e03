/*
 * Does monitoring slow scanning? `node --import tsx scripts/bench/observability.ts` runs the real
 * `kds run` (a child process) on N EICAR files (each one a SIEM event) three ways, rounds
 * interleaved: without metrics or SIEM; with metrics (scraped every second) and a SIEM over TCP
 * that takes every event; with metrics and a SIEM that refuses connections (the queue fills,
 * events are dropped). It prints, per way, the median wall time from the first file written to
 * the last one delivered and the median CPU time of the `kds run` process (from /proc); with the
 * SIEM up, it also waits until every detection has reached the SIEM (a run fails if one does not
 * within a minute) and prints how long after the last file that was.
 *
 *   KDS_BENCH_OBS_FILES=400  files per run      KDS_BENCH_OBS_ROUNDS=3  rounds per way
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { type AddressInfo, type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { startEmulator } from '../../src/emulator/server';
import { createSelfSigned } from '../../src/pki/certs';

const files = Number(process.env.KDS_BENCH_OBS_FILES ?? 400);
const rounds = Number(process.env.KDS_BENCH_OBS_ROUNDS ?? 3);
const kdsBin = join(__dirname, '..', '..', 'bin', 'kds.js');
const ticks = 100; // USER_HZ on Linux

type Way = 'off' | 'on' | 'siem-down';
type RunResult = { wallS: number; cpuS: number; siemAtLastFile: number; siemEvents: number; siemLagS: number };

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() > end) reject(new Error(`timed out: ${what}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

async function run(way: Way, root: string, kata: { port: number; caPemPath: string }, siemPort: number, received: { n: number }): Promise<RunResult> {
  const dir = mkdtempSync(join(root, `${way}-`));
  const dirs = { in: join(dir, 'in'), out: join(dir, 'out'), qrnt: join(dir, 'qrnt') };
  for (const d of Object.values(dirs)) mkdirSync(d);
  const cert = await createSelfSigned({ commonName: 'kds-bench', days: 2 });
  writeFileSync(join(dir, 'cert.pem'), cert.certPem + cert.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'server.key'), cert.keyPem, { mode: 0o600 });
  const metricsPort = await freePort();
  const conf = {
    in_dir: dirs.in,
    out_dir: dirs.out,
    qrnt_dir: dirs.qrnt,
    cert_pem: join(dir, 'cert.pem'),
    cert_key: join(dir, 'server.key'),
    kata_cn_addr: '127.0.0.1',
    kata_cn_port: kata.port,
    kata_ca: kata.caPemPath,
    system_id: `bench-${way}-${Math.random().toString(16).slice(2)}`,
    stable_ms: 0,
    poll_interval_s: 1,
    state_dir: join(dir, 'state'),
    log_file: join(dir, 'kds.log'),
    ...(way !== 'off' && { metrics_listen: `127.0.0.1:${metricsPort}`, siem: { host: '127.0.0.1', port: siemPort, transport: 'tcp', queue_size: 100 } }),
  };
  writeFileSync(join(dir, 'kata_dir_scanner.conf'), JSON.stringify(conf));
  const child: ChildProcess = spawn(process.execPath, [kdsBin, 'run', '--config', join(dir, 'kata_dir_scanner.conf')], { stdio: 'ignore' });
  try {
    await until('kds run started', () => readFileSync(conf.log_file, { encoding: 'utf8', flag: 'a+' }).includes(' started '), 60_000);
    const scraper = way === 'off' ? undefined : setInterval(() => get({ host: '127.0.0.1', port: metricsPort, path: '/metrics', agent: false }, (r) => r.resume()).on('error', () => undefined), 1000);
    const before = received.n;
    const cpu0 = cpuSeconds(child.pid!);
    const t0 = performance.now();
    for (let i = 0; i < files; i++) writeFileSync(join(dirs.in, `f-${i}.com`), EICAR);
    await until('all delivered', () => readdirSync(dirs.qrnt).length === files, 300_000);
    const wallS = (performance.now() - t0) / 1000;
    const cpuS = cpuSeconds(child.pid!) - cpu0;
    const atLast = received.n - before;
    // With the SIEM up, every detection reaches it; how long after the last file is part of the figure.
    if (way === 'on') await until('every detection at the SIEM', () => received.n - before === files, 60_000);
    const siemLagS = (performance.now() - t0) / 1000 - wallS;
    if (scraper) clearInterval(scraper);
    return { wallS, cpuS, siemAtLastFile: atLast, siemEvents: received.n - before, siemLagS };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'kds-bench-obs-'));
  const kata = await startEmulator({ host: '127.0.0.1', port: 0, dataDir: join(root, 'kata'), autoApprove: true, verdictDelayMs: 50 });
  const received = { n: 0 };
  // Octet-counted frames (the default framing): only whole messages are counted, one detection each.
  const siem: Server = createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let sp = buf.indexOf(0x20); sp > 0; sp = buf.indexOf(0x20)) {
        const len = Number(buf.subarray(0, sp).toString('latin1'));
        if (buf.length < sp + 1 + len) break;
        if (buf.subarray(sp + 1, sp + 1 + len).includes('|file-detected|')) received.n++;
        buf = buf.subarray(sp + 1 + len);
      }
    });
  });
  await new Promise<void>((r) => siem.listen(0, '127.0.0.1', () => r()));
  const siemPort = (siem.address() as AddressInfo).port;
  const downPort = await freePort();
  const results: Record<Way, RunResult[]> = { off: [], on: [], 'siem-down': [] };
  try {
    for (let r = 0; r < rounds; r++) {
      for (const way of ['off', 'on', 'siem-down'] as const) {
        const res = await run(way, root, kata, way === 'siem-down' ? downPort : siemPort, received);
        results[way].push(res);
        process.stdout.write(`round ${r + 1} ${way.padEnd(9)} ${res.wallS.toFixed(2)} s wall, ${res.cpuS.toFixed(2)} s CPU of kds run, ${res.siemAtLastFile} detections at the SIEM when the last file was routed${way === 'on' ? `, all ${res.siemEvents} ${res.siemLagS.toFixed(2)} s later` : ''}\n`);
      }
    }
  } finally {
    await kata.close();
    siem.close();
    rmSync(root, { recursive: true, force: true });
  }
  process.stdout.write(`\n${files} EICAR files, median of ${rounds} rounds:\n`);
  for (const way of ['off', 'on', 'siem-down'] as const) {
    const label = { off: 'no metrics, no SIEM', on: 'metrics scraped + SIEM (TCP) up', 'siem-down': 'metrics scraped + SIEM refusing' }[way];
    const lag = way === 'on' ? `   every detection at the SIEM ${median(results[way].map((x) => x.siemLagS)).toFixed(2)} s after the last file` : '';
    process.stdout.write(`  ${label.padEnd(34)} ${median(results[way].map((x) => x.wallS)).toFixed(2)} s wall   ${median(results[way].map((x) => x.cpuS)).toFixed(2)} s CPU${lag}\n`);
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
