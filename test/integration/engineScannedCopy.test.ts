import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import fsp from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ScannerApi } from '../../src/kata/scannerApi';
import { partialPrefix } from '../../src/engine/delivery';
import { asidePrefix } from '../../src/engine/sourceRemoval';
import { logsOf, startHarness, waitFor } from '../helpers/engineHarness';

/*
 * What the delivery copies (src/engine/scannedCopy.ts, docs/engine-lifecycle.md "What the
 * delivery copies"): on a local input a small file's copy is written from the very bytes the
 * upload read, hashed and sent, and the set-aside file is not read again; what guards the source
 * is its version. On a share without stable file ids the set-aside file is read and hashed again.
 */

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const realOpen = fsp.open;

/** The real client, with `afterUpload` run once KATA has a file (before the engine hears of it). */
function rewriteAfterUpload(name: string, afterUpload: () => void): (api: ScannerApi) => ScannerApi {
  let done = false;
  return (api) => ({
    submit: async (fh, opts) => {
      const r = await api.submit(fh, opts);
      if (opts.fileName === name && !done) {
        done = true;
        afterUpload();
      }
      return r;
    },
    states: () => api.states(),
    deleteResult: (id) => api.deleteResult(id),
    filters: () => api.filters(),
  });
}

/** Rewrites a file in place (same inode, same size), optionally putting its old mtime back as its writer could. */
function rewriteInPlace(path: string, content: string, restoreMtime: boolean): void {
  assert.equal(Buffer.byteLength(content), statSync(path).size, 'same size');
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, content, 0);
  } finally {
    closeSync(fd);
  }
  if (restoreMtime) utimesSync(path, roundTime, roundTime);
}

/** A time a writer can set back exactly (whole seconds: a Date would lose the nanoseconds). */
const roundTime = 1_700_000_000;

function writeWithRoundTime(path: string, content: string): void {
  writeFileSync(path, content);
  utimesSync(path, roundTime, roundTime);
}

test('local input: a small file is delivered from the bytes the upload read; the set-aside file is never opened', async (t) => {
  const asideOpens: string[] = [];
  t.mock.method(fsp, 'open', async (path: string, ...rest: unknown[]) => {
    if (basename(String(path)).startsWith(asidePrefix)) asideOpens.push(String(path));
    return (realOpen as (...a: unknown[]) => Promise<fsp.FileHandle>)(path, ...rest);
  });
  const h = await startHarness({ fileCalls: 'thread-pool' });
  const body = 'a small report\n'.repeat(40);
  writeFileSync(join(h.dirs.in, 'report.txt'), body, { mode: 0o640 });
  const mtime = statSync(join(h.dirs.in, 'report.txt')).mtimeMs;
  const r = await waitFor('routed', () => h.routed.find((x) => x.name === 'report.txt'));
  assert.equal(r.sha256, sha256(body));
  assert.equal(readFileSync(join(h.dirs.out, 'report.txt'), 'utf8'), body);
  const st = statSync(join(h.dirs.out, 'report.txt'));
  assert.equal(st.mode & 0o777, 0o640, 'the source\'s permissions, from the set-aside file\'s stats');
  assert.ok(Math.abs(st.mtimeMs - mtime) < 1, 'the source\'s mtime');
  assert.deepEqual(asideOpens, [], 'the copy came from the upload\'s bytes, not from a second read');
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.deepEqual(readdirSync(h.dirs.out), ['report.txt']);
});

test('local input: rewritten in place after the upload (new mtime) → the new bytes stay in input, are scanned and delivered; nothing unscanned is delivered', async () => {
  let path = '';
  const h = await startHarness({ wrapApi: rewriteAfterUpload('doc.txt', () => rewriteInPlace(path, 'second!', false)) });
  path = join(h.dirs.in, 'doc.txt');
  writeFileSync(path, 'first!!');
  const r = await waitFor('the second version routed', () => h.routed.find((x) => x.name === 'doc.txt' && x.sha256 === sha256('second!')));
  assert.equal(r.destination, 'out');
  assert.equal(readFileSync(join(h.dirs.out, 'doc.txt'), 'utf8'), 'second!');
  assert.equal(h.routed.filter((x) => x.name === 'doc.txt').length, 1, 'the first version was not delivered: the file under its name was no longer it');
  assert.equal(h.emulator.stats().uploadsBySha256.get(sha256('second!')), 1);
  assert.deepEqual(readdirSync(h.dirs.in), []);
});

test('local input: rewritten in place after the upload with its mtime put back → what is delivered is exactly the scanned bytes', async () => {
  let path = '';
  const h = await startHarness({ wrapApi: rewriteAfterUpload('doc.txt', () => rewriteInPlace(path, 'second!', true)) });
  path = join(h.dirs.in, 'doc.txt');
  writeWithRoundTime(path, 'first!!');
  const r = await waitFor('routed', () => h.routed.find((x) => x.name === 'doc.txt'));
  // The version (size, mtime, inode) cannot tell this rewrite; the copy is the upload's own bytes,
  // so the unscanned ones never reach output (docs/security.md says what such a writer can do).
  assert.equal(r.sha256, sha256('first!!'));
  assert.equal(readFileSync(join(h.dirs.out, 'doc.txt'), 'utf8'), 'first!!');
  const uploads = h.emulator.stats().uploadsBySha256;
  for (const f of h.routed) assert.ok(uploads.has(f.sha256), `${f.name}: delivered bytes were scanned`);
});

