import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createCa, issueServerCert } from '../../src/pki/certs';
import { waitFor } from './engineHarness';
import { freePort } from './sshd';

export const rsyslogdBin = '/usr/sbin/rsyslogd';
/** rsyslog's gnutls network stream driver (package rsyslog-gnutls), in the multiarch folder of this machine. */
function gtlsModule(): string | undefined {
  for (const arch of existsSync('/usr/lib') ? readdirSync('/usr/lib') : []) {
    const p = `/usr/lib/${arch}/rsyslog/lmnsd_gtls.so`;
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Debian's rsyslog and rsyslog-gnutls (scripts/install-system-deps.sh): skipped without them outside CI; under CI=true that is a failure. */
export function needRsyslog(t: TestContext): boolean {
  if (existsSync(rsyslogdBin) && gtlsModule()) return true;
  const why = `${rsyslogdBin} or its TLS module is missing: run scripts/install-system-deps.sh as root (rsyslog rsyslog-gnutls)`;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}

export type SyslogInput = 'udp' | 'tcp' | 'tls';

export interface RunningRsyslog {
  ports: Record<SyslogInput, number>;
  /** The CA of the server's certificate (what KDS's siem.ca names). */
  caPath: string;
  /** The messages received on one input so far, one per line as received (%rawmsg%). */
  messages(input: SyslogInput): string[];
  /** Stops rsyslogd (by its pid) and waits for it. */
  stop(): Promise<void>;
  /** Starts it again on the same ports (after stop()). */
  start(): Promise<void>;
}

/**
 * A private rsyslogd on 127.0.0.1, in the foreground, with three inputs on free ports: UDP, TCP
 * (RFC 6587: octet-counted and LF-framed alike) and TLS (gnutls, RFC 5425), the TLS one requiring
 * a client certificate issued by, or equal to, one of `trustedClients`. Each input writes what it
 * receives, one message a line, to its own file.
 */
export async function startRsyslog(dir: string, trustedClients: string[]): Promise<RunningRsyslog> {
  mkdirSync(join(dir, 'work'), { recursive: true });
  const ca = await createCa({ commonName: 'kds-test-syslog-ca', days: 2 });
  const server = await issueServerCert(ca, { commonName: 'localhost', days: 2, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, ca.certPem);
  // What rsyslog trusts for client certificates: its own CA and the clients' (self-signed) certificates.
  writeFileSync(join(dir, 'trusted.pem'), [ca.certPem, ...trustedClients].join(''));
  writeFileSync(join(dir, 'server.crt'), server.certPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem, { mode: 0o600 });
  const ports = { udp: await freePort(), tcp: await freePort(), tls: await freePort() };
  const file = (i: SyslogInput) => join(dir, `${i}.log`);
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    [
      `global(workDirectory="${dir}/work" maxMessageSize="64k"`,
      `  defaultNetstreamDriverCAFile="${dir}/trusted.pem" defaultNetstreamDriverCertFile="${dir}/server.crt" defaultNetstreamDriverKeyFile="${dir}/server.key")`,
      'module(load="imudp")',
      'module(load="imtcp" maxSessions="64")',
      'template(name="raw" type="string" string="%rawmsg%\\n")',
      ...(['udp', 'tcp', 'tls'] as const).map((i) => `ruleset(name="${i}") { action(type="omfile" file="${file(i)}" template="raw") }`),
      `input(type="imudp" address="127.0.0.1" port="${ports.udp}" ruleset="udp")`,
      `input(type="imtcp" address="127.0.0.1" port="${ports.tcp}" ruleset="tcp")`,
      `input(type="imtcp" address="127.0.0.1" port="${ports.tls}" ruleset="tls" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';
  const start = async () => {
    const c = spawn(rsyslogdBin, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    exited = new Promise((r) => c.once('exit', () => r()));
    // Ready when both TCP listeners accept (the UDP one is opened before them).
    await waitFor(`rsyslogd listening (${stderr})`, async () => (await accepts(ports.tcp)) && (await accepts(ports.tls)), 30_000);
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
  };
  await start();
  return {
    ports,
    caPath,
    stop,
    start,
    messages: (i) => (existsSync(file(i)) ? readFileSync(file(i), 'utf8').split('\n').filter((l) => l !== '') : []),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
