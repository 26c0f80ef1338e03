/**
 * The engine package's upload (engineUpload.ts) against an in-memory CN: a dropped connection
 * ends with how far it got, the next set-up continues from there after checking the part on the
 * CN, a part that does not match is sent again, a complete one is not sent at all, and progress
 * is reported as the bytes are acknowledged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type UploadShell, uploadPackage, uploadPath } from '../../src/centralNode/engineUpload';
import type { SftpFiles } from '../../src/ssh/sftpFiles';
import type { ExecResult } from '../../src/ssh/sshSession';

function fakeCn(opts: { failAfter?: number } = {}) {
  const files = new Map<string, Buffer>();
  const progress: number[] = [];
  let failAfter = opts.failAfter;
  const sftp = {
    realpath: async () => '/home/admin',
    mkdir: async () => undefined,
    chmod: async () => undefined,
    exists: async (p: string) => (files.has(p) ? { type: 'file', size: files.get(p)!.length } : undefined),
    async writeFrom(path: string, data: Buffer, start: number, o: { onProgress?: (n: number) => void }) {
      let cur = start === 0 ? Buffer.alloc(0) : files.get(path)!;
      for (let at = start; at < data.length; at += 32 * 1024) {
        const end = Math.min(at + 32 * 1024, data.length);
        if (failAfter !== undefined && end > failAfter) {
          failAfter = undefined;
          throw new Error('Connection lost');
        }
        cur = Buffer.concat([cur.subarray(0, at), data.subarray(at, end)]);
        files.set(path, cur);
        o.onProgress?.(end);
      }
    },
  } as unknown as SftpFiles;
  const shell: UploadShell = {
    async exec(argv: string[]) {
      // sh -c 'head -c "$1" -- "$2" | sha256sum' kds-upload-check N FILE
      const [n, file] = argv.slice(-2);
      const data = files.get(file!)!.subarray(0, Number(n));
      return { code: 0, stdout: Buffer.from(`${createHash('sha256').update(data).digest('hex')}  -\n`), stderr: Buffer.alloc(0) } as unknown as ExecResult;
    },
  };
  return { files, sftp, shell, progress };
}

test('an interrupted upload says how far it got and the next one continues from there; a mismatching part is sent again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-upload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = randomBytes(300 * 1024 + 123);
  const localPath = join(dir, 'kata-dir-scanner_0.1.0_amd64.deb');
  writeFileSync(localPath, data);
  const pkg = { localPath, file: 'kata-dir-scanner_0.1.0_amd64.deb', size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  const remote = uploadPath('/home/admin', pkg);
  assert.equal(remote, `/home/admin/.cache/kds-upload/${pkg.sha256.slice(0, 16)}-kata-dir-scanner_0.1.0_amd64.deb`);

  const cn = fakeCn({ failAfter: 150 * 1024 });
  const seen: number[] = [];
  await assert.rejects(uploadPackage(cn.shell, cn.sftp, pkg, { progress: (n) => seen.push(n) }), /The upload of kata-dir-scanner_0\.1\.0_amd64\.deb stopped at 131072 of 307323 bytes \(Connection lost\)\. Run the set-up again: it continues from there\./);
  assert.equal(cn.files.get(remote)!.length, 128 * 1024);

  const notes: string[] = [];
  const again = await uploadPackage(cn.shell, cn.sftp, pkg, { progress: (n) => seen.push(n), note: (l) => notes.push(l) });
  assert.equal(again.resumedAt, 128 * 1024);
  assert.deepEqual(notes, ['continuing an interrupted upload at 131072 of 307323 bytes']);
  assert.ok(cn.files.get(remote)!.equals(data), 'the whole package is on the CN');
  assert.deepEqual(seen.slice(-1), [data.length]);

  // Complete already: nothing is sent.
  const done: string[] = [];
  assert.equal((await uploadPackage(cn.shell, cn.sftp, pkg, { note: (l) => done.push(l) })).resumedAt, data.length);
  assert.match(done[0]!, /the package is already on the CN/);

  // A part that is not a prefix of this package (another build under the same name): sent again from the start.
  cn.files.set(remote, Buffer.alloc(1000, 7));
  const fresh: string[] = [];
  assert.equal((await uploadPackage(cn.shell, cn.sftp, pkg, { note: (l) => fresh.push(l) })).resumedAt, 0);
  assert.match(fresh[0]!, /does not match the package: sending it again/);
  assert.ok(cn.files.get(remote)!.equals(data));
});

test('a local package that is not the one its manifest describes is not sent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-upload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const localPath = join(dir, 'x.deb');
  writeFileSync(localPath, 'not the package');
  const cn = fakeCn();
  await assert.rejects(uploadPackage(cn.shell, cn.sftp, { localPath, file: 'x.deb', size: 15, sha256: 'ab'.repeat(32) }), /does not match its manifest \(engine\.json\)/);
  assert.equal(cn.files.size, 0);
});
