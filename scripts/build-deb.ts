/*
 * `npm run package:deb`: the service as a Debian package, built with Debian's own dpkg-deb:
 * dist/engine/kata-dir-scanner_<version>_amd64.deb and, beside it, dist/engine/engine.json (the
 * package's and the engine's SHA-256 and sizes, and what the engine needs of the Central Node).
 * The .vsix carries both: "KDS: Set Up Central Node" uploads this one file to a CN without
 * Node.js and either takes the engine out of it (dpkg-deb, tar: essential on Debian) or installs
 * it with apt-get (docs/remote.md).
 *
 * Contents: /opt/kata-dir-scanner/kata-dir-scanner (the single executable of
 * build-service.mjs), its l10n/ and schemas/, `kds` and `kata-dir-scanner` in /usr/bin, the
 * systemd unit and the logrotate snippet (both rendered by the code of `kds service` for the
 * default configuration), the templates of kata_dir_scanner.conf and exclude_list.txt the
 * postinst copies when none exists, and the maintainer scripts of scripts/deb/.
 *
 * When dist/engine already holds a package built from the same inputs (engine, scripts,
 * templates, version) it is kept: `npm test` and `npm run package` do not compress it twice.
 * Options: --force (build again).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { originalTemplate, parseConfigText } from '../src/engine/config';
import { renderLogrotate, renderServiceUnit } from '../src/engine/serviceUnit';
import { type EngineManifest, debPackageName, installedExecutable, packageMember } from '../src/centralNode/engineManifest';

const root = resolve(__dirname, '..');
const service = join(root, 'dist', 'service');
const out = join(root, 'dist', 'engine');
const force = process.argv.includes('--force');

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; author?: string };
const version = pkg.version;
// package.json names no author yet; a .deb must name a maintainer with a mail address.
const maintainer = pkg.author ?? 'KDS maintainers <kds@example.org>';
const installDir = dirname(installedExecutable);

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** The single executable, built when missing or older than dist/kds.js. */
function ensureEngine(): { exe: string; manifest: Omit<EngineManifest, 'package'> } {
  const exe = join(service, 'kata-dir-scanner');
  const json = join(service, 'engine.json');
  const bundle = join(root, 'dist', 'kds.js');
  const stale = !existsSync(exe) || !existsSync(json) || !existsSync(bundle) || statSync(exe).mtimeMs < statSync(bundle).mtimeMs;
  if (stale) execFileSync(process.execPath, [join(root, 'scripts', 'build-service.mjs')], { cwd: root, stdio: 'inherit' });
  return { exe, manifest: JSON.parse(readFileSync(json, 'utf8')) as Omit<EngineManifest, 'package'> };
}

/**
 * The package's Depends, from what the engine itself needs (elfRequirements.mjs): the C library
 * by its symbol versions, libstdc++ by the GCC release that introduced its newest GLIBCXX_
 * version, libgcc by either of its Debian names.
 */
function depends(requires: EngineManifest['requires']): string {
  const gccOfGlibcxx: Record<string, string> = { '3.4.21': '5', '3.4.22': '6', '3.4.23': '7', '3.4.24': '7', '3.4.25': '8', '3.4.26': '9', '3.4.28': '10', '3.4.29': '11', '3.4.30': '12' };
  const gcc = gccOfGlibcxx[requires.glibcxx];
  if (!gcc) throw new Error(`build-deb: no libstdc++6 version known for GLIBCXX_${requires.glibcxx}: add it to gccOfGlibcxx`);
  return `libc6 (>= ${requires.glibc}), libstdc++6 (>= ${gcc}), libgcc-s1 | libgcc1`;
}

/**
 * One build at a time: test files running in parallel may all ask for the package. The lock
 * holds the builder's pid; a lock whose process is gone is taken over.
 */
function lock(): () => void {
  const path = join(root, 'dist', '.build-deb.lock');
  mkdirSync(dirname(path), { recursive: true });
  for (let waited = 0; ; waited += 500) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number(readFileSync(path, 'utf8').trim());
    let alive = false;
    try {
      process.kill(holder, 0);
      alive = holder > 0;
    } catch {
      alive = false;
    }
    if (!alive) rmSync(path, { force: true });
    else if (waited > 30 * 60_000) throw new Error(`build-deb: ${path} is held by process ${holder} for 30 minutes`);
    else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  }
}

const unlock = lock();
process.on('exit', unlock);
const { exe, manifest } = ensureEngine();
const debName = `${debPackageName}_${version}_amd64.deb`;
const debPath = join(out, debName);
const scripts = ['postinst', 'prerm', 'postrm'].map((s) => join(root, 'scripts', 'deb', s));
const inputs = sha256(
  [manifest.sha256, version, ...scripts.map((s) => sha256(readFileSync(s))), sha256(readFileSync(__filename)), ...['l10n', 'schemas'].flatMap((d) => filesUnder(join(root, d)).map((f) => sha256(readFileSync(f))))].join('\n'),
);
const existing = join(out, 'engine.json');
if (!force && existsSync(debPath) && existsSync(existing)) {
  const old = JSON.parse(readFileSync(existing, 'utf8')) as EngineManifest;
  if (old.inputs === inputs && old.package.sha256 === sha256(readFileSync(debPath))) {
    console.log(`${relative(root, debPath)}: up to date (${(old.package.size / 1e6).toFixed(1)} MB)`);
    process.exit(0);
  }
}

