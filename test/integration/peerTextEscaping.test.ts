/**
 * Issue 19, point 6: text from a peer, a capture or a log never reaches the terminal raw. A
 * malicious ICAP server (real socket on 127.0.0.1) answers with terminal escapes in its reason
 * phrase, ISTag, Methods, Service and X-Virus-ID; a capture carries the same; the embedded KATA
 * logs a URL full of controls; `kds remote icap-log` and `kds kata-logs` print such log lines over
 * a real sshd. Text output shows them as visible escapes; --json stays valid JSON with the same
 * values.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, type Socket, createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeCli } from '../../src/cli/captureCommand';
import type { CommandIo } from '../../src/cli/command';
import { runIcap } from '../../src/cli/icapCommand';
import { KdsLogger } from '../../src/common/log';
import { DetectionEngine } from '../../src/emulator/detection';
import { startIcapServer } from '../../src/emulator/icapServer';
import { IcapMessageParser } from '../../src/icap/icapMessage';
import { Conversation, pcapFile } from '../helpers/captureWriter';
import { writeStandIns } from '../helpers/kataStandIns';
import { ensureBuilt, kdsBin, repoRoot } from '../helpers/kdsProcess';
import { sshdUnavailable, TestSshd } from '../helpers/sshd';
import { sshdClient, type SshdClient } from '../helpers/sshSessionForTests';
import { tempDir } from '../helpers/tempDirs';

/** What must never reach a terminal raw (layout's own newlines and tabs aside). */
const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;
// Byte strings as a hostile peer sends them (latin1: each char one byte).
const title = '\x1b]0;pwned\x07';
const clear = '\x1b[2J\x1b[H';
const c1csi = '\x9b31m';
const osc8 = '\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07';
const rlo = Buffer.from('\u202e', 'utf8').toString('latin1');

function capture(): CommandIo & { text(): string } {
  let text = '';
  return { out: (s) => (text += s), err: (s) => (text += s), text: () => text };
}

/** An ICAP server that answers everything with escapes in every field a probe prints. */
async function hostileIcapServer(): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    const parser = new IcapMessageParser();
    let method = '';
    socket.on('data', (d: Buffer) => {
      let events;
      try {
        events = parser.push(d);
      } catch {
        socket.destroy();
        return;
      }
      for (const ev of events) {
        if (ev.type === 'head') method = ev.head.kind === 'request' ? ev.head.method : '';
        if (ev.type !== 'end') continue;
        if (parser.waiting) {
          socket.write('ICAP/1.0 100 Continue\r\n\r\n');
          for (const more of parser.continueBody()) if (more.type === 'end') answer(socket, 'RESPMOD');
          continue;
        }
        answer(socket, method);
      }
    });
  });
  const answer = (socket: Socket, method: string) => {
    const head =
      method === 'OPTIONS'
        ? `ICAP/1.0 200 OK${title}${clear}\r\nMethods: RESPMOD, REQMOD${osc8}\r\nService: Evil ${c1csi}ICAP${rlo}\r\nISTag: "t${c1csi}"\r\nAllow: 204\r\nEncapsulated: null-body=0\r\n\r\n`
        : `ICAP/1.0 204 No${clear}Content${title}\r\nISTag: "t${c1csi}"\r\nX-Virus-ID: ${osc8}EICAR${title}\r\nX-Infection-Found: Type=0; Resolution=2; Threat=${clear}EICAR;\r\nEncapsulated: null-body=0\r\n\r\n`;
    socket.write(Buffer.from(head, 'latin1'));
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => server.close());
  return (server.address() as AddressInfo).port;
}

test('kds icap probe against a hostile server: text shows the escapes, --json and --jsonl parse to what the server sent', async () => {
  const port = await hostileIcapServer();
  const url = `icap://127.0.0.1:${port}/respmod`;
  const text = capture();
  await runIcap(['probe', url, '--timeout', '20', '--no-save'], text);
  assert.doesNotMatch(text.text(), raw, JSON.stringify(text.text()));
  assert.match(text.text(), /\\u001B\]0;pwned\\u0007/);
  assert.match(text.text(), /\\u009B31m/);

  const json = capture();
  await runIcap(['probe', url, '--json', '--timeout', '20', '--no-save'], json);
  assert.doesNotMatch(json.text(), raw);
  const report = JSON.parse(json.text()) as { steps: Array<{ reason?: string; verdict: Record<string, string>; options?: { methods?: string; service?: string; istag?: string } }> };
  assert.equal(report.steps[0]!.reason, `OK${title}${clear}`);
  assert.equal(report.steps[0]!.options!.methods, `RESPMOD, REQMOD${osc8}`);
  assert.equal(report.steps[0]!.options!.service, `Evil ${c1csi}ICAP${rlo}`);
  assert.ok(report.steps.some((s) => s.verdict["X-Virus-ID"] === `${osc8}EICAR${title}`), JSON.stringify(report.steps));

  const jsonl = capture();
  await runIcap(['probe', url, '--jsonl', '--timeout', '20', '--no-save'], jsonl);
  assert.doesNotMatch(jsonl.text(), raw);
  const lines = jsonl.text().trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: { reason?: string } });
  assert.equal(lines[0]!.step!.reason, `OK${title}${clear}`);
});

