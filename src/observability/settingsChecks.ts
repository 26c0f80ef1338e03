import { X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { lstat, readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { type Socket, connect as tcpConnect, createServer, isIP } from 'node:net';
import { dirname } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { t } from '../common/l10n';
import { type ListenAddress, formatListenAddress } from '../common/listenAddress';
import type { KdsConfig, SiemSettings } from '../engine/config';
import type { CheckItem } from '../engine/configChecks';
import { splitPem } from '../pki/pemText';

/** `kds check`'s items for metrics_listen and siem (none when neither is set). */
export async function observabilityChecks(config: KdsConfig, o: { timeoutMs?: number } = {}): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  if (config.metrics_listen) items.push(await checkListen(config.metrics_listen, o.timeoutMs ?? 3000));
  if (config.siem) items.push(await checkSiem(config, config.siem, o.timeoutMs ?? 5000));
  return items;
}

/** Whether a listener could bind the address now; the error code when not. */
function tryBind(a: Extract<ListenAddress, { kind: 'tcp' }>): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    s.listen({ host: a.host, port: a.port, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

/** Whether a KDS endpoint answers GET / there. */
function kdsAnswers(a: ListenAddress, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    // No keep-alive: the connection ends with the answer, whoever listens there.
    const where = a.kind === 'unix' ? { socketPath: a.path } : { host: a.host, port: a.port };
    const req = get({ ...where, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d.slice(0, 200)));
      res.on('end', () => {
        req.destroy();
        resolve(body.startsWith('KATA Directory Scanner'));
      });
      res.on('error', () => resolve(false));
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function checkListen(a: ListenAddress, timeoutMs: number): Promise<CheckItem> {
  const where = formatListenAddress(a);
  const id = 'metrics_listen';
  if (a.kind === 'tcp') {
    const code = await tryBind(a);
    if (code === undefined) {
      const open = a.host === '0.0.0.0' || a.host === '::' ? [t('every network interface can reach it: allow only the Prometheus server in the firewall')] : [];
      return { id, status: open.length ? 'warn' : 'ok', title: t('metrics_listen {0} is free: /metrics, /healthz and /readyz will be served there', where), details: open };
    }
    if (code === 'EADDRINUSE' && (await kdsAnswers(a, timeoutMs))) {
      return { id, status: 'ok', title: t('metrics_listen {0} is served by a running KDS', where), details: [] };
    }
    if (code === 'EADDRINUSE') return { id, status: 'fail', title: t('metrics_listen {0} is in use by another program', where), details: [t('Choose another port, or stop what listens there (ss -ltnp shows it).')] };
    if (code === 'EADDRNOTAVAIL') return { id, status: 'fail', title: t('metrics_listen {0}: this machine has no such address', where), details: [] };
    if (code === 'EACCES') return { id, status: 'fail', title: t('metrics_listen {0}: binding the port is not allowed for this user', where), details: [] };
    return { id, status: 'fail', title: t('metrics_listen {0} cannot be bound: {1}', where, code), details: [] };
  }
  const dir = dirname(a.path);
  const st = await lstat(dir).catch(() => undefined);
  if (!st) return { id, status: 'ok', title: t('metrics_listen {0}: the folder {1} will be created', where, dir), details: [] };
  if (!st.isDirectory()) return { id, status: 'fail', title: t('metrics_listen {0}: {1} is not a folder', where, dir), details: [] };
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    return { id, status: 'fail', title: t('metrics_listen {0}: the folder {1} may be written by other users (mode {2})', where, dir, (st.mode & 0o7777).toString(8)), details: [t('Choose a folder only root can write, such as /run/kata-dir-scanner.')] };
  }
  const existing = await lstat(a.path).catch(() => undefined);
  if (!existing) return { id, status: 'ok', title: t('metrics_listen {0}: the socket will be created (mode 0600)', where), details: [] };
  if (!existing.isSocket()) return { id, status: 'fail', title: t('metrics_listen {0} exists and is not a socket', where), details: [] };
  if (await kdsAnswers(a, timeoutMs)) return { id, status: 'ok', title: t('metrics_listen {0} is served by a running KDS', where), details: [] };
  return { id, status: 'ok', title: t('metrics_listen {0}: a stale socket is there and will be replaced', where), details: [] };
}

async function checkSiem(config: KdsConfig, s: SiemSettings, timeoutMs: number): Promise<CheckItem> {
  const id = 'siem';
  const where = `${isIP(s.host) === 6 ? `[${s.host}]` : s.host}:${s.port}`;
  const details = [t('transport {0}, format {1}', s.transport, s.format)];
  let ca: string | undefined;
  if (s.ca) {
    try {
      ca = await readFile(s.ca, 'utf8');
      const certs = splitPem(ca).certificates;
      if (certs.length === 0) throw new Error(t('no PEM certificate in it'));
      for (const c of certs) new X509Certificate(c);
    } catch (err) {
      return { id, status: 'fail', title: t('siem.ca {0} cannot be used: {1}', s.ca, (err as Error).message), details };
    }
  }
  let address: string;
  try {
    address = (await lookup(s.host)).address;
  } catch (err) {
    return { id, status: 'fail', title: t('SIEM host {0} cannot be resolved: {1}', s.host, (err as NodeJS.ErrnoException).code ?? (err as Error).message), details };
  }
  if (s.transport === 'udp') {
    details.push(t('over UDP nothing tells whether events arrive: check that the SIEM shows the service-start event'));
    return { id, status: 'warn', title: t('SIEM {0} ({1}) resolves; UDP delivery cannot be checked', where, address), details };
  }
  let cert: string | undefined;
  let key: string | undefined;
  if (s.client_cert) {
    try {
      cert = await readFile(config.cert_pem, 'utf8');
      key = await readFile(config.cert_key, 'utf8');
    } catch (err) {
      return { id, status: 'fail', title: t('the client certificate for the SIEM cannot be read: {0}', (err as Error).message), details };
    }
  }
  const problem = await new Promise<string | undefined>((resolve) => {
    const socket: Socket | TLSSocket =
      s.transport === 'tls'
        ? tlsConnect({ host: s.host, port: s.port, ...(isIP(s.host) ? {} : { servername: s.host }), ...(ca !== undefined && { ca }), ...(cert !== undefined && { cert, key }), minVersion: 'TLSv1.2' })
        : tcpConnect({ host: s.host, port: s.port });
    const done = (p: string | undefined) => {
      socket.destroy();
      resolve(p);
    };
    socket.setTimeout(timeoutMs, () => done(t('no connection within {0} s', Math.round(timeoutMs / 1000))));
    socket.once(s.transport === 'tls' ? 'secureConnect' : 'connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ? `${err.code}: ${err.message}` : err.message));
  });
  if (problem) {
    return { id, status: 'fail', title: t('SIEM {0} cannot be reached over {1}: {2}', where, s.transport, problem), details: [...details, t('KDS keeps events in a queue (at most {0}) while the SIEM is unreachable; beyond that they are dropped.', s.queue_size)] };
  }
  return { id, status: 'ok', title: s.transport === 'tls' ? t('SIEM {0} accepts a TLS connection and its certificate is verified', where) : t('SIEM {0} accepts a TCP connection', where), details };
}
