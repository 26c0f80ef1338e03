/**
 * Issue 19, point 9: key material in other encodings never reaches the support bundle. The
 * KATA client key (known to the scrubber, as readKdsConfig teaches it) and somebody else's key
 * (never taught) are written by openssl in the forms people copy keys in — DER (PKCS#8, PKCS#1,
 * SEC1), base64 of the DER (wrapped at 76, as `base64` writes it) and of the PEM, inside a zip —
 * and must not come out of prepareBundle in any of them; xz, bzip2, zstd and PKCS#12 are refused
 * with a message naming the file. Before, `--add key.der` and the others were written as they were.
 * openssl is the oracle: nothing in a scrubbed file decodes to a key it can read.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { findLeaks, prepareBundle, writeBundle } from '../../src/support/bundleContents';
import { UnscrubbableFile, checkAttachable } from '../../src/support/scrubFiles';
import { SecretScrubber } from '../../src/support/secretScrub';
import { tempDir } from '../helpers/tempDirs';

const tools = ['openssl', 'zip', 'unzip', 'xz', 'bzip2', 'zstd', 'base64'];
const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
if (missing.length && process.env.CI === 'true') throw new Error(`missing ${missing.join(', ')}: run scripts/install-system-deps.sh as root`);
const skip = missing.length ? `missing ${missing.join(', ')} (scripts/install-system-deps.sh)` : false;

const dir = tempDir('kds-scrub-enc-');
const sh = (cmd: string, args: string[], cwd = dir) => execFileSync(cmd, args, { cwd });

/** Does openssl read a private key from these bytes (DER), or from their base64 decoding? */
function opensslReadsKey(bytes: Buffer): boolean {
  const f = join(dir, `probe-${randomBytes(4).toString('hex')}`);
  writeFileSync(f, bytes);
  const der = spawnSync('openssl', ['pkey', '-inform', 'DER', '-in', f, '-noout'], { stdio: 'ignore' }).status === 0;
  const pem = spawnSync('openssl', ['pkey', '-in', f, '-noout'], { stdio: 'ignore' }).status === 0;
  const decoded = spawnSync('base64', ['-d', '-i', f]).stdout;
  writeFileSync(f, decoded);
  const b64der = decoded.length > 0 && spawnSync('openssl', ['pkey', '-inform', 'DER', '-in', f, '-noout'], { stdio: 'ignore' }).status === 0;
  const b64pem = decoded.length > 0 && spawnSync('openssl', ['pkey', '-in', f, '-noout'], { stdio: 'ignore' }).status === 0;
  return der || pem || b64der || b64pem;
}

async function scrubbedCopy(s: SecretScrubber, file: string, name = `attachments/${file.split('/').pop()}`): Promise<Buffer> {
  const staging = join(dir, `staging-${randomBytes(4).toString('hex')}`);
  mkdirSync(staging, { mode: 0o700 });
  const [entry] = await prepareBundle([{ name, about: 'test', file }], s, staging);
  return entry!.data ?? readFileSync(entry!.file!);
}

test('DER, base64 and zipped copies of a known and an unknown private key do not survive scrubbing (openssl cannot read a key from what is left)', { skip, timeout: 120_000 }, async () => {
  sh('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'known.pem']);
  sh('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.pem']);
  sh('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', 'known.pem', '-outform', 'DER', '-out', 'known.der']);
  sh('openssl', ['rsa', '-in', 'known.pem', '-traditional', '-outform', 'DER', '-out', 'known-pkcs1.der']);
  sh('openssl', ['ec', '-in', 'other.pem', '-outform', 'DER', '-out', 'other-sec1.der']);
  sh('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', 'other.pem', '-outform', 'DER', '-out', 'other.der']);
  writeFileSync(join(dir, 'known.der.b64'), sh('base64', ['known.der']));
  writeFileSync(join(dir, 'known.pem.b64'), sh('base64', ['-w0', 'known.pem']));
  writeFileSync(join(dir, 'other.der.b64'), sh('base64', ['-w', '64', 'other.der']));
  writeFileSync(join(dir, 'known-pkcs1.der.b64.b64'), sh('base64', ['-w0', 'known.der.b64']));
  sh('zip', ['-q', '-j', 'keys.zip', 'known.pem', 'known.der', 'other.der', 'known.der.b64']);
  // A capture that happens to carry a key: random bytes, the DER, more random bytes.
  writeFileSync(join(dir, 'carrier.pcap'), Buffer.concat([randomBytes(100_000), readFileSync(join(dir, 'other-sec1.der')), randomBytes(50_000)]));
  // A log that quotes a base64 key inside a JSON line.
  writeFileSync(join(dir, 'app.log'), `start\n{"event": "debug", "blob": "${readFileSync(join(dir, 'known.der')).toString('base64')}"}\nend\n`);

  const s = new SecretScrubber();
  s.addPrivateKey(readFileSync(join(dir, 'known.pem'), 'utf8'));
  const knownDer = [readFileSync(join(dir, 'known.der')), readFileSync(join(dir, 'known-pkcs1.der'))];

  for (const f of ['known.der', 'known-pkcs1.der', 'other-sec1.der', 'other.der', 'known.der.b64', 'known.pem.b64', 'other.der.b64', 'known-pkcs1.der.b64.b64', 'carrier.pcap', 'app.log']) {
    const before = readFileSync(join(dir, f));
    assert.ok(opensslReadsKey(before) || f === 'carrier.pcap' || f === 'app.log' || f.endsWith('.b64.b64'), `${f}: openssl reads the key before scrubbing`);
    const out = await scrubbedCopy(s, join(dir, f));
    assert.ok(!opensslReadsKey(out), `${f}: openssl still reads a key after scrubbing`);
    for (const k of knownDer) assert.ok(!out.includes(k), `${f}: the known key's DER is gone`);
    assert.ok(!out.includes(readFileSync(join(dir, 'other-sec1.der'))), `${f}: the other key's DER is gone`);
  }
  assert.match((await scrubbedCopy(s, join(dir, 'app.log'))).toString('utf8'), /^start\n\{"event": "debug", "blob": "\[removed by KDS\]"\}\nend\n$/, 'text around it stays');
  const carrier = await scrubbedCopy(s, join(dir, 'carrier.pcap'));
  assert.equal(carrier.length, readFileSync(join(dir, 'carrier.pcap')).length, 'binary is masked in place, its length kept');

  // The zip comes out as a zip (unzip is the oracle), every entry scrubbed.
  const zipOut = join(dir, 'keys-scrubbed.zip');
  writeFileSync(zipOut, await scrubbedCopy(s, join(dir, 'keys.zip')));
  const listed = sh('unzip', ['-Z1', zipOut]).toString().trim().split('\n').sort();
  assert.deepEqual(listed, ['known.der', 'known.der.b64', 'known.pem', 'other.der']);
  for (const name of listed) assert.ok(!opensslReadsKey(sh('unzip', ['-p', zipOut, name])), `keys.zip!${name}`);
});

