/*
 * `kds run` (the service) loads dist/kds-run.js, the engine's own bundle, not dist/kds.js (the
 * whole CLI, three times its size, which every start used to parse): bin/kds.js picks it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, kdsBin, repoRoot } from '../helpers/kdsProcess';

/** Runs `node bin/kds.js ARGS` and returns its output and the bundles it loaded from dist/. */
function loaded(args: string[]): { status: number | null; stdout: string; stderr: string; bundles: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'kds-runbundle-'));
  try {
    const probe = join(dir, 'probe.cjs');
    const list = join(dir, 'loaded.json');
    writeFileSync(probe, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(Object.keys(require.cache))));\n`);
    const r = spawnSync(process.execPath, ['--require', probe, kdsBin, ...args], { encoding: 'utf8', timeout: 60_000 });
    const dist = join(repoRoot, 'dist') + '/';
    const bundles = (JSON.parse(readFileSync(list, 'utf8')) as string[]).filter((p) => p.startsWith(dist)).map((p) => p.slice(dist.length));
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, bundles };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('kds run loads the engine\'s bundle only; the other commands the whole CLI', () => {
  ensureBuilt();
  const run = loaded(['run', '--config', join(tmpdir(), 'no-such-dir-kds', 'kata_dir_scanner.conf')]);
  assert.equal(run.status, 2, `a missing configuration is a configuration error:\n${run.stderr}`);
  assert.match(run.stderr, /kata_dir_scanner\.conf/);
  assert.deepEqual(run.bundles, ['kds-run.js']);
  const help = loaded(['run', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--config/);
  assert.deepEqual(help.bundles, ['kds-run.js']);
  const check = loaded(['check', '--help']);
  assert.equal(check.status, 0);
  assert.deepEqual(check.bundles, ['kds.js']);
});

test('the engine\'s bundle holds none of the other commands\' code (SSH, ICAP, capture, support, the embedded KATA)', () => {
  ensureBuilt();
  const sources = new Set([...readFileSync(join(repoRoot, 'dist', 'kds-run.js'), 'utf8').matchAll(/^\/\/ (src\/[a-zA-Z]+|node_modules\/(?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]!));
  assert.ok(sources.has('src/engine'), [...sources].join(', '));
  for (const other of ['src/ssh', 'src/icap', 'src/capture', 'src/support', 'src/emulator', 'src/centralNode', 'node_modules/ssh2']) assert.ok(!sources.has(other), `${other} is in dist/kds-run.js`);
});
