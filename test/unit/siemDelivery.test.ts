import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { KdsLogger, type LogRecord } from '../../src/common/log';
import { createCa, issueServerCert } from '../../src/pki/certs';
import { quarantineAuditFile } from '../../src/engine/quarantineActions';
import { AuditFollower, auditCursorFileName } from '../../src/observability/auditFollower';
import { SyslogSender } from '../../src/observability/syslogSender';
import { waitFor } from '../helpers/engineHarness';

/** A line-splitting TCP receiver on 127.0.0.1 (the unit test's stand-in; rsyslog is the real one in test/integration/siemRsyslog.test.ts). */
async function receiver(port = 0): Promise<{ port: number; lines: string[]; server: Server; sockets: Set<Socket>; close(): Promise<void> }> {
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    lines,
    server,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.end();
        server.close(() => r());
      }),
  };
}

function logger(): { logger: KdsLogger; logs: LogRecord[] } {
  const logs: LogRecord[] = [];
  return { logger: new KdsLogger({ level: 'debug', sinks: [(r) => logs.push(r)] }), logs };
}

test('the sender never blocks: while the receiver is down it queues up to queue_size, drops the rest (counted, said once), then delivers the queue in order', async (t) => {
  const first = await receiver();
  const { logger: log, logs } = logger();
  let dropped = 0;
  const sender = new SyslogSender({ transport: 'tcp', host: '127.0.0.1', port: first.port, framing: 'lf', queueSize: 5, logger: log, retryBaseMs: 20, retryMaxMs: 100, onDropped: () => dropped++ });
  sender.start();
  const sent: string[] = [];
  assert.equal(sender.send('m0', () => sent.push('m0')), true);
  await waitFor('m0 received', () => first.lines.includes('m0'));
  const port = first.port;
  await first.close();
  await waitFor('the sender saw the receiver go', () => !sender.isConnected);
  for (let i = 1; i <= 8; i++) sender.send(`m${i}`, () => sent.push(`m${i}`));
  assert.equal(sender.queued, 5);
  assert.equal(dropped, 3);
  assert.equal(sender.dropped, 3);
  assert.equal(logs.filter((r) => r.event === 'siem-dropping').length, 1);
  assert.equal(logs.filter((r) => r.event === 'siem-unreachable').length, 1);

  const second = await receiver(port);
  t.after(() => second.close());
  await waitFor('the queue delivered', () => second.lines.length === 5, 10_000);
  assert.deepEqual(second.lines, ['m1', 'm2', 'm3', 'm4', 'm5']);
  await waitFor('sent callbacks', () => sent.length === 6);
  assert.deepEqual(sent, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
  assert.match(logs.find((r) => r.event === 'siem-connected' && /again/.test(r.msg))!.msg, /3 dropped/);
  sender.send('m9');
  await sender.flush(5000);
  await waitFor('m9', () => second.lines.includes('m9'));
  sender.close();
});

test('while the receiver is down, new messages wait for the backoff: they never force a connection attempt each', async () => {
  let connections = 0;
  // Accepts and drops every connection at once: each attempt "succeeds", then fails.
  const flaky = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', () => r()));
  const { logger: log, logs } = logger();
  const sender = new SyslogSender({ transport: 'tcp', host: '127.0.0.1', port: (flaky.address() as AddressInfo).port, framing: 'lf', queueSize: 1000, logger: log, retryBaseMs: 60_000, retryMaxMs: 60_000 });
  sender.start();
  await waitFor('the first connection dropped', () => connections === 1 && logs.some((r) => r.event === 'siem-unreachable'));
  for (let i = 0; i < 200; i++) sender.send(`m${i}`);
  // Let every queued callback and socket event of those sends run.
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => flaky.getConnections(() => r(undefined)));
  assert.equal(connections, 1, 'no attempt before the backoff ends');
  assert.equal(sender.queued, 200);
  sender.close();
  await new Promise<void>((r) => flaky.close(() => r()));
});

