import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../src/engine/config';
import { EventStreamWriter } from '../../src/engine/eventStream';
import { FileSink, KdsLogger, formatJson, formatText } from '../../src/common/log';
import { linesFromEnd } from '../../src/engine/fileTail';
import { countsToday, folderHealth, gatherNodeStatus } from '../../src/engine/nodeStatus';
import { lastLoggedProblems, parseProblemLine, streamFacts } from '../../src/engine/serviceTrail';
import { parseMounts } from '../../src/engine/mounts';
import type { ScanEntry } from '../../src/engine/journal';
import { tempDir } from '../helpers/tempDirs';

async function all(path: string, max?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const l of linesFromEnd(path, max)) out.push(l);
  return out;
}

test('linesFromEnd: newest first across chunk boundaries, a torn last line skipped, a missing file empty', async () => {
  const dir = tempDir();
  const p = join(dir, 'f');
  const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(i % 300)}`);
  writeFileSync(p, lines.join('\n') + '\nhalf a li');
  const got = await all(p);
  assert.equal(got.length, 5000);
  assert.deepEqual(got, [...lines].reverse());
  writeFileSync(p, 'only\n');
  assert.deepEqual(await all(p), ['only']);
  writeFileSync(p, 'no newline at all');
  assert.deepEqual(await all(p), []);
  assert.deepEqual(await all(join(dir, 'missing')), []);
  // Bounded: only what lies in the last maxBytes, and never a line cut at that bound.
  writeFileSync(p, 'aaaa\nbbbb\ncccc\n');
  assert.deepEqual(await all(p, 8), ['cccc']);
});

test('the newest WARN or ERROR line of the log, in text and JSON format; info lines are passed over', async () => {
  const dir = tempDir();
  for (const [name, format] of [['text.log', formatText], ['json.log', formatJson]] as const) {
    const sink = new FileSink(join(dir, name), format);
    const log = new KdsLogger({ level: 'debug', sinks: [sink.write] });
    log.warn('folder-unavailable', 'out folder is unavailable (ENOSPC); waiting for it, nothing is moved meanwhile', { path: '/mnt/out' });
    log.info('routed', 'moved to output', { file: 'a.txt' });
    sink.close();
    const p = (await lastLoggedProblems(join(dir, name), [])).newest;
    assert.ok(p, name);
    assert.equal(p.level, 'warn');
    assert.equal(p.event, 'folder-unavailable');
    assert.match(p.message, /^out folder is unavailable \(ENOSPC\)/);
  }
  assert.equal(parseProblemLine('2024-01-01T00:00:00.000Z INFO  routed moved'), undefined);
  assert.equal(parseProblemLine('{"level":"info","time":"x","msg":"m"}'), undefined);
  assert.deepEqual(parseProblemLine('2024-01-01T00:00:00.000Z ERROR journal "cannot write the journal: EIO"'), { time: '2024-01-01T00:00:00.000Z', level: 'error', event: 'journal', message: 'cannot write the journal: EIO' });
});

test('per share: the newest problem naming each share, the newest naming none, in text and JSON; a quoted value holding " share=" is not the field', async () => {
  const dir = tempDir();
  for (const [name, format] of [['text.log', formatText], ['json.log', formatJson]] as const) {
    const sink = new FileSink(join(dir, name), format);
    const log = new KdsLogger({ level: 'debug', sinks: [sink.write] });
    log.warn('folder-unavailable', 'out folder is unavailable (ENOSPC); waiting for it, nothing is moved meanwhile', { share: 'hr', path: '/mnt/hr/out' });
    log.error('kata', 'KATA did not answer', { url: 'https://kata.example' });
    log.warn('renamed', 'delivered as b_1.txt', { share: 'fin', file: 'b.txt' });
    log.warn('scan-timeout', 'no verdict; the file goes to quarantine', { file: 'odd share=hr name.txt', share: 'sales team' });
    log.info('routed', 'moved to output', { share: 'hr', file: 'a.txt' });
    sink.close();
    const p = await lastLoggedProblems(join(dir, name), ['hr', 'fin', 'sales team', 'legal']);
    assert.equal(p.newest?.event, 'scan-timeout', name);
    assert.equal(p.newest?.share, 'sales team', `${name}: the file field's " share=hr" is inside its quotes`);
    assert.equal(p.service?.event, 'kata', name);
    assert.equal(p.service?.share, undefined, name);
    assert.deepEqual(
      [...p.byShare].map(([k, v]) => [k, v.event]).sort(),
      [['fin', 'renamed'], ['hr', 'folder-unavailable'], ['sales team', 'scan-timeout']],
      `${name}: legal has no line; info lines do not count`,
    );
  }
  assert.equal(parseProblemLine('2024-01-01T00:00:00.000Z WARN  renamed share=hr file=a')?.share, undefined, 'an unquoted message is one token: share=hr is the message');
  assert.equal(parseProblemLine('2024-01-01T00:00:00.000Z WARN  renamed moved share=hr file=a')?.share, 'hr');
  assert.equal(parseProblemLine('2024-01-01T00:00:00.000Z WARN  renamed moved file="x share=hr"')?.share, undefined);
  assert.deepEqual(await lastLoggedProblems(join(dir, 'missing.log'), ['hr']), { byShare: new Map() });
});

