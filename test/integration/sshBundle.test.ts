import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { TestSshd } from '../helpers/sshd';
import { sshdClient } from '../helpers/sshSessionForTests';

const repo = resolve(__dirname, '..', '..');
let sshd: TestSshd;
let dir: string;

before(async () => {
  sshd = await TestSshd.start();
  dir = mkdtempSync(join(tmpdir(), 'kds-ssh-bundle-'));
});

after(async () => {
  await sshd?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a bundle made with scripts/build.mjs's externals uses ssh2 without its optional native parts", async () => {
  // The same external list as every bundle in scripts/build.mjs.
  const buildScript = readFileSync(join(repo, 'scripts', 'build.mjs'), 'utf8');
  const external = JSON.parse(buildScript.match(/external:\s*(\[[^\]]*\])/)![1]!.replace(/'/g, '"')) as string[];
  assert.ok(external.includes('cpu-features') && external.some((e) => e.endsWith('sshcrypto.node')), 'ssh2 native parts are external');
  const entry = join(dir, 'entry.ts');
  writeFileSync(
    entry,
    `import { SshSession } from ${JSON.stringify(join(repo, 'src', 'ssh', 'sshSession'))};
const [port, user, key, kh] = process.argv.slice(2);
SshSession.connect({ host: '127.0.0.1', port: Number(port), user }, { privateKeyPath: key }, { knownHostsFiles: [kh], onUnknown: async () => false })
  .then(async (s) => { const r = await s.exec(['echo', 'bundled ssh ok']); process.stdout.write(r.stdout); await s.close(); })
  .catch((e) => { console.error(e); process.exit(1); });
`,
  );
  const out = join(dir, 'bundle.js');
  await build({ entryPoints: [entry], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'error', external });
  const { keyPath: key, knownHostsPath: kh } = sshdClient(sshd, 'id_bundle');
  // Run from the temp dir: no node_modules there, so the external native parts cannot be found.
  const { stdout } = await promisify(execFile)(process.execPath, [out, String(sshd.port), sshd.user, key, kh], { cwd: dir, timeout: 30_000 });
  assert.equal(stdout, 'bundled ssh ok\n');
});
