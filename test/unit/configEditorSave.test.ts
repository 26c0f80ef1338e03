import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changedSince, fingerprintFile, fingerprintText, saveConfig } from '../../src/configEditor/fileWatch';
import { loadForm, renderConfig } from '../../src/configEditor/formValues';

const root = mkdtempSync(join(tmpdir(), 'kds-config-editor-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;

function confFile(text: string, mode = 0o600): string {
  const dir = join(root, `c${++seq}`);
  mkdirSync(dir);
  const file = join(dir, 'kata_dir_scanner.conf');
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

const ORIGINAL = '{"in_dir": "/mnt/in/", "out_dir": "/mnt/out/", "qrnt_dir": "/mnt/qrnt/", "cert_pem": "/opt/kata-dir-scanner/cert.pem", "cert_key": "/opt/kata-dir-scanner/server.key", "kata_cn_addr": "localhost", "system_id": "", "x_keep": [1]}';

test('fingerprint: content hash and size; a touch is not a change, an edit is; a missing file is undefined', async () => {
  const file = confFile(ORIGINAL);
  const fp = (await fingerprintFile(file))!;
  assert.equal(fp.size, Buffer.byteLength(ORIGINAL));
  assert.equal(fp.sha256, fingerprintText(ORIGINAL).sha256);
  assert.equal(await changedSince(file, fp), false);
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  assert.equal(await changedSince(file, fp), false);
  writeFileSync(file, ORIGINAL.replace('localhost', 'kata'));
  assert.equal(await changedSince(file, fp), true);
  assert.equal(await fingerprintFile(join(root, 'none.conf')), undefined);
  assert.equal(await changedSince(join(root, 'none.conf'), undefined), false);
  assert.equal(await changedSince(join(root, 'none.conf'), fp), true);
});

test('save: atomic, formatted, unknown keys kept, mode 0600 kept, no temporary file left', async () => {
  const file = confFile(ORIGINAL, 0o600);
  const fp = await fingerprintFile(file);
  const form = loadForm(readFileSync(file, 'utf8'), file);
  const text = renderConfig({ ...form.values, system_id: 'abc' }, form.unknown, ORIGINAL);
  const r = await saveConfig(file, text, fp, { overwrite: false });
  assert.ok(r.ok);
  assert.equal(readFileSync(file, 'utf8'), text);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).x_keep, [1]);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(file, '..')), ['kata_dir_scanner.conf']);
  assert.equal(r.fingerprint.sha256, fingerprintText(text).sha256);
  // The new fingerprint is what the next save expects.
  assert.ok((await saveConfig(file, text + ' ', r.fingerprint, { overwrite: false })).ok);
});

test('save: other modes are kept too (0640)', async () => {
  const file = confFile(ORIGINAL, 0o640);
  const r = await saveConfig(file, '{}\n', await fingerprintFile(file), { overwrite: false });
  assert.ok(r.ok);
  assert.equal(statSync(file).mode & 0o777, 0o640);
});

test('save: refuses when the file changed on disk, reports the current fingerprint, overwrites when told', async () => {
  const file = confFile(ORIGINAL);
  const fp = await fingerprintFile(file);
  const theirs = ORIGINAL.replace('localhost', 'changed-by-someone');
  writeFileSync(file, theirs);
  const refused = await saveConfig(file, '{"mine": 1}\n', fp, { overwrite: false });
  assert.equal(refused.ok, false);
  assert.ok(!refused.ok && refused.reason === 'changed-on-disk');
  assert.equal(!refused.ok && refused.current?.sha256, fingerprintText(theirs).sha256);
  assert.equal(readFileSync(file, 'utf8'), theirs, 'nothing written');
  assert.deepEqual(readdirSync(join(file, '..')), ['kata_dir_scanner.conf']);

  const forced = await saveConfig(file, '{"mine": 1}\n', fp, { overwrite: true });
  assert.ok(forced.ok);
  assert.equal(readFileSync(file, 'utf8'), '{"mine": 1}\n');
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test('save: a deleted file counts as changed; a new file is created 0600; one that appeared meanwhile is not clobbered', async () => {
  const file = confFile(ORIGINAL);
  const fp = await fingerprintFile(file);
  rmSync(file);
  const gone = await saveConfig(file, '{}\n', fp, { overwrite: false });
  assert.ok(!gone.ok && gone.current === undefined);

  const fresh = join(root, 'fresh.conf');
  const created = await saveConfig(fresh, '{}\n', undefined, { overwrite: false });
  assert.ok(created.ok);
  assert.equal(statSync(fresh).mode & 0o777, 0o600);
  const appeared = await saveConfig(fresh, '{"x": 1}\n', undefined, { overwrite: false });
  assert.ok(!appeared.ok && appeared.current?.sha256 === fingerprintText('{}\n').sha256);
});

test('save through a symbolic link replaces the target, not the link', async () => {
  const file = confFile(ORIGINAL);
  const link = join(root, `link${seq}.conf`);
  symlinkSync(file, link);
  const r = await saveConfig(link, '{"via": "link"}\n', await fingerprintFile(link), { overwrite: false });
  assert.ok(r.ok);
  assert.equal(readFileSync(file, 'utf8'), '{"via": "link"}\n');
  assert.ok(lstatSync(link).isSymbolicLink());
});