test('the event stream tells approval, running and the folders since the last start', async () => {
  const dir = tempDir();
  const w = EventStreamWriter.open(dir, { snapshot: () => ({ running: true, approval: 'unknown', files: [] }), heartbeatMs: 0, version: '9.9.9' });
  w.append({ type: 'running', running: true });
  w.append({ type: 'folder', folder: 'out', available: false, path: '/old', reason: 'ENOSPC' });
  w.close();
  const w2 = EventStreamWriter.open(dir, { snapshot: () => ({ running: true, approval: 'unknown', files: [] }), heartbeatMs: 0, version: '9.9.10' });
  w2.append({ type: 'running', running: true });
  w2.append({ type: 'approval', state: 'pending', systemId: 'sys-1', fingerprint256: 'AA:BB' });
  w2.append({ type: 'folder', folder: 'qrnt', available: false, path: '/mnt/qrnt', reason: 'ENOTCONN' });
  w2.append({ type: 'running', running: false });
  w2.close();
  const f = await streamFacts(dir);
  assert.equal(f.approval, 'pending');
  assert.equal(f.systemId, 'sys-1');
  assert.equal(f.fingerprint256, 'AA:BB');
  assert.equal(f.running, false);
  assert.equal(f.start?.version, '9.9.10');
  assert.ok(f.lastRecordAt);
  // The first run's folder event is about a service that is gone.
  assert.deepEqual(f.folders.map((x) => [x.folder, x.reason]), [['qrnt', 'ENOTCONN']]);
  assert.deepEqual(await streamFacts(join(dir, 'nothing-here')), { approval: 'unknown', folders: [] });
});

const entry = (over: Partial<ScanEntry>): ScanEntry => ({ scanId: Math.random().toString(36), share: 'default', name: 'f', size: 1, mtimeMs: 1, ino: 1, intentAt: 0, outcome: 'routed', ...over });

test('today\'s counts per share from the journal; an old journal entry is the share "default"; lower bounds after compaction', () => {
  const day = Date.parse('2025-03-04T00:00:00Z');
  const now = day + 10 * 3_600_000;
  const finished = [
    entry({ destination: 'out', doneAt: day + 1 }),
    entry({ destination: 'out', doneAt: day - 1 }),
    entry({ destination: 'qrnt', doneAt: now - 60_000 }),
    entry({ destination: 'qrnt', doneAt: day + 5 }),
    entry({ destination: 'qrnt', doneAt: now - 1000, outcome: 'abandoned' }),
    { ...entry({ destination: 'out', doneAt: day + 7 }), share: 'hr' } as ScanEntry,
  ];
  assert.deepEqual(countsToday(finished, 'default', day, now), { outToday: 1, qrntToday: 2, qrntLastHour: 1 });
  assert.deepEqual(countsToday(finished, 'hr', day, now), { outToday: 1, qrntToday: 0, qrntLastHour: 0 });
  const busy = Array.from({ length: 1000 }, (_, i) => entry({ destination: 'out', doneAt: day + i }));
  assert.equal(countsToday(busy, 'default', day, now).countsAtLeast, true);
  assert.equal(countsToday([...busy, entry({ destination: 'out', doneAt: day - 5 })], 'default', day, now).countsAtLeast, undefined);
});

