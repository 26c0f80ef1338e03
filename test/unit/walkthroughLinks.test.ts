/**
 * Issue 23 point 10: the walkthrough works for someone who has only the .vsix — VS Code command
 * links instead of `npx kds …` in a terminal, real links instead of "See docs/…", and no code block
 * wide enough to be cut behind a scrollbar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { contributes: { commands: Array<{ command: string }> } };
const contributed = new Set(manifest.contributes.commands.map((c) => c.command));
const pages = readdirSync(join(root, 'media', 'walkthrough')).filter((f) => f.endsWith('.md'));
const nls = ['package.nls.json', 'package.nls.ru.json'].map((f) => JSON.parse(readFileSync(join(root, f), 'utf8')) as Record<string, string>);
const texts = [
  ...pages.map((f) => ({ where: f, text: readFileSync(join(root, 'media', 'walkthrough', f), 'utf8') })),
  ...nls.flatMap((n, i) => Object.entries(n).filter(([k]) => k.startsWith('walkthrough.')).map(([k, text]) => ({ where: `${i ? 'ru' : 'en'} ${k}`, text }))),
];

test('walkthrough: no npx, no bare docs/ paths, no code blocks', () => {
  for (const { where, text } of texts) {
    assert.doesNotMatch(text, /\bnpx\b|\bkds (icap|demo|emulate|capture)\b/, `${where} tells a vsix user to run the kds CLI`);
    assert.doesNotMatch(text, /(?<!\()docs\/[\w-]+\.md/, `${where} names a docs file that is not a link`);
    assert.doesNotMatch(text, /^```/m, `${where} has a code block`);
  }
});

test('walkthrough: every command link names a contributed command (documentation pages exist and are shipped)', () => {
  const vscodeignore = readFileSync(join(root, '.vscodeignore'), 'utf8');
  assert.match(vscodeignore, /^!docs\/\*\.md$/m, 'docs/*.md are in the .vsix');
  let links = 0;
  for (const { where, text } of texts) {
    for (const m of text.matchAll(/\(command:([\w.]+)(?:\?([^)\s]+))?\)/g)) {
      links++;
      assert.ok(contributed.has(m[1]!), `${where}: command:${m[1]} is not contributed`);
      if (m[1] === 'kds.openDocumentation' && m[2]) {
        const [page] = JSON.parse(decodeURIComponent(m[2])) as [string];
        assert.ok(existsSync(join(root, 'docs', `${page}.md`)), `${where}: docs/${page}.md`);
      }
    }
  }
  assert.ok(links >= 20, `${links} command links`);
});
