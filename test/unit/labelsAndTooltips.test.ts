/** Issue 23 point 17: the words of a file's tooltip, the capture's first line and short notification buttons. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureStartLine } from '../../src/cli/captureCommand';
import type { FolderItem } from '../../src/viewModel/contracts';
import { itemTooltipMarkdown } from '../../src/viewModel/itemTooltip';

const item = (over: Partial<FolderItem>): FolderItem => ({ folder: 'qrnt', name: 'eicar.com', path: '/q/eicar.com', size: 68, mtimeMs: 0, ...over });

test('tooltip: "Verdict: detected", without KATA\'s same word again; an odd KATA state is named on its own line', () => {
  const md = itemTooltipMarkdown(item({ verdict: 'detect', rawState: 'detect' }), () => 't');
  assert.match(md, /Verdict: detected {2}\n/);
  assert.doesNotMatch(md, /\(.*detect.*\)|KATA state/);
  const clean = itemTooltipMarkdown(item({ folder: 'out', verdict: 'not detected', rawState: 'not detected' }), () => 't');
  assert.match(clean, /Verdict: not detected {2}\n/);
  assert.doesNotMatch(clean, /KATA state/);
  const odd = itemTooltipMarkdown(item({ verdict: 'unknown', rawState: 'suspicious' }), () => 't');
  assert.match(odd, /Verdict: unknown {2}\nKATA state: `suspicious`/);
});

test('capture: all interfaces said in words, not tcpdump\'s "any"', () => {
  assert.equal(captureStartLine(1344, 'any', 'this computer'), 'Capturing TCP port 1344 on all network interfaces of this computer…');
  assert.equal(captureStartLine(1344, 'eth0', 'root@cn'), 'Capturing TCP port 1344 on interface eth0 of root@cn…');
});

test('the Start Embedded KATA notification\'s three buttons fit a notification in English and Russian', () => {
  const ru = JSON.parse(readFileSync(join(__dirname, '..', '..', 'l10n', 'bundle.l10n.ru.json'), 'utf8')) as Record<string, string>;
  const labels = ['Console', 'Copy Password', 'Drop EICAR'];
  // A notification is 450 px wide; three buttons of 12 px text share about 50 characters, less their padding.
  assert.ok(labels.join('').length <= 40, labels.join(' | '));
  const russian = labels.map((l) => ru[l] ?? '');
  assert.ok(russian.every(Boolean), 'translated');
  assert.ok(russian.join('').length <= 40, russian.join(' | '));
});