test('share without stable file ids: rewritten in place after the upload with its mtime put back → the hash check notices; the new bytes are scanned and delivered', async () => {
  let path = '';
  const h = await startHarness({ inputFileIds: false, wrapApi: rewriteAfterUpload('doc.txt', () => rewriteInPlace(path, 'second!', true)) });
  path = join(h.dirs.in, 'doc.txt');
  writeWithRoundTime(path, 'first!!');
  const r = await waitFor('the second version routed', () => h.routed.find((x) => x.name === 'doc.txt' && x.sha256 === sha256('second!')));
  assert.equal(r.destination, 'out');
  assert.equal(readFileSync(join(h.dirs.out, 'doc.txt'), 'utf8'), 'second!');
  assert.equal(h.routed.filter((x) => x.name === 'doc.txt').length, 1, 'the first version was refused: its bytes were gone');
  assert.ok(logsOf(h, 'abandoned', 'doc.txt').length >= 1);
  assert.equal(h.emulator.stats().uploadsBySha256.get(sha256('second!')), 1);
  assert.deepEqual(readdirSync(h.dirs.in), []);
});

test('local input, a large file: its copy is written into quarantine while it is uploaded and renamed into place; a rewrite with its mtime put back does not reach output', async () => {
  let path = '';
  let qrnt = '';
  let staged: { name: string; ino: number; mode: number; size: number }[] = [];
  const body = Buffer.alloc(1024 * 1024 + 333, 'scanned ');
  const h = await startHarness({
    wrapApi: rewriteAfterUpload('big.bin', () => {
      staged = readdirSync(qrnt).map((name) => {
        const st = statSync(join(qrnt, name));
        return { name, ino: st.ino, mode: st.mode & 0o777, size: st.size };
      });
      rewriteInPlace(path, Buffer.alloc(body.length, 'UNSCANNED').toString(), true);
    }),
  });
  qrnt = h.dirs.qrnt;
  path = join(h.dirs.in, 'big.bin');
  writeFileSync(path, body);
  utimesSync(path, roundTime, roundTime);
  const r = await waitFor('routed', () => h.routed.find((x) => x.name === 'big.bin'));
  assert.equal(staged.length, 1, 'one staged copy while the upload was on the wire');
  assert.ok(staged[0]!.name.startsWith(`${partialPrefix}staged-`), staged[0]!.name);
  assert.equal(staged[0]!.mode, 0o600);
  assert.equal(staged[0]!.size, body.length, 'complete when KATA had the file');
  assert.equal(r.sha256, sha256(body));
  const out = statSync(join(h.dirs.out, 'big.bin'));
  assert.equal(out.ino, staged[0]!.ino, 'the staged copy itself, renamed');
  assert.ok(readFileSync(join(h.dirs.out, 'big.bin')).equals(body), 'exactly the scanned bytes');
  assert.deepEqual(readdirSync(h.dirs.qrnt), [], 'nothing left in quarantine');
  assert.deepEqual(readdirSync(h.dirs.in), []);
});

test('local input, a large file whose upload fails: its staged copy is removed, and the retry stages and delivers a fresh one', async () => {
  let failed = 0;
  const h = await startHarness({
    wrapApi: (api) => ({
      submit: async (fh, opts) => {
        if (opts.fileName === 'big.bin' && failed++ === 0) {
          // Read the whole file the way the client does, then fail as a dropped connection would.
          const buf = Buffer.alloc(opts.size + 1);
          await fh.read(buf, 0, opts.size + 1, 0);
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        }
        return api.submit(fh, opts);
      },
      states: () => api.states(),
      deleteResult: (id) => api.deleteResult(id),
      filters: () => api.filters(),
    }),
  });
  const body = Buffer.alloc(300 * 1024, 'x');
  writeFileSync(join(h.dirs.in, 'big.bin'), body);
  await waitFor('routed', () => h.routed.find((x) => x.name === 'big.bin'));
  assert.ok(failed >= 2);
  assert.ok(readFileSync(join(h.dirs.out, 'big.bin')).equals(body));
  await waitFor('quarantine empty', () => readdirSync(h.dirs.qrnt).length === 0 || undefined);
});

test('output on another mount of the same file system (a bind mount): the staged copy cannot be renamed there (EXDEV), the file is copied from input with its hash checked, and the share stops staging', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'kds-bind-'));
  const real = join(base, 'real');
  const bound = join(base, 'bound');
  mkdirSync(real);
  mkdirSync(bound);
  // Same device number on both sides, so staging is chosen; rename(2) across mounts is EXDEV.
  execFileSync('mount', ['--bind', real, bound]);
  t.after(() => {
    execFileSync('umount', [bound]);
    rmSync(base, { recursive: true, force: true });
  });
  const h = await startHarness({ dirs: { out: join(bound, 'out') } });
  assert.equal(statSync(h.dirs.out).dev, statSync(h.dirs.qrnt).dev, 'one file system');
  const one = Buffer.alloc(200 * 1024, 'first ');
  writeFileSync(join(h.dirs.in, 'one.bin'), one);
  await waitFor('one routed', () => h.routed.find((x) => x.name === 'one.bin'));
  assert.ok(readFileSync(join(h.dirs.out, 'one.bin')).equals(one));
  assert.equal(logsOf(h, 'staging-off').length, 1);
  const two = Buffer.alloc(200 * 1024, 'second ');
  writeFileSync(join(h.dirs.in, 'two.bin'), two);
  await waitFor('two routed', () => h.routed.find((x) => x.name === 'two.bin'));
  assert.ok(readFileSync(join(h.dirs.out, 'two.bin')).equals(two));
  assert.deepEqual(readdirSync(h.dirs.qrnt), [], 'no staged copy left');
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.deepEqual(readdirSync(h.dirs.out).sort(), ['one.bin', 'two.bin']);
});
