import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShareConfig } from '../../src/engine/config';
import type { FileRecord, FileStage } from '../../src/engine/events';
import type { FolderItem } from '../../src/viewModel/contracts';
import { InputFolderModel } from '../../src/viewModel/inputFolderModel';
import { FolderHealthView, isShareNode, shareNodeLook, shareNodeTooltipMarkdown, shareNodes } from '../../src/viewModel/shareNodes';
import { FakeEngineSource } from '../helpers/fakeEngineSource';


function rec(share: string | undefined, name: string, stage: FileStage = 'queued'): FileRecord {
  return { ...(share !== undefined && { share }), name, size: 10, mtimeMs: 1, stage, firstSeen: 1, changedAt: 1, attempts: 0 };
}

function share(name: string): ShareConfig {
  return { name, in_dir: `/mnt/${name}/in`, out_dir: `/mnt/${name}/out`, qrnt_dir: `/mnt/${name}/qrnt`, exclude_list: `/opt/kds/${name}.exclude`, max_file_size_mb: 100, stable_ms: 2000 };
}

test("one input model per share: a name in two shares is two items, each model sees only its share's events", () => {
  // A record without a share comes from an engine older than shares: it is the share default's.
  const src = new FakeEngineSource({ running: true, approval: 'approved', files: [rec(undefined, 'a.txt'), rec('hr', 'a.txt', 'submitted')] });
  const def = new InputFolderModel(src, '/mnt/default/in');
  const hr = new InputFolderModel(src, '/mnt/hr/in', { share: 'hr' });
  assert.deepEqual(def.items().map((i) => [i.name, i.stage, i.path]), [['a.txt', 'queued', '/mnt/default/in/a.txt']]);
  assert.deepEqual(hr.items().map((i) => [i.name, i.stage, i.path]), [['a.txt', 'submitted', '/mnt/hr/in/a.txt']]);
  src.emit({ type: 'file-removed', share: 'hr', name: 'a.txt' });
  src.emit({ type: 'file', file: rec('hr', 'b.txt') });
  assert.deepEqual(def.items().map((i) => i.name), ['a.txt'], "hr's removal is not default's");
  assert.deepEqual(hr.items().map((i) => i.name), ['b.txt']);
  def.dispose();
  hr.dispose();
});

test('share nodes: counts per share in the order of the configuration, health from the snapshot and then folder events', async () => {
  const src = new FakeEngineSource({
    running: true,
    approval: 'approved',
    files: [],
    folders: [{ share: 'hr', folder: 'in', available: false, path: '/mnt/hr/in', reason: 'ENOENT' }],
  });
  const health = new FolderHealthView(src, 1);
  const items: Record<string, FolderItem[]> = {
    fin: [
      { folder: 'in', share: 'fin', name: 'x.bak', path: '/mnt/fin/in/x.bak', size: 1, mtimeMs: 1, stage: 'excluded' },
      { folder: 'in', share: 'fin', name: 'y.doc', path: '/mnt/fin/in/y.doc', size: 1, mtimeMs: 1, stage: 'submitted' },
      { folder: 'in', share: 'fin', name: 'z.doc', path: '/mnt/fin/in/z.doc', size: 1, mtimeMs: 1, stage: 'settling' },
    ],
  };
  const nodes = shareNodes('in', [share('hr'), share('fin')], (s) => items[s] ?? [], health);
  assert.deepEqual(nodes.map((n) => [n.share, n.dir, n.files, n.skipped, n.inProgress, n.problem]), [
    ['hr', '/mnt/hr/in', 0, 0, 0, 'ENOENT'],
    ['fin', '/mnt/fin/in', 3, 1, 1, undefined],
  ]);
  assert.ok(nodes.every(isShareNode));
  assert.equal(isShareNode(items.fin![0]), false);

  const hrLook = shareNodeLook(nodes[0]!);
  assert.deepEqual([hrLook.label, hrLook.icon, hrLook.color], ['hr', 'warning', 'charts.orange']);
  assert.match(hrLook.description, /unavailable: ENOENT/);
  const finLook = shareNodeLook(nodes[1]!);
  assert.deepEqual([finLook.icon, finLook.color], ['folder-library', undefined]);
  assert.equal(finLook.description, '3 files · 1 with KATA · 1 skipped');
  const tip = shareNodeTooltipMarkdown(nodes[1]!);
  assert.match(tip, /Share fin/);
  assert.match(tip, /\/opt\/kds\/fin\.exclude/, 'the input node names its exclude list');
  // An output node has no exclude list or input counts.
  assert.doesNotMatch(shareNodeTooltipMarkdown(shareNodes('out', [share('fin')], () => [], health)[0]!), /exclude/);

  // The folder comes back; another share's event changes nothing of hr's.
  let changes = 0;
  health.onChange(() => changes++);
  src.emit({ type: 'folder', share: 'hr', folder: 'in', available: true, path: '/mnt/hr/in' });
  src.emit({ type: 'folder', share: 'fin', folder: 'qrnt', available: false, path: '/mnt/fin/qrnt', reason: 'ENOSPC' });
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(changes >= 1);
  assert.equal(health.problem('hr', 'in'), undefined);
  assert.equal(health.problem('fin', 'qrnt'), 'ENOSPC');
  assert.equal(health.problem('fin', 'in'), undefined);
  // A folder event of an engine older than shares is the share default's.
  src.emit({ type: 'folder', folder: 'out', available: false, path: '/mnt/out', reason: 'EACCES' });
  assert.equal(health.problem('default', 'out'), 'EACCES');
  health.dispose();
});
