import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { runCheck } from '../../src/cli/checkCommand';
import type { CheckItem } from '../../src/engine/configChecks';
import { runEnroll } from '../../src/cli/enrollCommand';
import { type KeyAndCert, createSelfSigned } from '../../src/pki/certs';
import { normaliseFingerprint } from '../../src/pki/pemText';
import { ScriptedKataServer, type TestPki, testPki } from '../helpers/scriptedKataServer';

let pki: TestPki;
let server: ScriptedKataServer;
let selfSigned: ScriptedKataServer;
let root: string;

before(async () => {
  pki = await testPki();
  server = await ScriptedKataServer.start();
  selfSigned = await ScriptedKataServer.start({ certificate: 'self-signed' });
  root = mkdtempSync(join(tmpdir(), 'kds-kata-commands-'));
});

after(async () => {
  await server.close();
  await selfSigned.close();
  rmSync(root, { recursive: true, force: true });
});

const systemId = '3f1c2a9e-0000-4000-8000-00000000c0de';
let seq = 0;

/** A complete installation as the original set-up makes it: cert.pem = certificate + key. */
function installation(target: ScriptedKataServer, over: Record<string, unknown> = {}, client: KeyAndCert = pki.client): string {
  const dir = join(root, `inst${++seq}`);
  for (const d of ['in', 'out', 'qrnt']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'cert.pem'), client.certPem + client.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'server.key'), client.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.pem'), pki.ca.certPem);
  writeFileSync(join(dir, 'exclude_list.txt'), 'File1.txt\n*.doc\n# comment\n*.pdf\n');
  const config = {
    in_dir: './in/',
    out_dir: './out/',
    qrnt_dir: './qrnt/',
    cert_pem: './cert.pem',
    cert_key: './server.key',
    kata_cn_addr: target.host,
    kata_cn_port: target.port,
    system_id: systemId,
    kata_ca: './ca.pem',
    max_file_size_mb: 10,
    ...over,
  };
  const file = join(dir, 'kata_dir_scanner.conf');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

function capture() {
  const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
  return io;
}

async function check(configFile: string, json = false) {
  const io = capture();
  const code = await runCheck(['--config', configFile, ...(json ? ['--json'] : [])], io, { requestTimeoutMs: 5_000 });
  return { code, ...io };
}

function line(output: string, mark: string, text: RegExp | string): string {
  const found = output.split('\n').find((l) => l.startsWith(mark + ' ') && (typeof text === 'string' ? l.includes(text) : text.test(l)));
  assert.ok(found, `no line "${mark} …${String(text)}…" in:\n${output}`);
  return found;
}

// --- kds check -------------------------------------------------------------------------------

test('check: everything fine and approved → exit 0 with ✓ lines and the KATA limits', async () => {
  server.reset();
  server.on('GET', 'scans/filters', { status: 200, body: { maxObjectSize: 104857600, version: '7.1.0.2' } });
  const r = await check(installation(server));
  assert.equal(r.code, 0, r.stdout);
  line(r.stdout, '✓', 'is valid');
  for (const key of ['in_dir', 'out_dir', 'qrnt_dir']) line(r.stdout, '✓', key);
  line(r.stdout, '✓', 'Exclude list');
  assert.match(r.stdout, /: 3 entries/);
  line(r.stdout, '✓', 'match');
  assert.ok(r.stdout.includes(pki.client.fingerprint256));
  line(r.stdout, '✓', 'kata_ca');
  line(r.stdout, '✓', 'verified with kata_ca');
  line(r.stdout, '✓', `approved system_id ${systemId}`);
  assert.match(r.stdout, /7\.1\.0\.2/);
  assert.match(r.stdout, /104857600 bytes/);
  assert.ok(!/^[✗!] /m.test(r.stdout), r.stdout);
  assert.equal(server.requests.at(-1)!.clientFingerprint, pki.client.fingerprint256);
});

test('check: warnings (exclude list, KATA limit below max_file_size_mb) still exit 0; a key others can read is a failure', async () => {
  server.reset();
  server.on('GET', 'scans/filters', { status: 200, body: { maxObjectSize: 1048576 } });
  const file = installation(server);
  const dir = resolve(file, '..');
  writeFileSync(join(dir, 'exclude_list.txt'), '*.doc\nsub/dir.txt\n');
  const r = await check(file);
  assert.equal(r.code, 0, r.stdout);
  line(r.stdout, '!', 'invalid lines ignored: 1');
  assert.match(r.stdout, /line 2: "sub\/dir.txt"/);
  line(r.stdout, '!', 'max_file_size_mb is 10');
  // The same with the key readable by others: kds run would refuse it, so check fails (issue 13).
  chmodSync(join(dir, 'server.key'), 0o644);
  const bad = await check(file);
  assert.equal(bad.code, 1, bad.stdout);
  line(bad.stdout, '✗', /server\.key.*mode 0644/);
});