test('kds capture analyze of a capture with escapes in the start line, headers and URI: text escaped, --json valid with the same values', async () => {
  const dir = tempDir('kds-peer-text-');
  const c = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }).handshake();
  c.send(0, `OPTIONS icap://10.0.0.9/av${title} ICAP/1.0\r\nHost: 10.0.0.9\r\nEncapsulated: null-body=0\r\n\r\n`);
  c.send(1, `ICAP/1.0 200 OK${title}${clear}\r\nISTag: "${c1csi}"\r\nX-Virus-ID: ${osc8}${rlo}\r\nEncapsulated: null-body=0\r\n\r\n`);
  const file = join(dir, 'hostile.pcap');
  writeFileSync(file, pcapFile(1, c.close().frames('ethernet')));
  const text = capture();
  await analyzeCli(file, {}, text);
  assert.doesNotMatch(text.text(), raw, JSON.stringify(text.text()));
  assert.match(text.text(), /200 OK\\u001B\]0;pwned\\u0007/);
  const json = capture();
  await analyzeCli(file, { json: true }, json);
  assert.doesNotMatch(json.text(), raw);
  const a = JSON.parse(json.text()) as { transactions: Array<{ uri: string; reason: string; verdict: Record<string, string> }> };
  assert.equal(a.transactions[0]!.uri, `icap://10.0.0.9/av${title}`);
  assert.equal(a.transactions[0]!.reason, `OK${title}${clear}`);
  assert.equal(a.transactions[0]!.verdict['X-Virus-ID'], `${osc8}${rlo}`);
});

test("the embedded KATA's ICAP log: a URL with controls and bytes above ASCII is written percent-encoded, never raw", async () => {
  const dir = tempDir('kds-peer-log-');
  const logger = new KdsLogger({ sinks: [] });
  const s = await startIcapServer({ host: '127.0.0.1', port: 0, mode: 'monitoring', dataDir: dir, engine: new DetectionEngine(dir, logger), logger, maxObjectSize: 1 << 20, slowVerdictMs: 10, advancedWaitMs: 10, version: 't' });
  after(() => s.close());
  const req = `GET http://x.test/${title}${c1csi}${rlo}\x85 HTTP/1.1\r\nHost: x.test\r\n\r\n`;
  const head = `REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\nAllow: 204\r\nEncapsulated: req-hdr=0, null-body=${req.length}\r\n\r\n${req}`;
  const answer = await new Promise<string>((resolve) => {
    const sock = connect({ host: '127.0.0.1', port: s.port }, () => sock.write(Buffer.from(head, 'latin1')));
    let got = '';
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('error', () => resolve(got));
  });
  assert.match(answer, /^ICAP\/1\.0 204 /);
  const log = readFileSync(s.logPath, 'utf8');
  const line = log.split('\n').find((l) => l.includes('REQMOD request'))!;
  assert.doesNotMatch(log, raw, JSON.stringify(line));
  assert.match(line, /url=http:\/\/x\.test\/%1B\]0;pwned%07%9B31m%E2%80%AE%85 accepted in monitoring mode/);
});

