import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RoutedFile } from '../../src/engine/events';
import { Journal } from '../../src/engine/journal';
import { ThreatNameLookup } from '../../src/kata/threatNames';
import { KdsLogger } from '../../src/common/log';
import { quarantineAuditFile, releaseFromQuarantine } from '../../src/engine/quarantineActions';
import { DestinationFolderModel } from '../../src/viewModel/destinationFolderModel';
import { tempDir } from '../helpers/tempDirs';
import { FakeEngineSource } from '../helpers/fakeEngineSource';


async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sha = (c: string) => c.repeat(64);

test('a missing folder is an empty list, not an error', async () => {
  const m = new DestinationFolderModel({ folder: 'out', dir: join(tempDir(), 'nope') });
  await m.refresh();
  assert.deepEqual(m.items(), []);
  m.dispose();
});

test('lists regular files only: no directories, symlinks or KDS partial copies', async () => {
  const root = tempDir();
  const dir = join(root, 'qrnt');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a.bin'), 'aaa');
  writeFileSync(join(dir, '.kds-partial-123'), 'half');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(root, 'outside'), 'x');
  symlinkSync(join(root, 'outside'), join(dir, 'link'));
  const m = new DestinationFolderModel({ folder: 'qrnt', dir });
  await m.refresh();
  assert.deepEqual(m.items().map((i) => i.name), ['a.bin']);
  const a = m.get('a.bin')!;
  assert.equal(a.folder, 'qrnt');
  assert.equal(a.path, join(dir, 'a.bin'));
  assert.equal(a.size, 3);
  assert.equal(a.verdict, undefined, 'a file KDS knows nothing about has no verdict');
  m.dispose();
});

test('verdict, hash and scan come from the journal (newest entry per name, matching folder and size)', async () => {
  const root = tempDir();
  const dir = join(root, 'qrnt');
  const state = join(root, 'state');
  mkdirSync(dir);
  const j = Journal.open(state);
  const route = (scanId: string, name: string, size: number, hash: string, state: string, dest: 'out' | 'qrnt') => {
    j.intent({ scanId, name, size, mtimeMs: 1, ino: 1 });
    j.submitted(scanId, hash);
    j.verdict(scanId, state, dest);
    j.done(scanId, 'routed');
  };
  route('s-old', 'x.exe', 5, sha('1'), 'error', 'qrnt');
  await new Promise((r) => setTimeout(r, 5));
  route('s-new', 'x.exe', 5, sha('2'), 'detect', 'qrnt');
  route('s-out', 'y.txt', 3, sha('3'), 'not detected', 'out');
  route('s-size', 'z.bin', 999, sha('4'), 'detect', 'qrnt');
  j.close();
  writeFileSync(join(dir, 'x.exe'), '12345');
  writeFileSync(join(dir, 'y.txt'), 'abc');
  writeFileSync(join(dir, 'z.bin'), 'replaced');
  const m = new DestinationFolderModel({ folder: 'qrnt', dir, stateDir: state });
  await m.refresh();
  const x = m.get('x.exe')!;
  assert.equal(x.verdict, 'detect');
  assert.equal(x.rawState, 'detect');
  assert.equal(x.sha256, sha('2'));
  assert.equal(x.scanId, 's-new');
  assert.ok(x.routedAt && x.routedAt > 0);
  assert.equal(m.get('y.txt')!.verdict, undefined, 'an entry routed to the other folder does not apply');
  assert.equal(m.get('z.bin')!.sha256, undefined, 'a file of another size is not the one that was scanned');
  m.dispose();
});

