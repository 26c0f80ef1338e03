import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { hostPlatform } from '../../src/common/platform';
import { Journal, readJournal } from '../../src/engine/journal';
import { partialPrefix } from '../../src/engine/delivery';
import { EICAR } from '../../src/emulator/eicar';
import { startEmulator } from '../../src/emulator/server';
import { clientCertFiles, engineConfig } from '../helpers/engineConfig';
import { startHarness, waitFor } from '../helpers/engineHarness';
import { ensureBuilt, kdsBin } from '../helpers/kdsProcess';
import { mulberry32 } from '../helpers/prng';
import { removeTree } from '../helpers/tempDirs';

/*
 * The durability requirement, end to end: the real `kds run` process is killed with SIGKILL at
 * random moments while 200 files flow through it (uploads, polls and cross-device deliveries in
 * progress), restarted each time, and in the end every file must be in exactly one destination,
 * byte for byte, with only the uploads that were in flight at a kill repeated.
 *
 * Replay a failure with KDS_CRASH_SEED=<seed printed in the diagnostics / assertion messages>.
 */

const FILES = 200;
const KILLS = 24;
const WAVES = 12;
const MAX_INFLIGHT = 4;
/**
 * Stretches the instances' lifetimes (and the test's time limit) on a host where a process takes
 * seconds to start: under Wine (test/integration/windowsUnderWine.test.ts) most instances would
 * otherwise die before their engine started.
 */
const SLOWDOWN = Math.max(1, Number(process.env.KDS_CRASH_SLOWDOWN ?? 1));

interface Planned {
  name: string;
  body: Buffer;
  sha256: string;
  dest: 'out' | 'qrnt';
}

/** 200 distinct contents: ~1/4 EICAR (distinct white-space padding), the rest clean, a few MB-sized. */
function planFiles(rand: () => number): Planned[] {
  const files: Planned[] = [];
  const padding = [' ', '\t', '\n', '\r', '\x1a'];
  let eicars = 0;
  for (let i = 0; i < FILES; i++) {
    let body: Buffer;
    let dest: 'out' | 'qrnt';
    let name: string;
    if (i % 4 === 1) {
      // The standard allows only these bytes after the string, up to 128 bytes in all.
      let pad = '';
      for (let n = eicars++, d = 0; d < 4; d++, n = Math.floor(n / 5)) pad += padding[n % 5];
      body = Buffer.from(EICAR + pad + '\r\n', 'latin1');
      dest = 'qrnt';
      name = `eicar-${String(i).padStart(3, '0')}.com`;
    } else {
      const big = i % 40 === 7; // 5 files of a few MB
      const size = big ? (2 + Math.floor(rand() * 4)) * 1024 * 1024 + Math.floor(rand() * 4096) : 200 + Math.floor(rand() * 60_000);
      body = Buffer.allocUnsafe(size);
      for (let off = 0; off < size; off += 4) body.writeUInt32LE((rand() * 2 ** 32) >>> 0, Math.min(off, size - 4));
      body.write(`clean file ${i}\n`, 0, 'latin1');
      dest = 'out';
      name = `${big ? 'big' : 'doc'}-${String(i).padStart(3, '0')}.bin`;
    }
    files.push({ name, body, sha256: createHash('sha256').update(body).digest('hex'), dest });
  }
  return files;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

interface LogLine {
  event?: string;
  msg?: string;
  scanId?: string;
  path?: string;
  file?: string;
  copy?: string;
}

function readLog(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  const lines: LogLine[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // a line torn by SIGKILL
    }
  }
  return lines;
}

