import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, existsSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KdsLogger } from '../../src/common/log';
import { createEngineFromConfig } from '../../src/engine/engineFromConfig';
import { EICAR } from '../../src/emulator/eicar';
import { logsOf, stageNow, startHarness, waitFor } from '../helpers/engineHarness';
import { logLines, runKds, spawnKds, stopChild, waitForLine } from '../helpers/kdsProcess';

const isRoot = process.getuid?.() === 0;
const eventOfText = (line: string) => line.split(' ').filter(Boolean)[2];

test('a file nobody may read stays in input with an "unreadable" warning; the file next to it is routed', async (t) => {
  const h = await startHarness({ startEngine: false });
  const secret = join(h.dirs.in, 'secret.bin');
  writeFileSync(secret, 'only root may read this\n');
  chmodSync(secret, 0o000);
  writeFileSync(join(h.dirs.in, 'open.txt'), 'anyone may read this\n', { mode: 0o644 });

  if (isRoot) {
    // Root reads everything, so the service runs as nobody, the way a hardened unit would.
    for (const d of [h.root, h.dirs.in, h.dirs.out, h.dirs.qrnt]) chmodSync(d, 0o777);
    chmodSync(join(h.root, 'client'), 0o755);
    // The key belongs to the service's user and only it may read it (kds run refuses otherwise).
    for (const f of [h.config.cert_pem, h.config.cert_key]) chownSync(f, 65534, 65534);
    const ca = join(h.root, 'kata-ca.pem');
    copyFileSync(h.emulator.caPemPath, ca);
    chmodSync(ca, 0o644);
    const conf = JSON.parse(readFileSync(h.configPath, 'utf8')) as Record<string, unknown>;
    const confPath = join(h.root, 'nobody.conf');
    writeFileSync(confPath, JSON.stringify({ ...conf, kata_ca: ca, state_dir: join(h.root, 'state-nobody'), log_file: join(h.root, 'nobody.log') }), { mode: 0o644 });
    const logFile = join(h.root, 'nobody.log');

    const c = spawnKds(['run', '--config', confPath], { uid: 65534, gid: 65534, cwd: h.root });
    t.after(() => stopChild(c));
    const warn = await waitForLine(logFile, 'unreadable warning', (l) => eventOfText(l) === 'unreadable');
    assert.match(warn, / WARN /);
    assert.match(warn, /file=secret\.bin/);
    await waitForLine(logFile, 'open.txt routed', (l) => eventOfText(l) === 'routed' && l.includes('file=open.txt'));
    c.child.kill('SIGTERM');
    assert.equal(await c.exited, 0, c.stderr());
    assert.equal(logLines(logFile).filter((l) => eventOfText(l) === 'unreadable').length, 1);
  } else {
    await h.start();
    await waitFor('open.txt routed', () => h.routed.some((r) => r.name === 'open.txt'));
    const warn = await waitFor('unreadable warning', () => logsOf(h, 'unreadable', 'secret.bin')[0]);
    assert.equal(warn.level, 'warn');
    assert.equal(stageNow(h, 'secret.bin'), 'unreadable');
  }
  assert.deepEqual(readdirSync(h.dirs.in), ['secret.bin']);
  assert.equal(statSync(secret).mode & 0o777, 0);
  assert.equal(statSync(secret).uid, process.getuid?.());
  assert.deepEqual(readdirSync(h.dirs.out), ['open.txt']);
  assert.deepEqual(readdirSync(h.dirs.qrnt), []);
  assert.equal(h.emulator.stats().postsAccepted, 1);
});

test('kds run: JSON log lines with the scan fields, SIGHUP reopens a rotated log, SIGTERM stops cleanly', async (t) => {
  const h = await startHarness({ startEngine: false, conf: { log_format: 'json' } });
  const logFile = h.config.log_file;
  const c = spawnKds(['run', '--config', h.configPath]);
  t.after(() => stopChild(c));
  await waitForLine(logFile, 'started', (l) => l.includes('"event":"started"'));
  writeFileSync(join(h.dirs.in, 'clean.txt'), 'clean\n');
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  await waitFor('two routed lines', () => logLines(logFile).filter((l) => l.includes('"event":"routed"')).length >= 2);

  const records = logLines(logFile).map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const r of records) {
    assert.equal(typeof r.time, 'string');
    assert.ok(!Number.isNaN(Date.parse(r.time as string)), String(r.time));
    assert.ok(['debug', 'info', 'warn', 'error'].includes(r.level as string), String(r.level));
    assert.equal(typeof r.event, 'string');
    assert.equal(typeof r.msg, 'string');
  }
  const routed = records.filter((r) => r.event === 'routed');
  assert.deepEqual(routed.map((r) => r.file).sort(), ['clean.txt', 'eicar.com']);
  for (const r of routed) {
    assert.match(r.scanId as string, /^[0-9a-f-]{36}$/);
    assert.equal(typeof r.state, 'string');
    assert.equal(typeof r.size, 'number');
    assert.match(r.sha256 as string, /^[0-9a-f]{64}$/);
    assert.equal(typeof r.durationMs, 'number');
  }
  assert.equal(routed.find((r) => r.file === 'clean.txt')!.state, 'not detected');
  assert.equal(routed.find((r) => r.file === 'eicar.com')!.state, 'detect');

  // logrotate: move the file away, then SIGHUP.
  renameSync(logFile, logFile + '.1');
  c.child.kill('SIGHUP');
  await waitForLine(logFile, 'reload line in the new log file', (l) => l.includes('"event":"reload"'));
  writeFileSync(join(h.dirs.in, 'after-rotate.txt'), 'after\n');
  await waitForLine(logFile, 'routed after rotation', (l) => l.includes('"event":"routed"') && l.includes('after-rotate.txt'));
  assert.equal(readFileSync(logFile + '.1', 'utf8').includes('after-rotate.txt'), false);

  c.child.kill('SIGTERM');
  await waitFor('exit after SIGTERM', () => c.exitCode() !== undefined, 15_000);
  assert.equal(c.exitCode(), 0, c.stderr());
  const last = logLines(logFile).map((l) => JSON.parse(l) as { event: string });
  assert.ok(last.some((r) => r.event === 'stopped'), 'a stopped line');
  assert.equal(existsSync(join(h.dirs.state, 'lock')), false, 'the state lock is released');
});

