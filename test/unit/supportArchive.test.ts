/**
 * The support bundle's own tar.gz code against GNU tar as the oracle, the secret scrubber, and
 * the parsers of kata-collect's output, KDS's log and the checklist answers.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, test } from 'node:test';
import { createGunzip, createGzip, gzipSync } from 'node:zlib';
import { findLeaks, prepareBundle, writeBundle } from '../../src/support/bundleContents';
import { findArchivePath } from '../../src/support/collectArchive';
import { recentErrorRange } from '../../src/support/kdsSources';
import { SCRUBBED, SecretScrubber } from '../../src/support/secretScrub';
import { CHECKLIST, missingRequired, parseAnswers, renderSummary } from '../../src/support/supportSummary';
import { parseCpuInfo, parseMemTotal, parseOsRelease } from '../../src/support/systemFacts';
import { readTar, TarWriter } from '../../src/support/tarArchive';

const dir = mkdtempSync(join(tmpdir(), 'kds-support-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function writeTarGz(path: string, fill: (w: TarWriter) => Promise<void>): Promise<void> {
  const gz = createGzip();
  const done = pipeline(gz, createWriteStream(path));
  const w = new TarWriter(gz);
  await fill(w);
  await w.finish();
  await done;
}

test('tar.gz written by KDS is read by GNU tar: long and Cyrillic names, empty and binary files, exact bytes', async () => {
  const path = join(dir, 'a.tar.gz');
  const long = `${'d'.repeat(120)}/${'f'.repeat(130)}.log`;
  const bin = randomBytes(70_001);
  const src = join(dir, 'src.bin');
  writeFileSync(src, bin);
  await writeTarGz(path, async (w) => {
    await w.addDirectory('top');
    await w.addBuffer('top/summary.md', Buffer.from('# hello\n'));
    await w.addBuffer(`top/${long}`, Buffer.from('long'));
    await w.addBuffer('top/журнал.txt', Buffer.from('текст'));
    await w.addBuffer('top/empty', Buffer.alloc(0));
    await w.addFile('top/captures/x.pcap', src);
  });
  const listing = execFileSync('tar', ['-tzf', path], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(listing, ['top/', 'top/summary.md', `top/${long}`, 'top/журнал.txt', 'top/empty', 'top/captures/x.pcap']);
  const out = join(dir, 'x');
  mkdirSync(out);
  execFileSync('tar', ['-xzf', path, '-C', out]);
  assert.deepEqual(readFileSync(join(out, 'top/captures/x.pcap')), bin);
  assert.equal(readFileSync(join(out, 'top', long), 'utf8'), 'long');
  assert.equal(readFileSync(join(out, 'top/журнал.txt'), 'utf8'), 'текст');
  // And our reader reads what it wrote.
  const names: string[] = [];
  for await (const e of readTar(createReadStream(path).pipe(createGunzip()))) names.push(e.name);
  assert.deepEqual(names, ['top/', 'top/summary.md', `top/${long}`, 'top/журнал.txt', 'top/empty', 'top/captures/x.pcap']);
});

test('the tar reader reads GNU tar archives (GNU long names, pax) entry for entry', async () => {
  const src = join(dir, 'gnu');
  mkdirSync(join(src, 'var/log/kaspersky'), { recursive: true });
  const long = 'n'.repeat(150) + '.log';
  writeFileSync(join(src, 'var/log/kaspersky', long), 'a line\n');
  writeFileSync(join(src, 'var/log/kaspersky/big.bin'), randomBytes(1_000_003));
  for (const format of ['gnu', 'posix']) {
    const path = join(dir, `gnu-${format}.tar.gz`);
    execFileSync('tar', [`--format=${format}`, '-czf', path, '-C', src, 'var']);
    const seen = new Map<string, Buffer>();
    for await (const e of readTar(createReadStream(path).pipe(createGunzip()))) if (e.type === 'file') seen.set(e.name, e.data);
    assert.equal(seen.get(`var/log/kaspersky/${long}`)?.toString(), 'a line\n', format);
    assert.deepEqual(seen.get('var/log/kaspersky/big.bin'), readFileSync(join(src, 'var/log/kaspersky/big.bin')), format);
  }
});

test('a truncated or damaged archive is an error, not a short listing', async () => {
  const path = join(dir, 'ok.tar.gz');
  await writeTarGz(path, (w) => w.addBuffer('a', randomBytes(5000)));
  const raw = execFileSync('gzip', ['-dc', path]);
  const cut = gzipSync(raw.subarray(0, 2048));
  await assert.rejects(async () => {
    for await (const _ of readTar(Readable.from([cut]).pipe(createGunzip()))) void _;
  }, /ends in the middle/);
  const bad = Buffer.from(raw);
  bad[10] = bad[10]! ^ 0xff;
  await assert.rejects(async () => {
    for await (const _ of readTar(Readable.from([gzipSync(bad)]).pipe(createGunzip()))) void _;
  }, /checksum/);
});

test('scrubber: literal secrets, private key blocks and secret-named values go; ordinary text stays', () => {
  const s = new SecretScrubber();
  s.addSecret('Sup3r-Secret!');
  s.addSecret('ab'); // too short to hunt for
  const key = execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k'), '-C', 'x']) && readFileSync(join(dir, 'k'), 'utf8');
  s.addPrivateKey(key);
  const input = [
    'login with Sup3r-Secret! ok',
    key,
    '{"password": "p\\"w1", "user": "admin"}',
    'db_password=hunter22 host=x',
    'Authorization token: abc.def',
    'about the password policy and passwords in general',
    'grab a tab',
  ].join('\n');
  const out = s.text(input);
  assert.ok(!out.includes('Sup3r-Secret!'));
  assert.ok(!out.includes(key.split('\n')[1]!));
  assert.ok(!out.includes('hunter22'));
  assert.ok(!out.includes('p\\"w1'));
  assert.ok(!out.includes('abc.def'));
  assert.match(out, /"user": "admin"/);
  assert.match(out, /about the password policy and passwords in general/);
  assert.match(out, /grab a tab/);
  assert.ok(out.includes(SCRUBBED));
  assert.deepEqual(s.leaks(Buffer.from(out)), []);
  // Binary: masked in place, length kept.
  const bin = Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from('xxSup3r-Secret!yy'), Buffer.from([0xff, 0])]);
  const masked = s.bytes(bin);
  assert.equal(masked.length, bin.length);
  assert.ok(!masked.includes('Sup3r-Secret!'));
  assert.deepEqual(masked.subarray(0, 3), Buffer.from([0, 1, 2]));
});

test('scrubber learns secrets from a JSON configuration (nested, secret-looking keys only)', () => {
  const s = new SecretScrubber();
  s.addSecretsFromJson({ in_dir: '/mnt/in', smb: { share_password: 'ShareP4ss', user: 'svc' }, api_token: 'tok-123456' });
  assert.deepEqual([...s.knownSecrets].sort(), ['ShareP4ss', 'tok-123456']);
});

test('findArchivePath: the documented line, other wordings, Russian, trailing punctuation; none', () => {
  assert.equal(findArchivePath('Collecting...\nArchive created: /tmp/collect/collect-20240501T100000.tar.gz\nDone.'), '/tmp/collect/collect-20240501T100000.tar.gz');
  assert.equal(findArchivePath('Результат сохранён в файл /tmp/collect/collect-2024-05-01_10-00-00.tar.gz.'), '/tmp/collect/collect-2024-05-01_10-00-00.tar.gz');
  assert.equal(findArchivePath('using /usr/share/kata/base.tar.gz\nsaved to "/var/tmp/collect/collect-1714557600.tgz"'), '/var/tmp/collect/collect-1714557600.tgz');
  assert.equal(findArchivePath('wrote (/data/out/diag.tar.gz)'), '/data/out/diag.tar.gz');
  assert.equal(findArchivePath('nothing here, see /tmp/collect/'), undefined);
  assert.equal(findArchivePath('/tmp/../etc/x.tar.gz'), undefined);
});

test('recentErrorRange: text and JSON KDS logs, the last errors', () => {
  const text = ['2024-05-01T10:00:00.000Z INFO  start "x"', '2024-05-01T10:05:00.000Z ERROR kata.error "boom"', '2024-05-01T10:06:00.000Z WARN  w', '2024-05-01T10:09:00.000Z ERROR kata.error "again"'].join('\n');
  assert.deepEqual(recentErrorRange(text), { from: '2024-05-01T10:05:00.000Z', to: '2024-05-01T10:09:00.000Z', count: 2 });
  const json = [JSON.stringify({ time: '2024-05-02T01:00:00Z', level: 'error', msg: 'a' }), JSON.stringify({ time: '2024-05-02T02:00:00Z', level: 'info', msg: 'b' })].join('\n');
  assert.deepEqual(recentErrorRange(json), { from: '2024-05-02T01:00:00Z', to: '2024-05-02T01:00:00Z', count: 1 });
  assert.equal(recentErrorRange('2024-05-01T10:00:00.000Z INFO  fine'), undefined);
});

test('system facts parsers', () => {
  assert.equal(parseOsRelease('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'), 'Debian GNU/Linux 12 (bookworm)');
  assert.deepEqual(parseCpuInfo('processor\t: 0\nmodel name\t: Intel Xeon\nprocessor\t: 1\nmodel name\t: Intel Xeon\n'), { model: 'Intel Xeon', count: 2 });
  assert.equal(parseMemTotal('MemTotal:       16303412 kB\n'), '15.5 GiB');
});

test('answers: validated; summary.md in English and Russian with every checklist label', () => {
  assert.throws(() => parseAnswers({ hardwar: 'x' }), /unknown key "hardwar"/);
  assert.throws(() => parseAnswers({ language: 'de' }), /"language"/);
  assert.throws(() => parseAnswers({ traffic: 5 }), /must be a string/);
  const a = parseAnswers({ language: 'ru', description: 'Нет обнаружений по ICAP', steps: '1. a\n2. b' });
  assert.deepEqual(missingRequired(a), ['hardware', 'traffic', 'integrations', 'kataVersion', 'problemTime']);
  for (const language of ['en', 'ru'] as const) {
    const md = renderSummary({ answers: a, language, kdsVersion: '0.1.0', createdAt: new Date('2024-05-01T00:00:00Z'), contents: [{ name: 'facts.json', about: 'x', size: 1 }], notIncluded: ['no pcaps'], scrubbed: 3 });
    for (const f of CHECKLIST) assert.ok(md.includes(f.text[language].label), `${language}: ${f.key}`);
    assert.match(md, /1\. a\n2\. b/);
    assert.match(md, language === 'ru' ? /Заявка в техническую поддержку KATA/ : /KATA support request/);
  }
});

test('prepare, write, read back: a nested collect archive is scrubbed entry by entry (names, .gz logs) and findLeaks finds nothing', async () => {
  const s = new SecretScrubber();
  s.addSecret('NestedPassw0rd');
  const collectSrc = join(dir, 'collect-src');
  mkdirSync(join(collectSrc, 'logs'), { recursive: true });
  writeFileSync(join(collectSrc, 'logs', 'app.log'), 'user=admin password=NestedPassw0rd\n');
  writeFileSync(join(collectSrc, 'logs', 'old.log.gz'), gzipSync('rotated NestedPassw0rd\n'));
  writeFileSync(join(collectSrc, 'logs', 'NestedPassw0rd.txt'), 'named after it');
  const collect = join(dir, 'collect-1.tar.gz');
  execFileSync('tar', ['-czf', collect, '-C', collectSrc, 'logs']);
  const staging = join(dir, 'staging');
  mkdirSync(staging);
  const entries = await prepareBundle(
    [
      { name: 'summary.md', about: 's', data: 'pw NestedPassw0rd' },
      { name: 'kata-collect/collect-1.tar.gz', about: 'c', file: collect, tarGz: true },
    ],
    s,
    staging,
  );
  assert.deepEqual(entries.map((e) => e.name), ['summary.md', 'kata-collect/collect-1.tar.gz', 'kata-collect/collect-1.listing.txt']);
  const out = join(dir, 'bundle.tar.gz');
  await writeBundle(entries, 'top', out);
  assert.deepEqual(await findLeaks(out, s), []);
  // The oracle agrees: nothing in the extracted tree holds it.
  const x = join(dir, 'bx');
  mkdirSync(x);
  execFileSync('tar', ['-xzf', out, '-C', x]);
  execFileSync('tar', ['-xzf', join(x, 'top/kata-collect/collect-1.tar.gz'), '-C', x]);
  const grep = spawnSync('grep', ['-rl', 'NestedPassw0rd', x], { encoding: 'utf8' });
  assert.equal(grep.status, 1, grep.stdout);
  assert.match(execFileSync('gzip', ['-dc', join(x, 'logs/old.log.gz')], { encoding: 'utf8' }), /rotated \[removed by KDS\]/);
  // A bundle with a planted leak is found.
  const leaky = join(dir, 'leaky.tar.gz');
  await writeBundle([{ name: 'a.txt', about: '', size: 5, data: Buffer.from('NestedPassw0rd') }], 'top', leaky);
  assert.deepEqual(await findLeaks(leaky, s), ['top/a.txt (1 secrets)']);
});

test('a remembered download names only what KDS could have written (its paths are read and removed as root)', async () => {
  const { validState } = await import('../../src/support/resumableDownload');
  const ok = { host: 'u@h:22', remotePath: '/tmp/collect/collect-1.tar.gz', readablePath: '/tmp/kds-collect.AbCdEf1234/collect-1.tar.gz', privateDir: '/tmp/kds-collect.AbCdEf1234', size: 10, sha256: 'a'.repeat(64), startedAt: 'x' };
  assert.deepEqual(validState(ok), ok);
  const direct = { host: ok.host, remotePath: ok.remotePath, readablePath: ok.remotePath, size: 10, sha256: ok.sha256, startedAt: 'x' };
  assert.deepEqual(validState(direct), direct);
  assert.equal(validState({ ...ok, remotePath: '/etc/passwd' }), undefined);
  assert.equal(validState({ ...ok, remotePath: '/tmp/../etc/x.tar.gz' }), undefined);
  assert.equal(validState({ ...ok, privateDir: '/' }), undefined);
  assert.equal(validState({ ...ok, privateDir: '/home/admin' }), undefined);
  assert.equal(validState({ ...ok, readablePath: '/tmp/kds-collect.AbCdEf1234/other.tar.gz' }), undefined);
  assert.equal(validState({ ...ok, sha256: 'nope' }), undefined);
  assert.equal(validState({ ...ok, size: -1 }), undefined);
});
