/**
 * Names from the shares shown to people: logs (text and JSON), tree labels and tooltips show
 * newlines, C1 controls, line separators and bidi overrides as escapes, and a tooltip can form
 * no link. Tooltips are rendered with markdown-it (linkify on, like GFM autolinks in VS Code's hovers).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { formatJson, formatText, type LogRecord } from '../../src/common/log';
import { markdownCode, markdownText, terminalText, visibleText } from '../../src/common/displayText';
import { escapingStream } from '../../src/cli/terminalOutput';
import { itemTooltipMarkdown } from '../../src/viewModel/itemTooltip';
import type { FolderItem } from '../../src/viewModel/contracts';

const hostile = ['invoice\u202Egpj.exe', 'csi\u009B31mred', 'nel\u0085line', 'ls\u2028ps\u2029', 'lrm\u200Fx', 'iso\u2066x\u2069', 'bom\uFEFF', 'nl\nforged INFO x', 'esc\u001b[2J'];
const raw = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;

test('text and JSON log lines carry no raw C0/C1 control, line separator or bidi override; JSON still parses to the same name', () => {
  for (const name of hostile) {
    const r: LogRecord = { time: '2026-12-01T00:00:00.000Z', level: 'info', event: 'routed', msg: `routed ${name}`, file: name };
    const text = formatText(r);
    const json = formatJson(r);
    assert.doesNotMatch(text, raw, JSON.stringify(text));
    assert.doesNotMatch(json, raw, JSON.stringify(json));
    assert.equal((JSON.parse(json) as LogRecord).file, name);
    assert.equal(text.split('\n').length, 1);
  }
  assert.match(formatText({ time: 't', level: 'info', event: 'e', msg: 'm', file: 'invoice\u202Egpj.exe' }), /file="invoice\\u202e?gpj\.exe"|file="invoice\\u202egpj\.exe"/i);
});

test('tree labels: visible escapes instead of controls; ordinary names unchanged', () => {
  assert.equal(visibleText('invoice\u202Egpj.exe'), 'invoice\\u202Egpj.exe');
  assert.equal(visibleText('a\n\n[x](https://evil.example)'), 'a\\n\\n[x](https://evil.example)');
  assert.equal(visibleText('отчёт 2026 (копия).pdf'), 'отчёт 2026 (копия).pdf');
  for (const name of hostile) assert.doesNotMatch(visibleText(name), raw);
});

function render(md: string): string {
  // markdown-it is VS Code-like enough here: CommonMark plus linkify for bare URLs.
  const MarkdownIt = createRequire(__filename)('markdown-it') as new (o: object) => { render(s: string): string };
  return new MarkdownIt({ html: false, linkify: true }).render(md);
}

const item = (name: string, extra: Partial<FolderItem> = {}): FolderItem => ({ folder: 'qrnt', name, path: `/mnt/qrnt/${name}`, size: 68, mtimeMs: 0, verdict: 'detect', ...extra });

test('tooltips: a file name, path, threat or user with newlines and Markdown forms no link, image, heading or HTML', () => {
  const names = [
    'a\n\n[x](https://evil.example/phish)',
    'b\n\n![img](https://evil.example/p.png)',
    'c\n# heading',
    'd <img src=x onerror=alert(1)>',
    'e https://evil.example/bare',
    'f www.evil.example',
    'g `x`` [y](https://evil.example)',
    'h\n\n<https://evil.example>',
    'i mail@evil.example',
  ];
  for (const name of names) {
    const md = itemTooltipMarkdown(item(name, { threat: `HEUR ${name}`, released: { by: name, at: 0 } }), () => '1 Dec 2026');
    const html = render(md);
    assert.doesNotMatch(html, /<a |<img|<h\d/, `${JSON.stringify(name)} →\n${md}\n${html}`);
    assert.ok(!md.includes('\n\n', md.indexOf('\n\n') + 2), 'the only blank line is the one after the title');
  }
});

test('markdownCode fences around backticks; markdownText escapes every ASCII punctuation', () => {
  assert.equal(markdownCode('a``b'), '```a``b```');
  assert.equal(markdownCode('`x'), '`` `x ``');
  assert.equal(markdownText('[x](y)'), '\\[x\\]\\(y\\)');
});

test('terminal text: escapes, ESC sequences, C1, bidi and invisible format characters made visible; the layout\'s newlines and tabs kept; JSON stays JSON', () => {
  const peer = ['OK\u001b]0;pwned\u0007\u001b[2J', 'a\u009b31mb', 'cr\roverwrite', 'zw\u200bsp', 'wj\u2060x', 'tag\udb40\udc41x', 'ann\ufff9x', ...hostile];
  for (const s of peer) {
    const out = terminalText(`${s}\n\t${s}`);
    assert.doesNotMatch(out.replace(/[\n\t]/g, ''), raw, JSON.stringify(out));
    assert.doesNotMatch(out, /\udb40/);
    assert.equal(out.split('\n').length, 2 + (s.match(/\n/g)?.length ?? 0) * 2, JSON.stringify(out));
    const json = terminalText(JSON.stringify({ s, list: [s] }, null, 2));
    assert.deepEqual(JSON.parse(json), { s, list: [s] });
    assert.doesNotMatch(json.replace(/\n/g, ''), raw);
  }
  assert.equal(terminalText('OK\u001b]0;t\u0007'), 'OK\\u001B]0;t\\u0007');
  assert.equal(terminalText('a\r\nb\tc'), 'a\\r\nb\tc');
  assert.equal(terminalText('отчёт — ✓'), 'отчёт — ✓');
});

test('the escaping stream decodes UTF-8 across chunk boundaries before escaping; invalid bytes never pass raw', async () => {
  const input = Buffer.concat([Buffer.from('x\u009by \u202e z\u001b[2J\n', 'utf8'), Buffer.from([0x9b, 0x0a])]);
  for (const cut of [1, 2, 3, 6, 7, input.length - 2]) {
    const s = escapingStream();
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.write(input.subarray(0, cut));
    s.end(input.subarray(cut));
    await new Promise((r) => s.on('end', r));
    const out = Buffer.concat(parts).toString('utf8');
    assert.equal(out, 'x\\u009By \\u202E z\\u001B[2J\n\ufffd\n', `cut at ${cut}`);
  }
});