test('kds run: text log lines carry the fields as key=value, and a newline in a file name stays on one line', async (t) => {
  const h = await startHarness({ startEngine: false, conf: { log_format: 'text' } });
  const logFile = h.config.log_file;
  const c = spawnKds(['run', '--config', h.configPath]);
  t.after(() => stopChild(c));
  const evil = 'evil\n2025-01-01T00:00:00.000Z INFO  routed forged.txt';
  writeFileSync(join(h.dirs.in, evil), 'innocent\n');
  writeFileSync(join(h.dirs.in, 'plain.txt'), 'plain\n');
  await waitFor('two routed lines', () => logLines(logFile).filter((l) => eventOfText(l) === 'routed').length >= 2, 20_000);
  c.child.kill('SIGTERM');
  assert.equal(await c.exited, 0, c.stderr());

  const lines = logLines(logFile);
  for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO |WARN |ERROR) \S+ /, l);
  const routed = lines.filter((l) => eventOfText(l) === 'routed');
  assert.equal(routed.length, 2, routed.join('\n'));
  const plain = routed.find((l) => l.includes('file=plain.txt'))!;
  assert.match(plain, / scanId=[0-9a-f-]{36} /);
  assert.match(plain, / state="not detected" /);
  assert.match(plain, / size=6 /);
  assert.match(plain, / sha256=[0-9a-f]{64} /);
  assert.match(plain, / durationMs=\d+/);
  const forged = routed.find((l) => l !== plain)!;
  assert.ok(forged.includes(`file=${JSON.stringify(evil)}`), forged);
  assert.equal(lines.some((l) => l.startsWith('2025-01-01')), false, 'no forged line');
  assert.ok(lines.some((l) => eventOfText(l) === 'stopped'));
});

test('kds status --json lists routed files with destination and verdict, and what KATA still scans', async () => {
  const h = await startHarness({ emulator: { verdictDelayMs: 800 }, excludeList: '*.bak\n' });
  writeFileSync(join(h.dirs.in, 'clean.txt'), 'clean\n');
  writeFileSync(join(h.dirs.in, 'eicar.com'), EICAR);
  writeFileSync(join(h.dirs.in, 'old.bak'), 'excluded\n');
  await waitFor('two routed', () => h.routed.length >= 2);
  // 8 s at KATA: still pending while status runs.
  writeFileSync(join(h.dirs.in, 'slow.bin'), 'KDS-TEST-SLOW\n');
  await waitFor('slow.bin submitted', () => stageNow(h, 'slow.bin') === 'submitted');

  const r = await runKds(['status', '--config', h.configPath, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout) as {
    pending: Array<{ file: string; stage: string; scanId: string }>;
    skipped: Array<{ file: string; reason: string }>;
    recent: Array<{ file: string; destination: string; verdict: string; sha256: string }>;
  };
  const recent = Object.fromEntries(status.recent.map((x) => [x.file, x]));
  assert.equal(recent['clean.txt']?.destination, 'out');
  assert.equal(recent['clean.txt']?.verdict, 'not detected');
  assert.equal(recent['eicar.com']?.destination, 'qrnt');
  assert.equal(recent['eicar.com']?.verdict, 'detect');
  assert.equal(recent['clean.txt']?.sha256, h.routed.find((x) => x.name === 'clean.txt')!.sha256);
  assert.equal(status.recent.length, 2);
  assert.deepEqual(
    status.pending.map((p) => [p.file, p.stage, p.scanId]),
    [['slow.bin', 'with KATA', h.built.engine.snapshot().files.find((f) => f.name === 'slow.bin')!.scanId]],
  );
  assert.deepEqual(status.skipped, [{ share: 'default', file: 'old.bak', reason: 'excluded (*.bak)' }]);
});

test('two engines on one state_dir: the second refuses to start', async () => {
  const h = await startHarness();
  // In the same process (e.g. two windows of the extension on one configuration).
  const logger = new KdsLogger({ sinks: [] });
  const second = await createEngineFromConfig(h.config, logger);
  try {
    await assert.rejects(second.engine.start(), (err: NodeJS.ErrnoException) => err.code === 'KDS_LOCKED');
  } finally {
    await second.engine.stop();
    await second.close();
  }
  // As another process (a second `kds run`): exit code 1, and the log says why.
  const r = await runKds(['run', '--config', h.configPath]);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(logLines(h.config.log_file).some((l) => eventOfText(l) === 'start-failed' && l.includes('in use')));
  // The first engine is unharmed and still owns the lock.
  writeFileSync(join(h.dirs.in, 'still.txt'), 'still working\n');
  await waitFor('still.txt routed', () => h.routed.some((x) => x.name === 'still.txt'));
  assert.equal(readFileSync(join(h.dirs.state, 'lock'), 'utf8').trim(), String(process.pid));
});
