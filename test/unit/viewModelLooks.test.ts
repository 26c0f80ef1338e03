import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initL10n } from '../../src/common/l10n';
import type { FileStage, Verdict } from '../../src/engine/events';
import { formatAge, formatSize, stageLook, verdictLook } from '../../src/viewModel/itemLooks';

const stages: FileStage[] = ['settling', 'queued', 'excluded', 'too-large', 'unreadable', 'uploading', 'submitted', 'awaiting-approval', 'retrying', 'routing', 'missing'];
const verdicts: Array<Verdict | undefined> = ['not detected', 'detect', 'error', 'timeout', 'unknown', undefined];

test('every stage and verdict has a label, an icon and a badge of at most two characters', () => {
  for (const look of [...stages.map(stageLook), ...verdicts.map(verdictLook)]) {
    assert.ok(look.label.length > 0);
    assert.match(look.icon, /^[a-z-]+$/);
    assert.ok(look.badge !== undefined && [...look.badge].length >= 1 && [...look.badge].length <= 2, JSON.stringify(look));
  }
  assert.equal(new Set(stages.map((s) => stageLook(s).label)).size, stages.length, 'stage labels are distinct');
});

test('colours follow the meaning: clean green, detect red, problems orange, waiting yellow, greyed out, in flight blue', () => {
  assert.equal(verdictLook('not detected').color, 'charts.green');
  assert.equal(verdictLook('not detected').icon, 'pass');
  assert.equal(verdictLook('detect').color, 'charts.red');
  assert.equal(verdictLook('detect').icon, 'bug');
  for (const v of ['error', 'timeout', 'unknown', undefined] as const) assert.equal(verdictLook(v).color, 'charts.orange', String(v));
  assert.equal(stageLook('awaiting-approval').color, 'charts.yellow');
  assert.equal(stageLook('retrying').color, 'charts.yellow');
  assert.equal(stageLook('excluded').color, 'disabledForeground');
  assert.equal(stageLook('too-large').color, 'disabledForeground');
  assert.equal(stageLook('uploading').color, 'charts.blue');
  assert.equal(stageLook('uploading').icon, 'cloud-upload');
  assert.equal(stageLook('submitted').color, 'charts.blue');
  assert.equal(stageLook('unreadable').icon, 'lock');
  assert.equal(stageLook('too-large').label, 'too large');
  assert.equal(verdictLook('detect').label, 'detected');
});

test('formatSize uses binary units with one decimal below 10', () => {
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(1023), '1023 B');
  assert.equal(formatSize(1536), '1.5 KiB');
  assert.equal(formatSize(15 * 1024 * 1024), '15 MiB');
  assert.equal(formatSize(3 * 1024 ** 3), '3.0 GiB');
  assert.equal(formatSize(-1), '?');
});

test('formatAge gives the largest whole unit and never a negative age', () => {
  const now = 1_700_000_000_000;
  assert.equal(formatAge(now - 5_000, now), '5 s');
  assert.equal(formatAge(now - 3 * 60_000 - 10, now), '3 min');
  assert.equal(formatAge(now - 2 * 3600_000, now), '2 h');
  assert.equal(formatAge(now - 4 * 86400_000 - 1, now), '4 d');
  assert.equal(formatAge(now + 60_000, now), '0 s');
});

test('labels and units are translated', () => {
  initL10n('ru');
  try {
    assert.equal(stageLook('queued').label, 'в очереди');
    assert.equal(verdictLook('detect').label, 'обнаружена угроза');
    assert.equal(formatAge(0, 3 * 60_000), '3 мин');
    assert.equal(formatSize(2048), '2.0 КиБ');
  } finally {
    initL10n('en');
  }
});
