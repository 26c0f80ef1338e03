import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type Stats, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { deliver, partialPrefix, removePartials, removeSource } from '../../src/engine/delivery';
import { folderFs } from '../../src/engine/folderFs';
import { tempDir } from '../helpers/tempDirs';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('delivers across file systems (EXDEV: /tmp → /dev/shm), replacing a file of the same name', async () => {
  const src = tempDir();
  const dst = tempDir('kds-shm-', '/dev/shm');
  assert.notEqual(statSync(src).dev, statSync(dst).dev, 'the test needs two file systems');
  const body = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  writeFileSync(join(src, 'report.pdf'), body, { mode: 0o640 });
  writeFileSync(join(dst, 'report.pdf'), 'old version');
  const res = await deliver({ source: join(src, 'report.pdf'), destDir: dst, name: 'report.pdf', expectedSha256: sha(body), tag: 'scan1' });
  assert.equal(res.ok, true);
  assert.deepEqual(readFileSync(join(dst, 'report.pdf')), body);
  assert.equal(statSync(join(dst, 'report.pdf')).mode & 0o777, 0o640);
  assert.ok(Math.abs(statSync(join(dst, 'report.pdf')).mtimeMs - statSync(join(src, 'report.pdf')).mtimeMs) < 1);
  assert.ok(existsSync(join(src, 'report.pdf')), 'the source stays until the caller removes it');
  assert.deepEqual(readdirSync(dst), ['report.pdf']);
  await removeSource(join(src, 'report.pdf'));
  assert.equal(existsSync(join(src, 'report.pdf')), false);
  await removeSource(join(src, 'report.pdf')); // already gone is fine
});

test('refuses to deliver bytes other than the ones scanned, and leaves no partial file', async () => {
  const src = tempDir();
  const dst = tempDir();
  writeFileSync(join(src, 'a.txt'), 'rewritten after submission');
  writeFileSync(join(dst, 'a.txt'), 'previous');
  const res = await deliver({ source: join(src, 'a.txt'), destDir: dst, name: 'a.txt', expectedSha256: sha('original'), tag: 't' });
  assert.deepEqual(res.ok ? null : res.reason, 'changed');
  assert.equal(readFileSync(join(dst, 'a.txt'), 'utf8'), 'previous');
  assert.deepEqual(readdirSync(dst), ['a.txt']);
});

test('missing sources and symlinks are reported, not followed', async () => {
  const src = tempDir();
  const dst = tempDir();
  writeFileSync(join(src, 'secret'), 'x');
  symlinkSync(join(src, 'secret'), join(src, 'link'));
  const link = await deliver({ source: join(src, 'link'), destDir: dst, name: 'link', tag: 't' });
  assert.equal(link.ok ? null : link.reason, 'not-regular');
  const gone = await deliver({ source: join(src, 'nope'), destDir: dst, name: 'nope', tag: 't' });
  assert.equal(gone.ok ? null : gone.reason, 'missing');
  assert.deepEqual(readdirSync(dst), []);
});

test('odd names survive delivery: spaces, quotes, newline, Cyrillic, leading dash', async () => {
  const src = tempDir();
  const dst = tempDir();
  for (const name of ['with space.txt', 'quote"\'.txt', 'new\nline.txt', 'отчёт.docx', '-rf']) {
    writeFileSync(join(src, name), name);
    const res = await deliver({ source: join(src, name), destDir: dst, name, expectedSha256: sha(name), tag: 'x' });
    assert.equal(res.ok, true, name);
    assert.equal(readFileSync(join(dst, name), 'utf8'), name);
  }
});

test('a destination that is not writable fails loudly and keeps the source', async () => {
  const src = tempDir();
  writeFileSync(join(src, 'a'), 'a');
  await assert.rejects(deliver({ source: join(src, 'a'), destDir: join(src, 'no-such-dir'), name: 'a', tag: 't' }), /ENOENT/);
  assert.ok(existsSync(join(src, 'a')));
});

test('partial copies left by a crash are removed, other files are not', async () => {
  const dst = tempDir();
  writeFileSync(join(dst, `${partialPrefix}abc`), 'half');
  writeFileSync(join(dst, 'keep.txt'), 'k');
  mkdirSync(join(dst, 'sub'));
  assert.deepEqual(await removePartials(dst), [`${partialPrefix}abc`]);
  assert.deepEqual(readdirSync(dst).sort(), ['keep.txt', 'sub']);
});

test('a source longer than the scanned version is refused even when its cached size says otherwise (a stale network client)', async (t) => {
  const src = tempDir();
  const dst = tempDir();
  const scanned = Buffer.alloc(1024 * 1024, 1);
  const probe = await open(join(src, '..'), 'r');
  const FileHandleProto = Object.getPrototypeOf(probe) as { stat: (...a: unknown[]) => Promise<Stats> };
  await probe.close();
  const realStat = FileHandleProto.stat;
  for (const [name, body, size] of [
    ['small', Buffer.from('scanned, and written on afterwards'), 'scanned'.length],
    ['one-buffer', Buffer.concat([scanned, Buffer.from('appended')]), scanned.length],
  ] as const) {
    writeFileSync(join(src, name), body);
    const st = statSync(join(src, name));
    // What a client with cached attributes shows: the scanned size.
    const stale = t.mock.method(FileHandleProto, 'stat', async function (this: unknown, ...a: unknown[]) {
      const real = await realStat.apply(this, a);
      return Object.assign(real, { size });
    });
    const res = await deliver({ source: join(src, name), expect: { size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev }, destDir: dst, name, tag: name });
    stale.mock.restore();
    assert.equal(res.ok ? null : res.reason, 'changed', name);
  }
  assert.deepEqual(readdirSync(dst), [], 'no copy placed, no partial left');
  writeFileSync(join(src, 'exact'), scanned);
  const st = statSync(join(src, 'exact'));
  const ok = await deliver({ source: join(src, 'exact'), expect: { size: scanned.length, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev }, destDir: dst, name: 'exact', expectedSha256: sha(scanned), tag: 'e' });
  assert.equal(ok.ok, true);
});

test('large deliveries at once, failed ones among them, each place exactly their own bytes (copy buffers are reused)', async () => {
  const src = tempDir();
  const dst = tempDir();
  for (const local of [true, false]) {
    const sizes = [1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024 + 5, 200 * 1024, 1024 * 1024];
    const bodies = sizes.map((size, i) => {
      const b = Buffer.alloc(size, i + (local ? 1 : 101));
      b.writeUInt32BE(size, 0);
      return b;
    });
    bodies.forEach((b, i) => writeFileSync(join(src, `f${i}`), b));
    const fs = folderFs(local);
    // Every third one was "scanned" with other bytes: refused, its buffer given back all the same.
    const runs = await Promise.all(
      bodies.map((b, i) =>
        deliver({ source: join(src, `f${i}`), destDir: dst, name: `f${i}`, expectedSha256: i % 3 === 2 ? sha('other') : sha(b), tag: `t${local}${i}`, sourceFs: fs, fs }),
      ),
    );
    for (const [i, res] of runs.entries()) {
      if (i % 3 === 2) {
        assert.deepEqual(res.ok ? null : res.reason, 'changed');
        assert.equal(existsSync(join(dst, `f${i}`)), false);
      } else {
        assert.equal(res.ok, true);
        assert.deepEqual(readFileSync(join(dst, `f${i}`)), bodies[i], `f${i} (${local ? 'local' : 'share'} back end)`);
      }
    }
  }
  assert.deepEqual(readdirSync(dst).filter((n) => n.startsWith(partialPrefix)), []);
});
