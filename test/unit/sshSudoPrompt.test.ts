import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SudoStderr, sudoCommand } from '../../src/ssh/sudoPrompt';

test('sudo argv: -n without a password, -S with a unique prompt and marker with one', () => {
  assert.deepEqual(sudoCommand(['id'], undefined).argv, ['id']);
  assert.deepEqual(sudoCommand(['id'], true).argv, ['sudo', '-n', '--', 'id']);
  const c = sudoCommand(['cat', '/etc/x'], { password: async () => 'pw' }, 'abc');
  assert.equal(c.prompt, '[kds-sudo-abc] password: ');
  assert.equal(c.marker, 'kds-sudo-ready-abc');
  assert.deepEqual(c.argv.slice(0, 5), ['sudo', '-S', '-p', c.prompt, '--']);
  assert.deepEqual(c.argv.slice(-3), [c.marker, 'cat', '/etc/x']);
});

function texts(events: ReturnType<SudoStderr['push']>): string[] {
  return events.map((e) => (e.kind === 'text' ? `text:${e.data.toString('latin1')}` : e.kind));
}

test('prompt and marker split across chunks are recognised; the rest passes through in order', () => {
  const r = new SudoStderr('[p] password: ', 'mk');
  // Text is held until it is known not to be the start of a prompt or marker.
  assert.deepEqual(texts(r.push(Buffer.from('lecture\n[p] pass'))), []);
  assert.deepEqual(texts(r.push(Buffer.from('word: '))), ['text:lecture\n', 'prompt']);
  assert.deepEqual(texts(r.push(Buffer.from('m'))), []);
  assert.deepEqual(texts(r.push(Buffer.from('k\ncommand says hi'))), ['ready', 'text:command says hi']);
  assert.ok(r.isRunning);
  assert.deepEqual(texts(r.push(Buffer.from('[p] password: is just text now'))), ['text:[p] password: is just text now']);
});

test('a second prompt (wrong password) is reported; sudo\'s complaint is kept when stderr ends', () => {
  const r = new SudoStderr('[p] password: ', 'mk');
  assert.deepEqual(texts(r.push(Buffer.from('[p] password: Sorry, try again.\n[p] password: '))), ['prompt', 'text:Sorry, try again.\n', 'prompt']);
  r.push(Buffer.from('sudo: 1 incorrect password attempt'));
  assert.equal(r.end()?.toString(), 'sudo: 1 incorrect password attempt');
});