test('check: integration pending (401) → exit 3, naming system_id and certificate fingerprint', async () => {
  server.reset();
  server.on('GET', 'scans/filters', { status: 401, body: 'Authorization required' });
  const r = await check(installation(server));
  assert.equal(r.code, 3, r.stdout);
  const l = line(r.stdout, '✗', 'Integration request pending');
  assert.ok(l.includes(systemId) && l.includes(pki.client.fingerprint256), l);
});

test('check: integration rejected (403) → exit 3', async () => {
  server.reset();
  server.on('GET', 'scans/filters', { status: 403 });
  const r = await check(installation(server));
  assert.equal(r.code, 3, r.stdout);
  line(r.stdout, '✗', 'rejected');
});

test('check: a missing folder and a pending approval → exit 1 (something to fix first)', async () => {
  server.reset();
  server.on('GET', 'scans/filters', { status: 401 });
  const r = await check(installation(server, { qrnt_dir: './nowhere' }));
  assert.equal(r.code, 1, r.stdout);
  line(r.stdout, '✗', /qrnt_dir .*nowhere does not exist/);
});

test('check: configuration that does not validate → exit 2', async () => {
  const r = await check(installation(server, { system_id: '' }));
  assert.equal(r.code, 2);
  line(r.stdout, '✗', 'does not validate');
  assert.match(r.stdout, /system_id/);
  const missing = await check(join(root, 'no-such.conf'));
  assert.equal(missing.code, 2);
});

test('check: untrusted server certificate → ✗ with its fingerprint and the pin to set; nothing sent', async () => {
  selfSigned.reset();
  selfSigned.on('GET', 'scans/filters', { status: 200 });
  const r = await check(installation(selfSigned, { kata_ca: '' }));
  assert.equal(r.code, 1, r.stdout);
  line(r.stdout, '✗', 'not trusted');
  assert.ok(r.stdout.includes(pki.selfSignedServer.fingerprint256));
  assert.ok(r.stdout.includes(`"kata_cert_sha256": "${normaliseFingerprint(pki.selfSignedServer.fingerprint256)}"`), r.stdout);
  assert.equal(selfSigned.requests.length, 0);
});

test('check: pinned self-signed Central Node → ✓ pin matches, approved', async () => {
  selfSigned.reset();
  selfSigned.on('GET', 'scans/filters', { status: 200, body: {} });
  const r = await check(installation(selfSigned, { kata_ca: '', kata_cert_sha256: pki.selfSignedServer.fingerprint256 }));
  assert.equal(r.code, 0, r.stdout);
  line(r.stdout, '✓', 'matches kata_cert_sha256');
});

test('check: wrong pin → ✗ naming both fingerprints', async () => {
  selfSigned.reset();
  const r = await check(installation(selfSigned, { kata_ca: '', kata_cert_sha256: 'ab'.repeat(32) }));
  assert.equal(r.code, 1, r.stdout);
  line(r.stdout, '✗', 'does not match kata_cert_sha256');
  assert.ok(r.stdout.includes(pki.selfSignedServer.fingerprint256));
});

test('check: insecure → loud warnings, still checks approval', async () => {
  selfSigned.reset();
  selfSigned.on('GET', 'scans/filters', { status: 200 });
  const r = await check(installation(selfSigned, { kata_ca: '', insecure: true }));
  assert.equal(r.code, 0, r.stdout);
  line(r.stdout, '!', 'INSECURE');
  line(r.stdout, '!', 'not verified (insecure)');
  line(r.stdout, '✓', 'approved');
});

test('check: KATA not reachable → exit 1', async () => {
  const r = await check(installation(server, { kata_cn_port: 1 }));
  assert.equal(r.code, 1, r.stdout);
  line(r.stdout, '✗', 'not reachable');
});

test('check: certificate problems — key of another certificate, expired, expiring soon', async () => {
  const other = await createSelfSigned({ commonName: 'other', days: 5 });
  const mismatched = installation(server);
  writeFileSync(join(resolve(mismatched, '..'), 'server.key'), other.keyPem, { mode: 0o600 });
  let r = await check(mismatched);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /server\.key \(cert_key\) does not hold the private key of the certificate/);
  line(r.stdout, '✗', 'not checked');

  server.reset();
  server.on('GET', 'scans/filters', { status: 200 });
  const expired = await createSelfSigned({ commonName: 'expired', days: 0 });
  r = await check(installation(server, {}, expired));
  assert.equal(r.code, 1);
  line(r.stdout, '✗', 'expired on');

  r = await check(installation(server, {}, other));
  assert.equal(r.code, 0, r.stdout);
  line(r.stdout, '!', /expires in [45] days/);
});

