import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { buildConnector } from 'undici';
import { t } from '../common/l10n';
import { normaliseFingerprint } from '../pki/pemText';
import { KataError, errorFromTransport } from './errors';

/** Everything the TLS layer needs to know about trust and identity. */
export interface KataTlsSettings {
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  caPem?: string;
  /** Upper-case hex SHA-256 of the server's leaf certificate, no separators. */
  pinSha256?: string;
  insecure: boolean;
  connectTimeoutMs: number;
}

/** `[::1]` → `::1`: URLs need brackets, sockets and certificate checks do not. */
export function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** SNI must be a DNS name; Node warns (and servers may refuse) when it is an IP literal. */
function serverName(host: string): string | undefined {
  return isIP(host) ? undefined : host;
}

export function colonHex(hex: string): string {
  return normaliseFingerprint(hex).match(/../g)?.join(':') ?? '';
}

function normalisedPin(settings: KataTlsSettings): string | undefined {
  const pin = settings.pinSha256 ? normaliseFingerprint(settings.pinSha256) : '';
  return pin === '' ? undefined : pin;
}

/**
 * TLS options shared by the request connector and the probe. With a pin the leaf
 * fingerprint is the whole trust decision (a KATA Central Node usually has a self-signed
 * certificate without a SAN for the name we use); with `insecure` there is none.
 */
function connectionOptions(settings: KataTlsSettings): tls.ConnectionOptions {
  const pinDecidesTrust = normalisedPin(settings) !== undefined;
  const verifyChainAndHostName = !pinDecidesTrust && !settings.insecure;
  const options: tls.ConnectionOptions = {
    cert: settings.certPem,
    key: settings.keyPem,
    rejectUnauthorized: verifyChainAndHostName,
    minVersion: 'TLSv1.2',
  };
  // `ca` replaces Node's bundled roots, so a configured kata_ca is the only trust anchor.
  if (settings.caPem) options.ca = settings.caPem;
  return options;
}

function pinMismatch(actualHex: string, pin: string): KataError {
  return new KataError(
    'tls',
    t('KATA server certificate fingerprint {0} does not match the pinned kata_cert_sha256 {1}', colonHex(actualHex), colonHex(pin)),
  );
}

type ConnectorFn = ReturnType<typeof buildConnector>;

/**
 * undici connector for the KATA Agent. When a pin is configured it is checked on every new
 * TLS connection, after the handshake and before undici may write a request on the socket.
 */
export function createKataConnector(settings: KataTlsSettings): ConnectorFn {
  // `insecure` means no verification at all, as the config loader's warning tells the user.
  const pin = settings.insecure ? undefined : normalisedPin(settings);
  const { cert, key, ca, minVersion, ...rest } = connectionOptions(settings);
  // One context for every connection: building it (parsing the key and certificates) costs more
  // than the handshake, and a KATA that closes connections under load would otherwise pay it each time.
  const secureContext = tls.createSecureContext({ cert, key, minVersion, ...(ca ? { ca } : {}) });
  const base = buildConnector({
    ...rest,
    secureContext,
    timeout: settings.connectTimeoutMs,
    // TCP keep-alive is switched on below, once connected: undici sets it on the socket before
    // the connect, and a Windows socket layer without TCP_KEEPALIVE (Wine's) then fails the
    // connect itself instead of only the keep-alive.
    keepAlive: false,
    // A resumed session skips certificate processing; with a pin, always do a full handshake.
    ...(pin ? { maxCachedSessions: 0 } : {}),
  } as buildConnector.BuildOptions);
  return (opts, callback) => {
    base(opts, (...args) => {
      const [err, socket] = args;
      if (err || !socket) {
        callback(err ?? new KataError('tls', t('TLS connection to KATA failed')), null);
        return;
      }
      socket.setKeepAlive(true, 60_000);
      if (!pin) {
        callback(null, socket);
        return;
      }
      const peer = (socket as tls.TLSSocket).getPeerCertificate?.();
      const actual = peer?.fingerprint256 ? normaliseFingerprint(peer.fingerprint256) : '';
      if (actual === pin) {
        callback(null, socket);
        return;
      }
      socket.destroy();
      // Not UND_ERR_SOCKET: undici would treat that as recoverable and reconnect forever.
      callback(pinMismatch(actual, pin), null);
    });
  };
}

export interface ServerCertificateReport {
  /** `AA:BB:…`, the form the KATA console and browsers show; normaliseFingerprint() gives the pin form. */
  fingerprint256: string;
  subject: string;
  issuer: string;
  validTo: string;
  /**
   * Does the certificate pass the configured verification: the pin when one is set, else the
   * chain (kata_ca or system roots) plus the host name? Reported even when `insecure` is set.
   */
  verified: boolean;
  verifyError?: string;
}

/**
 * One TLS handshake that reports the server certificate whatever the trust settings, so
 * `kds check` can print the fingerprint an administrator could pin.
 */
export function probeServerCertificate(settings: KataTlsSettings): Promise<ServerCertificateReport> {
  const host = bareHost(settings.host);
  const pin = normalisedPin(settings);
  const acceptAnyCertificateToReportIt = true;
  const name = serverName(host);
  const where = `${host}:${settings.port}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
      socket.destroy();
    };
    const socket = tls.connect({
      ...connectionOptions(settings),
      host,
      port: settings.port,
      ...(name ? { servername: name } : {}),
      rejectUnauthorized: !acceptAnyCertificateToReportIt,
    });
    socket.setTimeout(settings.connectTimeoutMs, () => {
      finish(() => reject(new KataError('network', t('Timed out connecting to KATA at {0}', where))));
    });
    socket.once('error', (err) => finish(() => reject(errorFromTransport(err, where))));
    socket.once('secureConnect', () => {
      finish(() => {
        const peer = socket.getPeerCertificate();
        if (!peer?.raw) {
          reject(new KataError('tls', t('KATA at {0} presented no certificate', where)));
          return;
        }
        const cert = new X509Certificate(peer.raw);
        const report: ServerCertificateReport = {
          fingerprint256: cert.fingerprint256,
          subject: cert.subject.replace(/\n/g, ', '),
          issuer: cert.issuer.replace(/\n/g, ', '),
          validTo: cert.validTo,
          verified: false,
        };
        if (pin) {
          const actual = normaliseFingerprint(cert.fingerprint256);
          report.verified = actual === pin;
          if (!report.verified) report.verifyError = pinMismatch(actual, pin).message;
        } else {
          // Node checks the host name only once the chain is trusted and reports either failure
          // through authorizationError; check the name ourselves to say which one it was.
          const code = socket.authorized ? undefined : String(socket.authorizationError ?? 'UNKNOWN');
          const hostError = tls.checkServerIdentity(host, peer);
          if (code && code !== 'ERR_TLS_CERT_ALTNAME_INVALID') report.verifyError = t('certificate chain not trusted ({0})', code);
          else if (hostError) report.verifyError = t('certificate does not match the host name {0}: {1}', host, hostError.message);
          else report.verified = code === undefined;
        }
        resolve(report);
      });
    });
  });
}