const stage = join(root, 'dist', 'deb', `${debPackageName}_${version}_amd64`);
rmSync(join(root, 'dist', 'deb'), { recursive: true, force: true });
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const put = (path: string, data: Buffer | string, mode = 0o644) => {
  const p = join(stage, path);
  mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
  writeFileSync(p, data, { mode });
  chmodSync(p, mode);
};

// The engine and what it reads beside it.
put(installedExecutable, readFileSync(exe), 0o755);
for (const d of ['l10n', 'schemas']) {
  cpSync(join(service, d), join(stage, installDir, d), { recursive: true });
}
mkdirSync(join(stage, 'usr/bin'), { recursive: true });
for (const name of ['kds', 'kata-dir-scanner']) symlinkSync(installedExecutable, join(stage, 'usr/bin', name));

// Unit and logrotate for the default configuration (docs/service.md says how to make one for another).
const template = { ...originalTemplate, exclude_list: 'exclude_list.txt' };
const { config } = parseConfigText(JSON.stringify({ ...template, system_id: 'x' }), `${installDir}/kata_dir_scanner.conf`);
put('lib/systemd/system/kata-dir-scanner.service', renderServiceUnit(config, { exec: [installedExecutable] }));
put('etc/logrotate.d/kata-dir-scanner', renderLogrotate(config));
put('usr/share/kata-dir-scanner/kata_dir_scanner.conf', JSON.stringify(template, null, 2) + '\n');
put('usr/share/kata-dir-scanner/exclude_list.txt', '# One name or mask a line (e.g. *.tmp): files KDS leaves in the input folder.\n');

// Documentation lintian and Debian Policy ask for.
put(
  'usr/share/doc/kata-dir-scanner/copyright',
  [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: kata-dir-scanner (KDS)',
    '',
    'Files: *',
    `Copyright: ${new Date().getUTCFullYear()} KDS contributors`,
    'License: MIT',
    '',
    'Files: opt/kata-dir-scanner/kata-dir-scanner',
    `Copyright: Node.js contributors, ${new Date().getUTCFullYear()} KDS contributors`,
    'License: MIT',
    'Comment: A Node.js single executable application: the Node.js runtime (MIT, with the',
    ' third-party licences listed in its LICENSE file) with the KDS engine injected.',
    '',
    'License: MIT',
    ' Permission is hereby granted, free of charge, to any person obtaining a copy of this',
    ' software and associated documentation files (the "Software"), to deal in the Software',
    ' without restriction, including without limitation the rights to use, copy, modify, merge,',
    ' publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons',
    ' to whom the Software is furnished to do so, subject to the following conditions:',
    ' .',
    ' The above copyright notice and this permission notice shall be included in all copies or',
    ' substantial portions of the Software.',
    ' .',
    ' THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,',
    ' INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR',
    ' PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE',
    ' FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR',
    ' OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER',
    ' DEALINGS IN THE SOFTWARE.',
    '',
  ].join('\n'),
);
const when = new Date(statSync(exe).mtimeMs).toUTCString().replace(/GMT$/, '+0000');
put(
  'usr/share/doc/kata-dir-scanner/changelog.gz',
  gzipSync(`${debPackageName} (${version}) unstable; urgency=medium\n\n  * KDS ${version} (Node.js ${manifest.node}).\n\n -- ${maintainer}  ${when}\n`, { level: 9 }),
);

// Control area.
const installedKiB = Math.ceil(filesUnder(stage).reduce((n, f) => n + (lstatSync(f).isSymbolicLink() ? 0 : statSync(f).size), 0) / 1024);
const md5sums = filesUnder(stage)
  .filter((f) => !lstatSync(f).isSymbolicLink())
  .map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(stage, f)}`)
  .join('\n');
put(
  'DEBIAN/control',
  [
    `Package: ${debPackageName}`,
    `Version: ${version}`,
    'Architecture: amd64',
    `Maintainer: ${maintainer}`,
    `Installed-Size: ${installedKiB}`,
    `Depends: ${depends(manifest.requires)}`,
    'Section: net',
    'Priority: optional',
    'Description: KATA Directory Scanner: folders scanned by KATA',
    ' Files dropped into an input folder (a CIFS share) are sent to the scanner',
    ' API of Kaspersky Anti Targeted Attack Platform over mutual TLS; clean ones',
    ' move to the output folder, everything else to quarantine. Runs as',
    ' kata-dir-scanner.service and reads the original kata_dir_scanner.conf.',
    ' .',
    ` The engine is a self-contained executable (Node.js ${manifest.node} inside).`,
    '',
  ].join('\n'),
);
put('DEBIAN/md5sums', md5sums + '\n');
put('DEBIAN/conffiles', '/etc/logrotate.d/kata-dir-scanner\n');
for (const s of scripts) put(`DEBIAN/${s.split('/').pop()}`, readFileSync(s), 0o755);

execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, debPath], { stdio: ['ignore', 'ignore', 'inherit'] });
rmSync(join(root, 'dist', 'deb'), { recursive: true, force: true });

const deb = readFileSync(debPath);
const full: EngineManifest = {
  ...manifest,
  package: { file: debName, name: debPackageName, version, size: deb.length, sha256: sha256(deb), member: packageMember },
  inputs,
};
writeFileSync(existing, JSON.stringify(full, null, 2) + '\n');
console.log(`${relative(root, debPath)}: ${(deb.length / 1e6).toFixed(1)} MB (engine ${(manifest.size / 1e6).toFixed(1)} MB, needs glibc >= ${manifest.requires.glibc})`);
