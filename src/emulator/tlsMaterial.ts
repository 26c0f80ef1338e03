import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import { createCa, issueServerCert, type KeyAndCert } from '../pki/certs';
import { writeFileAtomic } from './atomicFile';

export interface TlsMaterial {
  key: string;
  cert: string;
  caPem: string;
  caPemPath: string;
}

const CA_DAYS = 3650;
// Browsers refuse server certificates valid for longer than this.
const SERVER_DAYS = 397;
const RENEW_BEFORE_MS = 7 * 86_400_000;

/** The names a client may use to reach a server listening on `host`. */
export function serverNames(host: string): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames = new Set(['localhost']);
  const ipAddresses = new Set(['127.0.0.1', '::1']);
  if (host === '0.0.0.0' || host === '::') {
    // Listening everywhere: any local address (and the machine's name) may be used.
    dnsNames.add(hostname());
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) ipAddresses.add(a.address.replace(/%.*$/, ''));
  } else if (isIP(host)) {
    ipAddresses.add(host);
  } else if (host) {
    dnsNames.add(host);
  }
  return { dnsNames: [...dnsNames], ipAddresses: [...ipAddresses] };
}

async function readPair(certPath: string, keyPath: string): Promise<{ certPem: string; keyPem: string } | undefined> {
  try {
    return { certPem: await readFile(certPath, 'utf8'), keyPem: await readFile(keyPath, 'utf8') };
  } catch {
    return undefined;
  }
}

async function writePair(pair: KeyAndCert, certPath: string, keyPath: string): Promise<void> {
  await writeFileAtomic(keyPath, pair.keyPem, 0o600);
  await writeFileAtomic(certPath, pair.certPem, 0o644);
}

function stillGood(certPem: string, ca: X509Certificate, names: { dnsNames: string[]; ipAddresses: string[] }): boolean {
  try {
    const cert = new X509Certificate(certPem);
    return (
      cert.checkIssued(ca) &&
      cert.verify(ca.publicKey) &&
      Date.parse(cert.validTo) - Date.now() > RENEW_BEFORE_MS &&
      names.dnsNames.every((n) => cert.checkHost(n, { wildcards: false }) !== undefined) &&
      names.ipAddresses.every((ip) => cert.checkIP(ip) !== undefined)
    );
  } catch {
    return false;
  }
}

/**
 * The emulator's own CA (`ca.pem`, which clients trust) and a server certificate it signed for
 * the names of `host`. Created on first start, reused afterwards; the server certificate is
 * issued again when it would not cover the host or is about to expire.
 */
export async function ensureTlsMaterial(dataDir: string, host: string, logger: Logger): Promise<TlsMaterial> {
  const caPemPath = join(dataDir, 'ca.pem');
  const caKeyPath = join(dataDir, 'ca.key');
  let ca = await readPair(caPemPath, caKeyPath);
  if (!ca) {
    ca = await createCa({ commonName: 'KDS KATA emulator CA', days: CA_DAYS });
    await writePair(ca as KeyAndCert, caPemPath, caKeyPath);
    logger.info('emulator.tls', t('Created the emulator CA: {0}', caPemPath));
  }
  const names = serverNames(host);
  const certPath = join(dataDir, 'server.pem');
  const keyPath = join(dataDir, 'server.key');
  let server = await readPair(certPath, keyPath);
  if (!server || !stillGood(server.certPem, new X509Certificate(ca.certPem), names)) {
    server = await issueServerCert(ca, { commonName: 'KDS KATA emulator', days: SERVER_DAYS, ...names });
    await writePair(server as KeyAndCert, certPath, keyPath);
    logger.info('emulator.tls', t('Issued the server certificate for {0}.', [...names.dnsNames, ...names.ipAddresses].join(', ')));
  }
  return { key: server.keyPem, cert: server.certPem, caPem: ca.certPem, caPemPath };
}
