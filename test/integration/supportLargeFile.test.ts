/**
 * Issue 19, point 13: `kds support-bundle --add` of a 600 MB capture. Before, the scrubber turned
 * the whole file into one string: "Cannot create a string longer than 0x1fffffe8 characters" and
 * no bundle. Now it is scrubbed window by window: the bundle is written, the capture in it has
 * exactly its size (masked in place, so Wireshark still reads it), and the secrets planted across
 * window borders (4 MiB apart) and past the 512 MiB mark are gone — GNU tar extracts the bundle
 * and the test looks for them itself. The capture is a sparse file: it costs no disk until the
 * scrubbed copy is written.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureBuilt, kdsBin } from '../helpers/kdsProcess';
import { tempDir } from '../helpers/tempDirs';

const MiB = 1024 * 1024;
const size = 600 * 1000 * 1000;

test('kds support-bundle --add a 600 MB pcap: written, same size inside, secrets across window borders gone', { timeout: 900_000 }, async () => {
  ensureBuilt();
  const dir = tempDir('kds-big-');
  const sharePassword = 'Sh4re-P4ssw0rd-9000';
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const keyDer = privateKey.export({ format: 'der', type: 'pkcs8' });
  writeFileSync(join(dir, 'server.key'), keyPem, { mode: 0o600 });
  const config = join(dir, 'kata_dir_scanner.conf');
  writeFileSync(config, JSON.stringify({ in_dir: '/mnt/in', out_dir: '/mnt/out', qrnt_dir: '/mnt/qrnt', cert_pem: 'cert.pem', cert_key: 'server.key', kata_cn_addr: '127.0.0.1', system_id: '', log_file: join(dir, 'kds.log'), share_password: sharePassword }));
  writeFileSync(join(dir, 'answers.json'), JSON.stringify({ language: 'en', description: 'big capture' }));

  const pcap = join(dir, 'proxy-side.pcap');
  const fd = openSync(pcap, 'w');
  ftruncateSync(fd, size);
  writeSync(fd, Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex'), 0, 24, 0);
  // Each secret straddles a 4 MiB window border; the last ones lie past 512 MiB (the longest string V8 makes).
  const planted: Array<[number, Buffer]> = [
    [4 * MiB - 7, Buffer.from(`ICAP x-auth ${sharePassword} ok`)],
    [8 * MiB - 900, Buffer.from(keyPem)],
    [12 * MiB - 1000, keyDer],
    [520 * MiB - 5, Buffer.from(`pw=${sharePassword};`)],
    [size - 3000, keyDer],
  ];
  for (const [at, data] of planted) writeSync(fd, data, 0, data.length, at);
  closeSync(fd);

  const out = join(dir, 'support.tar.gz');
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [kdsBin, 'support-bundle', '--config', config, '--answers', join(dir, 'answers.json'), '--add', pcap, '--out', out, '--yes', '--no-collect', '--no-kata-logs', '--no-captures'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.doesNotMatch(r.stderr + r.stdout, /Cannot create a string/);

  const x = join(dir, 'x');
  mkdirSync(x);
  execFileSync('tar', ['-xzf', out, '-C', x]);
  const top = execFileSync('ls', [x], { encoding: 'utf8' }).trim();
  const inBundle = join(x, top, 'captures', 'proxy-side.pcap');
  assert.equal(statSync(inBundle).size, size, 'masked in place: the capture keeps its size');
  const fdIn = openSync(inBundle, 'r');
  try {
    const head = Buffer.alloc(24);
    readSync(fdIn, head, 0, 24, 0);
    assert.equal(head.toString('hex'), 'd4c3b2a1020004000000000000000000ffff000001000000', 'the pcap header is intact');
    for (const [at, data] of planted) {
      const around = Buffer.alloc(data.length + 64);
      readSync(fdIn, around, 0, around.length, Math.max(0, at - 32));
      assert.ok(!around.includes(Buffer.from(sharePassword)), `the password at ${at} is gone`);
      assert.ok(!around.includes(keyDer), `the DER key at ${at} is gone`);
      assert.ok(!around.toString('latin1').includes(keyPem.split('\n')[1]!), `the PEM key at ${at} is gone`);
    }
  } finally {
    closeSync(fdIn);
  }
  assert.ok(!readFileSync(join(x, top, 'summary.md'), 'utf8').includes(sharePassword));
});
