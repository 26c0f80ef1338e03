import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { quarantineAuditFile, readQuarantineAudit } from '../../src/engine/quarantineActions';
import type { ServiceStatus } from '../../src/engine/serviceStatus';
import { startHarness, waitFor } from '../helpers/engineHarness';
import { runKds } from '../helpers/kdsProcess';

interface CheckOutput {
  exitCode: number;
  items: Array<{ id: string; share?: string; status: string; title: string }>;
}

test('kds status, check and quarantine on two shares: per-share summaries, --share, every folder of every share checked, release into the right share with the share in the audit', { timeout: 120_000 }, async () => {
  const h = await startHarness({ shares: [{ name: 'hr' }] });
  const bodies: Record<string, string> = { default: 'default report\n', hr: 'hr report, a little longer\n' };
  for (const share of ['default', 'hr']) {
    writeFileSync(join(h.shareDirs[share]!.in, 'report.txt'), bodies[share]!);
    writeFileSync(join(h.shareDirs[share]!.in, 'eicar.com'), share === 'hr' ? EICAR + ' ' : EICAR, 'latin1');
  }
  await waitFor('four files routed', () => h.routed.length >= 4);

  // The whole service: one summary per share, every row naming its share.
  const all = await runKds(['status', '--config', h.configPath, '--json']);
  assert.equal(all.code, 0, all.stderr);
  const status = JSON.parse(all.stdout) as ServiceStatus;
  assert.deepEqual(status.shares.map((s) => s.name), ['default', 'hr']);
  for (const s of status.shares) {
    assert.equal(s.in_dir, h.shareDirs[s.name]!.in);
    assert.deepEqual([s.waiting, s.outToday, s.qrntToday, s.inQuarantine], [0, 1, 1, 1], `${s.name}: ${JSON.stringify(s)}`);
    assert.deepEqual(s.folders, { in: null, out: null, qrnt: null });
  }
  assert.deepEqual(status.recent.map((r) => `${r.share}/${r.file}→${r.destination}`).sort(), ['default/eicar.com→qrnt', 'default/report.txt→out', 'hr/eicar.com→qrnt', 'hr/report.txt→out']);

  // One share.
  const hrOnly = await runKds(['status', '--config', h.configPath, '--json', '--share', 'hr']);
  assert.equal(hrOnly.code, 0, hrOnly.stderr);
  const hr = JSON.parse(hrOnly.stdout) as ServiceStatus;
  assert.deepEqual([...new Set(hr.recent.map((r) => r.share))], ['hr']);
  assert.equal(hr.recent.length, 2);
  const text = await runKds(['status', '--config', h.configPath]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /hr/);
  const unknown = await runKds(['status', '--config', h.configPath, '--share', 'sales']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no share named "sales"; its shares: default, hr/);

  // Quarantine: with several shares the share must be named; the file leaves hr's quarantine only.
  const unnamed = await runKds(['quarantine', 'release', '--config', h.configPath, '--user', 'alice', '--json', '--', 'eicar.com']);
  assert.equal(unnamed.code, 2);
  assert.match(unnamed.stderr, /several shares \(default, hr\): name one with --share NAME/);
  assert.equal(existsSync(join(h.shareDirs.hr!.qrnt, 'eicar.com')), true, 'nothing done without a share');
  const released = await runKds(['quarantine', 'release', '--config', h.configPath, '--share', 'hr', '--user', 'alice', '--reason', 'false positive', '--json', '--', 'eicar.com']);
  assert.equal(released.code, 0, released.stderr);
  const answer = JSON.parse(released.stdout) as { ok: boolean; share: string; path: string };
  assert.deepEqual([answer.ok, answer.share, answer.path], [true, 'hr', join(h.shareDirs.hr!.out, 'eicar.com')]);
  assert.equal(readFileSync(join(h.shareDirs.hr!.out, 'eicar.com'), 'latin1'), EICAR + ' ');
  assert.equal(existsSync(join(h.shareDirs.hr!.qrnt, 'eicar.com')), false);
  assert.equal(readFileSync(join(h.shareDirs.default!.qrnt, 'eicar.com'), 'latin1'), EICAR, "the other share's file of the same name stays");
  assert.equal(existsSync(join(h.shareDirs.default!.out, 'eicar.com')), false);
  const audit = await readQuarantineAudit(quarantineAuditFile(h.config.state_dir));
  assert.deepEqual(audit.map((a) => [a.action, a.share, a.file, a.user]), [['release', 'hr', 'eicar.com', 'alice']]);

  // kds check: every folder of every share; hr's missing quarantine is hr's failed item only.
  renameSync(h.shareDirs.hr!.qrnt, `${h.shareDirs.hr!.qrnt}-gone`);
  const check = await runKds(['check', '--config', h.configPath, '--json'], 60_000);
  const checked = JSON.parse(check.stdout) as CheckOutput;
  assert.equal(check.code, 1, check.stdout);
  const folders = checked.items.filter((i) => ['in_dir', 'out_dir', 'qrnt_dir'].includes(i.id)).map((i) => `${i.share}/${i.id}:${i.status}`);
  assert.deepEqual(folders.sort(), ['default/in_dir:ok', 'default/out_dir:ok', 'default/qrnt_dir:ok', 'hr/in_dir:ok', 'hr/out_dir:ok', 'hr/qrnt_dir:fail']);
  const failed = checked.items.find((i) => i.status === 'fail')!;
  assert.match(failed.title, /^hr: qrnt_dir .* does not exist/);
});