test('check --json: machine-readable items', async () => {
  server.reset();
  server.on('GET', 'scans/filters', { status: 401 });
  const r = await check(installation(server), true);
  assert.equal(r.code, 3);
  const parsed = JSON.parse(r.stdout) as { exitCode: number; items: CheckItem[] };
  assert.equal(parsed.exitCode, 3);
  const byId = new Map(parsed.items.map((i) => [i.id, i]));
  assert.equal(byId.get('config')?.status, 'ok');
  assert.equal(byId.get('kata_tls')?.status, 'ok');
  assert.equal(byId.get('kata_approval')?.status, 'fail');
  assert.equal(byId.get('kata_approval')?.notApproved, true);
});

test('kds check through the command dispatcher: registered, exit code 2 on a config error', () => {
  const file = installation(server, { in_dir: 42 });
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', '-e', `require(${JSON.stringify(resolve('src/cli/main.ts'))}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`, 'check', '--config', file],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, KDS_LOCALE: 'en' } },
  );
  assert.equal(res.status, 2, res.stderr + res.stdout);
  assert.match(res.stdout, /✗ .*does not validate/);
  assert.match(res.stdout, /in_dir/);
});

// --- kds enroll ------------------------------------------------------------------------------

async function enroll(configFile: string, extra: string[] = []) {
  const io = capture();
  const code = await runEnroll(['--config', configFile, ...extra], io, { requestTimeoutMs: 5_000, pollDelayMs: 20 });
  return { code, ...io };
}

test('enroll: already approved → scan accepted, result polled and deleted, exit 0', async () => {
  server.reset();
  let polls = 0;
  server.on('POST', 'scans', { status: 200, body: 'OK' });
  server.on('GET', 'scans/state', (req) => {
    const scanId = server.requests.find((r) => r.method === 'POST')!.parts!.find((p) => p.name === 'scanId')!.value!;
    assert.equal(req.query.state, undefined);
    return { status: 200, body: [{ scanId, state: ++polls < 3 ? ['processing'] : ['not detected'] }] };
  });
  server.on('DELETE', '*', { status: 200 });
  const r = await enroll(installation(server, { sensor_instance_id: 'node-1' }));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(systemId) && r.stdout.includes(pki.client.fingerprint256), r.stdout);
  assert.match(r.stdout, /already approved/);
  assert.match(r.stdout, /Result of the test scan: not detected/);
  assert.match(r.stdout, /deleted from KATA/);

  const post = server.requests.find((q) => q.method === 'POST')!;
  assert.equal(post.clientFingerprint, pki.client.fingerprint256);
  assert.deepEqual(post.query, { sensorInstanceId: 'node-1' });
  const fields = Object.fromEntries(post.parts!.map((p) => [p.name, p.value ?? p.data?.toString()]));
  assert.match(fields.scanId!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(fields.objectType, 'file');
  assert.ok(fields.content);
  assert.equal(polls, 3);
  const del = server.requests.find((q) => q.method === 'DELETE');
  assert.equal(del?.route, `scans/${fields.scanId}`);
});

test('enroll: result never final within --wait → still deleted, bounded', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 200 });
  server.on('GET', 'scans/state', { status: 204 });
  server.on('DELETE', '*', { status: 404 });
  const r = await enroll(installation(server), ['--wait', '0.2']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /no result yet/);
  assert.equal(server.requests.filter((q) => q.method === 'DELETE').length, 1);
});

test('enroll: request pending (401) → exit 3 with what the administrator must look for', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 401, body: 'Authorization required' });
  const file = installation(server);
  const r = await enroll(file);
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.match(r.stdout, /pending/);
  assert.ok(r.stdout.includes(systemId) && r.stdout.includes(pki.client.fingerprint256));
  assert.equal(server.requests.length, 1);
  assert.equal(server.requests[0]!.sensorId, systemId);
});

test('enroll: rejected (403) → exit 3', async () => {
  server.reset();
  server.on('POST', 'scans', { status: 403 });
  const r = await enroll(installation(server));
  assert.equal(r.code, 3);
  assert.match(r.stdout, /rejected/);
});

test('enroll: configuration error → 2; untrusted server → 1; server error → 1', async () => {
  assert.equal((await enroll(installation(server, { kata_cn_port: 'x' }))).code, 2);
  selfSigned.reset();
  const tls = await enroll(installation(selfSigned));
  assert.equal(tls.code, 1);
  assert.match(tls.stderr, /kds check/);
  assert.equal(selfSigned.requests.length, 0);
  server.reset();
  server.on('POST', 'scans', { status: 500 });
  const err = await enroll(installation(server));
  assert.equal(err.code, 1);
  assert.match(err.stderr, /500/);
});
