import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(__dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

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
