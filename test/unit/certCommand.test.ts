import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../../src/cli/certCommand';
import { splitPem } from '../../src/pki/pemText';
import { runCapturingOutput } from '../helpers/cliOutput';

const runCert = (argv: string[]) => runCapturingOutput(command, argv);

test('kds cert writes server.key, server.crt and cert.pem (cert + key), all 0600, key matching the cert', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kds-cert-'));
  try {
    const out = join(dir, 'new folder');
    const r = await runCert(['--out', out, '--days', '30', '--cn', 'kds-test']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['cert.pem', 'server.crt', 'server.key'], 'no temporary files left');
    for (const f of ['server.key', 'server.crt', 'cert.pem']) {
      assert.equal((await stat(join(out, f))).mode & 0o777, 0o600, f);
    }
    const keyPem = await readFile(join(out, 'server.key'), 'utf8');
    const crtPem = await readFile(join(out, 'server.crt'), 'utf8');
    const both = await readFile(join(out, 'cert.pem'), 'utf8');
    assert.equal(both, crtPem + keyPem, 'like cat server.crt server.key > cert.pem');
    const cert = new X509Certificate(crtPem);
    const key = createPrivateKey(keyPem);
    assert.ok(cert.checkPrivateKey(key));
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.match(cert.subject, /CN=kds-test/);
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 29 && days < 31, `validity ${days}`);
    const split = splitPem(both);
    assert.ok(new X509Certificate(split.certificates[0]!).checkPrivateKey(createPrivateKey(split.privateKey!)));

    assert.ok(r.stdout.includes(cert.fingerprint256), 'prints the SHA-256 fingerprint');
    assert.match(r.stdout, /system_id: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kds cert refuses to replace existing files without --force, and replaces them with it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kds-cert-'));
  try {
    await writeFile(join(dir, 'cert.pem'), 'old');
    const refused = await runCert(['--out', dir]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--force/);
    assert.ok(refused.stderr.includes(join(dir, 'cert.pem')));
    assert.equal(await readFile(join(dir, 'cert.pem'), 'utf8'), 'old');
    assert.deepEqual((await readdir(dir)).sort(), ['cert.pem'], 'nothing else written');

    const forced = await runCert(['--out', dir, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    const pem = await readFile(join(dir, 'cert.pem'), 'utf8');
    assert.match(pem, /BEGIN CERTIFICATE[\s\S]*BEGIN PRIVATE KEY/);
    assert.equal((await stat(join(dir, 'cert.pem'))).mode & 0o777, 0o600);
    assert.match(new X509Certificate(pem).subject, /CN=kds-/, 'default CN is kds-<host name>');
    assert.deepEqual((await readdir(dir)).sort(), ['cert.pem', 'server.crt', 'server.key']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kds cert reports a folder it cannot write to with exit code 1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kds-cert-'));
  try {
    const file = join(dir, 'a file');
    await writeFile(file, 'x');
    const r = await runCert(['--out', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Cannot write the files into .*a file: /);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kds cert rejects bad arguments as usage errors', async () => {
  await assert.rejects(command.run([]), /--out DIR is required/);
  await assert.rejects(command.run(['--out', '/tmp/x', '--days', '0']), /--days/);
  await assert.rejects(command.run(['--out', '/tmp/x', '--days', 'ten']), /--days/);
  await assert.rejects(command.run(['--out', '/tmp/x', '--cn', 'x'.repeat(65)]), /--cn/);
  await assert.rejects(command.run(['--out', '/tmp/x', '--unknown']), /unknown/);
});
