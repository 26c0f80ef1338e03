import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initL10n } from '../../src/common/l10n';
import type { EngineEvent } from '../../src/engine/events';
import { InputFolderModel } from '../../src/viewModel/inputFolderModel';
import { capItems, capMessage, viewItemCap } from '../../src/viewModel/viewCap';
import { FakeEngineSource } from '../helpers/fakeEngineSource';


test('issue 12: the Input view gets a count and the newest 1000 of 100 000 files, never 100 000 tree items', () => {
  initL10n('en');
  const src = new FakeEngineSource();
  const model = new InputFolderModel(src, '/srv/in', { coalesceMs: 0 });
  const total = 100_000;
  for (let i = 0; i < total; i++) {
    src.emit({ type: 'file', file: { name: `f${String(i).padStart(6, '0')}.bin`, size: i, mtimeMs: 1_700_000_000_000 + i, stage: 'queued', firstSeen: i, changedAt: i, attempts: 0 } });
  }
  const { shown, total: counted } = capItems(model.items());
  assert.equal(counted, total);
  assert.equal(shown.length, viewItemCap);
  assert.equal(shown[0]!.name, 'f099999.bin', 'newest first');
  assert.equal(shown[viewItemCap - 1]!.name, `f${String(total - viewItemCap).padStart(6, '0')}.bin`);
  assert.equal(capMessage(counted), 'Showing the newest 1000 of 100000 files; the Verdicts panel lists them all.');
  // A file leaving input updates both.
  src.emit({ type: 'file-removed', name: 'f099999.bin' } as EngineEvent);
  assert.equal(capItems(model.items()).total, total - 1);
  assert.equal(capItems(model.items()).shown[0]!.name, 'f099998.bin');
  model.dispose();
});

test('no message while everything is shown', () => {
  assert.equal(capMessage(viewItemCap), undefined);
  assert.equal(capItems([1, 2, 3]).shown.length, 3);
});

test('the cap message in Russian uses the plural form of the total', () => {
  initL10n('ru');
  try {
    // "из 100001 файла", "из 100002 файлов", "из 100005 файлов" (genitive after "из").
    assert.match(capMessage(100_001)!, /из 100001 файла;/);
    assert.match(capMessage(100_002)!, /из 100002 файлов;/);
    assert.match(capMessage(100_005)!, /из 100005 файлов;/);
  } finally {
    initL10n('en');
  }
});
