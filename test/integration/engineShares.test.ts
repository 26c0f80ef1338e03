import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { loadConfig } from '../../src/engine/config';
import type { ScannerApi } from '../../src/kata/scannerApi';
import { type Harness, logsOf, stageNow, startHarness, waitFor, waitRescans } from '../helpers/engineHarness';

/** Every file of every share's three folders: share → folder → name → content. */
function contents(h: Harness): Record<string, Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, Record<string, string>>> = {};
  for (const [share, d] of Object.entries(h.shareDirs)) {
    out[share] = {};
    for (const f of ['in', 'out', 'qrnt'] as const) {
      out[share]![f] = Object.fromEntries(readdirSync(d[f]).sort().map((n) => [n, readFileSync(join(d[f], n), 'latin1')]));
    }
  }
  return out;
}

/** KATA's state answers pass only once `open()` was called; until then KATA seems to have no verdict yet. */
function heldStates(): { wrap: (api: ScannerApi) => ScannerApi; open(): void; answers: Array<Array<{ scanId: string; state: string }>> } {
  let open = false;
  const answers: Array<Array<{ scanId: string; state: string }>> = [];
  return {
    answers,
    open: () => {
      open = true;
    },
    wrap: (api) =>
      new Proxy(api, {
        get(target, prop, receiver) {
          if (prop !== 'states') return Reflect.get(target, prop, receiver);
          return async () => {
            if (!open) return [];
            const r = await target.states();
            answers.push(r);
            return r;
          };
        },
      }),
  };
}

test('three shares in one service: one system_id, one state answer listing the scans of all shares, every file back in its own share', async () => {
  const held = heldStates();
  const h = await startHarness({ shares: [{ name: 'hr' }, { name: 'fin' }], wrapApi: held.wrap });
  const files: Record<string, Record<string, string>> = {
    default: { 'report.txt': 'default report\n', 'eicar.com': EICAR },
    hr: { 'report.txt': 'hr report, longer than the others\n', 'eicar.com': EICAR + ' ' },
    fin: { 'report.txt': 'fin\n', 'eicar.com': EICAR + '  ', 'budget.xlsx': 'numbers\n' },
  };
  for (const [share, named] of Object.entries(files)) for (const [name, body] of Object.entries(named)) writeFileSync(join(h.shareDirs[share]!.in, name), body, 'latin1');

  // Every file is with KATA before KATA answers anything: the answer then lists them all.
  await waitFor('all 7 files with KATA', () => h.built.engine.snapshot().files.filter((f) => f.stage === 'submitted').length === 7);
  const shareOfScan = new Map(h.built.engine.snapshot().files.map((f) => [f.scanId!, f.share!]));
  // One integration: KATA holds every share's scans under the one system_id.
  assert.deepEqual(
    h.emulator.stats().scans.map((s) => s.sensorId),
    Array(7).fill(h.config.system_id),
  );
  held.open();
  await waitFor('all 7 routed', () => h.routed.length === 7);
  const first = held.answers.find((a) => a.length > 0)!;
  assert.deepEqual(new Set(first.map((r) => shareOfScan.get(r.scanId))), new Set(['default', 'hr', 'fin']), 'one answer, scans of all shares');

  assert.equal(h.emulator.stats().postsAccepted, 7);
  const expected: ReturnType<typeof contents> = {};
  for (const [share, named] of Object.entries(files)) {
    expected[share] = { in: {}, out: {}, qrnt: {} };
    for (const [name, body] of Object.entries(named)) expected[share]![name.startsWith('eicar') ? 'qrnt' : 'out']![name] = body;
  }
  assert.deepEqual(contents(h), expected);
  // The events and the log say which share each file came from.
  for (const r of h.routed) assert.equal(r.path.startsWith(h.shareDirs[r.share!]![r.destination] + '/'), true, `${r.share}/${r.name} → ${r.path}`);
  assert.deepEqual(new Set(logsOf(h, 'routed').map((l) => `${l.share}/${l.file}`)), new Set(h.routed.map((r) => `${r.share}/${r.name}`)));
});

