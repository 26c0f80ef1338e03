import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KdsConfig } from '../../src/engine/config';
import { ConfigFollower, configKey } from '../../src/viewModel/configFollow';

const conf = (path: string, over: Record<string, unknown> = {}): KdsConfig =>
  ({ configPath: path, in_dir: '/srv/in', out_dir: '/srv/out', qrnt_dir: '/srv/qrnt', state_dir: '/srv/state', poll_interval_s: 5, ...over }) as unknown as KdsConfig;

test('item 8: kds.configPath changed while scanning: the views follow the running engine, a restart is offered once', () => {
  const f = new ConfigFollower();
  const a = conf('/ws/a.conf');
  f.loaded({ kind: 'ok', path: a.configPath, config: a });
  f.started(a);
  const b = conf('/ws/b.conf', { out_dir: '/other/out', qrnt_dir: '/other/qrnt', in_dir: '/other/in' });
  const d = f.loaded({ kind: 'ok', path: b.configPath, config: b });
  assert.deepEqual(d, { offerRestart: true, warnInvalid: false });
  assert.equal(f.viewConfig(), a, 'Input, Output and Quarantine all show the running engine\'s folders');
  assert.deepEqual(f.banner(), { kind: 'restart-pending', path: '/ws/a.conf' });
  // Loaded again (a watcher event, the setting touched): no second prompt.
  assert.equal(f.loaded({ kind: 'ok', path: b.configPath, config: b }).offerRestart, false);
  // After the restart the views follow the new configuration and nothing is pending.
  f.stopped();
  f.started(b);
  assert.equal(f.viewConfig(), b);
  assert.equal(f.banner(), undefined);
});

test('item 14: auto-save while editing asks once per valid saved change, not at every pause', () => {
  const f = new ConfigFollower();
  const running = conf('/ws/k.conf');
  f.loaded({ kind: 'ok', path: running.configPath, config: running });
  f.started(running);
  // The same content saved again (auto-save after a pause without a change): nothing to ask.
  assert.equal(f.loaded({ kind: 'ok', path: '/ws/k.conf', config: conf('/ws/k.conf') }).offerRestart, false);
  // Typing: an invalid intermediate state, then a valid change, saved twice.
  const invalid = { kind: 'invalid' as const, path: '/ws/k.conf', error: '/ws/k.conf: invalid JSON at line 3, column 1: unexpected character }' };
  assert.deepEqual(f.loaded(invalid), { offerRestart: false, warnInvalid: true });
  assert.deepEqual(f.loaded(invalid), { offerRestart: false, warnInvalid: false }, 'the same error is reported once');
  const changed = conf('/ws/k.conf', { poll_interval_s: 15 });
  assert.equal(f.loaded({ kind: 'ok', path: '/ws/k.conf', config: changed }).offerRestart, true);
  assert.equal(f.loaded({ kind: 'ok', path: '/ws/k.conf', config: conf('/ws/k.conf', { poll_interval_s: 15 }) }).offerRestart, false);
  // Changed back to what runs: nothing pending; a new change asks again.
  assert.equal(f.loaded({ kind: 'ok', path: '/ws/k.conf', config: conf('/ws/k.conf') }).offerRestart, false);
  assert.equal(f.banner(), undefined);
  assert.equal(f.loaded({ kind: 'ok', path: '/ws/k.conf', config: changed }).offerRestart, true);
});

test('item 14: while the file is invalid the views keep the last valid configuration, with a banner saying where', () => {
  const f = new ConfigFollower();
  const good = conf('/ws/k.conf');
  f.loaded({ kind: 'ok', path: '/ws/k.conf', config: good });
  const error = '/ws/k.conf: invalid JSON at line 7, column 3: comments are not allowed in JSON';
  assert.deepEqual(f.loaded({ kind: 'invalid', path: '/ws/k.conf', error }), { offerRestart: false, warnInvalid: false }, 'not scanning: no prompt');
  assert.equal(f.viewConfig(), good, 'Output and Quarantine do not go blank');
  assert.deepEqual(f.banner(), { kind: 'invalid', path: '/ws/k.conf', error, showing: 'last-valid' });
  // Another file that was never valid: nothing to show, but the reason is still given.
  f.loaded({ kind: 'invalid', path: '/ws/other.conf', error: 'bad' });
  assert.equal(f.viewConfig(), undefined);
  assert.equal(f.banner()?.kind, 'invalid');
  // While scanning, an invalid file shows the running engine's folders.
  f.loaded({ kind: 'ok', path: '/ws/k.conf', config: good });
  f.started(good);
  f.loaded({ kind: 'invalid', path: '/ws/k.conf', error });
  assert.equal(f.viewConfig(), good);
  assert.deepEqual(f.banner(), { kind: 'invalid', path: '/ws/k.conf', error, showing: 'running' });
});

test('configKey ignores key order', () => {
  assert.equal(configKey({ a: 1, b: { d: 1, c: 2 } } as unknown as KdsConfig), configKey({ b: { c: 2, d: 1 }, a: 1 } as unknown as KdsConfig));
  assert.notEqual(configKey(conf('/x')), configKey(conf('/x', { poll_interval_s: 6 })));
});