test('folder health: missing, not a folder, an fstab mount point that is not mounted, and what the running service said', async () => {
  const dir = tempDir();
  const ok = join(dir, 'ok');
  mkdirSync(ok);
  writeFileSync(join(dir, 'file'), '');
  const none = parseMounts('');
  assert.deepEqual(await folderHealth('in', ok, none, []), { folder: 'in', path: ok, ok: true });
  assert.equal((await folderHealth('in', join(dir, 'gone'), none, [])).problem, 'does not exist');
  assert.equal((await folderHealth('in', join(dir, 'file'), none, [])).problem, 'not a folder');
  const fstab = parseMounts(`//files/in ${ok} cifs credentials=/root/.kata-secret 0 0\n`);
  assert.equal((await folderHealth('in', ok + '/', none, fstab)).problem, 'not mounted (/etc/fstab: //files/in cifs)');
  assert.equal((await folderHealth('in', ok, parseMounts(`//files/in ${ok} cifs rw 0 0\n`), fstab)).ok, true);
  // Without a mount table nothing is claimed about mounts.
  assert.equal((await folderHealth('in', ok, undefined, fstab)).ok, true);
  assert.equal((await folderHealth('out', ok, none, [], 'ENOSPC')).problem, 'ENOSPC');
});

test('gatherNodeStatus: one share "default" with waiting, skipped, today\'s counts, quarantine now, service and last problem', async () => {
  const dir = tempDir();
  const [inDir, outDir, qrntDir, state] = ['in', 'out', 'qrnt', 'state'].map((d) => join(dir, d)) as [string, string, string, string];
  for (const d of [inDir, outDir, qrntDir, state]) mkdirSync(d);
  writeFileSync(join(dir, 'exclude_list.txt'), '*.skip\n');
  const { config } = parseConfigText(
    JSON.stringify({ in_dir: inDir, out_dir: outDir, qrnt_dir: qrntDir, cert_pem: join(dir, 'c.pem'), cert_key: join(dir, 'k.pem'), kata_cn_addr: '127.0.0.1', system_id: 'sys-42', state_dir: state, log_file: join(dir, 'kds.log'), max_file_size_mb: 1 }),
    join(dir, 'kata_dir_scanner.conf'),
  );
  writeFileSync(join(inDir, 'a.txt'), 'a');
  writeFileSync(join(inDir, 'b.txt'), 'b');
  writeFileSync(join(inDir, 'c.skip'), 'c');
  writeFileSync(join(inDir, 'big.bin'), Buffer.alloc(1024 * 1024 + 1));
  mkdirSync(join(inDir, 'sub'));
  writeFileSync(join(qrntDir, 'eicar.com'), 'x');
  writeFileSync(join(qrntDir, '.kds-partial-abc'), 'x');
  const now = new Date();
  const ops = [
    { op: 'intent', scanId: 's1', name: 'clean.txt', size: 1, mtimeMs: 1, ino: 1, at: now.getTime() - 5000 },
    { op: 'submitted', scanId: 's1', sha256: 'h', at: now.getTime() - 4000 },
    { op: 'verdict', scanId: 's1', state: 'not detected', destination: 'out', at: now.getTime() - 3000 },
    { op: 'done', scanId: 's1', outcome: 'routed', at: now.getTime() - 2000 },
    { op: 'intent', scanId: 's2', name: 'eicar.com', size: 1, mtimeMs: 1, ino: 2, at: now.getTime() - 5000 },
    { op: 'verdict', scanId: 's2', state: 'detect', destination: 'qrnt', at: now.getTime() - 3000 },
    { op: 'done', scanId: 's2', outcome: 'routed', at: now.getTime() - 1000 },
  ];
  writeFileSync(join(state, 'journal.jsonl'), ops.map((o) => JSON.stringify(o)).join('\n') + '\n');
  const w = EventStreamWriter.open(state, { snapshot: () => ({ running: true, approval: 'approved', files: [] }), heartbeatMs: 0, version: '0.0.1' });
  w.append({ type: 'running', running: true });
  w.close();
  appendFileSync(join(dir, 'kds.log'), `${new Date(now.getTime() - 100).toISOString()} WARN  scan-timeout "no verdict within 600 s; the file goes to quarantine" file=x\n`);

  const stopped = await gatherNodeStatus(config, { now, mountsText: '', fstabText: '' });
  assert.equal(stopped.format, 1);
  assert.equal(stopped.service.running, false, 'nobody holds the state_dir lock');
  assert.equal(stopped.service.approval, 'approved');
  assert.equal(stopped.service.systemId, 'sys-42');
  assert.equal(stopped.service.runningVersion, '0.0.1');
  assert.equal(stopped.shares.length, 1);
  const s = stopped.shares[0]!;
  assert.equal(s.name, 'default');
  assert.equal(s.waiting, 2);
  assert.equal(s.skipped, 3, 'excluded, too large, a subfolder');
  assert.deepEqual([s.outToday, s.qrntToday, s.qrntLastHour], [1, 1, 1]);
  assert.equal(s.inQuarantine, 1, 'KDS\'s partial copy is not a file in quarantine');
  assert.deepEqual(s.folders.map((f) => f.ok), [true, true, true]);
  assert.equal(stopped.lastProblem?.event, 'scan-timeout');
  assert.equal(s.lastProblem?.event, 'scan-timeout', 'one share: every problem line is about it');
  assert.match(stopped.lastProblem!.message, /^no verdict within 600 s/);

  writeFileSync(join(state, 'lock'), `${process.pid}\n`);
  const running = await gatherNodeStatus(config, { now, mountsText: '', fstabText: '' });
  assert.equal(running.service.running, true);
  assert.equal(running.service.pid, process.pid);
});

