/**
 * What the single executable needs of a Central Node, and what a CN says it has: the ELF reader
 * of scripts/elfRequirements.mjs against binutils' objdump and file on real binaries (this
 * Node.js, which the engine is built from, and /bin/ls), and the parsers of getconf, ldd, df
 * and uname output as the tools print them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { compareVersions, kernelVersion, parseDf, parseLibc } from '../../src/centralNode/engineChoice';
// @ts-expect-error -- a build script in plain JavaScript, without type declarations
import { elfRequirements } from '../../scripts/elfRequirements.mjs';

type Needs = { needed: string[]; versions: Record<string, string>; kernel?: string };

function objdumpMissing(): string | undefined {
  if (!spawnSync('objdump', ['--version']).error) return undefined;
  const why = 'objdump is missing (binutils; scripts/install-system-deps.sh installs it)';
  if (process.env.CI === 'true') throw new Error(why);
  return why;
}

test('the ELF reader gives the libraries, the newest symbol versions and the kernel floor objdump and file give', { skip: objdumpMissing() }, () => {
  for (const file of [process.execPath, '/bin/ls']) {
    const ours = elfRequirements(readFileSync(file)) as Needs;
    const dump = execFileSync('objdump', ['-p', '-T', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const needed = [...dump.matchAll(/^\s+NEEDED\s+(\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(ours.needed, needed, file);
    const newest: Record<string, string> = {};
    for (const m of dump.matchAll(/\(([A-Z]+)_([0-9.]+)\)/g)) if (!newest[m[1]!] || compareVersions(m[2]!, newest[m[1]!]!) > 0) newest[m[1]!] = m[2]!;
    for (const [prefix, version] of Object.entries(ours.versions)) assert.equal(version, newest[prefix], `${file}: ${prefix}`);
    const abi = /for GNU\/Linux (\d+\.\d+\.\d+)/.exec(execFileSync('file', ['-L', file], { encoding: 'utf8' }))?.[1];
    assert.equal(ours.kernel, abi, file);
  }
  // What the engine is built from needs glibc 2.28 (Node.js 20's documented floor), not more.
  const node = elfRequirements(readFileSync(process.execPath)) as Needs;
  assert.ok(compareVersions(node.versions.GLIBC!, '2.28') <= 0, `this Node.js needs GLIBC_${node.versions.GLIBC}`);
});

test('the ELF reader refuses what is not an x86-64 ELF file', () => {
  assert.throws(() => elfRequirements(Buffer.from('#!/bin/sh\necho hi\n'.padEnd(80))), /not an ELF file/);
  const arm = Buffer.from(readFileSync(process.execPath).subarray(0, 64));
  arm.writeUInt16LE(183, 18);
  assert.throws(() => elfRequirements(arm), /not an x86-64 ELF file \(e_machine 183\)/);
});

test('C library: getconf first, then ldd --version of glibc and musl, carefully', () => {
  assert.deepEqual(parseLibc('glibc 2.36\n', undefined), { family: 'glibc', version: '2.36', text: 'glibc 2.36' });
  assert.deepEqual(parseLibc(undefined, 'ldd (Debian GLIBC 2.36-9+deb12u4) 2.36\nCopyright (C) 2022 Free Software Foundation, Inc.\n'), { family: 'glibc', version: '2.36', text: 'ldd (Debian GLIBC 2.36-9+deb12u4) 2.36' });
  assert.equal(parseLibc(undefined, 'ldd (Ubuntu GLIBC 2.35-0ubuntu3.6) 2.35\n')?.version, '2.35');
  assert.equal(parseLibc(undefined, 'ldd (GNU libc) 2.28\n')?.version, '2.28');
  assert.equal(parseLibc(undefined, 'ldd (GNU libc) 2.17\n')?.version, '2.17');
  assert.deepEqual(parseLibc(undefined, 'musl libc (x86_64)\nVersion 1.2.4\nDynamic Program Loader\nUsage: ldd [options] [--] pathname\n'), { family: 'musl', version: '1.2.4', text: 'musl libc (x86_64)' });
  assert.deepEqual(parseLibc(undefined, 'something else\n'), { family: 'unknown', text: 'something else' });
  assert.equal(parseLibc('', ''), undefined);
  // A getconf that does not know the variable prints nothing useful; ldd decides.
  assert.equal(parseLibc('getconf: Unrecognized variable', 'ldd (GNU libc) 2.31')?.version, '2.31');
  // Versions compare as numbers.
  assert.equal(compareVersions('2.9', '2.28'), -1);
  assert.equal(compareVersions('2.28', '2.28.0'), 0);
  assert.equal(compareVersions('2.36', '2.28'), 1);
});

test('df -P -k: the available KiB and the mount point, also with spaces in either', () => {
  assert.deepEqual(parseDf('Filesystem     1024-blocks    Used Available Capacity Mounted on\n/dev/vda        101590008 5437916  91941724       6% /\n'), { mount: '/', availableKiB: 91941724 });
  assert.deepEqual(parseDf('Filesystem 1024-blocks Used Available Capacity Mounted on\nkds-private-opt 65536 0 65536 0% /opt\n'), { mount: '/opt', availableKiB: 65536 });
  assert.deepEqual(parseDf('Filesystem 1024-blocks Used Available Capacity Mounted on\n//server/share with space 1000 10 990 1% /mnt/a b\n'), { mount: '/mnt/a b', availableKiB: 990 });
  assert.equal(parseDf('df: /nope: No such file or directory\n'), undefined);
  // The real df on this machine parses.
  const real = parseDf(execFileSync('df', ['-P', '-k', '--', '/'], { encoding: 'utf8' }));
  assert.ok(real && real.availableKiB > 0 && real.mount === '/');
});

test('uname -r: the numeric part of the kernel release', () => {
  assert.equal(kernelVersion('6.1.0-18-amd64\n'), '6.1.0');
  assert.equal(kernelVersion('4.18.0-513.5.1.el8_9.x86_64'), '4.18.0');
  assert.equal(kernelVersion('5.15.0-91-generic'), '5.15.0');
  assert.equal(kernelVersion('garbage'), undefined);
});
