import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../src/common/log';
import { AuthSteps } from '../../src/ssh/authSteps';
import { Redactor } from '../../src/ssh/redact';

const quiet: Logger = { log: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;

function steps(auth: ConstructorParameters<typeof AuthSteps>[0], redactor = new Redactor()) {
  const failures: Error[] = [];
  return { s: new AuthSteps(auth, 'kds', redactor, quiet, {}, (e) => failures.push(e)), failures, redactor };
}

test('offers agent, key, then password, skipping what the server no longer accepts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-auth-'));
  try {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPath = join(dir, 'id');
    writeFileSync(keyPath, privateKey.export({ type: 'pkcs1', format: 'pem' }));
    let asked = 0;
    const { s, redactor } = steps({ agent: '/run/agent.sock', privateKeyPath: keyPath, password: async () => (asked++, 'hunter2-secret') });
    assert.equal(((await s.next(null)) as { type: string }).type, 'agent');
    assert.equal(((await s.next(['publickey', 'password'])) as { type: string }).type, 'publickey');
    // keyboard-interactive is skipped in favour of plain password when the server offers it.
    const pw = (await s.next(['password'])) as { type: string; password: string };
    assert.deepEqual([pw.type, pw.password, asked], ['password', 'hunter2-secret', 1]);
    assert.equal(await s.next(['password']), false);
    assert.deepEqual(s.tried, ['agent', 'publickey', 'password']);
    assert.equal(redactor.text('x hunter2-secret y'), 'x <censored> y');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a key that cannot be read as a key is passed over, not sent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-auth-'));
  try {
    const keyPath = join(dir, 'id');
    writeFileSync(keyPath, 'not a key');
    const { s } = steps({ privateKeyPath: keyPath });
    assert.equal(await s.next(null), false);
    assert.deepEqual(s.tried, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keyboard-interactive answers a lone hidden Password: prompt with the password function', async () => {
  const { s } = steps({ password: async () => 'pw-1234' });
  const m = (await s.next(['keyboard-interactive'])) as { type: string; prompt: (...a: unknown[]) => void };
  assert.equal(m.type, 'keyboard-interactive');
  const answers = await new Promise<string[]>((resolve) => m.prompt('', '', '', [{ prompt: 'Password: ', echo: false }], resolve));
  assert.deepEqual(answers, ['pw-1234']);
  // A prompt KDS cannot answer gets no answer rather than the password.
  const other = await new Promise<string[]>((resolve) => m.prompt('', '', '', [{ prompt: 'OTP code: ', echo: true }], resolve));
  assert.deepEqual(other, []);
});