test('gatherNodeStatus with two shares: each share its own input, today\'s counts and folders; a folder event of one share is not another\'s', async () => {
  const dir = tempDir();
  const folders = (share: string) => ['in', 'out', 'qrnt'].map((d) => join(dir, share, d)) as [string, string, string];
  const [inDir, outDir, qrntDir] = folders('default');
  const [hrIn, hrOut, hrQrnt] = folders('hr');
  const state = join(dir, 'state');
  for (const d of [inDir, outDir, qrntDir, hrIn, hrOut, hrQrnt, state]) mkdirSync(d, { recursive: true });
  const { config } = parseConfigText(
    JSON.stringify({
      in_dir: inDir, out_dir: outDir, qrnt_dir: qrntDir,
      shares: [{ name: 'hr', in_dir: hrIn, out_dir: hrOut, qrnt_dir: hrQrnt }],
      cert_pem: join(dir, 'c.pem'), cert_key: join(dir, 'k.pem'), kata_cn_addr: '127.0.0.1', system_id: 'sys-2', state_dir: state, log_file: join(dir, 'kds.log'),
    }),
    join(dir, 'kata_dir_scanner.conf'),
  );
  // The same name waiting in both shares is two files.
  writeFileSync(join(inDir, 'same.txt'), 'a');
  writeFileSync(join(hrIn, 'same.txt'), 'b');
  writeFileSync(join(hrIn, 'other.txt'), 'c');
  const now = new Date();
  const routed = (scanId: string, share: string, destination: string) => [
    { op: 'intent', scanId, share, name: scanId, size: 1, mtimeMs: 1, ino: 1, at: now.getTime() - 5000 },
    { op: 'verdict', scanId, state: destination === 'out' ? 'not detected' : 'detect', destination, at: now.getTime() - 3000 },
    { op: 'done', scanId, outcome: 'routed', at: now.getTime() - 2000 },
  ];
  const ops = [...routed('d1', 'default', 'out'), ...routed('h1', 'hr', 'qrnt'), ...routed('h2', 'hr', 'qrnt')];
  writeFileSync(join(state, 'journal.jsonl'), ops.map((o) => JSON.stringify(o)).join('\n') + '\n');
  const w = EventStreamWriter.open(state, { snapshot: () => ({ running: true, approval: 'approved', files: [] }), heartbeatMs: 0, version: '0.0.1' });
  w.append({ type: 'running', running: true });
  w.append({ type: 'folder', share: 'hr', folder: 'qrnt', available: false, path: hrQrnt, reason: 'ENOSPC' });
  w.append({ type: 'folder', share: 'default', folder: 'qrnt', available: true, path: qrntDir });
  w.close();
  writeFileSync(join(state, 'lock'), `${process.pid}\n`);

  const s = await gatherNodeStatus(config, { now, mountsText: '', fstabText: '' });
  assert.deepEqual(s.shares.map((x) => x.name), ['default', 'hr']);
  const [def, hr] = s.shares as [(typeof s.shares)[number], (typeof s.shares)[number]];
  assert.deepEqual([def.waiting, hr.waiting], [1, 2]);
  assert.deepEqual([def.outToday, def.qrntToday, hr.outToday, hr.qrntToday], [1, 0, 0, 2]);
  assert.deepEqual(def.folders.map((f) => f.ok), [true, true, true], 'hr\'s full quarantine is not the default share\'s');
  assert.deepEqual(hr.folders.map((f) => f.ok), [true, true, false]);
});
