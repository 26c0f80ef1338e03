/*
 * The bundles resolve `undici` to scripts/undiciSubset.cjs (scripts/build.mjs). Every name
 * src/ imports from undici as a value must be there, and be undici's own export: a name the
 * subset lacked would be undefined in the built engine only, where the unit tests do not look.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(__filename);
const root = join(__dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

/** Value (not type-only) names imported from 'undici' anywhere in src/. */
function importedNames(): Set<string> {
  const names = new Set<string>();
  for (const file of sources(join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/import\s+(type\s+)?([^;]*?)\s+from\s+'undici'/g)) {
      if (m[1]) continue;
      const clause = m[2]!;
      assert.match(clause, /^\{[^}]*\}$/, `${file}: only named imports of undici are bundled (${clause})`);
      for (const part of clause.slice(1, -1).split(',')) {
        const name = part.trim();
        if (name && !name.startsWith('type ')) names.add(name.split(/\s+as\s+/)[0]!);
      }
    }
  }
  return names;
}

test('every value src/ imports from undici is in the bundles\' subset, and is undici\'s own', () => {
  const names = importedNames();
  assert.ok(names.has('Agent'), `the scan found the KATA client's imports (${[...names].join(', ')})`);
  const subset = require(join(root, 'scripts', 'undiciSubset.cjs')) as Record<string, unknown>;
  const full = require('undici') as Record<string, unknown>;
  for (const name of names) {
    const mine = subset[name];
    const theirs = full[name];
    assert.ok(mine !== undefined, `scripts/undiciSubset.cjs lacks ${name}`);
    if (typeof theirs === 'function') assert.equal(mine, theirs, `${name} of the subset is undici's own`);
    else {
      // A namespace object (util): the same members, each undici's own.
      assert.deepEqual(Object.keys(mine as object).sort(), Object.keys(theirs as object).sort(), `${name} has undici's members`);
      for (const [k, v] of Object.entries(theirs as object)) assert.equal((mine as Record<string, unknown>)[k], v, `${name}.${k} is undici's own`);
    }
  }
});
