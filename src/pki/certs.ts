import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { fingerprint256 } from './pemText';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

// The library is typed against the DOM's Crypto; Node's webcrypto is the same API.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const rsa = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
  /** SHA-256 of the DER certificate, upper-case hex pairs joined by colons. */
  fingerprint256: string;
}

const DAY = 86_400_000;

function serial(): string {
  // Positive, 16 bytes: RFC 5280 allows up to 20 octets.
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(rsa, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

async function pemToKey(pem: string): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  return webcrypto.subtle.importKey('pkcs8', Buffer.from(body, 'base64'), rsa, true, ['sign']);
}

function dn(cn: string): string {
  // Commas, quotes and the like would change the meaning of the name; keep it to a plain CN.
  return `CN=${cn.replace(/[,+="\\<>;#]/g, '_')}`;
}

function finish(cert: x509.X509Certificate, keyPem: string): KeyAndCert {
  const certPem = cert.toString('pem').replace(/\r\n/g, '\n').replace(/\n?$/, '\n');
  return { keyPem, certPem, fingerprint256: fingerprint256(certPem) };
}

async function selfSigned(commonName: string, days: number, extensions: (keys: CryptoKeyPair) => Promise<x509.Extension[]>): Promise<KeyAndCert> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: dn(commonName),
    // Five minutes of slack for a Central Node whose clock runs a little behind.
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + days * DAY),
    signingAlgorithm: rsa,
    keys,
    extensions: await extensions(keys),
  });
  return finish(cert, await keyToPem(keys.privateKey));
}

/** A client certificate for KATA's scanner API, like the original's `openssl req -x509 -newkey rsa:2048 -nodes`. */
export function createSelfSigned(opts: { commonName: string; days: number }): Promise<KeyAndCert> {
  return selfSigned(opts.commonName, opts.days, async () => [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
  ]);
}

export function createCa(opts: { commonName: string; days: number }): Promise<KeyAndCert> {
  return selfSigned(opts.commonName, opts.days, async (keys) => [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ]);
}

/** A TLS server certificate signed by `ca`, valid for the given DNS names and IP addresses. */
export async function issueServerCert(
  ca: { keyPem: string; certPem: string },
  opts: { commonName: string; days: number; dnsNames: string[]; ipAddresses: string[] },
): Promise<KeyAndCert> {
  const keys = await newKeys();
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await pemToKey(ca.keyPem);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: dn(opts.commonName),
    issuer: caCert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + opts.days * DAY),
    signingAlgorithm: rsa,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...opts.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return finish(cert, await keyToPem(keys.privateKey));
}
