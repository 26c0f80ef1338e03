/** Issue 23 point 6: kata_dir_scanner.conf files elsewhere in the workspace are found and offered. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findConfigurations, workspaceRelative } from '../../src/viewModel/configDiscovery';
import { tempDir } from '../helpers/tempDirs';

function conf(root: string, rel: string): string {
  const path = join(root, rel, 'kata_dir_scanner.conf');
  mkdirSync(join(root, rel), { recursive: true });
  writeFileSync(path, '{}\n');
  return path;
}

test('findConfigurations: the kds-demo layout and any kata_dir_scanner.conf within three levels, nearest first', async () => {
  const ws = tempDir();
  const demo = conf(ws, 'kds-demo');
  const deep = conf(ws, 'a/b/c');
  conf(ws, 'a/b/c/d'); // four levels down: not looked into
  conf(ws, 'node_modules/pkg'); // tool folders are skipped
  conf(ws, '.hidden');
  const other = conf(ws, 'central-node');
  mkdirSync(join(ws, 'kds-demo', 'in'), { recursive: true });
  writeFileSync(join(ws, 'kds-demo', 'in', 'kata_dir_scanner.conf'), 'a file dropped for scanning, not a configuration\n');
  symlinkSync(join(ws, 'a'), join(ws, 'link-to-a'));
  assert.deepEqual(await findConfigurations([ws]), [other, demo, deep]);
  assert.deepEqual([other, demo, deep].map((p) => workspaceRelative([ws], p)), ['central-node/kata_dir_scanner.conf', 'kds-demo/kata_dir_scanner.conf', 'a/b/c/kata_dir_scanner.conf']);
});

test('findConfigurations: the root file first, several roots in their order, bounded work', async () => {
  const one = tempDir();
  const two = tempDir();
  const rootConf = conf(one, '.');
  const inTwo = conf(two, 'kds-demo');
  assert.deepEqual(await findConfigurations([one, two]), [rootConf, inTwo]);
  assert.deepEqual(await findConfigurations([one, two], { maxFound: 1 }), [rootConf]);
  // One folder read in all: only the first root's top level.
  assert.deepEqual(await findConfigurations([two, one], { maxFolders: 1 }), []);
  assert.deepEqual(await findConfigurations([join(one, 'missing')]), []);
});