test('kds support-bundle prints what the host gave (here a log path in its configuration) with visible escapes', async () => {
  ensureBuilt();
  const dir = tempDir('kds-peer-text-bundle-');
  const config = join(dir, 'kata_dir_scanner.conf');
  const logFile = join(dir, `${title}kds${clear}.log`);
  writeFileSync(config, JSON.stringify({ in_dir: join(dir, 'in'), out_dir: join(dir, 'out'), qrnt_dir: join(dir, 'q'), kata_cn_addr: '127.0.0.1', kata_cn_port: 1, cert_pem: join(dir, 'c.pem'), cert_key: join(dir, 'k.pem'), system_id: 'x', log_file: logFile }));
  writeFileSync(join(dir, 'answers.json'), '{}');
  const r = await kds(['support-bundle', '--config', config, '--answers', join(dir, 'answers.json'), '--yes', '--no-collect', '--no-kata-logs', '--no-icap-log', '--no-captures', '--out', join(dir, 'bundle.tar.gz')]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.doesNotMatch(r.stdout + r.stderr, raw, JSON.stringify(r.stdout));
  assert.match(r.stdout, /not included: The KDS log .*\\u001B\]0;pwned\\u0007kds\\u001B\[2J\\u001B\[H\.log could not be read/);
});

const skip = sshdUnavailable();
let sshd: TestSshd;
let client: SshdClient;
let sshDir: string;
let sudoersFile: string | undefined;
// A log line as a proxy's client can make KATA write it (its URL), with the escapes decoded as UTF-8 would show them.
const hostileLine = `2026-05-02 07:00:37.120 [7] INFO preprocessor_icap: RESPMOD request from 10.0.0.5:4711 url=http://x/\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202e accepted in blocking_simple mode`;

before(async () => {
  if (skip) return;
  ensureBuilt();
  sshDir = mkdtempSync(join(tmpdir(), 'kds-peer-text-ssh-'));
  chmodSync(sshDir, 0o755);
  const stand = writeStandIns(sshDir, { plant: `${hostileLine}\n`, collectBytes: 1024 });
  sshd = await TestSshd.start({ user: 'kds-test-peertext', extraConfig: [`SetEnv PATH=${stand.bin}:/usr/local/bin:/usr/bin:/bin`] });
  client = sshdClient(sshd, 'id_peertext');
  sudoersFile = `/etc/sudoers.d/kds-test-peertext-${randomBytes(4).toString('hex')}`;
  writeFileSync(sudoersFile, `${sshd.user} ALL=(ALL:ALL) ALL\n`, { mode: 0o440 });
});

after(async () => {
  if (sudoersFile) rmSync(sudoersFile, { force: true });
  await sshd?.dispose();
  if (sshDir) rmSync(sshDir, { recursive: true, force: true });
});

function kds(args: string[], input = '', env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [kdsBin, ...args], { cwd: repoRoot, env: { ...process.env, KDS_LOCALE: 'en', SSH_AUTH_SOCK: '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

const conn = () => ['--host', '127.0.0.1', '--port', String(sshd.port), '--user', sshd.user, '--identity', client.keyPath, '--known-hosts', client.knownHostsPath];

test('kds remote icap-log and kds kata-logs over SSH print hostile log lines with visible escapes', { skip, timeout: 240_000 }, async () => {
  // The CN's ICAP log under a prefix folder standing in for / (readable: no sudo needed).
  const prefix = join(sshDir, 'cn');
  const logDir = join(prefix, 'var/log/kaspersky/services/preprocessor_icap');
  mkdirSync(logDir, { recursive: true, mode: 0o755 });
  writeFileSync(join(logDir, 'preprocessor_icap.log'), `${hostileLine}\n`, { mode: 0o644 });
  const r = await kds(['remote', 'icap-log', ...conn(), '--prefix', prefix, '--no-follow']);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.doesNotMatch(r.stdout, raw, JSON.stringify(r.stdout));
  assert.match(r.stdout, /url=http:\/\/x\/\\u001B\]0;pwned\\u0007\\u001B\[2J\\u009B31m\\u202E accepted/);

  // kata-collect-siem-logs (a stand-in, run with sudo) writes the line into log-history.log.
  const k = await kds(['kata-logs', 'history', ...conn(), '--password-stdin', '--out', join(sshDir, 'logs')], `${sshd.password}\n`);
  assert.equal(k.status, 0, k.stderr + k.stdout);
  assert.doesNotMatch(k.stdout, raw, JSON.stringify(k.stdout));
  assert.match(k.stdout, /ICAP planted: .*url=http:\/\/x\/\\u001B\]0;pwned\\u0007/);
});

test("kds collect prints what kata-collect said when it failed with visible escapes", { skip: process.getuid?.() !== 0 && 'kata-collect runs as root' }, async () => {
  ensureBuilt();
  // A folder only root can change (KDS runs KATA's tools as root only from such folders), named in KDS_KATA_TOOL_DIRS.
  const tools = tempDir('kds-peer-text-collect-');
  chmodSync(tools, 0o755);
  writeFileSync(join(tools, 'kata-collect'), `#!/bin/sh\nprintf 'collect failed at ${title.replace(/\x1b/g, '\\033').replace(/\x07/g, '\\007')}step${clear.replace(/\x1b/g, '\\033')}\\n' >&2\nexit 2\n`, { mode: 0o755 });
  const r = await kds(['collect', '--out', join(tools, 'out'), '--yes'], '', { KDS_KATA_TOOL_DIRS: tools });
  assert.notEqual(r.status, 0, r.stderr + r.stdout);
  assert.doesNotMatch(r.stdout + r.stderr, raw, JSON.stringify(r.stderr));
  assert.match(r.stderr, /kata-collect failed on .* \(exit code 2\): collect failed at \\u001B\]0;pwned\\u0007step\\u001B\[2J\\u001B\[H/);
});
