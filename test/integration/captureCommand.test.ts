import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import type { CaptureHost } from '../../src/capture/captureHost';
import { CaptureError, runCapture } from '../../src/capture/tcpdumpRunner';
import { waitFor } from '../helpers/engineHarness';
import { type CIcapServer, icapClient, needTools, startCIcap, tsharkIcap, tsharkTransactions, liveCaptureFiles, waitForCapturedAnswers } from '../helpers/icapPeers';
import { type KdsChild, spawnKds, stopChild } from '../helpers/kdsProcess';
import { TestSshd, sshdUnavailable } from '../helpers/sshd';
import { allowPasswordlessSudo, sshdClient } from '../helpers/sshSessionForTests';
import { tempDir } from '../helpers/tempDirs';

const dir = tempDir('kds-capture-cli-');
let server: CIcapServer | undefined;
const children: KdsChild[] = [];

before(async () => {
  if (existsSync('/usr/bin/c-icap')) server = await startCIcap(dir);
});
after(async () => {
  for (const c of children) await stopChild(c);
  await server?.stop();
});

const essentials = (list: Array<{ method: string | null; uri: string | null; status: number | null }>) => list.map((x) => ({ method: x.method, uri: x.uri, status: x.status }));

/**
 * Starts kds, waits for "tcpdump is listening.", sends ICAP traffic, Ctrl-C, returns the JSON.
 * (c-icap's echo answers the RESPMOD 200 or, when the preview held everything, 204.)
 */
async function captureWithCtrlC(args: string[], out: string, env?: Record<string, string>) {
  const earlier = new Set(liveCaptureFiles());
  const kds = spawnKds([...args, '--iface', 'lo', '--duration', '0', '--out', out, '--json'], env ? { env } : {});
  children.push(kds);
  await waitFor('tcpdump to listen', () => kds.stderr().includes('tcpdump is listening.') || kds.exitCode() !== undefined, 60_000);
  assert.equal(kds.exitCode(), undefined, kds.stderr());
  await icapClient(server!.port, ['-s', 'echo']);
  await icapClient(server!.port, ['-s', 'echo', '-f', join(dir, 'c-icap.conf'), '-resp', 'http://198.51.100.7/conf']);
  // Ctrl-C only once the capture file (tcpdump -U writes each packet as it comes) holds every answer:
  // c-icap-client returns when it has the answer, which tcpdump may not yet have read off its socket.
  // The live count on stderr is printed every 10 s at most here, so the file is what is looked at.
  for (const live of liveCaptureFiles().filter((f) => !earlier.has(f))) await waitForCapturedAnswers(live, server!.port, 3);
  kds.child.kill('SIGINT');
  const code = await kds.exited;
  assert.equal(code, 0, kds.stderr());
  assert.match(kds.stderr(), /Saved .*: \d+ packet\(s\), \d+ bytes \(stopped\)/);
  return JSON.parse(kds.stdout()) as { capture: { packets: number; file: string; command: string[] }; transactions: Array<{ method: string | null; uri: string | null; status: number | null }>; diagnosis: string[] };
}

test('kds capture on this computer: Ctrl-C stops it cleanly, the file is saved and analyzed, equal to tshark', async (t) => {
  if (!needTools(t, ['tcpdump', 'tshark', 'cIcap', 'cIcapClient'], true)) return;
  const out = join(dir, 'local.pcap');
  const r = await captureWithCtrlC(['capture', '--port', String(server!.port)], out);
  assert.equal(r.capture.file, out);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.ok(r.capture.packets > 0);
  assert.deepEqual(r.capture.command.slice(1, 6), ['-nn', '-i', 'lo', '-s', '0']);
  assert.deepEqual(r.capture.command.slice(-2), ['port', String(server!.port)]);
  assert.deepEqual(essentials(r.transactions).map((x) => `${x.method} ${x.status === 204 ? 200 : x.status}`), ['OPTIONS 200', 'OPTIONS 200', 'RESPMOD 200']);
  assert.deepEqual(essentials(r.transactions), tsharkTransactions(await tsharkIcap(out, server!.port)));
  // The private temporary folder is gone.
  assert.deepEqual(readdirSync('/tmp').filter((n) => n.startsWith('kds-capture-') && statSync(join('/tmp', n)).mtimeMs > Date.now() - 120_000 && existsSync(join('/tmp', n, 'capture.pcap'))), []);
});

test('kds capture --packets N stops by itself after N packets', async (t) => {
  if (!needTools(t, ['tcpdump', 'cIcap', 'cIcapClient'], true)) return;
  const out = join(dir, 'counted.pcap');
  const kds = spawnKds(['capture', '--iface', 'lo', '--port', String(server!.port), '--packets', '4', '--out', out, '--no-analyze']);
  children.push(kds);
  await waitFor('tcpdump to listen', () => kds.stderr().includes('tcpdump is listening.') || kds.exitCode() !== undefined, 60_000);
  await icapClient(server!.port, ['-s', 'echo']);
  assert.equal(await kds.exited, 0, kds.stderr());
  assert.match(kds.stderr(), /4 packet\(s\).*packet count reached/);
});