test('TLS verifies the receiver: a certificate from another CA or for another name gets no event (kept in the queue); the right one gets them', async () => {
  const ca = await createCa({ commonName: 'SIEM test CA', days: 1 });
  const otherCa = await createCa({ commonName: 'Someone else', days: 1 });
  const right = await issueServerCert(ca, { commonName: 'siem', days: 1, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const otherName = await issueServerCert(ca, { commonName: 'siem', days: 1, dnsNames: ['siem.example.invalid'], ipAddresses: [] });
  const strangers = await issueServerCert(otherCa, { commonName: 'siem', days: 1, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  /** A TLS receiver with that certificate, recording the lines it decrypts and the handshakes it completed. */
  async function tlsReceiver(cert: { certPem: string; keyPem: string }) {
    const lines: string[] = [];
    let handshakes = 0;
    const server = createTlsServer({ cert: cert.certPem, key: cert.keyPem }, (s) => {
      handshakes++;
      s.setEncoding('utf8');
      let buf = '';
      s.on('data', (d: string) => {
        buf += d;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          lines.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      });
      s.on('error', () => undefined);
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { port: (server.address() as AddressInfo).port, lines, handshakes: () => handshakes, close: () => new Promise<void>((r) => server.close(() => r())) };
  }
  for (const [what, cert, reason] of [
    ['a certificate from a CA other than siem.ca', strangers, /certificate|self.signed|verify/i],
    ['a certificate that does not name siem.host', otherName, /altnames|127\.0\.0\.1|certificate/i],
  ] as const) {
    const r = await tlsReceiver(cert);
    const { logger: log, logs } = logger();
    const sender = new SyslogSender({ transport: 'tls', host: '127.0.0.1', port: r.port, framing: 'lf', queueSize: 10, logger: log, tls: { ca: ca.certPem }, retryBaseMs: 60_000, retryMaxMs: 60_000 });
    sender.start();
    sender.send('secret-event');
    await waitFor(`the sender refused ${what}`, () => logs.some((x) => x.event === 'siem-unreachable'));
    assert.match(logs.find((x) => x.event === 'siem-unreachable')!.msg, reason, what);
    assert.equal(r.handshakes(), 0, `${what}: no TLS session was completed`);
    assert.deepEqual(r.lines, [], `${what}: nothing was sent`);
    assert.equal(sender.queued, 1, `${what}: the event waits in the queue`);
    assert.equal(sender.isConnected, false);
    sender.close();
    await r.close();
  }
  const r = await tlsReceiver(right);
  const { logger: log } = logger();
  const sender = new SyslogSender({ transport: 'tls', host: '127.0.0.1', port: r.port, framing: 'lf', queueSize: 10, logger: log, tls: { ca: ca.certPem } });
  sender.start();
  sender.send('event-1');
  sender.send('event-2');
  await waitFor('both events arrived', () => r.lines.length === 2);
  assert.deepEqual(r.lines, ['event-1', 'event-2']);
  sender.close();
  await r.close();
});

test('octet-counted framing survives a receiver that reads the stream in arbitrary pieces', async () => {
  const chunks: Buffer[] = [];
  const server = createServer((s) => s.on('data', (d: Buffer) => chunks.push(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { logger: log } = logger();
  const sender = new SyslogSender({ transport: 'tcp', host: '127.0.0.1', port: (server.address() as AddressInfo).port, framing: 'octet-counting', queueSize: 100, logger: log });
  sender.start();
  const messages = ['<134>1 a', 'счёт\u202E', 'x'.repeat(5000)];
  for (const m of messages) sender.send(m);
  await sender.flush(5000);
  await waitFor('all bytes', () => Buffer.concat(chunks).length === messages.reduce((n, m) => n + Buffer.byteLength(m) + String(Buffer.byteLength(m)).length + 1, 0));
  let data = Buffer.concat(chunks);
  const got: string[] = [];
  while (data.length) {
    const sp = data.indexOf(0x20);
    const len = Number(data.subarray(0, sp).toString());
    got.push(data.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    data = data.subarray(sp + 1 + len);
  }
  assert.deepEqual(got, messages);
  sender.close();
  await new Promise<void>((r) => server.close(() => r()));
});

test('the quarantine audit reaches the SIEM once: from the end on the first start, each record once, after a restart from the cursor, waiting while the queue is full', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-audit-'));
  try {
    const audit = quarantineAuditFile(dir);
    const record = (file: string) => JSON.stringify({ time: '2024-05-01T12:00:00.000Z', user: 'alice', action: 'delete', file, sha256: 'ab'.repeat(32), from: `/q/${file}` }) + '\n';
    writeFileSync(audit, record('before-siem.bin'));
    const { logger: log } = logger();
    const delivered: string[] = [] as string[];
    let room = true;
    const pending: Array<() => void> = [];
    const make = () =>
      new AuditFollower({
        stateDir: dir,
        logger: log,
        intervalMs: 20,
        deliver: (r, id, sent) => {
          if (!room) return false;
          delivered.push(`${r.file} ${id}`);
          pending.push(sent);
          return true;
        },
      });
    const f = make();
    f.start();
    await f.poll();
    assert.deepEqual(delivered, [], 'history before the first start is not replayed');
    appendFileSync(audit, record('one.bin') + record('two.bin'));
    appendFileSync(audit, '{"torn line without newline');
    await waitFor('two records', () => delivered.length === 2);
    assert.match(delivered[0]!, /^one\.bin audit-\d+-\d+$/);
    // Not yet on the network: the cursor stays before them.
    const cursor = () => JSON.parse(readFileSync(join(dir, auditCursorFileName), 'utf8')) as { offset: number };
    const start = cursor().offset;
    pending.shift()!();
    assert.equal(cursor().offset, start + record('one.bin').length);
    f.stop();
    // A restart before two.bin was sent: it is handed on again, one.bin is not.
    const g = make();
    g.start();
    await waitFor('two.bin again', () => delivered.length === 3);
    assert.equal(String(delivered[2]).split(' ')[0], 'two.bin');
    pending.splice(0).forEach((s) => s());
    // A full queue: the record waits, it is not dropped.
    room = false;
    appendFileSync(audit, '\n' + record('three.bin'));
    await g.poll();
    assert.equal(delivered.length, 3);
    room = true;
    await waitFor('three.bin after room', () => delivered.length === 4);
    assert.equal(String(delivered[3]).split(' ')[0], 'three.bin');
    g.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
