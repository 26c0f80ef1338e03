import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { formatText, KdsLogger } from '../../src/common/log';
import { type ConnectionStateEvent, ReconnectingSession } from '../../src/ssh/reconnectingSession';
import { HostKeyChangedError, SshConnectError } from '../../src/ssh/sshErrors';
import type { HostKeyPolicy } from '../../src/ssh/sshTarget';
import { freePort, TestSshd } from '../helpers/sshd';
import { sshdClient } from '../helpers/sshSessionForTests';

let sshd: TestSshd;
let key: string;
let policy: HostKeyPolicy;
const lines: string[] = [];
const logger = new KdsLogger({ level: 'debug', sinks: [(r) => lines.push(formatText(r))] });
const opened: ReconnectingSession[] = [];

before(async () => {
  sshd = await TestSshd.start();
  ({ keyPath: key, hostKeys: policy } = sshdClient(sshd, 'id_rc'));
});

after(async () => {
  await Promise.all(opened.map((r) => r.close()));
  await sshd?.dispose();
});

function open(port = sshd.port, extra: { maxAttempts?: number } = {}): { rs: ReconnectingSession; states: ConnectionStateEvent[] } {
  const rs = new ReconnectingSession({ host: '127.0.0.1', port, user: sshd.user }, { privateKeyPath: key, password: async () => sshd.password }, policy, {
    keepaliveIntervalMs: 1000,
    readyTimeoutMs: 10000,
    initialDelayMs: 50,
    maxDelayMs: 400,
    maxAttempts: extra.maxAttempts ?? 50,
    logger,
  });
  opened.push(rs);
  const states: ConnectionStateEvent[] = [];
  rs.onState((e) => states.push(e));
  return { rs, states };
}

async function until(what: string, fn: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a forced disconnect (the sshd process serving the connection killed) is followed by a reconnect', async () => {
  const { rs, states } = open();
  const first = await rs.whenConnected();
  assert.equal((await first.exec(['true'])).code, 0);
  assert.deepEqual(
    states.map((s) => s.state),
    ['connecting', 'connected'],
  );
  assert.ok(sshd.dropConnections() >= 1, 'a connection process was killed');
  await until('the reconnect', () => states.some((s) => s.state === 'reconnecting') && states.at(-1)!.state === 'connected');
  const second = await rs.whenConnected();
  assert.notEqual(second, first);
  assert.equal(rs.current(), second);
  assert.equal((await second.exec(['echo', 'back'])).stdout.toString(), 'back\n');
  const reconnecting = states.find((s) => s.state === 'reconnecting')!;
  assert.ok(reconnecting.reason, 'the reconnecting state says why');
  assert.ok(reconnecting.attempt! >= 1);
  await rs.close();
  assert.deepEqual(states.at(-1)!.state, 'closed');
  assert.equal(rs.current(), undefined);
  await assert.rejects(rs.whenConnected());
});

test('sshd down for a while: keeps retrying with back-off, reconnects once it is back', async () => {
  const { rs, states } = open();
  await rs.whenConnected();
  await sshd.stop();
  await until('failed attempts while sshd is down', () => states.filter((s) => s.state === 'reconnecting').length >= 3);
  assert.equal(rs.current(), undefined);
  await sshd.restart();
  await until('connected again', () => states.at(-1)!.state === 'connected');
  assert.equal((await (await rs.whenConnected()).exec(['true'])).code, 0);
  const delays = states.filter((s) => s.state === 'reconnecting').map((s) => s.delayMs!);
  assert.ok(delays.every((d) => d > 0 && d <= 400), `bounded back-off: ${delays.join(',')}`);
  await rs.close();
});

test('bounded attempts: nothing listening → closed after maxAttempts, whenConnected rejects', async () => {
  const port = await freePort();
  const { rs, states } = open(port, { maxAttempts: 3 });
  await assert.rejects(rs.whenConnected(), SshConnectError);
  assert.deepEqual(
    states.map((s) => s.state),
    ['connecting', 'connecting', 'connecting', 'closed'],
  );
  assert.ok(states.at(-1)!.reason);
});

test('a changed host key during reconnect is final: closed with HostKeyChangedError, no retry loop', async () => {
  const { rs, states } = open();
  await rs.whenConnected();
  await sshd.restart({ newHostKey: true });
  sshd.dropConnections();
  await until('closed', () => states.at(-1)!.state === 'closed');
  const last = states.at(-1)!;
  assert.ok(last.error instanceof HostKeyChangedError, String(last.error));
  assert.match(last.reason!, /CHANGED/);
  await assert.rejects(rs.whenConnected(), HostKeyChangedError);
  assert.ok(!lines.join('\n').includes(sshd.password));
});