test('kds capture --max-mb M stops when the file reaches the size', async (t) => {
  if (!needTools(t, ['tcpdump', 'cIcap', 'cIcapClient'], true)) return;
  const out = join(dir, 'sized.pcap');
  // 0.0005 MB = 524 bytes: the first OPTIONS exchange goes past it.
  const kds = spawnKds(['capture', '--iface', 'lo', '--port', String(server!.port), '--max-mb', '0.0005', '--duration', '0', '--out', out, '--no-analyze']);
  children.push(kds);
  await waitFor('tcpdump to listen', () => kds.stderr().includes('tcpdump is listening.') || kds.exitCode() !== undefined, 60_000);
  // Traffic until the capture stops by itself (bounded: the size check runs every half second).
  for (let i = 0; i < 100 && kds.exitCode() === undefined; i++) await icapClient(server!.port, ['-s', 'echo']);
  assert.equal(await kds.exited, 0, kds.stderr());
  assert.match(kds.stderr(), /size limit reached/);
  assert.ok(statSync(out).size >= 524);
});

test('a host without tcpdump: the capture refuses to start and names the package', async () => {
  const calls: string[] = [];
  const host: CaptureHost = {
    label: 'cn.example',
    runsAsRoot: async () => true,
    findTcpdump: async () => undefined,
    run: async () => ({ code: 0, output: '' }),
    makeTempDir: async () => (calls.push('mktemp'), '/tmp/x'),
    start: () => ({ stdout: new PassThrough(), stderr: new PassThrough(), exit: new Promise(() => undefined) }),
    interrupt: async () => undefined,
    kill: async () => undefined,
    fileSize: async () => undefined,
    fetch: async () => undefined,
    removeTempDir: async () => undefined,
  };
  await assert.rejects(runCapture(host, { iface: 'any', port: 1344, out: join(dir, 'never.pcap') }), (e: Error) => e instanceof CaptureError && /tcpdump is not installed on cn\.example.*apt-get install tcpdump/.test(e.message));
  assert.deepEqual(calls, []);
  await assert.rejects(runCapture(host, { iface: '-w/etc/passwd', port: 1344, out: 'x' }), /not an interface name/);
});

test('kds remote capture over OpenSSH: sudo tcpdump on the CN, SFTP download, the remote temporary folder removed', async (t) => {
  if (!needTools(t, ['tcpdump', 'tshark', 'cIcap', 'cIcapClient'], true)) return;
  const why = sshdUnavailable();
  if (why) {
    if (process.env.CI === 'true') throw new Error(why);
    t.skip(why);
    return;
  }
  const sshd = await TestSshd.start();
  const unsudo = allowPasswordlessSudo(sshd.user, 'capture');
  try {
    const c = sshdClient(sshd, 'id_capture');
    const before = new Set(readdirSync('/tmp').filter((n) => n.startsWith('kds-capture.')));
    const out = join(dir, 'remote.pcap');
    const r = await captureWithCtrlC(
      ['remote', 'capture', '--host', '127.0.0.1', '--port', String(sshd.port), '--user', sshd.user, '--identity', c.keyPath, '--known-hosts', c.knownHostsPath, '--icap-port', String(server!.port)],
      out,
    );
    assert.deepEqual(essentials(r.transactions).map((x) => `${x.method} ${x.status === 204 ? 200 : x.status}`), ['OPTIONS 200', 'OPTIONS 200', 'RESPMOD 200']);
    assert.deepEqual(essentials(r.transactions), tsharkTransactions(await tsharkIcap(out, server!.port)));
    assert.match(r.capture.command[0]!, /^\/(usr\/)?s?bin\/tcpdump$/);
    assert.ok(r.capture.command.includes('-Z'));
    const left = readdirSync('/tmp').filter((n) => n.startsWith('kds-capture.') && !before.has(n));
    assert.deepEqual(left, []);
  } finally {
    unsudo();
    await sshd.dispose();
  }
});

test('kds remote capture with a sudo that asks for the password (sudo -S, the SSH password)', async (t) => {
  if (!needTools(t, ['tcpdump', 'cIcap', 'cIcapClient'], true)) return;
  const why = sshdUnavailable();
  if (why) {
    if (process.env.CI === 'true') throw new Error(why);
    t.skip(why);
    return;
  }
  const sshd = await TestSshd.start({ user: 'kds-test-cappw' });
  const sudoers = `/etc/sudoers.d/kds-test-capture-pw-${process.pid}`;
  writeFileSync(sudoers, `${sshd.user} ALL=(ALL:ALL) ALL\nDefaults:${sshd.user} timestamp_timeout=0, !lecture\n`, { mode: 0o440 });
  try {
    const c = sshdClient(sshd, 'id_capture_pw');
    const out = join(dir, 'remote-pw.pcap');
    const r = await captureWithCtrlC(
      ['remote', 'capture', '--host', '127.0.0.1', '--port', String(sshd.port), '--user', sshd.user, '--identity', c.keyPath, '--known-hosts', c.knownHostsPath, '--icap-port', String(server!.port)],
      out,
      { KDS_SSH_PASSWORD: sshd.password },
    );
    assert.deepEqual(r.transactions.map((x) => x.method), ['OPTIONS', 'OPTIONS', 'RESPMOD']);
    assert.ok(statSync(out).size > 24);
  } finally {
    rmSync(sudoers, { force: true });
    await sshd.dispose();
  }
});