test('routed events refresh the list soon and bring verdict and threat name', async () => {
  const dir = tempDir();
  const src = new FakeEngineSource();
  const threats = new ThreatNameLookup({
    detects: async () => ({ detects: [{ threats: ['EICAR-Test-File'], processedObject: { sha256: sha('A') } }], token: 't1' }),
  });
  const m = new DestinationFolderModel({ folder: 'qrnt', dir, source: src, threats, debounceMs: 20 });
  await m.refresh();
  let changes = 0;
  m.onChange(() => changes++);
  writeFileSync(join(dir, 'eicar.com'), 'x'.repeat(70));
  const routed: RoutedFile = {
    name: 'eicar.com', size: 70, sha256: sha('a'), scanId: 's9', verdict: 'detect', rawState: 'detect',
    destination: 'qrnt', path: join(dir, 'eicar.com'), submittedAt: Date.now() - 10, routedAt: Date.now(),
  };
  src.emit({ type: 'routed', file: { ...routed, name: 'other', destination: 'out' } });
  src.emit({ type: 'routed', file: routed });
  await until('the file with its threat name', () => m.get('eicar.com')?.threat === 'EICAR-Test-File');
  const item = m.get('eicar.com')!;
  assert.equal(item.verdict, 'detect');
  assert.equal(item.scanId, 's9');
  assert.ok(changes >= 1);
  m.dispose();
});

test('the folder is watched: files appearing and vanishing show without a refresh() call', async () => {
  const dir = tempDir();
  const m = new DestinationFolderModel({ folder: 'out', dir, debounceMs: 20 });
  await m.refresh();
  let changes = 0;
  m.onChange(() => changes++);
  writeFileSync(join(dir, 'new.txt'), 'n');
  await until('new.txt listed', () => m.get('new.txt') !== undefined);
  assert.ok(changes >= 1 || m.items().length === 1);
  const { unlinkSync } = await import('node:fs');
  unlinkSync(join(dir, 'new.txt'));
  await until('new.txt gone', () => m.items().length === 0);
  m.dispose();
});

test('newest arrival first', async () => {
  const root = tempDir();
  const dir = join(root, 'qrnt');
  const state = join(root, 'state');
  mkdirSync(dir);
  const j = Journal.open(state);
  j.intent({ scanId: 'early', name: 'early.bin', size: 1, mtimeMs: 1, ino: 1 });
  j.submitted('early', sha('e'));
  j.verdict('early', 'detect', 'qrnt');
  j.done('early', 'routed');
  j.close();
  writeFileSync(join(dir, 'early.bin'), 'e');
  // File times come from the kernel's coarse clock; a pause keeps the two arrivals apart.
  await new Promise((r) => setTimeout(r, 50));
  writeFileSync(join(dir, 'manual.bin'), 'm');
  // mtime is the source's, kept by delivery; it must not decide the order.
  utimesSync(join(dir, 'manual.bin'), 1, 1);
  const m = new DestinationFolderModel({ folder: 'qrnt', dir, stateDir: state });
  await m.refresh();
  assert.deepEqual(m.items().map((i) => i.name), ['manual.bin', 'early.bin']);
  m.dispose();
});

test('concurrent refresh() calls share the listing and see the latest state', async () => {
  const dir = tempDir();
  const m = new DestinationFolderModel({ folder: 'out', dir });
  const p1 = m.refresh();
  writeFileSync(join(dir, 'late.txt'), 'x');
  const p2 = m.refresh();
  await Promise.all([p1, p2]);
  assert.deepEqual(m.items().map((i) => i.name), ['late.txt']);
  m.dispose();
});

test("a file released from quarantine shows KATA's verdict in Output and who released it (from the audit)", async () => {
  const root = tempDir();
  const state = join(root, 'state');
  const qrnt = join(root, 'qrnt');
  const out = join(root, 'out');
  mkdirSync(qrnt);
  mkdirSync(out);
  const body = 'false positive';
  const sha = createHash('sha256').update(body).digest('hex');
  const j = Journal.open(state);
  j.intent({ scanId: 's1', name: 'report.doc', size: body.length, mtimeMs: 1, ino: 1 });
  j.submitted('s1', sha);
  j.verdict('s1', 'detect', 'qrnt');
  j.done('s1', 'routed');
  j.close();
  writeFileSync(join(qrnt, 'report.doc'), body);
  await releaseFromQuarantine({ qrntDir: qrnt, outDir: out, name: 'report.doc', user: 'alice', logger: new KdsLogger(), auditFile: quarantineAuditFile(state) });
  const m = new DestinationFolderModel({ folder: 'out', dir: out, stateDir: state });
  await m.refresh();
  const item = m.items().find((i) => i.name === 'report.doc');
  assert.equal(item?.verdict, 'detect');
  assert.equal(item?.sha256, sha);
  assert.equal(item?.released?.by, 'alice');
  m.dispose();
});
