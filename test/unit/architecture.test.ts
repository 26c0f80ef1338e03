import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = join(__dirname, '..', '..');

/**
 * Which folder of src/ may import which (besides itself): the layering of docs/architecture.md.
 * Lower layers never import higher ones, so no cycle can form between folders; a new folder
 * must be added here, deliberately, before anything imports it.
 */
const mayImport: Record<string, readonly string[]> = {
  common: [],
  pki: ['common'],
  kata: ['common', 'pki'],
  webviewProtocol: ['common'],
  icapLog: ['common', 'webviewProtocol'],
  ssh: ['common', 'icapLog'],
  icap: ['common'],
  emulator: ['common', 'pki', 'icap'],
  engine: ['common', 'pki', 'kata'],
  viewModel: ['common', 'engine', 'kata', 'webviewProtocol'],
  configEditor: ['common', 'engine', 'kata', 'pki', 'webviewProtocol'],
  centralNode: ['common', 'engine', 'kata', 'pki', 'ssh', 'viewModel'],
  capture: ['common', 'icap', 'ssh', 'centralNode'],
  demo: ['common', 'emulator', 'pki'],
  support: ['common', 'engine', 'kata', 'pki', 'ssh', 'centralNode', 'icapLog', 'icap', 'capture', 'viewModel', 'webviewProtocol'],
  cli: ['common', 'pki', 'kata', 'icapLog', 'ssh', 'icap', 'emulator', 'engine', 'viewModel', 'centralNode', 'capture', 'demo', 'support', 'configEditor'],
  extension: ['common', 'pki', 'kata', 'webviewProtocol', 'icapLog', 'ssh', 'icap', 'emulator', 'engine', 'viewModel', 'configEditor', 'centralNode', 'capture', 'demo', 'support'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static, dynamic and type-only), resolved to absolute paths. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s));
}

const folderOf = (abs: string): string | undefined => {
  const rel = relative(join(root, 'src'), abs);
  return rel.startsWith('..') ? undefined : rel.split('/')[0];
};

test("only src/extension/ imports 'vscode' (the engine, client, emulator and CLI run in plain Node)", () => {
  const offenders = sources(join(root, 'src'))
    .filter((f) => !relative(root, f).startsWith('src/extension/'))
    .filter((f) => /from\s+['"]vscode['"]|require\(\s*['"]vscode['"]\s*\)/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(offenders.map((f) => relative(root, f)), []);
});

test('no barrel files (index.ts that only re-exports)', () => {
  const barrels = sources(join(root, 'src')).filter((f) => /(^|\/)index\.ts$/.test(f));
  assert.deepEqual(barrels.map((f) => relative(root, f)), []);
});

test('the folder table itself has no cycle', () => {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    assert.notEqual(state.get(f), 'open', `cycle in the table: ${[...path, f].join(' -> ')}`);
    state.set(f, 'open');
    for (const g of mayImport[f] ?? []) {
      assert.ok(g in mayImport, `${f} may import ${g}, which is not in the table`);
      visit(g, [...path, f]);
    }
    state.set(f, 'done');
  };
  for (const f of Object.keys(mayImport)) visit(f, []);
});

test('each folder of src/ imports only the folders the table allows', () => {
  const offences: string[] = [];
  for (const file of sources(join(root, 'src'))) {
    const from = folderOf(file)!;
    const allowed = mayImport[from];
    if (!allowed) {
      offences.push(`src/${from}/ is not in the table of test/unit/architecture.test.ts`);
      continue;
    }
    for (const target of relativeImports(file)) {
      const to = folderOf(target);
      if (to === undefined || to === from || to.includes('.')) continue; // package.json, schemas: data
      if (!allowed.includes(to)) offences.push(`${relative(root, file)} imports src/${to}/`);
    }
  }
  assert.deepEqual([...new Set(offences)], []);
});

test('webview/ (browser code) imports only webview/ and src/webviewProtocol/', () => {
  const offences = sources(join(root, 'webview')).flatMap((file) =>
    relativeImports(file)
      .map((t) => relative(root, t))
      .filter((t) => !t.startsWith('webview/') && !t.startsWith('src/webviewProtocol/'))
      .map((t) => `${relative(root, file)} imports ${t}`),
  );
  assert.deepEqual(offences, []);
});

test('no import cycle between files of src/ (type-only imports count too)', () => {
  const files = sources(join(root, 'src'));
  const known = new Set(files);
  const edges = new Map(files.map((f) => [f, relativeImports(f).map((t) => (known.has(t) ? t : `${t}.ts`)).filter((t) => known.has(t))]));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(root, p)).join(' -> '));
      return;
    }
    state.set(f, 'open');
    for (const g of edges.get(f) ?? []) visit(g, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});
