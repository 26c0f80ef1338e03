// `npm run build:service`: the KDS engine as one self-contained executable for linux-x64,
// using Node's single-executable-application (SEA) support:
//   1. dist/service/kds-sea.js: dist/kds.js plus a four-line start-up, bundled into one
//      CommonJS file (a SEA's require() only loads Node's built-in modules);
//   2. node --experimental-sea-config dist/service/sea-config.json (written here) -> sea-prep.blob;
//   3. a copy of this Node binary, its symbol table stripped when `strip` exists (.dynsym, which
//      the dynamic linker uses, stays; stripping must come before the injection, which it would
//      otherwise undo);
//   4. the blob injected with postject (an npm package: WebAssembly, nothing downloaded).
// Output: dist/service/kata-dir-scanner, plus l10n/ and schemas/ beside it (the Russian texts
// are read from there at run time; `kds remote setup` uploads them to /opt/kata-dir-scanner/),
// and dist/service/engine.json: its SHA-256 and what it needs of the system that runs it (the
// shared libraries, the GLIBC_/GLIBCXX_ symbol versions and the kernel floor, read from the
// file by elfRequirements.mjs), which the set-up checks on the Central Node.
//
// Node 20 can only build a SEA for the platform it runs on; the CN is linux-x64, so this script
// refuses to run elsewhere rather than produce an executable the CN cannot start.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { elfRequirements } from './elfRequirements.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'service');
const exe = join(out, 'kata-dir-scanner');
const sentinel = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`build:service builds for linux-x64 and must run there (this is ${process.platform}-${process.arch}).`);
  process.exit(1);
}
const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`build:service needs Node.js 20 or later (this is ${process.version}).`);
  process.exit(1);
}

if (!existsSync(join(root, 'dist', 'kds.js'))) execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// 1. One CommonJS file that starts `kds` with the executable's own arguments.
await build({
  stdin: {
    contents: [
      "'use strict';",
      "const { main } = require('./dist/kds.js');",
      // In a SEA argv[1] repeats argv[0]: the arguments start at index 2, as with node script.js.
      'main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => {',
      "  process.stderr.write(`${(err && err.stack) || String(err)}\\n`); process.exitCode = 1; });",
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'kds-sea-entry.js',
    loader: 'js',
  },
  outfile: join(out, 'kds-sea.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  // Optional native helpers of ssh2: their require() is inside try/catch and fails over to JS.
  external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
});

// 2. The preparation blob.
const seaConfig = join(out, 'sea-config.json');
writeFileSync(
  seaConfig,
  JSON.stringify({ main: join(out, 'kds-sea.js'), output: join(out, 'sea-prep.blob'), disableExperimentalSEAWarning: true, useCodeCache: false }, null, 2) + '\n',
);
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { cwd: root, stdio: 'inherit' });

// 3. A copy of this Node binary. It must need nothing on the CN beyond the C and C++ runtime:
// a distribution's Node.js linked against its own libnode/libuv/OpenSSL would not start there.
const portable = new Set(['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'librt.so.1', 'libstdc++.so.6', 'libgcc_s.so.1', 'ld-linux-x86-64.so.2']);
const foreign = elfRequirements(readFileSync(process.execPath)).needed.filter((lib) => !portable.has(lib));
if (foreign.length) {
  console.error(`build:service: ${process.execPath} links ${foreign.join(', ')}, which a Central Node does not have. Build with the official Node.js binary for linux-x64 (nodejs.org, NodeSource), which links only the C and C++ runtime.`);
  process.exit(1);
}
copyFileSync(process.execPath, exe);
chmodSync(exe, 0o755);
try {
  execFileSync('strip', ['--strip-all', exe], { stdio: 'ignore' });
} catch {
  // No binutils: the executable is only larger.
}

// 4. Inject the blob.
const require = createRequire(import.meta.url);
const { inject } = require('postject');
await inject(exe, 'NODE_SEA_BLOB', await import('node:fs/promises').then((fs) => fs.readFile(join(out, 'sea-prep.blob'))), {
  sentinelFuse: sentinel,
});
chmodSync(exe, 0o755);

cpSync(join(root, 'l10n'), join(out, 'l10n'), { recursive: true });
cpSync(join(root, 'schemas'), join(out, 'schemas'), { recursive: true });
rmSync(join(out, 'sea-prep.blob'));

const version = execFileSync(exe, ['--version'], { encoding: 'utf8' }).trim();
const data = readFileSync(exe);
const needs = elfRequirements(data);
const manifest = {
  format: 1,
  version,
  node: process.version,
  arch: 'x86_64',
  sha256: createHash('sha256').update(data).digest('hex'),
  size: data.length,
  requires: { glibc: needs.versions.GLIBC, glibcxx: needs.versions.GLIBCXX, kernel: needs.kernel, libraries: needs.needed },
};
writeFileSync(join(out, 'engine.json'), JSON.stringify(manifest, null, 2) + '\n');
const mb = (statSync(exe).size / 1024 / 1024).toFixed(1);
console.log(`dist/service/kata-dir-scanner: ${mb} MiB, kds ${version}, Node.js ${process.version} linux-x64, needs glibc >= ${needs.versions.GLIBC}, libstdc++ GLIBCXX_${needs.versions.GLIBCXX}, kernel >= ${needs.kernel}`);