test('files of three shares routed each to its own share under load, names repeated in every share', async () => {
  const h = await startHarness({ noDefault: true, shares: [{ name: 'a' }, { name: 'b' }, { name: 'c' }], conf: { stable_ms: 50, max_inflight: 16 } });
  const perShare = 120;
  const body = (share: string, i: number) => (i % 5 === 0 ? EICAR + ' '.repeat(['a', 'b', 'c'].indexOf(share) * 20 + (i % 20)) : `${share} file ${i}\n`);
  for (let i = 0; i < perShare; i++) for (const share of ['a', 'b', 'c']) writeFileSync(join(h.shareDirs[share]!.in, `f${i}.bin`), body(share, i), 'latin1');
  await waitFor('all routed', () => h.routed.length >= 3 * perShare, 60_000);
  await waitFor('inputs empty', () => ['a', 'b', 'c'].every((s) => readdirSync(h.shareDirs[s]!.in).length === 0));
  const now = contents(h);
  for (const share of ['a', 'b', 'c']) {
    const out: Record<string, string> = {};
    const qrnt: Record<string, string> = {};
    for (let i = 0; i < perShare; i++) (i % 5 === 0 ? qrnt : out)[`f${i}.bin`] = body(share, i);
    assert.deepEqual(now[share]!.out, Object.fromEntries(Object.entries(out).sort()), `${share}/out`);
    assert.deepEqual(now[share]!.qrnt, Object.fromEntries(Object.entries(qrnt).sort()), `${share}/qrnt`);
  }
  assert.equal(h.emulator.stats().postsAccepted, 3 * perShare, 'each file sent once');
});

test('each share has its own exclude list (edited without a restart) and may set its own size limit and settle time', async () => {
  const h = await startHarness({
    shares: [
      { name: 'hr', max_file_size_mb: 0.001, exclude_list: 'hr.exclude' },
      { name: 'fin', stable_ms: 0 },
    ],
  });
  writeFileSync(join(h.root, 'hr.exclude'), '*.doc\n');
  await waitRescans(h, 2);
  const big = 'x'.repeat(2000);
  for (const share of ['default', 'hr', 'fin']) {
    writeFileSync(join(h.shareDirs[share]!.in, 'letter.doc'), `${share} letter\n`);
    writeFileSync(join(h.shareDirs[share]!.in, 'big.txt'), big);
  }
  await waitFor('default and fin routed', () => h.routed.filter((r) => r.share !== 'hr').length === 4);
  await waitFor('hr skipped', () => stageNow(h, 'letter.doc', 'hr') === 'excluded' && stageNow(h, 'big.txt', 'hr') === 'too-large');
  assert.deepEqual(readdirSync(h.shareDirs.hr!.in).sort(), ['big.txt', 'letter.doc']);
  assert.equal(logsOf(h, 'excluded', 'letter.doc')[0]!.share, 'hr');

  // fin's own list, created while running: only fin's files of that name stay.
  writeFileSync(join(h.root, 'exclude_list.fin.txt'), 'later.tmp\n');
  await waitRescans(h, 2);
  for (const share of ['default', 'hr', 'fin']) writeFileSync(join(h.shareDirs[share]!.in, 'later.tmp'), `${share}\n`);
  await waitFor('later.tmp routed from default and hr', () => h.routed.filter((r) => r.name === 'later.tmp').length === 2);
  await waitFor('fin excluded it', () => stageNow(h, 'later.tmp', 'fin') === 'excluded');
  assert.deepEqual(h.routed.filter((r) => r.name === 'later.tmp').map((r) => r.share).sort(), ['default', 'hr']);
  // Removing hr's mask lets hr's letter go; its big file stays (its own limit).
  writeFileSync(join(h.root, 'hr.exclude'), '');
  await waitFor('hr letter routed', () => h.routed.some((r) => r.share === 'hr' && r.name === 'letter.doc'));
  assert.equal(readFileSync(join(h.shareDirs.hr!.out, 'letter.doc'), 'utf8'), 'hr letter\n');
  assert.equal(stageNow(h, 'big.txt', 'hr'), 'too-large');
});

