import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Unescapes a TS string literal body the way the compiler would for the characters we use. */
function unescape(body: string): string {
  return body.replace(/\\(n|t|'|"|`|\\|\$)/g, (_m, c: string) => ({ n: '\n', t: '\t' })[c] ?? c);
}

/** Every English source string the code translates: t('…') calls and CLI summary/help texts. */
function translatedStrings(): Map<string, string> {
  const found = new Map<string, string>();
  const patterns = [
    /\bt\(\s*'((?:[^'\\]|\\.)*)'/g,
    /\bt\(\s*"((?:[^"\\]|\\.)*)"/g,
    /\bt\(\s*`((?:[^`\\$]|\\.)*)`/g,
    /^\s*summary:\s*'((?:[^'\\]|\\.)*)'/gm,
    /^\s*help:\s*`((?:[^`\\$]|\\.)*)`/gm,
    /^const help = `((?:[^`\\$]|\\.)*)`/gm,
  ];
  for (const file of sources(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) found.set(unescape(m[1]!), file);
  }
  return found;
}

test('every user-facing string has a Russian translation (l10n/bundle.l10n.ru.json)', () => {
  const ru = JSON.parse(readFileSync(join(root, 'l10n', 'bundle.l10n.ru.json'), 'utf8')) as Record<string, string>;
  const missing = [...translatedStrings()].filter(([k]) => !(k in ru) || !ru[k]).map(([k, f]) => `${f.slice(root.length + 1)}: ${JSON.stringify(k.slice(0, 80))}`);
  assert.deepEqual(missing, [], `untranslated strings:\n${missing.join('\n')}`);
});

test('Russian translations keep every {N} placeholder of the English text', () => {
  const ru = JSON.parse(readFileSync(join(root, 'l10n', 'bundle.l10n.ru.json'), 'utf8')) as Record<string, string>;
  const bad = Object.entries(ru).filter(([en, tr]) => {
    const ph = (s: string) => [...s.matchAll(/\{(\d+)\}/g)].map((m) => m[1]).sort().join(',');
    return ph(en) !== ph(tr);
  });
  assert.deepEqual(bad.map(([en]) => en), []);
});

test('package.nls.ru.json translates every key of package.nls.json', () => {
  const en = JSON.parse(readFileSync(join(root, 'package.nls.json'), 'utf8')) as Record<string, string>;
  const ru = JSON.parse(readFileSync(join(root, 'package.nls.ru.json'), 'utf8')) as Record<string, string>;
  assert.deepEqual(Object.keys(en).filter((k) => !ru[k]), []);
});

/** Every tn(n, 'one', 'other') and pluralTemplates(id, 'one', 'other') call: its English plural. */
function pluralStrings(): Map<string, string> {
  const found = new Map<string, string>();
  const re = /\b(?:tn\(\s*[^,]+|pluralTemplates\(\s*'[^']*'),\s*'((?:[^'\\]|\\.)*)',\s*'((?:[^'\\]|\\.)*)'/g;
  for (const file of sources(join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(re)) found.set(unescape(m[2]!), file);
  }
  return found;
}

test('every plural has the three Russian forms (one, few, many) under "<English plural>/plural:<form>"', () => {
  const ru = JSON.parse(readFileSync(join(root, 'l10n', 'bundle.l10n.ru.json'), 'utf8')) as Record<string, string>;
  const plurals = pluralStrings();
  assert.ok(plurals.size > 5, 'the plural calls were found');
  const missing = [...plurals].flatMap(([other, f]) => ['one', 'few', 'many'].filter((c) => !ru[`${other}/plural:${c}`]).map((c) => `${f.slice(root.length + 1)}: ${other} (${c})`));
  assert.deepEqual(missing, []);
});
