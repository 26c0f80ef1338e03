/**
 * Issue 23 point 17: Start Embedded KATA / kds demo never rewrite an existing demo configuration
 * behind the person's back: the KATA starts on the configured kata_cn_port; only when that port is
 * taken is it changed — after confirmPortChange — and then nothing but kata_cn_port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DemoPortDeclined, startDemo } from '../../src/demo/demoSetup';
import { freePort } from '../helpers/icapKitPeers';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

test('an existing demo configuration keeps its port and its edits; a taken port is changed only when confirmed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-demo-'));
  const cleanups: Array<() => unknown> = [() => rmSync(dir, { recursive: true, force: true })];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const confPath = join(dir, 'kata_dir_scanner.conf');
  let demo = await startDemo(dir, { port: 0 });
  await demo.emulator.close();
  const conf = JSON.parse(readFileSync(confPath, 'utf8')) as Record<string, unknown>;
  assert.equal(conf.kata_cn_port, demo.emulator.port);

  // The person edits the file: another port, another stable_ms.
  const port = await freePort();
  const edited = JSON.stringify({ ...conf, kata_cn_port: port, stable_ms: 5000 }, null, 4) + '\n';
  writeFileSync(confPath, edited);
  demo = await startDemo(dir, { defaultPort: 0 });
  assert.equal(demo.emulator.port, port);
  assert.equal(readFileSync(confPath, 'utf8'), edited, 'the file is not touched');
  await demo.emulator.close();

  // The configured port is taken: declined → nothing changes, the emulator is stopped again.
  const squatter = createServer().listen(port, '127.0.0.1');
  cleanups.push(() => squatter.close());
  await new Promise((r) => squatter.once('listening', r));
  const asked: Array<{ configured: number; actual: number }> = [];
  await assert.rejects(
    startDemo(dir, { defaultPort: 0, confirmPortChange: async (c) => (asked.push(c), false) }),
    DemoPortDeclined,
  );
  assert.equal(asked.length, 1);
  assert.equal(asked[0]!.configured, port);
  assert.notEqual(asked[0]!.actual, port);
  assert.equal(readFileSync(confPath, 'utf8'), edited);
  // The declined emulator let go of its data folder: another start works.
  const changed: number[] = [];
  demo = await startDemo(dir, { defaultPort: 0, confirmPortChange: async () => true, onPortChanged: (c) => changed.push(c.actual) });
  cleanups.push(() => demo.emulator.close());
  const after = JSON.parse(readFileSync(confPath, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(changed, [demo.emulator.port]);
  assert.deepEqual(after, { ...conf, kata_cn_port: demo.emulator.port, stable_ms: 5000 });
});