test('xz, bzip2, zstd, PKCS#12 and encrypted zips are refused with the file named and the reason', { skip, timeout: 60_000 }, async () => {
  writeFileSync(join(dir, 'secret.txt'), 'password=hunter2hunter2\n');
  sh('xz', ['-k', 'secret.txt']);
  sh('bzip2', ['-k', 'secret.txt']);
  sh('zstd', ['-q', '-k', 'secret.txt']);
  if (!existsSync(join(dir, 'known.pem'))) sh('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'known.pem']);
  sh('openssl', ['req', '-x509', '-new', '-key', 'known.pem', '-subj', '/CN=kds-test', '-days', '1', '-out', 'cert.pem']);
  sh('openssl', ['pkcs12', '-export', '-inkey', 'known.pem', '-in', 'cert.pem', '-passout', 'pass:', '-out', 'client.p12']);
  // The same PKCS#12 under an innocent name: recognised by its content.
  writeFileSync(join(dir, 'blob.bin'), readFileSync(join(dir, 'client.p12')));
  sh('zip', ['-q', '-P', 'pw', 'locked.zip', 'secret.txt']);
  const s = new SecretScrubber();
  const cases: Array<[string, RegExp]> = [
    ['secret.txt.xz', /secret\.txt\.xz is xz-compressed: KDS cannot look inside it for secrets.*xz -dk secret\.txt\.xz/],
    ['secret.txt.bz2', /secret\.txt\.bz2 is bzip2-compressed.*bzip2 -dk/],
    ['secret.txt.zst', /secret\.txt\.zst is zstd-compressed.*zstd -d/],
    ['client.p12', /client\.p12 is a PKCS#12/],
    ['blob.bin', /blob\.bin is a PKCS#12/],
    ['locked.zip', /encrypted/],
  ];
  for (const [f, why] of cases) {
    if (f !== 'locked.zip') assert.match((await checkAttachable(join(dir, f))) ?? '', why, `${f}: refused before anything is gathered`);
    await assert.rejects(scrubbedCopy(s, join(dir, f)), (e: unknown) => e instanceof UnscrubbableFile && why.test((e as Error).message), f);
  }
  assert.equal(await checkAttachable(join(dir, 'secret.txt')), undefined);
});

test('the last check of a written bundle finds a planted DER or base64 key, even one the scrubber was never told about', { skip, timeout: 60_000 }, async () => {
  if (!existsSync(join(dir, 'other.der'))) {
    sh('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.pem']);
    sh('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', 'other.pem', '-outform', 'DER', '-out', 'other.der']);
  }
  const der = readFileSync(join(dir, 'other.der'));
  const s = new SecretScrubber();
  const out = join(dir, 'leaky.tar.gz');
  await writeBundle(
    [
      { name: 'a.bin', about: '', size: der.length + 8, data: Buffer.concat([Buffer.from('prefix\0\0'), der]) },
      { name: 'b.txt', about: '', size: 0, data: Buffer.from(`x ${der.toString('base64')} y\n`) },
      { name: 'c.txt', about: '', size: 0, data: Buffer.from('nothing to see\n') },
    ],
    'top',
    out,
  );
  assert.deepEqual(await findLeaks(out, s), ['top/a.bin (1 private keys)', 'top/b.txt (1 private keys)']);
});
