import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initL10n } from '../../src/common/l10n';
import type { FileRecord, FileStage } from '../../src/engine/events';
import { approvalHint, groupFingerprint, statusSummary } from '../../src/viewModel/statusSummary';

const rec = (name: string, stage: FileStage): FileRecord => ({ name, size: 1, mtimeMs: 1, stage, firstSeen: 1, changedAt: 1, attempts: 0 });

test('running and approved: pending count, in quarantine now, no warning', () => {
  const s = statusSummary({ running: true, approval: 'approved', files: [rec('a', 'queued'), rec('b', 'submitted'), rec('c', 'excluded')], inQuarantine: 3 });
  assert.equal(s.pending, 2);
  assert.equal(s.warning, false);
  assert.equal(s.text, '$(shield) KDS: 2 pending $(bug) 3');
  assert.match(s.tooltip, /Scanner running/);
  assert.match(s.tooltip, /3 files in input, 2 waiting for a verdict/);
  assert.match(s.tooltip, /excluded: 1/);
  assert.match(s.tooltip, /3 files in quarantine now/);
});

test('idle: just the shield', () => {
  const s = statusSummary({ running: true, approval: 'approved', files: [], inQuarantine: 0 });
  assert.equal(s.text, '$(shield) KDS');
  assert.equal(s.pending, 0);
  assert.equal(s.warning, false);
});

test('stopped, awaiting approval, rejected and unreadable files warn', () => {
  assert.equal(statusSummary({ running: false, approval: 'approved', files: [], inQuarantine: 0 }).warning, true);
  assert.match(statusSummary({ running: false, approval: 'approved', files: [], inQuarantine: 0 }).text, /^\$\(circle-slash\) KDS stopped/);
  const pending = statusSummary({ running: true, approval: 'pending', files: [rec('a', 'awaiting-approval')], inQuarantine: 0 });
  assert.equal(pending.warning, true);
  assert.match(pending.text, /awaiting approval/);
  assert.match(pending.tooltip, /waiting for approval by the KATA administrator/);
  const rejected = statusSummary({ running: true, approval: 'rejected', files: [], inQuarantine: 0 });
  assert.equal(rejected.warning, true);
  assert.match(rejected.text, /^\$\(error\)/);
  const unreadable = statusSummary({ running: true, approval: 'approved', files: [rec('a', 'unreadable')], inQuarantine: 0 });
  assert.equal(unreadable.warning, true);
  assert.equal(unreadable.pending, 0);
});

test('localised', () => {
  initL10n('ru');
  try {
    const s = statusSummary({ running: true, approval: 'approved', files: [rec('a', 'queued')], inQuarantine: 1 });
    assert.equal(s.text, '$(shield) KDS: ожидают — 1 $(bug) 1');
    assert.match(s.tooltip, /Сканер работает/);
    assert.match(s.tooltip, /в очереди: 1/);
  } finally {
    initL10n('en');
  }
});

test('while approval is pending or rejected, the tooltip names system_id and the certificate fingerprint to accept', () => {
  const identity = { systemId: 'sensor-7', fingerprint256: 'AB:CD:EF' };
  for (const approval of ['pending', 'rejected'] as const) {
    const s = statusSummary({ running: true, approval, files: [], inQuarantine: 0, identity });
    assert.match(s.tooltip, /sensor-7/);
    assert.match(s.tooltip, /AB:CD:EF/);
  }
  const ok = statusSummary({ running: true, approval: 'approved', files: [], inQuarantine: 0, identity });
  assert.doesNotMatch(ok.tooltip, /AB:CD:EF/);
  assert.match(approvalHint(identity), /accept system_id sensor-7 with certificate SHA-256 AB:CD:EF/);
  const fp = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':');
  const grouped = groupFingerprint(fp);
  assert.equal(grouped.split(' ').length, 4);
  assert.equal(grouped.replace(/ /g, ':'), fp);
});