test("one share's quarantine and input removed, then restored: that share waits, the others go on", async () => {
  const h = await startHarness({ shares: [{ name: 'hr' }, { name: 'fin' }] });
  const hr = h.shareDirs.hr!;
  renameSync(hr.qrnt, hr.qrnt + '.away');
  writeFileSync(join(hr.in, 'eicar.com'), EICAR);
  writeFileSync(join(hr.in, 'clean.txt'), 'hr clean\n');
  await waitFor("hr's quarantine reported", () => h.events.some((e) => e.type === 'folder' && e.share === 'hr' && e.folder === 'qrnt' && !e.available));
  await waitFor('hr clean routed, hr eicar waits', () => h.routed.some((r) => r.share === 'hr' && r.name === 'clean.txt') && stageNow(h, 'eicar.com', 'hr') === 'retrying');

  // hr's input goes too; the other shares are not held up at all.
  renameSync(hr.in, hr.in + '.away');
  await waitFor("hr's input reported", () => h.events.some((e) => e.type === 'folder' && e.share === 'hr' && e.folder === 'in' && !e.available));
  for (const share of ['default', 'fin']) {
    for (let i = 0; i < 5; i++) writeFileSync(join(h.shareDirs[share]!.in, `doc${i}.txt`), `${share} ${i}\n`);
    writeFileSync(join(h.shareDirs[share]!.in, 'eicar.com'), EICAR);
  }
  await waitFor('default and fin all routed', () => h.routed.filter((r) => r.share !== 'hr').length === 12);
  for (const share of ['default', 'fin']) {
    assert.deepEqual(readdirSync(h.shareDirs[share]!.in), []);
    assert.equal(readFileSync(join(h.shareDirs[share]!.qrnt, 'eicar.com'), 'latin1'), EICAR);
  }
  assert.equal(existsSync(join(h.shareDirs.default!.qrnt, 'clean.txt')), false);
  const warned = logsOf(h, 'folder-unavailable');
  assert.ok(warned.length >= 2 && warned.every((l) => l.share === 'hr'), 'only hr is unavailable');

  renameSync(hr.in + '.away', hr.in);
  renameSync(hr.qrnt + '.away', hr.qrnt);
  await waitFor('hr eicar delivered', () => h.routed.some((r) => r.share === 'hr' && r.name === 'eicar.com'), 30_000);
  assert.equal(readFileSync(join(hr.qrnt, 'eicar.com'), 'latin1'), EICAR);
  assert.deepEqual(readdirSync(hr.in), []);
  assert.ok(h.events.some((e) => e.type === 'folder' && e.share === 'hr' && e.folder === 'qrnt' && e.available));
});

test('a journal of a one-share service is read as the share default when the configuration gains shares: nothing is sent again', async () => {
  const held = heldStates();
  const h = await startHarness({ wrapApi: held.wrap });
  writeFileSync(join(h.dirs.in, 'old.txt'), 'in progress during the upgrade\n');
  await waitFor('old.txt with KATA', () => stageNow(h, 'old.txt') === 'submitted');
  await h.stop();

  // What a KDS older than shares wrote: no share in the journal.
  const journal = join(h.dirs.state, 'journal.jsonl');
  writeFileSync(journal, readFileSync(journal, 'utf8').replace(/"share":"default",/g, ''));
  assert.doesNotMatch(readFileSync(journal, 'utf8'), /share/);
  const hr = { in: join(h.root, 'hr', 'in'), out: join(h.root, 'hr', 'out'), qrnt: join(h.root, 'hr', 'qrnt') };
  for (const d of Object.values(hr)) mkdirSync(d, { recursive: true });
  // The same name in the new share is another file.
  writeFileSync(join(hr.in, 'old.txt'), 'hr has a file of that name too\n');
  const conf = JSON.parse(readFileSync(h.configPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(h.configPath, JSON.stringify({ ...conf, shares: [{ name: 'hr', in_dir: hr.in, out_dir: hr.out, qrnt_dir: hr.qrnt }] }));
  h.config = (await loadConfig(h.configPath)).config;
  await h.start();

  await waitFor('old.txt known as submitted in default', () => stageNow(h, 'old.txt', 'default') === 'submitted');
  await waitFor('hr old.txt with KATA', () => stageNow(h, 'old.txt', 'hr') === 'submitted');
  held.open();
  await waitFor('both routed', () => h.routed.length === 2);
  assert.equal(h.emulator.stats().postsAccepted, 2, 'the default share\'s file was not sent again');
  assert.equal(readFileSync(join(h.dirs.out, 'old.txt'), 'utf8'), 'in progress during the upgrade\n');
  assert.equal(readFileSync(join(hr.out, 'old.txt'), 'utf8'), 'hr has a file of that name too\n');
  assert.deepEqual([readdirSync(h.dirs.in), readdirSync(hr.in)], [[], []]);
  // The journal names the shares from now on.
  assert.match(readFileSync(journal, 'utf8'), /"share":"hr"/);
});