test('kill -9 at random moments while 200 files flow: nothing lost, nothing doubled, submitted scans are polled', { timeout: 150_000 * SLOWDOWN }, async (t) => {
  const seed = Number(process.env.KDS_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const replay = `seed ${seed} (replay: KDS_CRASH_SEED=${seed})`;
  t.diagnostic(replay);
  // Seeded: picks kill moments and file contents.
  const rand = mulberry32(seed);
  const started = Date.now();
  ensureBuilt();

  // One hook, run in reverse order of set-up: the child, then the emulator, then the folders.
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const base = mkdtempSync(join(tmpdir(), 'kds-crash-'));
  // resolve(): on Windows (Wine's drive Z: is /) a path without a drive letter is not absolute.
  const outBase = resolve(mkdtempSync(existsSync('/dev/shm') ? '/dev/shm/kds-crash-out-' : join(tmpdir(), 'kds-crash-out-')));
  // KDS_CRASH_KEEP=1 keeps the folders, logs and journal for a post-mortem.
  if (process.env.KDS_CRASH_KEEP) t.diagnostic(`keeping ${base} and ${outBase}`);
  else cleanups.push(() => removeTree(base), () => removeTree(outBase));
  const dirs = {
    in: join(base, 'in'),
    staging: join(base, 'staging'),
    out: join(outBase, 'out'),
    // Beside output (one device): large files' copies are staged in quarantine and renamed into output.
    qrnt: join(outBase, 'qrnt'),
    state: join(base, 'state'),
    logs: join(base, 'logs'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });

  const emulator = await startEmulator({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(base, 'kata'),
    autoApprove: true,
    verdictDelayMs: 150,
    // A little latency on every call widens the windows in which a kill lands mid-request.
    faults: 'latency=15',
  });
  cleanups.push(() => emulator.close());
  const cert = await clientCertFiles(join(base, 'client'));
  const confPath = join(base, 'kata_dir_scanner.conf');
  const logOf = (instance: number) => join(dirs.logs, `kds-${String(instance).padStart(2, '0')}.log`);
  const writeConf = (instance: number) =>
    writeFileSync(
      confPath,
      JSON.stringify(
        engineConfig(
          { dirs, cert, emulator },
          {
            system_id: `crash-${seed}`,
            stable_ms: 100,
            scan_timeout_s: 300,
            max_inflight: MAX_INFLIGHT,
            // One log per process, so a verdict can be traced to a submission by an earlier process.
            log_file: logOf(instance),
            log_format: 'json',
          },
        ),
        null,
        2,
      ),
    );

  let child: ChildProcess | undefined;
  let stderr = '';
  cleanups.push(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitExit(child, 5000);
    }
  });
  const startInstance = (instance: number): ChildProcess => {
    writeConf(instance);
    stderr = '';
    const c = spawn(process.execPath, [kdsBin, 'run', '--config', confPath], { cwd: base, stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (s: string) => {
      stderr = (stderr + s).slice(-4000);
    });
    return c;
  };
  const assertAlive = (c: ChildProcess, instance: number) => {
    assert.ok(
      c.exitCode === null && c.signalCode === null,
      `${replay}: instance ${instance} exited by itself (code ${c.exitCode}, signal ${c.signalCode}): ${stderr}`,
    );
  };

  const files = planFiles(rand);
  const order = files.map((f) => f).sort(() => rand() - 0.5);
  const waves: Planned[][] = [];
  for (let w = 0; w < WAVES; w++) waves.push(order.slice(Math.floor((w * FILES) / WAVES), Math.floor(((w + 1) * FILES) / WAVES)));
  // Written beside input on the same file system and renamed in: a producer's complete file.
  const writeWave = (wave: Planned[]) => {
    for (const f of wave) {
      const tmp = join(dirs.staging, f.name);
      writeFileSync(tmp, f.body);
      renameSync(tmp, join(dirs.in, f.name));
    }
  };

  // ---- the kills
  let kills = 0;
  let wavesWritten = 0;
  const uptimes: number[] = [];
  for (let instance = 0; instance < KILLS; instance++) {
    child = startInstance(instance);
    const lifetime = Math.round((150 + Math.floor(rand() * 2200)) * SLOWDOWN);
    uptimes.push(lifetime);
    // Spread the waves over the kill phase, written while an instance runs.
    const waveAt = instance % 2 === 0 && wavesWritten < WAVES ? Math.floor(rand() * lifetime) : -1;
    const t0 = Date.now();
    if (waveAt >= 0) {
      await sleep(waveAt);
      writeWave(waves[wavesWritten++]!);
    }
    while (Date.now() - t0 < lifetime) {
      assertAlive(child, instance);
      await sleep(Math.min(100, lifetime - (Date.now() - t0)));
    }
    assertAlive(child, instance);
    child.kill('SIGKILL');
    const exit = await waitExit(child, 10_000);
    assert.ok(exit, `${replay}: instance ${instance} did not die after SIGKILL`);
    assert.equal(exit.signal, 'SIGKILL', `${replay}: instance ${instance} ended with ${JSON.stringify(exit)} before the kill: ${stderr}`);
    kills++;
  }
  while (wavesWritten < WAVES) writeWave(waves[wavesWritten++]!);

  // ---- the last instance finishes the work
  const finalInstance = KILLS;
  child = startInstance(finalInstance);
  const name = (f: Planned) => join(dirs[f.dest], f.name);
  const drainDeadline = Date.now() + 60_000 * SLOWDOWN;
  let done = 0;
  let finalStarted = false;
  for (;;) {
    done = files.filter((f) => existsSync(name(f))).length;
    // `kds run` handles SIGTERM once the engine has started (its "identity" line): not before.
    finalStarted ||= readLog(logOf(finalInstance)).some((l) => l.event === 'identity');
    if (finalStarted && done === FILES && readdirSync(dirs.in).length === 0 && readJournal(dirs.state).live.every((e) => e.outcome)) break;
    assertAlive(child, finalInstance);
    if (Date.now() > drainDeadline) break;
    await sleep(200);
  }
  // Windows has no SIGTERM to catch: a process is ended outright there (TerminateProcess), so
  // the last instance is stopped like the others, once the journal holds every outcome.
  const graceful = hostPlatform.os !== 'win32';
  child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
  const exit = await waitExit(child, 15_000);
  assert.ok(exit, `${replay}: the last instance did not stop within 15 s of ${graceful ? 'SIGTERM' : 'SIGKILL'}`);
  if (graceful) assert.equal(exit.code, 0, `${replay}: the last instance exited with ${JSON.stringify(exit)}: ${stderr}`);
  const duration = Date.now() - started;

  // ---- every content exactly once, in the right place, byte for byte
  const problems: string[] = [];
  for (const f of files) {
    const other = f.dest === 'out' ? 'qrnt' : 'out';
    if (!existsSync(name(f))) problems.push(`${f.name}: missing from ${f.dest}`);
    else if (!readFileSync(name(f)).equals(f.body)) problems.push(`${f.name}: content differs in ${f.dest}`);
    if (existsSync(join(dirs[other], f.name))) problems.push(`${f.name}: also in ${other}`);
  }
  assert.deepEqual(problems.slice(0, 20), [], `${replay}: ${problems.length} problems (${done}/${FILES} delivered before SIGTERM)`);
  assert.deepEqual(readdirSync(dirs.in), [], `${replay}: files left in input`);
  const expected = (dest: 'out' | 'qrnt') => files.filter((f) => f.dest === dest).map((f) => f.name).sort();
  assert.deepEqual(readdirSync(dirs.out).sort(), expected('out'), `${replay}: output holds exactly the clean files`);
  assert.deepEqual(readdirSync(dirs.qrnt).sort(), expected('qrnt'), `${replay}: quarantine holds exactly the EICAR files`);
  const partials = [dirs.in, dirs.out, dirs.qrnt].flatMap((d) => readdirSync(d).filter((n) => n.startsWith(partialPrefix)).map((n) => relative(base, join(d, n))));
  assert.deepEqual(partials, [], `${replay}: incomplete copies left behind`);

  // ---- the journal agrees: nothing unfinished
  const journal = readJournal(dirs.state);
  const unfinished = journal.live
    .filter((e) => !e.outcome)
    .map((e) => `${e.name} ${e.scanId} submitted=${Boolean(e.submittedAt)} state=${e.state ?? ''} placed=${e.placedPath ?? ''}`);
  assert.deepEqual(unfinished, [], `${replay}: journal entries without an outcome`);

  // ---- only uploads in flight at a kill were repeated
  const stats = emulator.stats();
  const wanted = new Set(files.map((f) => f.sha256));
  const neverUploaded = files.filter((f) => !stats.uploadsBySha256.has(f.sha256)).map((f) => f.name);
  assert.deepEqual(neverUploaded, [], `${replay}: delivered without an upload`);
  const strangers = [...stats.uploadsBySha256.keys()].filter((s) => !wanted.has(s));
  assert.deepEqual(strangers, [], `${replay}: uploads of contents that were never in input (partial files?)`);
  const uploads = [...stats.uploadsBySha256.values()].reduce((a, b) => a + b, 0);
  const duplicates = uploads - FILES;
  const bound = kills * MAX_INFLIGHT;

  // ---- scans submitted by one process and resolved by a later one
  const logs = readdirSync(dirs.logs).sort().map((n) => readLog(join(dirs.logs, n)));
  const submittedBy = new Map<string, number>();
  logs.forEach((lines, i) => {
    for (const l of lines) if (l.event === 'submitted' && l.scanId) submittedBy.set(l.scanId, i);
  });
  let survived = 0;
  let verdicts = 0;
  let interruptedUploads = 0;
  let partialCopies = 0;
  let finishedDeliveries = 0;
  // How each delivered copy was made (the routed line's `copy`): kept bytes, staged copy, or read again.
  const copies = new Map<string, number>();
  logs.forEach((lines, i) => {
    for (const l of lines) {
      const copy = l.copy ?? 'placed before a kill';
      if (l.event === 'routed') copies.set(copy, (copies.get(copy) ?? 0) + 1);
      // What the kills interrupted, as each restart found it.
      if (l.event === 'recovered' && l.path) finishedDeliveries++;
      else if (l.event === 'recovered' && l.scanId) interruptedUploads++;
      else if (l.event === 'recovered') partialCopies += Number(/removed (\d+)/.exec(l.msg ?? '')?.[1] ?? 0);
      if (l.event !== 'verdict' || !l.scanId) continue;
      verdicts++;
      const by = submittedBy.get(l.scanId);
      if (by !== undefined && by < i) survived++;
    }
  });
  const perFileUploads = files.map((f) => stats.uploadsBySha256.get(f.sha256) ?? 0);
  t.diagnostic(
    `kills ${kills}, instances that wrote a log ${logs.length}, uptime ${Math.min(...uptimes)}-${Math.max(...uptimes)} ms, uploads ${uploads}, duplicate uploads ${duplicates} ` +
      `(bound ${bound} = kills × max_inflight), most uploads of one file ${Math.max(...perFileUploads)}, verdicts logged ${verdicts}, ` +
      `uploads cut by a kill ${interruptedUploads}, copies cut by a kill ${partialCopies}, deliveries finished after a kill ${finishedDeliveries}, ` +
      `verdicts for scans submitted by an earlier process ${survived}, deletes ${stats.deletes}, copies ${[...copies].map(([k, v]) => `${k} ${v}`).join(', ')}, ` +
      `duration ${(duration / 1000).toFixed(1)} s`,
  );
  assert.ok(duplicates <= bound, `${replay}: ${duplicates} repeated uploads, more than kills × max_inflight = ${bound}`);
  assert.ok(survived >= 1, `${replay}: no scan submitted before a kill was polled to its verdict by a later process`);
});

test('a delivery cut between removing the source and journaling it is finished at the next start', async () => {
  const h = await startHarness({ startEngine: false });
  // What a kill leaves: placed in output, source already removed from input, no "done" yet.
  const body = 'delivered just before the kill\n';
  writeFileSync(join(h.dirs.out, 'report.txt'), body);
  const j = Journal.open(h.dirs.state);
  const scanId = 'b5c0e4d6-0000-4000-8000-000000000001';
  j.intent({ scanId, name: 'report.txt', size: body.length, mtimeMs: 1, ino: 1 });
  j.submitted(scanId, createHash('sha256').update(body).digest('hex'));
  j.verdict(scanId, 'not detected', 'out');
  j.placed(scanId, join(h.dirs.out, 'report.txt'));
  j.close();
  await h.start();
  await waitFor('the journal entry finished', () => readJournal(h.dirs.state).live.every((e) => e.outcome));
  assert.equal(readJournal(h.dirs.state).finished.find((e) => e.scanId === scanId)?.outcome, 'routed');
  assert.equal(readFileSync(join(h.dirs.out, 'report.txt'), 'utf8'), body);
});
